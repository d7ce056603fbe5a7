// Runs the real cdc-sentinel binary against an in-process Kafka Connect
// stand-in and checks what a user sees: flags and exit codes, /metrics
// (linted by Prometheus' own promtool), reload by HTTP and SIGHUP, a hanging
// dependency, shutdown, and that a secret never shows.

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* kBinary = CDC_BINARY_DIR "/exporter/cdc-sentinel";
constexpr char kSecret[] = "s3cr3t-Planted-Pa55word";

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream(p) << s;
}

// Runs a command to completion; returns its exit status and output.
int RunCommand(const std::string& cmd, std::string* out) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  int status = pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A Kafka Connect stand-in with one RUNNING connector, requiring basic auth.
class FakeConnect {
 public:
  FakeConnect() {
    server_.Get("/connectors",
                [](const httplib::Request& req, httplib::Response& res) {
                  if (req.get_header_value("Authorization").empty()) {
                    res.status = 401;
                    return;
                  }
                  res.set_content(R"({"inventory":{"status":{"name":"inventory",
        "connector":{"state":"RUNNING","worker_id":"10.0.0.1:8083"},
        "tasks":[{"id":0,"state":"RUNNING","worker_id":"10.0.0.1:8083"}],
        "type":"source"},"info":{"name":"inventory","config":{
        "connector.class":"io.debezium.connector.mysql.MySqlConnector"},
        "tasks":[{"connector":"inventory","task":0}],"type":"source"}}})",
                                  "application/json");
                });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeConnect() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  int port_;
  std::thread thread_;
};

// A TCP listener that never accepts: connections complete in the kernel and
// then hear nothing, like a hung worker.
class BlackholeListener {
 public:
  BlackholeListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~BlackholeListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

// The exporter as a child process; killed on destruction.
class Exporter {
 public:
  Exporter(const fs::path& config, const fs::path& log) : log_(log) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = fopen(log.c_str(), "w");
      dup2(fileno(f), 2);
      execl(kBinary, kBinary, ("--config.file=" + config.string()).c_str(),
            "--web.listen-address=127.0.0.1:0", "--log.level=debug",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    // The log's start line says which port was picked.
    const std::regex port_re("msg=\"cdc-sentinel started\".* port=([0-9]+)");
    const auto end = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < end && port_ == 0) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: give up now
        pid_ = -1;
        return;
      }
      std::smatch m;
      const std::string text = ReadFile(log_);
      if (std::regex_search(text, m, port_re)) port_ = std::stoi(m[1]);
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  ~Exporter() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_); }

  // Sends SIGTERM and returns the exit status, or -1 if it did not exit in
  // time.
  int Terminate(milliseconds limit) {
    kill(pid_, SIGTERM);
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5, 0);
    return c.Get(path);
  }
  std::string Metrics() {
    auto r = Get("/metrics");
    return r && r->status == 200 ? r->body : "";
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

template <typename Pred>
bool WaitFor(Pred pred, milliseconds limit = milliseconds(10000)) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return pred();
}

class ExporterBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cdc-exporter-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    WriteFile(dir_ / "connect-password", std::string(kSecret) + "\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string ClusterYaml(const std::string& name, int port,
                          const std::string& timeout = "800ms") {
    return "  - name: " + name +
           "\n    url: http://127.0.0.1:" + std::to_string(port) +
           "\n    interval: 1s\n    timeout: " + timeout +
           "\n    basic_auth: {username: monitor, password_file: "
           "connect-password}\n";
  }
  fs::path WriteConfig(const std::string& clusters) {
    WriteFile(dir_ / "config.yaml", "connect_clusters:\n" + clusters);
    return dir_ / "config.yaml";
  }

  fs::path dir_;
};

TEST_F(ExporterBinaryTest, VersionHelpAndExitCodes) {
  std::string out;
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --version", &out), 0);
  EXPECT_NE(out.find("cdc-sentinel 0."), std::string::npos) << out;
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --help", &out), 0);
  EXPECT_NE(out.find("--config.file"), std::string::npos);
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --no-such-flag", &out), 2);
  EXPECT_NE(out.find("unknown flag --no-such-flag"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(kBinary, &out), 2);
  EXPECT_NE(out.find("--config.file is required"), std::string::npos) << out;
  EXPECT_EQ(
      RunCommand(std::string(kBinary) + " --config.file=x --log.level=loud",
                 &out),
      2);

  const fs::path good = WriteConfig(ClusterYaml("a", 8083));
  EXPECT_EQ(RunCommand(std::string(kBinary) +
                           " --config.check --config.file=" + good.string(),
                       &out),
            0)
      << out;
  WriteFile(dir_ / "bad.yaml",
            "connect_clusters:\n  - name: a\n    url: ftp://x\n");
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --config.check --config.file=" +
                           (dir_ / "bad.yaml").string(),
                       &out),
            2);
  EXPECT_NE(out.find((dir_ / "bad.yaml").string() +
                     ":3:10: connect_clusters[0].url: must be an http or "
                     "https URL"),
            std::string::npos)
      << out;
  // The same error stops a normal start with status 2, serving nothing.
  EXPECT_EQ(RunCommand(std::string(kBinary) +
                           " --config.file=" + (dir_ / "bad.yaml").string(),
                       &out),
            2);
}

