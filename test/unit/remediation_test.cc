#include "actions/remediation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "config/url.h"
#include "test/common/pipeline_harness.h"

namespace cdc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kCluster[] = "test";
constexpr char kRestartQuery[] = "/restart?includeTasks=true&onlyFailed=false";

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (fs::temp_directory_path() / "remediation_test.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// An in-process Kafka Connect worker that only knows POST .../restart:
// records each request target (as sent, percent-encoded) and answers with a
// settable status. Thread-safe.
class RestartRecorder {
 public:
  RestartRecorder() {
    std::signal(SIGPIPE, SIG_IGN);
    server_.Post(
        ".*", [this](const httplib::Request& req, httplib::Response& res) {
          std::lock_guard<std::mutex> lock(mu_);
          targets_.push_back(req.target);
          res.status = status_;
          if (status_ >= 400) {
            res.set_content(R"({"error_code":)" + std::to_string(status_) +
                                R"(,"message":"restart blew up"})"
                                "\n"
                                "second line",
                            "application/json");
          }
        });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto give_up = Clock::now() + 5s;
    while (!server_.is_running()) {
      if (Clock::now() > give_up) throw std::runtime_error("server not up");
      std::this_thread::sleep_for(1ms);
    }
  }
  ~RestartRecorder() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  RestartRecorder(const RestartRecorder&) = delete;
  RestartRecorder& operator=(const RestartRecorder&) = delete;

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }
  void SetStatus(int status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
  }
  std::vector<std::string> Targets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  int status_ = 202;
  std::vector<std::string> targets_;
};

config::ConnectCluster ClusterFor(const std::string& url) {
  config::ConnectCluster c;
  c.name = kCluster;
  c.url_text = url;
  std::string why;
  auto parsed = config::ParseHttpUrl(url, &why);
  if (!parsed) throw std::runtime_error(url + ": " + why);
  c.url = *parsed;
  c.timeout = 2s;
  return c;
}

ProbeOutcome RunOnce(Probe& p) {
  return p.Run(ProbeContext{Clock::now() + p.Timeout()});
}

// Processes whose parent is this test process (zombies included).
std::vector<pid_t> ChildrenOfThisProcess() {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid()) out.push_back(std::stoi(name));
  }
  return out;
}

