#include "actions/remediation.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "cdc/common/duration.h"
#include "cdc/common/posix.h"
#include "probes/verdicts.h"

namespace cdc {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr char kOk[] = "ok";
constexpr char kFailed[] = "failed";
constexpr char kTimeout[] = "timeout";
constexpr char kError[] = "error";
constexpr char kRateLimited[] = "rate_limited";

// How long a SIGKILLed capture may take to die before it is left for later.
constexpr auto kReapGrace = 1s;
constexpr auto kRestartWindow = std::chrono::hours(1);
constexpr std::size_t kMaxLoggedBody = 200;

// A connector name as a file name component.
std::string SafeFileName(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    const bool safe = std::isalnum(c) || c == '.' || c == '_' || c == '-';
    out.push_back(safe ? static_cast<char>(c) : '_');
  }
  if (out.empty() || out[0] == '.') out.insert(out.begin(), '_');
  return out;
}

// One argument as a POSIX shell would need it, for the header only.
std::string ShellQuote(const std::string& arg) {
  const bool plain =
      !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
        return std::isalnum(c) || std::strchr("_@%+=:,./-", c) != nullptr;
      });
  if (plain) return arg;
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

// A header value on one line.
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) {
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "wait status " + std::to_string(status);
}

std::string FirstLineOf(const std::string& body) {
  std::string line = body.substr(0, body.find('\n'));
  if (line.size() > kMaxLoggedBody)
    line = line.substr(0, kMaxLoggedBody) + "...";
  return line;
}

// The connector's solo cohort failures so far (0 if it is not watched).
uint64_t SoloFailures(const ObservationStore& store,
                      const std::string& connector) {
  uint64_t solo = 0;
  store.Read(connector, [&](const ObservationStore::Entry& e) {
    solo = e.obs.marker.solo;
  });
  return solo;
}

// The verdict on the connector now (an unwatched one: no failure).
Verdict VerdictNow(const ObservationStore& store,
                   const std::string& connector) {
  return CurrentVerdict(store, connector, WallClock::now()).value_or(Verdict{});
}

}  // namespace

bool RemediationProbe::Needed(const config::Connector& connector) {
  return !connector.evidence.command.empty() || connector.auto_restart.enabled;
}

RemediationProbe::RemediationProbe(const config::Connector& connector,
                                   const config::ConnectCluster* cluster,
                                   const ObservationStore& store,
                                   ActionCounters& counters, Logger& log)
    : connector_(connector),
      cluster_(cluster != nullptr
                   ? std::optional<config::ConnectCluster>(*cluster)
                   : std::nullopt),
      store_(store),
      counters_(counters),
      log_(log),
      client_(cluster != nullptr && connector.auto_restart.enabled
                  ? std::make_unique<connect::ConnectClient>(*cluster)
                  : nullptr),
      last_solo_(SoloFailures(store, connector.name)) {
  if (cluster != nullptr && cluster->name != connector.connect_cluster) {
    throw std::invalid_argument(
        "connector " + connector.name + ": remediation given connect cluster " +
        cluster->name + ", but its connect_cluster is " +
        (connector.connect_cluster.empty() ? std::string("(none)")
                                           : connector.connect_cluster));
  }
  if (cluster == nullptr && connector.auto_restart.enabled &&
      !connector.connect_cluster.empty()) {
    throw std::invalid_argument("connector " + connector.name +
                                ": auto_restart needs connect cluster " +
                                connector.connect_cluster +
                                ", which was not given");
  }
  if (connector.auto_restart.enabled && cluster == nullptr) {
    log_.Warn(
        "auto_restart is enabled but the connector has no connect_cluster "
        "(no REST API to restart it through): restarts are off",
        {{"connector", connector.name}});
  }
}

