#pragma once

// Helpers shared by the integration tests: files and text, polling, shell
// commands, child processes (the exporter among them), sockets, HTTP, the
// Prometheus text format, a fake Kafka Connect worker and the sandbox's
// scripts. Header-only. Nothing here is thread-safe unless it says so.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../common/exposition.h"

extern char** environ;

namespace cdc::testing {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Time, files and text

inline double Secs(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

inline double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// The whole file; empty if it cannot be read.
inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

// The last `lines` lines of `text`.
inline std::string Tail(const std::string& text, int lines) {
  std::size_t pos = text.size();
  while (lines-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

// $`name` if it is set and not empty, else `fallback`.
inline std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// The KEY=value lines of a file (port files, env files); others are skipped.
inline std::map<std::string, std::string> ReadKeyValues(
    const std::filesystem::path& p) {
  std::map<std::string, std::string> kv;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

// $TMPDIR/<prefix><pid>-<name of the running test>, emptied and created.
inline std::filesystem::path FreshTestDir(const std::string& prefix) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      (prefix + std::to_string(getpid()) + "-" +
       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A fresh directory $TMPDIR/<prefix>XXXXXX, removed with its contents on
// destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "cdc-test-") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------
// Polling

// Calls `pred` every `period` until it holds or `limit` has passed; it is
// called once more at (or just after) the deadline. True if it held.
inline bool WaitFor(const std::function<bool()>& pred, Clock::duration limit,
                    Clock::duration period = std::chrono::milliseconds(50)) {
  const auto end = Clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(period);
  }
}

// ---------------------------------------------------------------------------
// Shell commands

// Runs `cmd` with sh to completion. Returns its exit status (-1 if it did
// not exit normally); its stdout goes to `out` (if given) and its stderr to
// `err` if given, else into `out` too.
inline int RunCommand(const std::string& cmd, std::string* out = nullptr,
                      std::string* err = nullptr) {
  std::string full = "(" + cmd + ")";
  std::string err_file;
  if (err != nullptr) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "cdc-test-stderr-XXXXXX")
            .string();
    const int fd = mkstemp(tmpl.data());
    if (fd >= 0) close(fd);
    err_file = tmpl;
    full += " 2>" + err_file;
  } else {
    full += " 2>&1";
  }
  std::string text;
  int status = -1;
  if (FILE* f = popen(full.c_str(), "r"); f != nullptr) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    status = pclose(f);
  }
  if (out != nullptr) *out = text;
  if (err != nullptr) {
    *err = ReadFile(err_file);
    std::filesystem::remove(err_file);
  }
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---------------------------------------------------------------------------
// Processes

// True while /proc/PID exists and is not a zombie.
inline bool ProcessAlive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto rp = stat.rfind(')');
  if (rp == std::string::npos || rp + 2 >= stat.size()) return false;
  const char state = stat[rp + 2];
  return state != 'Z' && state != 'X';
}

// PIDs of live processes (other than this one) whose command line mentions
// `needle`.
inline std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const pid_t pid = std::stoi(name);
    if (pid != getpid() && cmdline.find(needle) != std::string::npos &&
        ProcessAlive(pid)) {
      out.push_back(pid);
    }
  }
  return out;
}

// SIGKILLs the processes ProcessesMentioning(`needle`) finds (programs that
// leave their process group, like Chromium's crash handler); how many.
inline int KillProcessesMentioning(const std::string& needle) {
  const auto pids = ProcessesMentioning(needle);
  for (const pid_t pid : pids) kill(pid, SIGKILL);
  return static_cast<int>(pids.size());
}

// The exit code of a wait status; 128 + the signal if a signal ended it.
inline int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct ChildOptions {
  // stdout, truncated first; empty: inherited.
  std::filesystem::path out{};
  // stderr, truncated first; empty: the same as stdout.
  std::filesystem::path err{};
  // Set in (or added to) the environment the child inherits.
  std::map<std::string, std::string> env{};
  // The program to run when it is not argv[0] (argv[0] is then only the
  // name it is given).
  std::string executable{};
  // How long the destructor waits after SIGTERM before SIGKILL.
  Clock::duration stop_timeout = std::chrono::seconds(10);
};