// A process's state letter from /proc ('\0' if it does not exist).
char ProcessState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '\0';
  return stat[paren + 2];
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Whether `text` has the shape of `shape`, where '9' stands for any digit
// (std::regex trips GCC 12's warnings under the sanitizers).
bool HasShape(std::string_view text, std::string_view shape) {
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == '9'
                        ? std::isdigit(static_cast<unsigned char>(text[i])) != 0
                        : text[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

// "<prefix>-YYYYMMDDTHHMMSSZ.txt"
bool IsEvidenceFileName(const std::string& name, const std::string& prefix) {
  return name.rfind(prefix + "-", 0) == 0 &&
         HasShape(std::string_view(name).substr(prefix.size() + 1),
                  "99999999T999999Z.txt");
}

// The number after `label` in `text`, or -1.
pid_t NumberAfter(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return -1;
  try {
    return std::stoi(text.substr(at + label.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

class RemediationProbeTest : public ::testing::Test {
 protected:
  // A connector with evidence capture into dir_/evidence (not created yet).
  config::Connector Evidence(std::vector<std::string> command,
                             std::chrono::milliseconds timeout = 5s) {
    config::Connector c;
    c.name = "orders";
    c.source = "aurora";
    c.kafka = "msk";
    c.topic_prefix = "orders";
    c.evidence.command = std::move(command);
    c.evidence.directory = (dir_.path() / "evidence").string();
    c.evidence.timeout = timeout;
    return c;
  }
  // A connector on the Connect cluster "test" with auto-restart on.
  config::Connector Restarting(int after, int max_per_hour) {
    config::Connector c;
    c.name = "orders";
    c.connect_cluster = kCluster;
    c.source = "aurora";
    c.kafka = "msk";
    c.topic_prefix = "orders";
    c.auto_restart.enabled = true;
    c.auto_restart.after = after;
    c.auto_restart.max_per_hour = max_per_hour;
    return c;
  }

  // The connector misses one marker: with consecutive_misses 1 that is a
  // silent failure (REST state "none" or "unknown" claims to run).
  void MissMarker(const std::vector<std::string>& names,
                  const std::vector<std::string>& delivered = {}) {
    const auto now = WallClock::now();
    const std::string token = MarkerLedger::NewToken();
    state_.ExpectMarker(token, now - 2 * config::MarkerSettings{}.timeout,
                        names);
    for (const auto& name : delivered) {
      state_.OnMarkerRecord(name, "{\"token\":\"" + token + "\"}", now);
    }
    state_.Expire(now);
    // The exporter reads Kafka (the kafka probe's metadata answer): the
    // silence is the connector's, not the exporter's own blindness.
    state_.KafkaAnswers(now);
  }
  // The connector delivers a marker: healthy again.
  void DeliverMarker(const std::string& name) {
    const auto now = WallClock::now();
    const std::string token = MarkerLedger::NewToken();
    state_.ExpectMarker(token, now, {name});
    state_.OnMarkerRecord(name, token, now);
  }
  bool Silent(const std::string& name) {
    return state_.GetVerdict(name, WallClock::now()).silent_failure;
  }

  // result -> value of a counter family for one connector.
  std::map<std::string, double> CounterValues(
      const std::string& family, const std::string& connector = "orders") {
    MetricSink sink;
    state_.Collect(sink, WallClock::now());
    std::map<std::string, double> out;
    for (const auto& f : sink.Take()) {
      if (f.name != family) continue;
      EXPECT_EQ(f.type, prometheus::MetricType::Counter);
      for (const auto& m : f.metric) {
        std::string c, result;
        for (const auto& l : m.label) {
          if (l.name == "connector") c = l.value;
          if (l.name == "result") result = l.value;
        }
        if (c == connector) out[result] = m.counter.value;
      }
    }
    return out;
  }
  std::map<std::string, double> Captures() {
    return CounterValues("cdc_evidence_captures_total");
  }
  std::map<std::string, double> Restarts() {
    return CounterValues("cdc_remediation_restarts_total");
  }
  fs::path EvidenceDir() const { return dir_.path() / "evidence"; }

  TempDir dir_;
  std::ostringstream log_text_;
  Logger log_{log_text_, LogLevel::kDebug};
  PipelineHarness state_{log_};
};

using ByResult = std::map<std::string, double>;

// ---- Evidence capture ---------------------------------------------------

TEST_F(RemediationProbeTest, CapturesStdoutAndStderrWithHeader) {
  auto c = Evidence({"/bin/sh", "-c", "echo thread dump; echo err >&2"});
  c.evidence.directory = (dir_.path() / "evidence" / "nested").string();
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});
  ASSERT_TRUE(Silent("orders"));

  const ProbeOutcome out = RunOnce(probe);
  EXPECT_TRUE(out.success) << out.error;
  EXPECT_EQ(Captures(), (ByResult{{"ok", 1}}));

  const auto files = FilesIn(c.evidence.directory);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(IsEvidenceFileName(files[0].filename().string(), "orders"))
      << files[0];
  const std::string text = ReadFile(files[0]);
  EXPECT_THAT(text, HasSubstr("# connector: orders\n"));
  EXPECT_THAT(text, HasSubstr("# tls_version: "));
  EXPECT_THAT(text, HasSubstr("# trigger: silent_failure\n"));
  EXPECT_THAT(text, HasSubstr("# reason: REST state none but nothing "
                              "produced for "));
  const auto time_at = text.find("# time: ");
  ASSERT_NE(time_at, std::string::npos);
  EXPECT_TRUE(HasShape(text.substr(time_at + 8, 21), "9999-99-99T99:99:99Z\n"))
      << text;
  EXPECT_THAT(text, HasSubstr("# command: /bin/sh -c 'echo thread dump; echo "
                              "err >&2'\n"));
  // Header first, then both streams of the command, then the result.
  const auto header_end = text.find("#\n");
  const auto dump = text.find("thread dump\n");
  const auto err = text.find("err\n", dump);
  ASSERT_NE(header_end, std::string::npos);
  ASSERT_NE(dump, std::string::npos);
  ASSERT_NE(err, std::string::npos);
  EXPECT_LT(header_end, dump);
  EXPECT_THAT(text.substr(err), HasSubstr("# result: ok (exit status 0"));

  struct stat st;
  ASSERT_EQ(stat(files[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(stat(EvidenceDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(stat(c.evidence.directory.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);

  EXPECT_THAT(log_text_.str(), HasSubstr(files[0].string()));
  EXPECT_THAT(log_text_.str(), HasSubstr("result=ok"));
  EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty());
}

TEST_F(RemediationProbeTest, NonzeroExitIsFailed) {
  auto c = Evidence({"/bin/false"});
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("failed"));
  EXPECT_EQ(Captures(), (ByResult{{"failed", 1}}));
  const auto files = FilesIn(EvidenceDir());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_THAT(ReadFile(files[0]), HasSubstr("# result: failed (exit status 1"));
  EXPECT_THAT(log_text_.str(), HasSubstr("result=failed"));
}

TEST_F(RemediationProbeTest, TimeoutKillsTheProcessGroupAndReapsIt) {
  // The shell prints its own pid and its background child's, then waits.
  auto c = Evidence(
      {"/bin/sh", "-c", "echo pid $$; /bin/sleep 30 & echo bg $!; wait"},
      300ms);
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const auto start = Clock::now();
  const ProbeOutcome out = RunOnce(probe);
  const auto elapsed = Clock::now() - start;
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_GE(elapsed, 250ms);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("timeout"));
  EXPECT_EQ(Captures(), (ByResult{{"timeout", 1}}));
  EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty());

  const auto files = FilesIn(EvidenceDir());
  ASSERT_EQ(files.size(), 1u);
  const std::string text = ReadFile(files[0]);
  EXPECT_THAT(text, HasSubstr("# result: timeout"));
  // Line starts: the header's command line also says "pid" and "bg".
  const pid_t shell = NumberAfter(text, "\npid ");
  const pid_t background = NumberAfter(text, "\nbg ");
  ASSERT_GT(shell, 0) << text;
  ASSERT_GT(background, 0) << text;
  // The shell was reaped: it is gone, not a zombie.
  EXPECT_EQ(ProcessState(shell), '\0');
  EXPECT_EQ(waitpid(shell, nullptr, WNOHANG), -1);
  // Its background child got SIGKILL too (it may linger as init's zombie).
  const auto give_up = Clock::now() + 2s;
  while (ProcessState(background) != '\0' && ProcessState(background) != 'Z' &&
         Clock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  const char bg_state = ProcessState(background);
  EXPECT_TRUE(bg_state == '\0' || bg_state == 'Z') << bg_state;
}

TEST_F(RemediationProbeTest, PlainSleepTimesOutWithinTheTimeout) {
  auto c = Evidence({"/bin/sleep", "30"}, 300ms);
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const auto start = Clock::now();
  const ProbeOutcome out = RunOnce(probe);
  EXPECT_LT(Clock::now() - start, 1500ms);
  EXPECT_FALSE(out.success);
  EXPECT_EQ(Captures(), (ByResult{{"timeout", 1}}));
  EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty());
}

TEST_F(RemediationProbeTest, CancelKillsARunningCapture) {
  auto c = Evidence({"/bin/sleep", "30"}, 20s);
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const auto before = ChildrenOfThisProcess();
  auto run = std::async(std::launch::async, [&] { return RunOnce(probe); });
  // Wait until the capture runs (a new child), then cancel it.
  const auto give_up = Clock::now() + 5s;
  while (ChildrenOfThisProcess().size() <= before.size() &&
         Clock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(ChildrenOfThisProcess().size(), before.size());
  const auto cancelled_at = Clock::now();
  probe.Cancel();
  ASSERT_EQ(run.wait_for(3s), std::future_status::ready);
  EXPECT_LT(Clock::now() - cancelled_at, 1s);
  const ProbeOutcome out = run.get();
  EXPECT_FALSE(out.success);
  EXPECT_EQ(Captures(), (ByResult{{"timeout", 1}}));
  EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty());
}

TEST_F(RemediationProbeTest, ProgramThatCannotStartIsErrorWithoutFile) {
  auto c = Evidence({"/nonexistent/cdc-sentinel-no-such-program", "x"});
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("cannot start"));
  EXPECT_EQ(Captures(), (ByResult{{"error", 1}}));
  EXPECT_THAT(FilesIn(EvidenceDir()), IsEmpty());
  EXPECT_THAT(log_text_.str(), HasSubstr("result=error"));
  EXPECT_THAT(ChildrenOfThisProcess(), IsEmpty());
}

TEST_F(RemediationProbeTest, UnwritableDirectoryIsError) {
  auto c = Evidence({"/bin/true"});
  std::ofstream(dir_.path() / "plain-file") << "x";
  c.evidence.directory = (dir_.path() / "plain-file" / "evidence").string();
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("cannot create directory"));
  EXPECT_EQ(Captures(), (ByResult{{"error", 1}}));
}

TEST_F(RemediationProbeTest, MinIntervalRateLimitsCaptures) {
  auto c = Evidence({"/bin/sh", "-c", "echo dump"});
  c.evidence.min_interval = 400ms;
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_TRUE(RunOnce(probe).success);  // within min_interval
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(Captures(), (ByResult{{"ok", 1}, {"rate_limited", 2}}));
  EXPECT_EQ(FilesIn(EvidenceDir()).size(), 1u);

  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(Captures(), (ByResult{{"ok", 2}, {"rate_limited", 2}}));
  // Two files, even within the same second.
  const auto files = FilesIn(EvidenceDir());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0], files[1]);
}

TEST_F(RemediationProbeTest, HealthyVerdictCapturesNothing) {
  auto c = Evidence({"/bin/sh", "-c", "echo dump"});
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);

  EXPECT_TRUE(RunOnce(probe).success);  // no end-to-end result yet
  DeliverMarker("orders");
  ASSERT_FALSE(Silent("orders"));
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(Captures(), IsEmpty());
  EXPECT_THAT(FilesIn(EvidenceDir()), IsEmpty());

  // Recovered and failing again: captured at once.
  MissMarker({"orders"});
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(Captures(), (ByResult{{"ok", 1}}));
}

TEST_F(RemediationProbeTest, SoloFailureAloneCapturesNothingStalledSoloSaysSo) {
  auto a = Evidence({"/bin/sh", "-c", "echo dump"});
  a.silent_failure.consecutive_misses = 3;  // one miss is not yet a stall
  config::Connector b = a;
  b.name = "orders-tls12";
  b.evidence = {};
  state_.SetConnectors({a, b});
  RemediationProbe probe(a, nullptr, state_.store(), state_.counters(), log_);

  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(Captures(), IsEmpty());

  // A solo miss alone may be a late marker (lagging): no capture.
  MissMarker({"orders", "orders-tls12"}, {"orders-tls12"});
  ASSERT_EQ(state_.SoloFailures("orders"), 1u);
  ASSERT_FALSE(Silent("orders"));
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(Captures(), IsEmpty());

  // Stalled (three writes unanswered) with its siblings delivering: the
  // capture says the connector's own path failed.
  MissMarker({"orders", "orders-tls12"}, {"orders-tls12"});
  MissMarker({"orders", "orders-tls12"}, {"orders-tls12"});
  ASSERT_TRUE(Silent("orders"));
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(Captures(), (ByResult{{"ok", 1}}));
  const auto files = FilesIn(EvidenceDir());
  ASSERT_EQ(files.size(), 1u);
  const std::string text = ReadFile(files[0]);
  EXPECT_THAT(text, HasSubstr("# trigger: solo_failure\n"));
  EXPECT_THAT(text, HasSubstr("solo cohort failure"));
}

TEST_F(RemediationProbeTest, FileNameOfAnOddConnectorName) {
  auto c = Evidence({"/bin/true"});
  c.name = "db/orders 1";
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"db/orders 1"});

  EXPECT_TRUE(RunOnce(probe).success);
  const auto files = FilesIn(EvidenceDir());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(IsEvidenceFileName(files[0].filename().string(), "db_orders_1"))
      << files[0];
  EXPECT_THAT(ReadFile(files[0]), HasSubstr("# connector: db/orders 1\n"));
}

