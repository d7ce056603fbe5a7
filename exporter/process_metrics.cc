#include "exporter/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cdc {
namespace {

double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int CountDir(const char* path) {
  DIR* d = opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

void CollectProcessMetrics(MetricSink& sink) {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  // f[0] is field 3 (state); utime=14, stime=15, num_threads=20,
  // starttime=22, vsize=23, rss=24 (1-based field numbers).
  auto field = [&](int n) { return std::stod(f.at(n - 3)); };
  if (f.size() < 22) return;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  sink.Counter("process_cpu_seconds_total",
               "Total user and system CPU time spent in seconds.", {},
               (field(14) + field(15)) / ticks);
  sink.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
             {}, field(24) * page);
  sink.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
             {}, field(23));
  sink.Gauge("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.", {},
             BootTimeSeconds() + field(22) / ticks);
  sink.Gauge("process_threads", "Number of OS threads in the process.", {},
             field(20));
  const int fds = CountDir("/proc/self/fd");
  if (fds >= 0) {
    // opendir itself holds one descriptor while counting.
    sink.Gauge("process_open_fds", "Number of open file descriptors.", {},
               fds - 1);
  }
  sink.Gauge("process_max_fds", "Maximum number of open file descriptors.", {},
             static_cast<double>(sysconf(_SC_OPEN_MAX)));
}

}  // namespace cdc