// A child process in a process group of its own, stdin from /dev/null. The
// destructor stops the whole group (SIGTERM, SIGKILL after stop_timeout);
// once the child has exited, whatever it left in its group is killed too.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, ChildOptions options)
      : options_(std::move(options)) {
    if (argv.empty()) throw std::invalid_argument("ChildProcess: no argv");
    // Everything the child needs is prepared before fork: it may only make
    // async-signal-safe calls.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string s = *e;
      if (!options_.env.count(s.substr(0, s.find('=')))) {
        env_strings.push_back(s);
      }
    }
    for (const auto& [k, v] : options_.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string exe =
        options_.executable.empty() ? argv[0] : options_.executable;

    const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out =
        options_.out.empty() ? -1 : open(options_.out.c_str(), flags, 0644);
    const int err = options_.err.empty() || options_.err == options_.out
                        ? out
                        : open(options_.err.c_str(), flags, 0644);

    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      if (in >= 0) dup2(in, 0);
      if (out >= 0) dup2(out, 1);
      if (err >= 0) dup2(err, 2);
      execve(exe.c_str(), args.data(), envp.data());
      _exit(127);
    }
    if (pid_ > 0) setpgid(pid_, pid_);  // whichever runs first
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0 && err != out) close(err);
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  // stdout and stderr to `log`.
  ChildProcess(const std::vector<std::string>& argv,
               const std::filesystem::path& log)
      : ChildProcess(argv, ChildOptions{.out = log}) {}
  ~ChildProcess() { Stop(options_.stop_timeout); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The stderr file's contents.
  std::string Log() const {
    return ReadFile(options_.err.empty() ? options_.out : options_.err);
  }

  // True while the child has not exited.
  bool Running() {
    if (exit_code_) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      Reaped(status);
      return false;
    }
    if (r < 0 && errno == ECHILD) {  // reaped elsewhere: status unknown
      exit_code_ = -1;
      return false;
    }
    return true;
  }
  // The exit code (ExitCode) once the child has exited and Running() or
  // Wait() has seen it.
  std::optional<int> exit_code() const { return exit_code_; }

  // Waits up to `limit` for the child to exit by itself; its exit code, or
  // nullopt if it is still running.
  std::optional<int> Wait(Clock::duration limit) {
    WaitFor([&] { return !Running(); }, limit, std::chrono::milliseconds(10));
    return exit_code_;
  }
  // Polls `pred` every `period` while the child runs, up to `limit`; true
  // once it holds, false if the child exited or the time ran out.
  bool WaitUntil(const std::function<bool()>& pred, Clock::duration limit,
                 Clock::duration period) {
    bool held = false;
    WaitFor([&] { return !Running() || (held = pred()); }, limit, period);
    return held;
  }

  // SIGTERM to the group, then waits up to `limit`; SIGKILL to the group if
  // the child has not exited by then. Its exit code, or nullopt if it had to
  // be killed.
  std::optional<int> Stop(Clock::duration limit) {
    if (!Running()) return exit_code_;
    kill(-pid_, SIGTERM);
    if (auto code = Wait(limit)) return code;
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    Reaped(status);
    return std::nullopt;
  }

 private:
  // The child is gone; helpers it left in its group go too.
  void Reaped(int status) {
    exit_code_ = ExitCode(status);
    kill(-pid_, SIGKILL);
  }

  ChildOptions options_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Waits up to `limit` for `key` to appear in the KEY=value file `path` that
// `child` writes (a port file); all the file's keys then, or nullopt if the
// child exited first or the time ran out.
inline std::optional<std::map<std::string, std::string>> TryWaitForKeys(
    const std::filesystem::path& path, const std::string& key,
    ChildProcess& child, Clock::duration limit) {
  std::map<std::string, std::string> kv;
  const bool ok = WaitFor(
      [&] {
        kv = ReadKeyValues(path);
        return kv.count(key) > 0 || !child.Running();
      },
      limit, std::chrono::milliseconds(20));
  if (!ok || !kv.count(key)) return std::nullopt;
  return kv;
}

// As TryWaitForKeys, but throws std::runtime_error (with the child's log)
// when the key does not appear.
inline std::map<std::string, std::string> WaitForKeys(
    const std::filesystem::path& path, const std::string& key,
    ChildProcess& child, Clock::duration limit) {
  auto kv = TryWaitForKeys(path, key, child, limit);
  if (!kv) {
    throw std::runtime_error("no " + key + "= in " + path.string() +
                             " (child log: " + child.Log() + ")");
  }
  return *std::move(kv);
}

