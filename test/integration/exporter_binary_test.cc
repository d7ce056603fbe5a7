// Runs the real cdc-sentinel binary against an in-process Kafka Connect
// stand-in and checks what a user sees: flags and exit codes, /metrics
// (linted by Prometheus' own promtool), reload by HTTP and SIGHUP, a hanging
// dependency, shutdown, and that a secret never shows.

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "test_support.h"

namespace cdc::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const char* kBinary = CDC_BINARY_DIR "/exporter/cdc-sentinel";
constexpr char kSecret[] = "s3cr3t-Planted-Pa55word";
// How long the tests wait for a condition.
constexpr auto kWaitLimit = milliseconds(10000);

// A TCP listener that never accepts: connections complete in the kernel and
// then hear nothing, like a hung worker.
class BlackholeListener {
 public:
  BlackholeListener() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a = Loopback(0);
    bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_.get(), 16);
    port_ = BoundPort(fd_);
  }
  int port() const { return port_; }

 private:
  Fd fd_;
  int port_;
};

// The exporter as a child process; stopped on destruction.
class Exporter : public ExporterProcess {
 public:
  Exporter(const fs::path& config, const fs::path& log)
      : ExporterProcess(
            kBinary, config, log,
            ExporterOptions{.start_within = std::chrono::seconds(10)}) {}
};

class ExporterBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("cdc-exporter-test-");
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
  // True once `exporter` runs and has polled the cluster "main".
  static ::testing::AssertionResult PolledMain(Exporter& exporter) {
    if (exporter.port() == 0) {
      return ::testing::AssertionFailure() << "the exporter did not start\n"
                                           << exporter.Log();
    }
    if (!WaitFor(
            [&] {
              return exporter.Metrics().find(
                         "cdc_connect_up{connect_cluster=\"main\"} 1") !=
                     std::string::npos;
            },
            kWaitLimit)) {
      return ::testing::AssertionFailure() << "cluster main was never polled\n"
                                           << exporter.Log();
    }
    return ::testing::AssertionSuccess();
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
  ASSERT_TRUE(WaitFor(
      [&] {
        return exporter.Metrics().find(
                   "cdc_connect_up{connect_cluster=\"main\"} 1") !=
               std::string::npos;
      },
      kWaitLimit))
      << exporter.Metrics() << exporter.Log();
  const std::string metrics = exporter.Metrics();
  EXPECT_NE(
      metrics.find("cdc_connector_state{connect_cluster=\"main\",connector="
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

TEST_F(ExporterBinaryTest, ThreadsAreNamed) {
  // So that `top -H` and /proc/PID/task/*/comm attribute CPU in production.
  FakeConnect connect;
  Exporter exporter(WriteConfig(ClusterYaml("main", connect.port())),
                    dir_ / "log");
  ASSERT_TRUE(PolledMain(exporter));
  std::multiset<std::string> names;
  const fs::path tasks = "/proc/" + std::to_string(exporter.pid()) + "/task";
  for (const auto& t : fs::directory_iterator(tasks)) {
    std::string comm = ReadFile(t.path() / "comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    names.insert(comm);
  }
  std::string all;
  for (const auto& n : names) all += n + " ";
  // (cdc-rest-watch is gone: the bounded upstream client has its own
  // deadline and needs no watchdog thread.)
  for (const char* want :
       {"cdc-http", "cdc-http-worker", "cdc-scheduler", "cdc-probe"}) {
    EXPECT_GE(names.count(want), 1u) << want << " missing from: " << all;
  }
}

TEST_F(ExporterBinaryTest, IdleKeepAliveConnectionIsClosedSoon) {
  // cpp-httplib polls a kept-alive connection while it waits for the next
  // request (~3 ms of CPU per second): an idle one must not be kept from one
  // scrape to the next.
  FakeConnect worker;
  Exporter exporter(WriteConfig(ClusterYaml("main", worker.port())),
                    dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  Fd sock(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_GE(sock.get(), 0);
  const sockaddr_in addr = Loopback(static_cast<uint16_t>(exporter.port()));
  ASSERT_EQ(::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr),
                      sizeof addr),
            0);
  // Two requests on the connection: keep-alive itself still works.
  const std::string req = "GET /-/healthy HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(send(sock.get(), req.data(), req.size(), 0),
              static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[512];
    while (got.find("Healthy.\n") == std::string::npos) {
      const ssize_t n = recv(sock.get(), buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "request " << i << " got: " << got;
      got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  }
  // Then idle: the server closes it within a few seconds (1 s configured).
  const auto start = Clock::now();
  timeval tv{10, 0};
  setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  EXPECT_EQ(recv(sock.get(), &c, 1, 0), 0) << "not closed within 10 s";
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
}

TEST_F(ExporterBinaryTest, LargeBodiesAreGzippedNeverBrotli) {
  // cpp-httplib would answer a client that lists "br" (every browser) with
  // brotli, which took seconds of CPU for a big /metrics: the exporter
  // gzips itself when gzip is accepted and otherwise sends plain text.
  FakeConnect worker;
  Exporter exporter(WriteConfig(ClusterYaml("main", worker.port())),
                    dir_ / "log");
  ASSERT_TRUE(PolledMain(exporter));
  httplib::Client raw("127.0.0.1", exporter.port());
  raw.set_decompress(false);
  for (const char* path : {"/metrics", "/", "/api/v1/status"}) {
    for (const char* accept :
         {"gzip, deflate, br", "br;q=1, gzip;q=0.5", "gzip"}) {
      auto r = raw.Get(path, {{"Accept-Encoding", accept}});
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 200) << path;
      EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip")
          << path << " with " << accept;
      EXPECT_EQ(r->body.substr(0, 2), "\x1f\x8b") << path << " with " << accept;
    }
    for (const char* accept : {"br", "identity", "gzip;q=0"}) {
      auto r = raw.Get(path, {{"Accept-Encoding", accept}});
      ASSERT_TRUE(r) << path;
      EXPECT_FALSE(r->has_header("Content-Encoding"))
          << path << " with " << accept << ": "
          << r->get_header_value("Content-Encoding");
    }
  }
  // What a gzip client reads back is the page itself.
  httplib::Client inflating("127.0.0.1", exporter.port());
  auto metrics = inflating.Get("/metrics", {{"Accept-Encoding", "gzip"}});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("cdc_connect_up{connect_cluster=\"main\"} 1"),
            std::string::npos)
      << metrics->body.substr(0, 200);
  auto plain = raw.Get("/metrics", {{"Accept-Encoding", "identity"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->has_header("Content-Encoding"));
  EXPECT_NE(plain->body.find("# TYPE cdc_connect_up gauge"), std::string::npos);
}

TEST_F(ExporterBinaryTest, ReloadAppliesGoodConfigAndRejectsBadOne) {
  FakeConnect connect;
  const fs::path config = WriteConfig(ClusterYaml("first", connect.port()));
  Exporter exporter(config, dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        return exporter.Metrics().find(
                   "cdc_connect_up{connect_cluster=\"first\"} 1") !=
               std::string::npos;
      },
      kWaitLimit));

  // Good: a second cluster appears after POST /-/reload.
  WriteConfig(ClusterYaml("first", connect.port()) +
              ClusterYaml("second", connect.port()));
  httplib::Client c("127.0.0.1", exporter.port());
  auto r = c.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(WaitFor(
      [&] {
        return exporter.Metrics().find(
                   "cdc_connect_up{connect_cluster=\"second\"} 1") !=
               std::string::npos;
      },
      kWaitLimit));

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
  EXPECT_NE(metrics.find("cdc_connect_up{connect_cluster=\"second\"} 1"),
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
  ASSERT_TRUE(WaitFor([&] { return count_runs(exporter.Metrics()) > before; },
                      kWaitLimit))
      << "the old configuration stopped polling";

  // SIGHUP with a fixed file: back to 1, and "second" is gone again.
  WriteConfig(ClusterYaml("first", connect.port()));
  kill(exporter.pid(), SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string m = exporter.Metrics();
        return m.find("cdc_config_last_reload_successful 1") !=
                   std::string::npos &&
               m.find("connect_cluster=\"second\"") == std::string::npos;
      },
      kWaitLimit))
      << exporter.Metrics();
  EXPECT_EQ(exporter.Terminate(std::chrono::seconds(10)), 0);
}

TEST_F(ExporterBinaryTest, HangingWorkerBlocksNeitherScrapesNorShutdown) {
  BlackholeListener hung;
  FakeConnect connect;
  Exporter exporter(WriteConfig(ClusterYaml("hung", hung.port(), "500ms") +
                                ClusterYaml("ok", connect.port())),
                    dir_ / "log");
  ASSERT_NE(exporter.port(), 0) << exporter.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string m = exporter.Metrics();
        return m.find("cdc_connect_up{connect_cluster=\"hung\"} 0") !=
                   std::string::npos &&
               m.find("cdc_connect_up{connect_cluster=\"ok\"} 1") !=
                   std::string::npos;
      },
      kWaitLimit))
      << exporter.Metrics();
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
}  // namespace cdc::testing
