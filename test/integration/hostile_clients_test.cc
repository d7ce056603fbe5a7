// Hostile clients against the real cdc-sentinel binary at its default flags
// (issue #19): header floods with and without line ends, slowloris, idle and
// silent-TLS connections, a wrong-password flood; each while a scraper
// measures every answer. Short forms (CDC_HOSTILE_SECONDS, default 10 s per
// attack); the long forms and the before/after figures are
// bench/hostile_clients.py and bench/RESULTS.md section 11.

#include <crypt.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace cdc::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const char* kBinary = CDC_BINARY_DIR "/exporter/cdc-sentinel";
constexpr char kUser[] = "prometheus";
constexpr std::size_t kFloodCap = 24u << 20;  // what an attacker may send

Clock::duration AttackLength() {
  return seconds(std::stoi(EnvOr("CDC_HOSTILE_SECONDS", "10")));
}

long RssKb(pid_t pid) {
  const std::string status =
      ReadFile("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::stol(status.substr(at + 6));
}

double CpuSeconds(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string Bcrypt(const std::string& password, int cost) {
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* salt = crypt_gensalt_rn("$2b$", cost, nullptr, 0, data.setting,
                                      sizeof(data.setting));
  const char* h =
      salt ? crypt_rn(password.c_str(), salt, &data, sizeof(data)) : nullptr;
  return h ? h : "";
}

// A TCP connection to 127.0.0.1:port; invalid if it could not connect.
Fd Connect(int port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in a = Loopback(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) !=
      0) {
    return Fd();
  }
  return fd;
}

// True if the peer has closed `fd` (or reset it): readable with EOF.
bool PeerClosed(const Fd& fd) {
  pollfd p{fd.get(), POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  char buf[4096];
  const ssize_t n = recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Scrapes `get` every `period` on its own thread until destroyed, and keeps
// every answer's status and latency.
class Scraper {
 public:
  using Get = std::function<int()>;  // the HTTP status, 0 for none
  Scraper(Get get, Clock::duration period)
      : get_(std::move(get)), period_(period), thread_([this] { Run(); }) {}
  ~Scraper() { Stop(); }
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // "N scrapes, M answered 200 within 1 s, p50 .., p99 .., max .." and the
  // failures. Call after Stop().
  std::string Summary() const {
    std::vector<double> lat;
    int ok = 0;
    std::string bad;
    for (const auto& [status, latency] : results_) {
      lat.push_back(Secs(latency));
      if (status == 200 && latency <= seconds(1)) {
        ++ok;
      } else {
        bad += " [" + std::to_string(status) + " in " +
               std::to_string(Secs(latency)) + " s]";
      }
    }
    std::sort(lat.begin(), lat.end());
    return std::to_string(results_.size()) + " scrapes, " + std::to_string(ok) +
           " answered 200 within 1 s; p50 " +
           std::to_string(Percentile(lat, 0.5)) + " s, p99 " +
           std::to_string(Percentile(lat, 0.99)) + " s, max " +
           std::to_string(lat.empty() ? 0 : lat.back()) + " s" + bad;
  }
  std::size_t count() const { return results_.size(); }
  bool AllOkWithin(Clock::duration limit) const {
    return std::all_of(results_.begin(), results_.end(), [&](const auto& r) {
      return r.first == 200 && r.second <= limit;
    });
  }
  double P99() const {
    std::vector<double> lat;
    for (const auto& r : results_) lat.push_back(Secs(r.second));
    std::sort(lat.begin(), lat.end());
    return Percentile(lat, 0.99);
  }

 private:
  static double Percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto i = static_cast<std::size_t>(p * sorted.size());
    return sorted[std::min(sorted.size() - 1, i)];
  }
  void Run() {
    while (!stop_) {
      const auto start = Clock::now();
      const int status = get_();
      results_.emplace_back(status, Clock::now() - start);
      const auto next = start + period_;
      while (!stop_ && Clock::now() < next) {
        std::this_thread::sleep_for(milliseconds(10));
      }
    }
  }

  Get get_;
  const Clock::duration period_;
  std::atomic<bool> stop_{false};
  std::vector<std::pair<int, Clock::duration>> results_;  // by thread_ only
  std::thread thread_;
};

// Holds `n` connections to `port` on its own thread, reopening those the
// server closes; every `every` each sends the next byte of `trickle` (none
// if empty). Stops and closes them on destruction.
class ConnectionHolder {
 public:
  ConnectionHolder(int port, int n, std::string trickle = "",
                   Clock::duration every = seconds(1))
      : port_(port), n_(n), trickle_(std::move(trickle)), every_(every) {
    for (int i = 0; i < n_; ++i) Open();
    thread_ = std::thread([this] { Run(); });
  }
  ~ConnectionHolder() {
    stop_ = true;
    thread_.join();
  }
  ConnectionHolder(const ConnectionHolder&) = delete;
  ConnectionHolder& operator=(const ConnectionHolder&) = delete;

  int opened() const { return opened_; }
  int closed_by_server() const { return closed_; }

 private:
  struct Conn {
    Fd fd;
    std::size_t sent = 0;
  };
  void Open() {
    Fd fd = Connect(port_);
    if (fd.valid()) {
      conns_.push_back(Conn{std::move(fd), 0});
      ++opened_;
    }
  }
  void Run() {
    auto last = Clock::now();
    while (!stop_) {
      std::this_thread::sleep_for(milliseconds(100));
      for (auto it = conns_.begin(); it != conns_.end();) {
        if (PeerClosed(it->fd)) {
          ++closed_;
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
      while (!stop_ && static_cast<int>(conns_.size()) < n_) Open();
      if (trickle_.empty() || Clock::now() - last < every_) continue;
      last = Clock::now();
      for (auto& c : conns_) {
        const char b = trickle_[c.sent % trickle_.size()];
        if (send(c.fd.get(), &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
          ++c.sent;
        }
      }
    }
  }

  const int port_, n_;
  const std::string trickle_;
  const Clock::duration every_;
  std::vector<Conn> conns_;  // by thread_ once it runs
  std::atomic<int> opened_{0}, closed_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The value of the sample `series` (name and labels exactly) in `metrics`,
// -1 if absent.
double Sample(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

std::string Refused(const std::string& reason) {
  return "cdc_http_requests_refused_total{reason=\"" + reason + "\"}";
}

class HostileClientsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A thousand sockets on this side too.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  void SetUp() override {
    dir_ = FreshTestDir("cdc-hostile-test-");
    // A Connect cluster on a closed port: probes fail fast and cheaply.
    WriteFile(dir_ / "config.yaml",
              "connect_clusters:\n  - name: main\n    url: http://127.0.0.1:" +
                  std::to_string(FreePort()) +
                  "\n    interval: 5s\n    timeout: 1s\n");
    password_ = "right-" + std::to_string(std::random_device{}());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<ExporterProcess> Start(std::vector<std::string> flags = {}) {
    auto e = std::make_unique<ExporterProcess>(
        kBinary, dir_ / "config.yaml", dir_ / "exporter.log",
        ExporterOptions{.flags = std::move(flags), .log_level = "info"});
    EXPECT_NE(e->port(), 0) << e->Log();
    return e;
  }
  // TLS (a self-signed certificate for IP:127.0.0.1) and one user whose
  // bcrypt hash has `cost`.
  fs::path WriteWebConfig(bool tls, int cost) {
    std::string text;
    if (tls) {
      const std::string d = dir_.string();
      std::string out;
      EXPECT_EQ(RunCommand("openssl req -x509 -newkey ec -pkeyopt "
                           "ec_paramgen_curve:P-256 -nodes -keyout " +
                               d + "/key.pem -out " + d +
                               "/cert.pem -days 2 -subj /CN=x -addext "
                               "subjectAltName=IP:127.0.0.1",
                           &out),
                0)
          << out;
      text += "tls_server_config:\n  cert_file: " + d +
              "/cert.pem\n  key_file: " + d + "/key.pem\n";
    }
    text += "basic_auth_users:\n  " + std::string(kUser) + ": " +
            Bcrypt(password_, cost) + "\n";
    WriteFile(dir_ / "web.yml", text);
    return dir_ / "web.yml";
  }
  static int PlainGet(int port, const std::string& path = "/metrics",
                      const std::string& password = "") {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(seconds(5));
    c.set_read_timeout(seconds(5));
    if (!password.empty()) c.set_basic_auth(kUser, password.c_str());
    auto r = c.Get(path, {{"Accept-Encoding", "gzip"}});
    return r ? r->status : 0;
  }
  int TlsGet(int port) const {
    httplib::SSLClient c("127.0.0.1", port);
    c.enable_server_certificate_verification(false);
    c.set_connection_timeout(seconds(5));
    c.set_read_timeout(seconds(5));
    c.set_basic_auth(kUser, password_.c_str());
    auto r = c.Get("/metrics", {{"Accept-Encoding", "gzip"}});
    return r ? r->status : 0;
  }

  // Streams a request head on one connection until the server stops taking
  // it or kFloodCap is sent; the bytes it took.
  static std::size_t Flood(int port, bool line_ends, std::string* answer) {
    Fd fd = Connect(port);
    EXPECT_TRUE(fd.valid());
    timeval tv{5, 0};  // a server that stops reading stalls the sender
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string chunk;
    std::size_t sent = 0;
    std::string start =
        line_ends ? "GET /metrics HTTP/1.1\r\nHost: x\r\n" : "GET /";
    while (chunk.size() < 64 * 1024) {
      chunk += line_ends ? "X-Pad: " + std::string(50, 'a') + "\r\n"
                         : std::string(64, 'a');
    }
    if (send(fd.get(), start.data(), start.size(), MSG_NOSIGNAL) > 0) {
      sent += start.size();
      while (sent < kFloodCap) {
        const ssize_t n =
            send(fd.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
    }
    char buf[256];
    timeval rtv{1, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof rtv);
    const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) answer->assign(buf, static_cast<std::size_t>(n));
    return sent;
  }

  void FloodIsCutShort(bool line_ends, const char* status_line) {
    auto e = Start();
    ASSERT_NE(e->port(), 0);
    ASSERT_EQ(PlainGet(e->port()), 200);
    const long rss_before = RssKb(e->pid());
    std::string answer;
    const std::size_t sent = Flood(e->port(), line_ends, &answer);
    const long rss_after = RssKb(e->pid());
    // The kernel's socket buffers take a few MB before the server reads;
    // the server itself stops at --web.max-header-bytes (64 KiB).
    EXPECT_LT(sent, kFloodCap / 3)
        << "the connection took " << sent << " bytes";
    EXPECT_LT(rss_after - rss_before, 16 * 1024)
        << "RSS " << rss_before << " -> " << rss_after << " kB";
    if (!answer.empty()) {
      EXPECT_EQ(answer.rfind(status_line, 0), 0u) << answer.substr(0, 80);
    }
    const auto start = Clock::now();
    httplib::Client c("127.0.0.1", e->port());
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - start, seconds(1));
    EXPECT_GE(Sample(r->body, Refused("head_too_large")), 1) << r->body;
    std::cerr << "flood " << (line_ends ? "with" : "without")
              << " line ends: " << sent << " bytes taken, RSS " << rss_before
              << " -> " << rss_after << " kB, answer \""
              << answer.substr(0, answer.find('\r')) << "\"\n";
  }

  fs::path dir_;
  std::string password_;
};

TEST_F(HostileClientsTest, HeaderFloodWithLineEndsIsCutShort) {
  FloodIsCutShort(true, "HTTP/1.1 431");
}

TEST_F(HostileClientsTest, HeaderFloodWithoutLineEndsIsCutShort) {
  FloodIsCutShort(false, "HTTP/1.1 414");
}

TEST_F(HostileClientsTest, SlowlorisHoldsNoScrape) {
  auto e = Start();
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 200; ++i)
    head += "X-Slow-" + std::to_string(i) + ": a\r\n";
  {
    ConnectionHolder slow(port, 40, head, milliseconds(500));
    Scraper scraper([&] { return PlainGet(port); }, seconds(1));
    std::this_thread::sleep_for(AttackLength());
    scraper.Stop();
    EXPECT_GE(scraper.count(), 5u);
    EXPECT_TRUE(scraper.AllOkWithin(seconds(1))) << scraper.Summary();
    // The server cut each at --web.read-header-timeout (5 s), however
    // steadily it trickled.
    EXPECT_GE(slow.closed_by_server(), 40);
    std::cerr << "slowloris, 40 connections (" << slow.closed_by_server()
              << " cut by the server): " << scraper.Summary() << "\n";
  }
  const std::string m = e->Metrics();
  EXPECT_GE(Sample(m, Refused("head_timeout")), 40) << m;
}

TEST_F(HostileClientsTest, ThousandSilentConnectionsHoldNoScrape) {
  auto e = Start();
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  ConnectionHolder idle(port, 1000);
  Scraper scraper([&] { return PlainGet(port); }, seconds(1));
  double most_open = 0;
  WaitFor(
      [&] {
        most_open = std::max(most_open,
                             Sample(e->Metrics(), "cdc_http_open_connections"));
        return false;
      },
      AttackLength(), seconds(2));
  scraper.Stop();
  EXPECT_GE(scraper.count(), 5u);
  EXPECT_TRUE(scraper.AllOkWithin(seconds(1))) << scraper.Summary();
  EXPECT_GE(most_open, 900) << "the silent connections were not held";
  std::cerr << "1,000 silent connections (" << idle.opened()
            << " opened, most open at once " << most_open
            << "): " << scraper.Summary() << "\n";
}

TEST_F(HostileClientsTest, SilentTlsConnectionsHoldNoScrape) {
  auto e = Start({"--web.config.file=" + WriteWebConfig(true, 10).string()});
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  ASSERT_EQ(TlsGet(port), 200);
  ConnectionHolder silent(port, 200);
  Scraper scraper([&] { return TlsGet(port); }, seconds(1));
  std::this_thread::sleep_for(AttackLength());
  scraper.Stop();
  EXPECT_GE(scraper.count(), 5u);
  EXPECT_TRUE(scraper.AllOkWithin(seconds(1))) << scraper.Summary();
  std::cerr << "200 silent TLS connections: " << scraper.Summary() << "\n";
}

TEST_F(HostileClientsTest, WrongPasswordFloodCostsAtMostOneCore) {
  auto e = Start({"--web.config.file=" + WriteWebConfig(false, 12).string()});
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  ASSERT_EQ(PlainGet(port, "/metrics", password_), 200);  // now remembered
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, unauthorized{0};
  std::vector<std::thread> attackers;
  const double cpu_before = CpuSeconds(e->pid());
  const auto start = Clock::now();
  for (int i = 0; i < 8; ++i) {
    attackers.emplace_back([&, i] {
      std::mt19937_64 rng(static_cast<uint64_t>(i));
      while (!stop) {
        const int s =
            PlainGet(port, "/metrics", "wrong-" + std::to_string(rng()));
        ++answered;
        if (s == 401) ++unauthorized;
      }
    });
  }
  Scraper scraper([&] { return PlainGet(port, "/metrics", password_); },
                  milliseconds(250));
  std::this_thread::sleep_for(AttackLength());
  scraper.Stop();
  const double cores =
      (CpuSeconds(e->pid()) - cpu_before) / Secs(Clock::now() - start);
  stop = true;
  for (auto& t : attackers) t.join();
  EXPECT_GE(scraper.count(), 10u);
  EXPECT_LT(scraper.P99(), 0.5) << scraper.Summary();
  EXPECT_TRUE(scraper.AllOkWithin(seconds(1))) << scraper.Summary();
  EXPECT_LT(cores, 1.3) << "the exporter used " << cores << " cores";
  EXPECT_GT(unauthorized.load(), 0);
  std::cerr << "8 clients with wrong passwords (bcrypt cost 12): " << answered
            << " answers (" << unauthorized << " 401), exporter at " << cores
            << " cores; authorised: " << scraper.Summary() << "\n";
}

TEST_F(HostileClientsTest, ConnectionsBeyondTheCapAreRefusedAtOnce) {
  auto e = Start({"--web.max-connections=50"});
  ASSERT_NE(e->port(), 0);
  std::vector<Fd> held;
  for (int i = 0; i < 50; ++i) held.push_back(Connect(e->port()));
  std::this_thread::sleep_for(milliseconds(300));
  const auto start = Clock::now();
  httplib::Client c("127.0.0.1", e->port());
  auto r = c.Get("/metrics");
  EXPECT_LT(Clock::now() - start, seconds(1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  held.clear();
  ASSERT_TRUE(WaitFor([&] { return !e->Metrics().empty(); }, seconds(5)));
  EXPECT_GE(Sample(e->Metrics(), Refused("too_many_connections")), 1);
}

TEST_F(HostileClientsTest, HeadDeadlineCountsFromAccept) {
  auto e = Start({"--web.read-header-timeout=1s"});
  ASSERT_NE(e->port(), 0);
  Fd fd = Connect(e->port());
  const std::string part = "GET /metrics HTTP/1.1\r\n";
  ASSERT_GT(send(fd.get(), part.data(), part.size(), MSG_NOSIGNAL), 0);
  const auto start = Clock::now();
  // One byte every 200 ms: each read is quick, the head never ends.
  bool closed = false;
  while (!closed && Clock::now() - start < seconds(5)) {
    std::this_thread::sleep_for(milliseconds(200));
    send(fd.get(), "X", 1, MSG_NOSIGNAL);
    closed = PeerClosed(fd);
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
  EXPECT_GE(Sample(e->Metrics(), Refused("head_timeout")), 1);
}

TEST_F(HostileClientsTest, PagesCarrySecurityHeaders) {
  auto e = Start();
  ASSERT_NE(e->port(), 0);
  httplib::Client c("127.0.0.1", e->port());
  for (const char* path : {"/", "/api/v1/status", "/metrics"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
    const std::string csp = r->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  }
  // The status page needs nothing the policy forbids: an inline style and
  // a meta refresh, no script.
  const std::string page = c.Get("/")->body;
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("<style>"), std::string::npos);
}

}  // namespace
}  // namespace cdc::testing