// ---------------------------------------------------------------------------
// Sockets

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Close(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// The port `fd` is bound to; 0 if none.
inline uint16_t BoundPort(const Fd& fd) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return 0;
  }
  return ntohs(a.sin_port);
}

// A port on 127.0.0.1 that nothing listens on and that was free a moment ago
// (bound once, then released), for programs that cannot report the port they
// picked and for a closed port; 0 if none could be bound.
inline uint16_t FreePort() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(0);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return 0;
  }
  return BoundPort(fd);
}

// ---------------------------------------------------------------------------
// HTTP

// "http://127.0.0.1:<port>"
inline std::string LocalUrl(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

struct HttpResult {
  int status = 0;  // 0: no response
  std::string body;
  std::string content_type;
  nlohmann::json json() const {
    return nlohmann::json::parse(body, nullptr, false);
  }
};

// One request to `base` (an URL such as "http://127.0.0.1:8083"); connects
// within 5 s, reads within `read_timeout`. POST and PUT carry an empty body
// with Content-Length: 0.
inline HttpResult Http(
    const std::string& method, const std::string& base, const std::string& path,
    Clock::duration read_timeout = std::chrono::seconds(10)) {
  httplib::Client cli(base);
  cli.set_connection_timeout(std::chrono::seconds(5));
  cli.set_read_timeout(read_timeout);
  auto r = method == "POST"     ? cli.Post(path, "", "application/json")
           : method == "PUT"    ? cli.Put(path, "", "application/json")
           : method == "DELETE" ? cli.Delete(path)
                                : cli.Get(path);
  HttpResult out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  out.content_type = r->get_header_value("Content-Type");
  return out;
}

// GET: the JSON object of a 200 answer, else an empty object.
inline nlohmann::json GetJsonObject(
    const std::string& base, const std::string& path,
    Clock::duration read_timeout = std::chrono::seconds(5)) {
  const HttpResult r = Http("GET", base, path, read_timeout);
  if (r.status != 200) return nlohmann::json::object();
  auto j = r.json();
  return j.is_object() ? j : nlohmann::json::object();
}

// Standard base64 with padding.
inline std::string Base64(const std::string& s) {
  static const char* k =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v =
        (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int j = 18; j >= 0; j -= 6) out.push_back(k[(v >> j) & 63]);
  }
  if (i + 1 == s.size()) {
    const uint32_t v = uint8_t(s[i]) << 16;
    out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == s.size()) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63],
                       '='};
  }
  return out;
}

// An httplib::Server on 127.0.0.1, on a port it picks, serving on a thread
// of its own; stopped and joined on destruction. `routes` registers its
// handlers before it starts. Declare it after the members its handlers use,
// so that it stops before they go.
class LocalHttpServer {
 public:
  explicit LocalHttpServer(
      const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalHttpServer() {
    server_.stop();
    thread_.join();
  }
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  // Negative if it could not bind.
  int port() const { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A Kafka Connect stand-in on 127.0.0.1 with one RUNNING Debezium MySQL
// connector, "inventory". Without passwords it answers any request that has
// an Authorization header; with them, only basic auth as `user` with one of
// them. Other requests get 401. Thread-safe.
class FakeConnect {
 public:
  FakeConnect() : FakeConnect("", {}) {}
  FakeConnect(std::string user, std::vector<std::string> passwords)
      : user_(std::move(user)),
        passwords_(std::move(passwords)),
        server_([this](httplib::Server& s) {
          s.Get("/connectors",
                [this](const httplib::Request& req, httplib::Response& res) {
                  Answer(req, res);
                });
        }) {}

  int port() const { return server_.port(); }
  // How many requests were answered.
  int authorized() const { return authorized_; }
  // Accepts another password as well.
  void Allow(const std::string& password) {
    std::lock_guard<std::mutex> lock(mu_);
    passwords_.push_back(password);
  }

 private:
  void Answer(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req.get_header_value("Authorization"))) {
      res.status = 401;
      return;
    }
    ++authorized_;
    res.set_content(R"({"inventory":{"status":{"name":"inventory",
        "connector":{"state":"RUNNING","worker_id":"10.0.0.1:8083"},
        "tasks":[{"id":0,"state":"RUNNING","worker_id":"10.0.0.1:8083"}],
        "type":"source"},"info":{"name":"inventory","config":{
        "connector.class":"io.debezium.connector.mysql.MySqlConnector"},
        "tasks":[{"connector":"inventory","task":0}],"type":"source"}}})",
                    "application/json");
  }
  bool Authorized(const std::string& authorization) {
    std::lock_guard<std::mutex> lock(mu_);
    if (passwords_.empty()) return !authorization.empty();
    for (const auto& pw : passwords_) {
      if (authorization == "Basic " + Base64(user_ + ":" + pw)) return true;
    }
    return false;
  }

  const std::string user_;
  std::mutex mu_;
  std::vector<std::string> passwords_;
  std::atomic<int> authorized_{0};
  LocalHttpServer server_;  // last: stops before the rest goes
};