// ---- Auto-restart -------------------------------------------------------

TEST_F(RemediationProbeTest, RestartsAfterConsecutiveSilentVerdicts) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(/*after=*/3, /*max_per_hour=*/10);
  c.name = "db/orders 1";
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({c.name});
  ASSERT_TRUE(Silent(c.name));

  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(worker.Targets(), IsEmpty());
  EXPECT_TRUE(RunOnce(probe).success);
  const std::string expected =
      std::string("/connectors/db%2Forders%201") + kRestartQuery;
  EXPECT_THAT(worker.Targets(), ElementsAre(expected));
  EXPECT_EQ(CounterValues("cdc_remediation_restarts_total", c.name),
            (ByResult{{"ok", 1}}));

  // The count starts again after a restart.
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(worker.Targets().size(), 1u);
  worker.SetStatus(204);
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(worker.Targets(), ElementsAre(expected, expected));
  EXPECT_EQ(CounterValues("cdc_remediation_restarts_total", c.name),
            (ByResult{{"ok", 2}}));
  EXPECT_THAT(log_text_.str(), HasSubstr("connector restarted"));
}

TEST_F(RemediationProbeTest, NoRestartWhenDisabled) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(1, 10);
  c.auto_restart.enabled = false;
  c.evidence = Evidence({"/bin/true"}).evidence;
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});
  ASSERT_TRUE(Silent("orders"));

  for (int i = 0; i < 4; ++i) EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(worker.Targets(), IsEmpty());
  EXPECT_THAT(Restarts(), IsEmpty());
  EXPECT_EQ(Captures().at("ok"), 1);  // the probe did run
}