RemediationProbe::~RemediationProbe() {
  std::unique_lock<std::mutex> lock(mu_);
  if (child_ > 0) unreaped_.push_back(child_);
  child_ = -1;
  const auto until = SteadyClock::now() + kReapGrace;
  while (!unreaped_.empty()) {
    for (pid_t pid : unreaped_) ::kill(-pid, SIGKILL);
    std::erase_if(unreaped_, [](pid_t pid) {
      const pid_t r = ::waitpid(pid, nullptr, WNOHANG);
      return r == pid || (r < 0 && errno != EINTR);
    });
    if (unreaped_.empty() || SteadyClock::now() >= until) break;
    lock.unlock();
    std::this_thread::sleep_for(5ms);
    lock.lock();
  }
  for (pid_t pid : unreaped_) {
    log_.Error("evidence capture did not die after SIGKILL; left unreaped",
               {{"connector", connector_.name}, {"pid", std::to_string(pid)}});
  }
}

std::chrono::milliseconds RemediationProbe::Timeout() const {
  return connector_.evidence.timeout +
         (cluster_ ? cluster_->timeout : std::chrono::milliseconds(0)) + 2s;
}

bool RemediationProbe::SameAs(const Probe& other) const {
  // The whole connector and cluster configuration, secrets included, so a
  // rotated password takes effect on reload.
  const auto* o = dynamic_cast<const RemediationProbe*>(&other);
  return o != nullptr && o->connector_ == connector_ && o->cluster_ == cluster_;
}

void RemediationProbe::Cancel() {
  if (client_) client_->Cancel();
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  // Not reaped while mu_ is held elsewhere, so the id is still ours.
  if (child_ > 0) ::kill(-child_, SIGKILL);
}

ProbeOutcome RemediationProbe::Run(const ProbeContext& ctx) {
  try {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = false;
    }
    if (client_) client_->Reset();
    ReapLeftovers();

    const Verdict v = VerdictNow(store_, connector_.name);
    std::string failures;
    if (auto why = MaybeCapture(v, ctx.deadline)) failures = *why;
    if (auto why = MaybeRestart(v, ctx.deadline)) {
      if (!failures.empty()) failures += "; ";
      failures += *why;
    }
    return failures.empty() ? ProbeOutcome::Ok()
                            : ProbeOutcome::Fail(std::move(failures));
  } catch (const std::exception& e) {
    return ProbeOutcome::Fail(std::string("remediation: ") + e.what());
  }
}

std::optional<std::string> RemediationProbe::MaybeCapture(
    const Verdict& v, SteadyClock::time_point deadline) {
  const auto& ev = connector_.evidence;
  if (ev.command.empty()) return std::nullopt;
  const uint64_t solo = SoloFailures(store_, connector_.name);
  const bool solo_grew = solo > last_solo_;
  last_solo_ = solo;
  // Only a stalled connector: never one that is lagging, misconfigured or
  // that cannot be observed (a solo miss alone may be a late marker).
  if (!v.silent_failure) return std::nullopt;
  const std::string trigger = solo_grew ? "solo_failure" : "silent_failure";

  const auto now = SteadyClock::now();
  if (last_capture_ && now - *last_capture_ < ev.min_interval) {
    counters_.Count(ActionCounters::Action::kEvidence, connector_.name,
                    kRateLimited);
    log_.Debug("evidence capture skipped: within min_interval of the last one",
               {{"connector", connector_.name},
                {"trigger", trigger},
                {"min_interval", FormatDuration(ev.min_interval)}});
    return std::nullopt;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return "cancelled before the evidence capture";
  }
  if (deadline <= now) return "no time left for an evidence capture";
  last_capture_ = now;

  const CaptureOutcome out =
      Capture(v, trigger,
              std::min<SteadyClock::time_point>(now + ev.timeout, deadline));
  counters_.Count(ActionCounters::Action::kEvidence, connector_.name,
                  out.result);
  const double seconds = ToSeconds(SteadyClock::now() - now);
  const bool ok = out.result == kOk;
  log_.Log(ok ? LogLevel::kInfo : LogLevel::kWarn,
           ok ? "evidence captured" : "evidence capture did not succeed",
           {{"connector", connector_.name},
            {"tls_version", v.tls_version},
            {"trigger", trigger},
            {"result", out.result},
            {"file", out.path},
            {"detail", out.detail},
            {"duration_seconds", std::to_string(seconds)}});
  if (ok) return std::nullopt;
  return "evidence capture " + out.result + ": " + out.detail;
}