// ---------------------------------------------------------------------------
// The exporter

struct ExporterOptions {
  // More flags, e.g. --web.config.file=...
  std::vector<std::string> flags{};
  std::string log_level = "debug";
  // How long to wait for the start line.
  Clock::duration start_within = std::chrono::seconds(15);
};

// The cdc-sentinel binary `binary` serving on 127.0.0.1, on the port it
// picks (read from its log's start line), stdout and stderr to `log`.
// Stopped on destruction (ChildProcess).
class ExporterProcess {
 public:
  ExporterProcess(const std::string& binary,
                  const std::filesystem::path& config,
                  const std::filesystem::path& log,
                  const ExporterOptions& options = {}) {
    std::vector<std::string> argv = {binary, "--config.file=" + config.string(),
                                     "--web.listen-address=127.0.0.1:0",
                                     "--log.level=" + options.log_level};
    argv.insert(argv.end(), options.flags.begin(), options.flags.end());
    const auto start = Clock::now();
    child_ = std::make_unique<ChildProcess>(argv, log);
    const std::regex port_re("msg=\"cdc-sentinel started\".* port=([0-9]+)");
    child_->WaitUntil(
        [&] {
          std::smatch m;
          const std::string text = child_->Log();
          if (std::regex_search(text, m, port_re)) port_ = std::stoi(m[1]);
          return port_ != 0;
        },
        options.start_within, std::chrono::milliseconds(10));
    startup_ = Clock::now() - start;
  }

  // 0 if the exporter did not start.
  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  // From fork to the start line.
  Clock::duration startup() const { return startup_; }
  // The exit code if it has exited (e.g. at start), else -1.
  int exit_status() const { return child_->exit_code().value_or(-1); }
  std::string Log() const { return child_->Log(); }

  // SIGTERM; the exit code, or -1 if it did not exit within `limit`.
  int Terminate(Clock::duration limit = std::chrono::seconds(10)) {
    return child_->Stop(limit).value_or(-1);
  }

  httplib::Result Get(
      const std::string& path,
      Clock::duration read_timeout = std::chrono::seconds(5)) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout);
    return c.Get(path);
  }
  // The body of /metrics, or "" if it did not answer 200.
  std::string Metrics() const {
    auto r = Get("/metrics");
    return r && r->status == 200 ? r->body : "";
  }
  // /api/v1/status, or an empty object.
  nlohmann::json Status() const {
    return GetJsonObject(LocalUrl(port_), "/api/v1/status");
  }

 private:
  std::unique_ptr<ChildProcess> child_;
  int port_ = 0;
  Clock::duration startup_{};
};

// True if `exporter` started; else a test failure showing `config` and the
// exporter's log.
inline bool ExporterStarted(const ExporterProcess& exporter,
                            const std::filesystem::path& config) {
  EXPECT_NE(exporter.port(), 0)
      << "the exporter did not start\n--- config ---\n"
      << ReadFile(config) << "--- log ---\n"
      << exporter.Log();
  return exporter.port() != 0;
}

// What a failure message shows: the metric lines of `last` that start with
// one of `prefixes` and the last `log_lines` lines of the exporter's log.
inline std::string ScrapeDiagnostics(const Scrape& last,
                                     const std::vector<std::string>& prefixes,
                                     const ExporterProcess* exporter,
                                     int log_lines) {
  return "\n--- metrics (last scrape) ---\n" + last.Lines(prefixes) +
         "--- exporter log (tail) ---\n" +
         (exporter ? Tail(exporter->Log(), log_lines) : std::string("(none)")) +
         "\n";
}

// ---------------------------------------------------------------------------
// The sandbox's scripts (test/sandbox)