TEST_F(RemediationProbeTest, NoRestartWhenHealthyAndHealthyResetsTheCount) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(/*after=*/2, /*max_per_hour=*/10);
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);

  DeliverMarker("orders");
  ASSERT_FALSE(Silent("orders"));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(worker.Targets(), IsEmpty());

  MissMarker({"orders"});
  EXPECT_TRUE(RunOnce(probe).success);  // 1 silent run
  DeliverMarker("orders");
  EXPECT_TRUE(RunOnce(probe).success);  // healthy: back to 0
  MissMarker({"orders"});
  EXPECT_TRUE(RunOnce(probe).success);  // 1 silent run
  EXPECT_THAT(worker.Targets(), IsEmpty());
  EXPECT_TRUE(RunOnce(probe).success);  // 2 in a row
  EXPECT_EQ(worker.Targets().size(), 1u);
  EXPECT_EQ(Restarts(), (ByResult{{"ok", 1}}));
}

TEST_F(RemediationProbeTest, NoRestartWhenRestStateIsNotRunning) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(1, 10);
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});
  connect::ConnectorStatus failed;
  failed.name = "orders";
  failed.state = "FAILED";
  state_.OnRestPoll(kCluster, true, {failed});
  ASSERT_FALSE(Silent("orders"));

  for (int i = 0; i < 3; ++i) EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(worker.Targets(), IsEmpty());
  EXPECT_THAT(Restarts(), IsEmpty());
}