namespace {

// Creates <dir>/<connector>-<UTC>.txt (mode 0640), never an existing one
// ("-1", "-2", ... suffixes). Sets *path; on failure returns an invalid Fd
// and sets *why.
Fd CreateEvidenceFile(const std::string& directory, const std::string& name,
                      WallClock::time_point now, std::string* path,
                      std::string* why) {
  const std::string dir = directory.back() == '/' ? directory : directory + "/";
  const std::string base =
      dir + SafeFileName(name) + "-" + FormatUtc(now, "%Y%m%dT%H%M%SZ");
  int open_err = 0;
  int raw_fd = -1;
  for (int i = 0; i < 100 && raw_fd < 0; ++i) {
    *path = base + (i == 0 ? "" : "-" + std::to_string(i)) + ".txt";
    raw_fd = ::open(
        path->c_str(),
        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
    open_err = errno;
    if (raw_fd < 0 && open_err != EEXIST) break;
  }
  Fd file(raw_fd);
  if (!file.valid()) {
    *why = "cannot create " + *path + ": " + ErrnoText(open_err);
    path->clear();
    return file;
  }
  ::fchmod(file.get(), 0640);  // not narrowed by the umask
  return file;
}

// Starts `command` (argv, no shell) in its own process group, stdin from
// /dev/null, stdout and stderr into `out_fd`, no other inherited
// descriptors, default signal handling. Returns 0 or an errno value.
int SpawnCapture(const std::vector<std::string>& command, int out_fd,
                 pid_t* pid) {
  SpawnFileActions fa;
  SpawnAttr attr;
  int rc = fa.ok() && attr.ok() ? 0 : ENOMEM;
  if (rc == 0) {
    rc =
        posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
  }
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(fa.get(), out_fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(fa.get(), out_fd, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(fa.get(), 3);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigemptyset(&default_signals);
  for (int sig :
       {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&default_signals, sig);
  }
  if (rc == 0) {
    rc = posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETPGROUP |
                                                  POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
  }
  if (rc == 0) rc = posix_spawnattr_setpgroup(attr.get(), 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(attr.get(), &no_signals);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(attr.get(), &default_signals);
  std::vector<char*> argv;
  for (const auto& arg : command)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  if (rc == 0) {
    rc = posix_spawnp(pid, argv[0], fa.get(), attr.get(), argv.data(), environ);
  }
  return rc;
}

}  // namespace

std::string RemediationProbe::EvidenceHeader(const Verdict& v,
                                             std::string_view trigger,
                                             WallClock::time_point now) const {
  std::string command;
  for (const auto& arg : connector_.evidence.command) {
    if (!command.empty()) command += ' ';
    command += ShellQuote(arg);
  }
  std::string reason = v.ReasonText();
  if (trigger == "solo_failure") {
    reason +=
        "; solo cohort failure: missed a marker another connector of "
        "source " +
        connector_.source + " got";
  }
  return "# cdc-sentinel evidence capture\n"
         "# connector: " +
         OneLine(connector_.name) +
         "\n# tls_version: " + OneLine(v.tls_version) +
         "\n# trigger: " + std::string(trigger) +
         "\n# reason: " + OneLine(reason) +
         "\n# time: " + FormatUtc(now, "%Y-%m-%dT%H:%M:%SZ") +
         "\n# command: " + OneLine(command) + "\n#\n";
}

RemediationProbe::CaptureOutcome RemediationProbe::Capture(
    const Verdict& v, std::string_view trigger,
    SteadyClock::time_point deadline) {
  const auto& ev = connector_.evidence;
  CaptureOutcome out;
  out.result = kError;
  if (ev.directory.empty()) {
    out.detail = "evidence.directory is empty";
    return out;
  }
  if (!MakeDirectories(ev.directory, &out.detail)) return out;
  const auto wall_now = WallClock::now();
  Fd file = CreateEvidenceFile(ev.directory, connector_.name, wall_now,
                               &out.path, &out.detail);
  if (!file.valid()) return out;
  int write_err = 0;
  if (!WriteAll(file.get(), EvidenceHeader(v, trigger, wall_now), &write_err)) {
    out.detail = "cannot write " + out.path + ": " + ErrnoText(write_err);
    ::unlink(out.path.c_str());
    return out;
  }
  pid_t pid = -1;
  if (const int rc = SpawnCapture(ev.command, file.get(), &pid); rc != 0) {
    out.detail = "cannot start " + ev.command[0] + ": " + ErrnoText(rc);
    ::unlink(out.path.c_str());
    out.path.clear();
    return out;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    child_ = pid;
    if (cancelled_) ::kill(-pid, SIGKILL);
  }
  Finish(pid, deadline, out);
  int ignored = 0;
  WriteAll(file.get(), "\n# result: " + out.result + " (" + out.detail + ")\n",
           &ignored);
  return out;
}

void RemediationProbe::Finish(pid_t pid, SteadyClock::time_point deadline,
                              CaptureOutcome& out) {
  const auto started = SteadyClock::now();
  std::string how;
  const std::optional<int> status = Await(pid, deadline, &how);
  const std::string elapsed =
      FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(
          SteadyClock::now() - started));
  if (how == "timeout") {
    out.result = kTimeout;
    out.detail = "killed after " + elapsed + " (evidence.timeout " +
                 FormatDuration(connector_.evidence.timeout) + ")";
  } else if (how == "cancelled") {
    out.result = kTimeout;
    out.detail = "killed after " + elapsed + ": the run was cancelled";
  } else if (!status) {
    out.result = kError;
    out.detail = "exit status lost (reaped elsewhere) after " + elapsed;
  } else {
    out.result =
        WIFEXITED(*status) && WEXITSTATUS(*status) == 0 ? kOk : kFailed;
    out.detail = DescribeWaitStatus(*status) + " after " + elapsed;
  }
}

std::optional<int> RemediationProbe::Await(pid_t pid,
                                           SteadyClock::time_point deadline,
                                           std::string* how) {
  auto delay = 2ms;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      siginfo_t info;
      std::memset(&info, 0, sizeof info);
      // Looks without reaping, so the process group id stays ours while
      // leftovers of the command (background children) are killed.
      const int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info,
                              WEXITED | WNOHANG | WNOWAIT);
      if (rc == 0 && info.si_pid == pid) {
        ::kill(-pid, SIGKILL);
        int status = 0;
        pid_t r;
        do {
          r = ::waitpid(pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        child_ = -1;
        *how = cancelled_ ? "cancelled" : "exit";
        if (r != pid) return std::nullopt;
        return status;
      }
      if (rc < 0 && errno != EINTR) {  // ECHILD: SIGCHLD ignored, or reaped
        child_ = -1;
        *how = "exit";
        return std::nullopt;
      }
      if (cancelled_) {
        *how = "cancelled";
        break;
      }
    }
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      *how = "timeout";
      break;
    }
    std::this_thread::sleep_for(
        std::min<SteadyClock::duration>(delay, deadline - now));
    delay = std::min<std::chrono::milliseconds>(delay * 2, 50ms);
  }
  KillAndReap(pid);
  return std::nullopt;
}

void RemediationProbe::KillAndReap(pid_t pid) {
  std::unique_lock<std::mutex> lock(mu_);
  ::kill(-pid, SIGKILL);
  const auto until = SteadyClock::now() + kReapGrace;
  while (true) {
    const pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (SteadyClock::now() >= until) {
      unreaped_.push_back(pid);
      log_.Error(
          "evidence capture did not die within 1s of SIGKILL; will "
          "reap it later",
          {{"connector", connector_.name}, {"pid", std::to_string(pid)}});
      break;
    }
    lock.unlock();
    std::this_thread::sleep_for(5ms);
    lock.lock();
  }
  child_ = -1;
}

void RemediationProbe::ReapLeftovers() {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(unreaped_, [](pid_t pid) {
    ::kill(-pid, SIGKILL);
    const pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    return r == pid || (r < 0 && errno != EINTR);
  });
}

std::optional<std::string> RemediationProbe::MaybeRestart(
    const Verdict& v, SteadyClock::time_point deadline) {
  if (!client_) return std::nullopt;
  const auto& ar = connector_.auto_restart;
  if (!v.silent_failure) {
    consecutive_silent_ = 0;
    return std::nullopt;
  }
  if (++consecutive_silent_ < ar.after) return std::nullopt;
  consecutive_silent_ = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return "cancelled before the restart";
  }
  // An evidence capture may have taken a while: judge again.
  const Verdict now_v = VerdictNow(store_, connector_.name);
  if (!now_v.silent_failure) {
    log_.Info("restart not needed: the connector recovered",
              {{"connector", connector_.name}, {"reason", now_v.ReasonText()}});
    return std::nullopt;
  }
  const auto now = SteadyClock::now();
  while (!restarts_.empty() && now - restarts_.front() >= kRestartWindow) {
    restarts_.pop_front();
  }
  if (restarts_.size() >=
      static_cast<std::size_t>(std::max(0, ar.max_per_hour))) {
    counters_.Count(ActionCounters::Action::kRestart, connector_.name,
                    kRateLimited);
    log_.Warn("restart not sent: auto_restart.max_per_hour reached",
              {{"connector", connector_.name},
               {"max_per_hour", std::to_string(ar.max_per_hour)},
               {"reason", now_v.ReasonText()}});
    return std::nullopt;
  }
  restarts_.push_back(now);
  const std::string path = "/connectors/" +
                           connect::EncodePathSegment(connector_.name) +
                           "/restart?includeTasks=true&onlyFailed=false";
  const connect::HttpResult r = client_->Post(path, deadline);
  if (r.ok && (r.status == 200 || r.status == 202 || r.status == 204)) {
    counters_.Count(ActionCounters::Action::kRestart, connector_.name, kOk);
    log_.Warn("connector restarted after a silent failure",
              {{"connector", connector_.name},
               {"connect_cluster", connector_.connect_cluster},
               {"tls_version", now_v.tls_version},
               {"reason", now_v.ReasonText()},
               {"status", std::to_string(r.status)}});
    return std::nullopt;
  }
  counters_.Count(ActionCounters::Action::kRestart, connector_.name, kError);
  const std::string detail =
      r.ok ? "HTTP " + std::to_string(r.status) + ": " + FirstLineOf(r.body)
           : r.error;
  log_.Error("connector restart failed",
             {{"connector", connector_.name},
              {"connect_cluster", connector_.connect_cluster},
              {"status", std::to_string(r.status)},
              {"body", r.ok ? FirstLineOf(r.body) : std::string()},
              {"error", r.error}});
  return "restart POST " + path + ": " + detail;
}

void BuildActions(const config::Config& cfg, const ObservationStore& store,
                  ActionCounters& counters, Logger& log,
                  std::vector<std::shared_ptr<Probe>>& out) {
  for (const auto& c : cfg.connectors) {
    if (!RemediationProbe::Needed(c)) continue;
    out.push_back(std::make_shared<RemediationProbe>(
        c,
        c.connect_cluster.empty() ? nullptr
                                  : cfg.FindConnectCluster(c.connect_cluster),
        store, counters, log));
  }
}

}  // namespace cdc