TEST_F(ExporterBinaryTest, ServesMetricsThatPromtoolAccepts) {
  FakeConnect connect;
  Exporter exporter(WriteConfig(ClusterYaml("main", connect.port())),
                    dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  ASSERT_TRUE(WaitFor([&] {
    return exporter.Metrics().find("cdc_connect_up{cluster=\"main\"} 1") !=
           std::string::npos;
  })) << exporter.Metrics()
      << exporter.Log();
  const std::string metrics = exporter.Metrics();
  EXPECT_NE(metrics.find("cdc_connector_state{cluster=\"main\",connector="
                         "\"inventory\",state=\"RUNNING\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("cdc_exporter_build_info{version="),
            std::string::npos);
  EXPECT_NE(metrics.find("cdc_config_last_reload_successful 1"),
            std::string::npos);

  WriteFile(dir_ / "metrics.txt", metrics);
  std::string out;
  EXPECT_EQ(
      RunCommand("promtool check metrics < " + (dir_ / "metrics.txt").string(),
                 &out),
      0)
      << out;

  for (const char* path : {"/", "/-/healthy", "/-/ready"}) {
    auto r = exporter.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
  auto landing = exporter.Get("/");
  EXPECT_NE(landing->body.find("href=\"metrics\""), std::string::npos);
  EXPECT_EQ(exporter.Get("/nope")->status, 404);
  EXPECT_EQ(exporter.Get("/-/reload")->status, 405);

  // The planted password is sent to the worker but shown nowhere.
  EXPECT_EQ(metrics.find(kSecret), std::string::npos);
  EXPECT_EQ(landing->body.find(kSecret), std::string::npos);
  EXPECT_EQ(exporter.Log().find(kSecret), std::string::npos);
}

TEST_F(ExporterBinaryTest, ReloadAppliesGoodConfigAndRejectsBadOne) {
  FakeConnect connect;
  const fs::path config = WriteConfig(ClusterYaml("first", connect.port()));
  Exporter exporter(config, dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  ASSERT_TRUE(WaitFor([&] {
    return exporter.Metrics().find("cdc_connect_up{cluster=\"first\"} 1") !=
           std::string::npos;
  }));

  // Good: a second cluster appears after POST /-/reload.
  WriteConfig(ClusterYaml("first", connect.port()) +
              ClusterYaml("second", connect.port()));
  httplib::Client c("127.0.0.1", exporter.port());
  auto r = c.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(WaitFor([&] {
    return exporter.Metrics().find("cdc_connect_up{cluster=\"second\"} 1") !=
           std::string::npos;
  }));

  // Bad: rejected with the reason, the running config keeps working.
  WriteFile(config, "connect_clusters:\n  - name: first\n    bogus: 1\n");
  r = c.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("connect_clusters[0].bogus: unknown key"),
            std::string::npos)
      << r->body;
  std::string metrics = exporter.Metrics();
  EXPECT_NE(metrics.find("cdc_config_last_reload_successful 0"),
            std::string::npos);
  EXPECT_NE(metrics.find("cdc_connect_up{cluster=\"second\"} 1"),
            std::string::npos);
  const std::string runs =
      "cdc_probe_runs_total{probe=\"connect_rest\","
      "target=\"second\",result=\"success\"} ";
  auto count_runs = [&](const std::string& m) {
    const auto pos = m.find(runs);
    return pos == std::string::npos ? -1.0
                                    : std::stod(m.substr(pos + runs.size()));
  };
  const double before = count_runs(metrics);
  ASSERT_TRUE(WaitFor([&] { return count_runs(exporter.Metrics()) > before; }))
      << "the old configuration stopped polling";

  // SIGHUP with a fixed file: back to 1, and "second" is gone again.
  WriteConfig(ClusterYaml("first", connect.port()));
  kill(exporter.pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] {
    const std::string m = exporter.Metrics();
    return m.find("cdc_config_last_reload_successful 1") != std::string::npos &&
           m.find("cluster=\"second\"") == std::string::npos;
  })) << exporter.Metrics();
  EXPECT_EQ(exporter.Terminate(std::chrono::seconds(10)), 0);
}

TEST_F(ExporterBinaryTest, HangingWorkerBlocksNeitherScrapesNorShutdown) {
  BlackholeListener hung;
  FakeConnect connect;
  Exporter exporter(WriteConfig(ClusterYaml("hung", hung.port(), "500ms") +
                                ClusterYaml("ok", connect.port())),
                    dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  ASSERT_TRUE(WaitFor([&] {
    const std::string m = exporter.Metrics();
    return m.find("cdc_connect_up{cluster=\"hung\"} 0") != std::string::npos &&
           m.find("cdc_connect_up{cluster=\"ok\"} 1") != std::string::npos;
  })) << exporter.Metrics();
  // Scrapes stay fast while the hung worker is being polled.
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    ASSERT_FALSE(exporter.Metrics().empty());
    EXPECT_LT(Clock::now() - start, milliseconds(250));
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_NE(exporter.Log().find("target=hung"), std::string::npos);
  EXPECT_EQ(exporter.Terminate(std::chrono::seconds(10)), 0);
}

}  // namespace