TEST_F(RemediationProbeTest, RestartsAtMostMaxPerHour) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(/*after=*/1, /*max_per_hour=*/2);
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  for (int i = 0; i < 5; ++i) EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(worker.Targets().size(), 2u);
  EXPECT_EQ(Restarts(), (ByResult{{"ok", 2}, {"rate_limited", 3}}));
  EXPECT_THAT(log_text_.str(), HasSubstr("max_per_hour"));
}

TEST_F(RemediationProbeTest, Http500CountsError) {
  RestartRecorder worker;
  worker.SetStatus(500);
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(1, 10);
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("HTTP 500"));
  EXPECT_THAT(out.error, HasSubstr("restart blew up"));
  EXPECT_THAT(out.error, Not(HasSubstr("second line")));
  EXPECT_EQ(worker.Targets().size(), 1u);
  EXPECT_EQ(Restarts(), (ByResult{{"error", 1}}));
  EXPECT_THAT(log_text_.str(), HasSubstr("status=500"));
}

TEST_F(RemediationProbeTest, UnreachableWorkerCountsErrorWithinTheDeadline) {
  std::string url;
  {
    RestartRecorder gone;  // a port that was just free
    url = gone.Url();
  }
  const auto cluster = ClusterFor(url);
  auto c = Restarting(1, 10);
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  const auto start = Clock::now();
  EXPECT_FALSE(RunOnce(probe).success);
  EXPECT_LT(Clock::now() - start, probe.Timeout());
  EXPECT_EQ(Restarts(), (ByResult{{"error", 1}}));
}