// Runs `<scripts>/fault <args>`; a test failure (with its output) unless it
// succeeds.
inline bool SandboxFault(const std::string& scripts, const std::string& args) {
  std::string out;
  const int rc = RunCommand(scripts + "/fault " + args, &out);
  EXPECT_EQ(rc, 0) << "fault " << args << ":\n" << out;
  return rc == 0;
}

// Heals every fault of the sandbox (`fault heal`); a test failure unless it
// succeeds.
inline void HealSandbox(const std::string& scripts) {
  std::string out;
  if (RunCommand(scripts + "/fault heal", &out) != 0) {
    ADD_FAILURE() << "fault heal failed:\n" << out;
  }
}

// Heals every fault of the sandbox when it goes out of scope, whatever the
// test did in between (a failed ASSERT included).
class HealOnExit {
 public:
  explicit HealOnExit(std::string scripts) : scripts_(std::move(scripts)) {}
  ~HealOnExit() { HealSandbox(scripts_); }
  HealOnExit(const HealOnExit&) = delete;
  HealOnExit& operator=(const HealOnExit&) = delete;

 private:
  std::string scripts_;
};

// Writes an exporter config for the sandbox to `out` with
// `<scripts>/demo-config`, `settings` being its CDC_DEMO_*=value knobs; a
// test failure (with its output) unless it succeeds.
inline bool DemoConfig(const std::string& scripts,
                       const std::filesystem::path& out,
                       const std::vector<std::string>& settings) {
  std::string cmd = "env CDC_DEMO_OUT=" + out.string();
  for (const auto& s : settings) cmd += " " + s;
  cmd += " " + scripts + "/demo-config";
  std::string output;
  const int rc = RunCommand(cmd, &output);
  EXPECT_EQ(rc, 0) << cmd << "\n" << output;
  return rc == 0;
}

// ---------------------------------------------------------------------------
// Running a program under the sandbox's dedicated exporter uid
//
// test/sandbox/up (as root) creates the system user EXPORTER_TEST_USER
// (cdc-exporter-test) and writes EXPORTER_TEST_USER / EXPORTER_TEST_UID to
// the env file; that user owns the monitoring password file and can read
// the CA. `test/sandbox/fault exporter-kafka drop|reset|pass` cuts that uid's
// connections to Kafka alone (iptables owner match). To run the exporter
// under it:
//
//   const std::string user = env.GetOr("EXPORTER_TEST_USER", "");
//   if (user.empty()) GTEST_SKIP() << "no exporter uid (up not run as root)";
//   ExporterProcess exporter(ExporterBinaryAsUser(binary, user, dir), config,
//                            log);
//
// The config (and an evidence directory, see ChownToUser) must be readable
// (writable) by the user; FreshTestDir/TempDir contents are world-readable
// with the default umask.

// A shell command prefix that runs what follows as `user` (its uid, its
// primary group, its supplementary groups). setpriv execs the program
// itself: no process stays in between, signals and exit codes are the
// program's own.
inline std::string AsUserPrefix(const std::string& user) {
  return "setpriv --reuid=" + user + " --regid=" + user +
         " --init-groups -- ";
}

// Writes `dir`/<binary's name>-as-<user>, an executable wrapper that execs
// `binary` with its arguments as `user` (AsUserPrefix), and returns its
// path: pass it wherever a binary is expected (ExporterProcess, ChildProcess
// argv[0]). The pid seen is then the program's own pid.
inline std::filesystem::path ExporterBinaryAsUser(
    const std::string& binary, const std::string& user,
    const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const fs::path wrapper =
      dir / (fs::path(binary).filename().string() + "-as-" + user);
  WriteFile(wrapper, "#!/bin/sh\nexec " + AsUserPrefix(user) + "'" + binary +
                         "' \"$@\"\n");
  fs::permissions(wrapper, fs::perms::owner_all | fs::perms::group_read |
                               fs::perms::group_exec | fs::perms::others_read |
                               fs::perms::others_exec);
  return wrapper;
}

// chown -R `user` `path` (e.g. an evidence directory the exporter writes
// under its own uid); false (and a test failure) if it fails.
inline bool ChownToUser(const std::filesystem::path& path,
                        const std::string& user) {
  std::string out;
  const int rc = RunCommand("chown -R '" + user + "' '" + path.string() + "'",
                            &out);
  EXPECT_EQ(rc, 0) << "chown " << user << " " << path << ": " << out;
  return rc == 0;
}

}  // namespace cdc::testing