TEST_F(RemediationProbeTest, CaptureComesBeforeTheRestart) {
  RestartRecorder worker;
  const auto cluster = ClusterFor(worker.Url());
  auto c = Restarting(1, 10);
  c.evidence = Evidence({"/bin/sh", "-c", "echo dump"}).evidence;
  state_.SetConnectors({c});
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});

  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(Captures(), (ByResult{{"ok", 1}}));
  EXPECT_EQ(Restarts(), (ByResult{{"ok", 1}}));
  const std::string log = log_text_.str();
  const auto captured = log.find("evidence captured");
  const auto restarted = log.find("connector restarted");
  ASSERT_NE(captured, std::string::npos);
  ASSERT_NE(restarted, std::string::npos);
  EXPECT_LT(captured, restarted);
}

TEST_F(RemediationProbeTest, NoConnectClusterMeansNoRestart) {
  auto c = Restarting(1, 10);
  c.connect_cluster = "";  // MSK Connect
  state_.SetConnectors({c});
  RemediationProbe probe(c, nullptr, state_.store(), state_.counters(), log_);
  MissMarker({"orders"});
  EXPECT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(Restarts(), IsEmpty());
  EXPECT_THAT(log_text_.str(), HasSubstr("restarts are off"));
}

// ---- Probe identity -----------------------------------------------------

TEST_F(RemediationProbeTest, IdentityTimeoutAndSameConfig) {
  const auto cluster = ClusterFor("http://127.0.0.1:8083");
  auto c = Restarting(3, 2);
  c.evidence = Evidence({"/usr/bin/jcmd", "1", "Thread.print"}).evidence;
  c.evidence.timeout = 30s;
  c.marker.interval = 7s;
  RemediationProbe probe(c, &cluster, state_.store(), state_.counters(), log_);
  EXPECT_EQ(probe.Kind(), "remediation");
  EXPECT_EQ(probe.Target(), "orders");
  EXPECT_EQ(probe.Interval(), 7s);
  EXPECT_EQ(probe.Timeout(), 30s + 2s + 2s);
  EXPECT_TRUE(RemediationProbe::Needed(c));

  EXPECT_TRUE(
      RemediationProbe(c, &cluster, state_.store(), state_.counters(), log_)
          .SameAs(probe));
  auto changed = [&](auto mutate) {
    auto c2 = c;
    auto k2 = cluster;
    mutate(c2, k2);
    return !RemediationProbe(c2, &k2, state_.store(), state_.counters(), log_)
                .SameAs(probe);
  };
  using K = config::ConnectCluster;
  using C = config::Connector;
  EXPECT_TRUE(changed([](C& x, K&) { x.evidence.command.back() = "VM.info"; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.evidence.directory = "/other"; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.evidence.timeout = 31s; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.evidence.min_interval = 1min; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.auto_restart.after = 4; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.auto_restart.max_per_hour = 3; }));
  EXPECT_TRUE(changed([](C& x, K&) { x.marker.interval = 8s; }));
  EXPECT_TRUE(changed([](C&, K& k) { k.url_text = "http://127.0.0.1:8084"; }));
  EXPECT_TRUE(changed([](C&, K& k) { k.timeout = 3s; }));
  EXPECT_TRUE(changed([](C&, K& k) {
    k.basic_auth = config::BasicAuth{"u", {"p", "env X"}};
  }));

  config::Connector plain;
  plain.name = "x";
  EXPECT_FALSE(RemediationProbe::Needed(plain));
}

TEST_F(RemediationProbeTest, MismatchedClusterThrows) {
  auto cluster = ClusterFor("http://127.0.0.1:8083");
  cluster.name = "other";
  auto c = Restarting(1, 1);
  EXPECT_THROW(
      RemediationProbe(c, &cluster, state_.store(), state_.counters(), log_),
      std::invalid_argument);
  EXPECT_THROW(
      RemediationProbe(c, nullptr, state_.store(), state_.counters(), log_),
      std::invalid_argument);
}

}  // namespace
}  // namespace cdc
