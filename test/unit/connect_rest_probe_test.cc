#include "probes/connect_rest_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "config/url.h"
#include "test/common/exposition.h"
#include "test/unit/fake_connect_worker.h"

namespace cdc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::AllOf;
using testing::CountOf;
using ::testing::ElementsAre;
using testing::FakeConnector;
using testing::FakeConnectWorker;
using testing::FakeMode;
using testing::FakeTask;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCluster[] = "test";

config::ConnectCluster ClusterFor(const std::string& url,
                                  std::chrono::milliseconds timeout = 2s) {
  config::ConnectCluster c;
  c.name = kCluster;
  c.url_text = url;
  std::string why;
  auto parsed = config::ParseHttpUrl(url, &why);
  if (!parsed) throw std::runtime_error(url + ": " + why);
  c.url = *parsed;
  c.timeout = timeout;
  return c;
}

// Runs the probe with a deadline of its timeout, as the scheduler does.
ProbeOutcome RunOnce(Probe& p) {
  return p.Run(ProbeContext{Clock::now() + p.Timeout()});
}

std::string SeriesKey(const std::string& name,
                      std::vector<std::pair<std::string, std::string>> labels) {
  std::sort(labels.begin(), labels.end());
  std::string k = name + "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) k += ",";
    k += labels[i].first + "=\"" + labels[i].second + "\"";
  }
  return k + "}";
}

// Every series the probe exports, by SeriesKey(), all gauges, read back from
// the exposition text (part of it is rendered when the probe polls).
std::map<std::string, double> Series(const Probe& p) {
  MetricSink sink;
  p.Collect(sink);
  const testing::Scrape scrape(sink.Render());
  EXPECT_TRUE(scrape.duplicate_headers().empty()) << scrape.text();
  std::map<std::string, double> out;
  for (const auto& s : scrape.samples()) {
    auto type = scrape.types().find(s.name);
    EXPECT_TRUE(type != scrape.types().end() && type->second == "gauge")
        << s.name;
    const std::string key =
        SeriesKey(s.name, {s.labels.begin(), s.labels.end()});
    EXPECT_EQ(out.count(key), 0u) << "duplicate series " << key;
    out[key] = s.value;
  }
  return out;
}

// The exposition text of the probe's series.
std::string Text(const Probe& p) {
  MetricSink sink;
  p.Collect(sink);
  return sink.Render();
}

std::map<std::string, double> WithoutTimestamp(
    std::map<std::string, double> s) {
  std::erase_if(s, [](const auto& kv) {
    return kv.first.rfind("cdc_connect_last_success_timestamp_seconds", 0) == 0;
  });
  return s;
}

std::string UpKey() {
  return SeriesKey("cdc_connect_up", {{"connect_cluster", kCluster}});
}
std::string LastSuccessKey() {
  return SeriesKey("cdc_connect_last_success_timestamp_seconds",
                   {{"connect_cluster", kCluster}});
}
std::string StateKey(const std::string& connector, std::string_view state) {
  return SeriesKey("cdc_connector_state", {{"connect_cluster", kCluster},
                                           {"connector", connector},
                                           {"state", std::string(state)}});
}
std::string TaskStateKey(const std::string& connector, int task,
                         std::string_view state) {
  return SeriesKey("cdc_connector_task_state", {{"connect_cluster", kCluster},
                                                {"connector", connector},
                                                {"task", std::to_string(task)},
                                                {"state", std::string(state)}});
}
std::string TasksKey(const std::string& connector) {
  return SeriesKey("cdc_connector_tasks",
                   {{"connect_cluster", kCluster}, {"connector", connector}});
}
std::string InfoKey(const std::string& connector, const std::string& type,
                    const std::string& cls, const std::string& worker) {
  return SeriesKey("cdc_connector_info", {{"connect_cluster", kCluster},
                                          {"connector", connector},
                                          {"type", type},
                                          {"connector_class", cls},
                                          {"worker_id", worker}});
}

// Series whose labels mention the connector.
int CountSeriesOf(const std::map<std::string, double>& s,
                  const std::string& connector) {
  const std::string needle = "connector=\"" + connector + "\"";
  return static_cast<int>(std::count_if(s.begin(), s.end(), [&](auto& kv) {
    return kv.first.find(needle) != std::string::npos;
  }));
}

// Checks the state set of a connector (task < 0) or task: all six states
// present, exactly `want` is 1 (none if `want` is not a known state).
void ExpectStateSet(const std::map<std::string, double>& s,
                    const std::string& connector, int task,
                    const std::string& want) {
  int ones = 0;
  for (auto state : connect::kStates) {
    const std::string key = task < 0 ? StateKey(connector, state)
                                     : TaskStateKey(connector, task, state);
    auto it = s.find(key);
    ASSERT_NE(it, s.end()) << "missing " << key;
    EXPECT_EQ(it->second, state == want ? 1 : 0) << key;
    if (it->second == 1) ++ones;
  }
  EXPECT_EQ(ones, connect::IsKnownState(want) ? 1 : 0);
}

FakeConnector Connector(std::string name, std::string state, int tasks,
                        std::string task_state = "RUNNING") {
  FakeConnector c;
  c.name = std::move(name);
  c.state = std::move(state);
  for (int i = 0; i < tasks; ++i) {
    FakeTask t;
    t.id = i;
    t.state = task_state;
    t.worker_id = "10.0.0." + std::to_string(i + 1) + ":8083";
    c.tasks.push_back(t);
  }
  return c;
}

// A temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "cdc-rest-test-XXXXXX")
            .string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class ConnectRestProbeTest : public ::testing::Test {
 protected:
  std::string Log() const { return log_out_.str(); }

  std::ostringstream log_out_;
  Logger log_{log_out_, LogLevel::kDebug};
  FakeConnectWorker worker_;
};

TEST_F(ConnectRestProbeTest, NothingBeforeTheFirstRun) {
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  EXPECT_EQ(probe.Kind(), "connect_rest");
  EXPECT_EQ(probe.Target(), kCluster);
  EXPECT_TRUE(Series(probe).empty());
  EXPECT_EQ(worker_.RequestCount(), 0u);
}

TEST_F(ConnectRestProbeTest, RunningConnector) {
  auto c = Connector("inventory", "RUNNING", 2);
  c.worker_id = "10.0.0.9:8083";
  worker_.SetConnectors({c});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);

  const double before = std::chrono::duration<double>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  ProbeOutcome out = RunOnce(probe);
  ASSERT_TRUE(out.success) << out.error;

  EXPECT_THAT(worker_.Requests(),
              ElementsAre("GET /connectors?expand=status&expand=info"));
  auto s = Series(probe);
  EXPECT_EQ(s.at(UpKey()), 1);
  EXPECT_GE(s.at(LastSuccessKey()), before - 1);
  EXPECT_LE(s.at(LastSuccessKey()), before + 10);
  ExpectStateSet(s, "inventory", -1, "RUNNING");
  ExpectStateSet(s, "inventory", 0, "RUNNING");
  ExpectStateSet(s, "inventory", 1, "RUNNING");
  EXPECT_EQ(s.at(TasksKey("inventory")), 2);
  EXPECT_EQ(s.at(InfoKey("inventory", "source",
                         "io.debezium.connector.mysql.MySqlConnector",
                         "10.0.0.9:8083")),
            1);
  // up + timestamp + 6 states + info + tasks + 2 * 6 task states.
  EXPECT_EQ(s.size(), 2u + 6 + 1 + 1 + 12);

  ASSERT_EQ(probe.Connectors().size(), 1u);
  EXPECT_EQ(probe.Connectors()[0].name, "inventory");
  EXPECT_THAT(Log(), Not(HasSubstr("level=error")));
  EXPECT_THAT(Log(), Not(HasSubstr("level=warn")));
}

class ConnectRestProbeStateTest
    : public ConnectRestProbeTest,
      public ::testing::WithParamInterface<std::string_view> {};

TEST_P(ConnectRestProbeStateTest, ExactlyOneStateIsSet) {
  const std::string state(GetParam());
  // The tasks in the state under test and in another one, to see that each
  // series follows its own entity.
  auto c = Connector("orders", state, 2, state);
  c.tasks[1].state = state == "RUNNING" ? "PAUSED" : "RUNNING";
  worker_.SetConnectors({c, Connector("other", "RUNNING", 1)});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ProbeOutcome out = RunOnce(probe);
  ASSERT_TRUE(out.success) << out.error;  // a FAILED connector is no failure

  auto s = Series(probe);
  EXPECT_EQ(s.at(UpKey()), 1);
  ExpectStateSet(s, "orders", -1, state);
  ExpectStateSet(s, "orders", 0, state);
  ExpectStateSet(s, "orders", 1, c.tasks[1].state);
  ExpectStateSet(s, "other", -1, "RUNNING");
  ExpectStateSet(s, "other", 0, "RUNNING");
  EXPECT_EQ(s.at(TasksKey("orders")), 2);
}

INSTANTIATE_TEST_SUITE_P(AllStates, ConnectRestProbeStateTest,
                         ::testing::ValuesIn(connect::kStates),
                         [](const auto& info) {
                           return std::string(info.param);
                         });

TEST_F(ConnectRestProbeTest, FailedTraceIsLoggedOncePerChange) {
  const std::string t1 =
      "org.apache.kafka.connect.errors.ConnectException: snapshot failed one";
  const std::string t2 =
      "io.debezium.DebeziumException: binlog position purged";
  const std::string t3 =
      "org.apache.kafka.connect.errors.ConnectException: snapshot failed two";
  const std::string frames =
      "\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable("
      "ErrorHandler.java:50)\n\tat java.base/java.lang.Thread.run(Thread.java:"
      "829)\n";
  auto c = Connector("inventory", "FAILED", 2);
  c.trace = t1 + frames;
  c.tasks[1].state = "FAILED";
  c.tasks[1].trace = t2 + frames;
  worker_.SetConnectors({c});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);

  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(CountOf(Log(), t1), 1) << Log();
  EXPECT_EQ(CountOf(Log(), t2), 1) << Log();
  EXPECT_THAT(Log(), Not(HasSubstr("ErrorHandler.java")));  // first line only
  EXPECT_THAT(Log(), AllOf(HasSubstr("level=error"), HasSubstr("task=1")));
  // The full trace is kept for the status page, never exported.
  ASSERT_EQ(probe.Connectors().size(), 1u);
  EXPECT_EQ(probe.Connectors()[0].trace, t1 + frames);
  for (const auto& needle :
       {std::string("snapshot failed"), std::string("binlog position"),
        std::string("ErrorHandler")}) {
    EXPECT_THAT(Text(probe), Not(HasSubstr(needle)));
  }

  // The same traces again: nothing new in the log.
  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(CountOf(Log(), t1), 1);
  EXPECT_EQ(CountOf(Log(), t2), 1);

  // A new trace on the connector: logged once; the task's is unchanged.
  c.trace = t3 + frames;
  worker_.SetConnectors({c});
  ASSERT_TRUE(RunOnce(probe).success);
  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(CountOf(Log(), t1), 1);
  EXPECT_EQ(CountOf(Log(), t3), 1);
  EXPECT_EQ(CountOf(Log(), t2), 1);
  EXPECT_THAT(Text(probe), Not(HasSubstr("snapshot failed")));

  // Recovery is logged as a state change; failing again with the same trace
  // is a new failure and logged again.
  c.state = "RUNNING";
  c.trace.clear();
  worker_.SetConnectors({c});
  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_THAT(Log(), AllOf(HasSubstr("connector state changed"),
                           HasSubstr("from=FAILED to=RUNNING")));
  c.state = "FAILED";
  c.trace = t3 + frames;
  worker_.SetConnectors({c});
  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(CountOf(Log(), t3), 2);
  EXPECT_EQ(CountOf(Log(), t2), 1);
}

TEST_F(ConnectRestProbeTest, ConnectorWithoutTasks) {
  worker_.SetConnectors(
      {Connector("empty", "RUNNING", 0), Connector("full", "RUNNING", 1)});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  auto s = Series(probe);
  EXPECT_EQ(s.at(TasksKey("empty")), 0);
  EXPECT_EQ(s.at(TasksKey("full")), 1);
  ExpectStateSet(s, "empty", -1, "RUNNING");
  for (const auto& [key, value] : s) {
    if (key.rfind("cdc_connector_task_state", 0) == 0) {
      EXPECT_THAT(key, Not(HasSubstr("connector=\"empty\"")));
    }
  }
  EXPECT_EQ(CountSeriesOf(s, "empty"), 6 + 1 + 1);
}

TEST_F(ConnectRestProbeTest, UnknownStateSetsNoStateAndWarns) {
  auto c = Connector("inventory", "DEGRADED", 1, "HALF_RUNNING");
  worker_.SetConnectors({c});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  auto s = Series(probe);
  ExpectStateSet(s, "inventory", -1, "DEGRADED");
  ExpectStateSet(s, "inventory", 0, "HALF_RUNNING");
  EXPECT_EQ(CountOf(Log(), "level=warn"), 2) << Log();
  EXPECT_THAT(Log(), HasSubstr("state=DEGRADED"));
  EXPECT_THAT(Log(), HasSubstr("state=HALF_RUNNING"));
  // The unknown state is not made into a label.
  EXPECT_THAT(Text(probe), Not(HasSubstr("DEGRADED")));
}

TEST_F(ConnectRestProbeTest, InfoLabels) {
  auto sink = Connector("jdbc-sink", "RUNNING", 1);
  sink.type = "sink";
  sink.connector_class = "io.confluent.connect.jdbc.JdbcSinkConnector";
  sink.worker_id = "connect-1.example:8083";
  auto source = Connector("pg", "RUNNING", 1);
  source.connector_class = "io.debezium.connector.postgresql.PostgresConnector";
  source.worker_id = "connect-2.example:8083";
  worker_.SetConnectors({sink, source});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  auto s = Series(probe);
  EXPECT_EQ(s.at(InfoKey("jdbc-sink", "sink",
                         "io.confluent.connect.jdbc.JdbcSinkConnector",
                         "connect-1.example:8083")),
            1);
  EXPECT_EQ(s.at(InfoKey("pg", "source",
                         "io.debezium.connector.postgresql.PostgresConnector",
                         "connect-2.example:8083")),
            1);
  int info_series = 0;
  for (const auto& [key, value] : s) {
    if (key.rfind("cdc_connector_info{", 0) == 0) ++info_series;
  }
  EXPECT_EQ(info_series, 2);
}

TEST_F(ConnectRestProbeTest, RemovedConnectorLosesItsSeries) {
  worker_.SetConnectors(
      {Connector("keep", "RUNNING", 1), Connector("drop", "FAILED", 2)});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  EXPECT_EQ(CountSeriesOf(Series(probe), "drop"), 6 + 1 + 1 + 12);

  worker_.SetConnectors({Connector("keep", "RUNNING", 1)});
  ASSERT_TRUE(RunOnce(probe).success);
  auto s = Series(probe);
  EXPECT_EQ(CountSeriesOf(s, "drop"), 0);
  EXPECT_EQ(CountSeriesOf(s, "keep"), 6 + 1 + 1 + 6);
  EXPECT_THAT(Log(), AllOf(HasSubstr("connector no longer listed"),
                           HasSubstr("connector=drop")));
  ASSERT_EQ(probe.Connectors().size(), 1u);
  EXPECT_EQ(probe.Connectors()[0].name, "keep");
}

TEST_F(ConnectRestProbeTest, TwoClustersShareOneHeaderPerFamily) {
  // The connector series are rendered per probe when it polls; two clusters'
  // renderings must still make one family each on /metrics (a second
  // # TYPE line for a name makes Prometheus reject the whole scrape).
  FakeConnectWorker other_worker;
  worker_.SetConnectors({Connector("a", "RUNNING", 1)});
  other_worker.SetConnectors(
      {Connector("b", "FAILED", 2), Connector("c", "PAUSED", 0)});
  ConnectRestProbe first(ClusterFor(worker_.Url()), log_);
  auto other_cluster = ClusterFor(other_worker.Url());
  other_cluster.name = "other";
  ConnectRestProbe second(other_cluster, log_);
  ASSERT_TRUE(RunOnce(first).success);
  ASSERT_TRUE(RunOnce(second).success);

  MetricSink sink;
  first.Collect(sink);
  second.Collect(sink);
  const testing::Scrape scrape(sink.Render());
  EXPECT_TRUE(scrape.duplicate_headers().empty()) << scrape.text();
  EXPECT_EQ(CountOf(scrape.text(), "# TYPE cdc_connector_state gauge\n"), 1);
  EXPECT_EQ(CountOf(scrape.text(), "# HELP cdc_connector_state "), 1);
  EXPECT_EQ(
      scrape.All("cdc_connector_state", {{"connect_cluster", kCluster}}).size(),
      6u);
  EXPECT_EQ(
      scrape.All("cdc_connector_state", {{"connect_cluster", "other"}}).size(),
      12u);
  EXPECT_TRUE(scrape.Is(
      "cdc_connector_state",
      {{"connect_cluster", "other"}, {"connector", "b"}, {"state", "FAILED"}},
      1));
  EXPECT_EQ(
      scrape.All("cdc_connector_task_state", {{"connect_cluster", "other"}})
          .size(),
      12u);
  EXPECT_TRUE(scrape.Is("cdc_connector_tasks",
                        {{"connect_cluster", "other"}, {"connector", "c"}}, 0));
  // promtool (Prometheus's own parser) accepts it.
  TempDir dir;
  WriteFile(dir.File("metrics.txt"), scrape.text());
  const std::string cmd = "promtool check metrics < " +
                          dir.File("metrics.txt") + " > " +
                          dir.File("promtool.out") + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0)
      << std::ifstream(dir.File("promtool.out")).rdbuf();
  // Each family's series stay together: the samples of one name are
  // contiguous.
  std::vector<std::string> order;
  for (const auto& smp : scrape.samples()) {
    if (order.empty() || order.back() != smp.name) order.push_back(smp.name);
  }
  std::set<std::string> distinct(order.begin(), order.end());
  EXPECT_EQ(distinct.size(), order.size()) << scrape.text();
}

TEST_F(ConnectRestProbeTest, ScrapesBetweenPollsShowThePolledState) {
  // The series are rendered when the probe polls: a change on the worker
  // shows on /metrics after the next poll, not before, and a failed poll
  // keeps them.
  worker_.SetConnectors({Connector("inventory", "RUNNING", 1)});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  const std::string polled = Text(probe);
  worker_.SetConnectors({Connector("inventory", "FAILED", 1)});
  EXPECT_EQ(Text(probe), polled);
  ASSERT_TRUE(RunOnce(probe).success);
  auto s = Series(probe);
  ExpectStateSet(s, "inventory", -1, "FAILED");
}

TEST_F(ConnectRestProbeTest, FallbackWithoutExpandGivesTheSameMetrics) {
  auto failed = Connector("inventory connector", "FAILED", 2, "FAILED");
  failed.trace = "org.apache.kafka.connect.errors.ConnectException: x\n\tat A";
  failed.tasks[0].trace = "java.lang.IllegalStateException: y\n\tat B";
  failed.tasks[1].state = "RUNNING";
  auto sink = Connector("jdbc-sink", "PAUSED", 1, "PAUSED");
  sink.type = "sink";
  sink.connector_class = "io.confluent.connect.jdbc.JdbcSinkConnector";
  const std::vector<FakeConnector> connectors = {
      failed, sink, Connector("idle", "UNASSIGNED", 0)};

  worker_.SetConnectors(connectors);
  FakeConnectWorker old_worker;
  old_worker.SetConnectors(connectors);
  old_worker.SetMode(FakeMode::kNoExpand);
  // Listed, then deleted before its status was read: skipped.
  old_worker.SetDeletedAfterListing({"deleted"});

  std::ostringstream old_log_out;
  Logger old_log(old_log_out);
  ConnectRestProbe expand(ClusterFor(worker_.Url()), log_);
  ConnectRestProbe fallback(ClusterFor(old_worker.Url()), old_log);
  ASSERT_TRUE(RunOnce(expand).success);
  ProbeOutcome out = RunOnce(fallback);
  ASSERT_TRUE(out.success) << out.error;

  EXPECT_EQ(WithoutTimestamp(Series(fallback)),
            WithoutTimestamp(Series(expand)));
  EXPECT_EQ(fallback.Connectors(), expand.Connectors());
  EXPECT_EQ(CountSeriesOf(Series(fallback), "deleted"), 0);
  EXPECT_EQ(CountSeriesOf(Series(fallback), "inventory connector"),
            6 + 1 + 1 + 12);

  const auto requests = old_worker.Requests();
  EXPECT_THAT(requests,
              ElementsAre("GET /connectors?expand=status&expand=info",
                          "GET /connectors/deleted/status",
                          "GET /connectors/idle/status", "GET /connectors/idle",
                          "GET /connectors/inventory%20connector/status",
                          "GET /connectors/inventory%20connector",
                          "GET /connectors/jdbc-sink/status",
                          "GET /connectors/jdbc-sink"));

  // The fallback is announced once, not on every poll.
  ASSERT_TRUE(RunOnce(fallback).success);
  EXPECT_EQ(CountOf(old_log_out.str(), "does not support ?expand"), 1);
  EXPECT_EQ(old_worker.RequestCount(), 2 * requests.size());
  // Traces are logged the same way.
  EXPECT_EQ(CountOf(old_log_out.str(), "ConnectException: x"), 1);
  EXPECT_EQ(CountOf(old_log_out.str(), "IllegalStateException: y"), 1);
}

TEST_F(ConnectRestProbeTest, FallbackShapeErrorNamesTheConnector) {
  worker_.SetMode(FakeMode::kNoExpand);
  worker_.SetConnectors({Connector("inventory", "RUNNING", 1)});
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ASSERT_TRUE(RunOnce(probe).success);

  // An element of the list that is not a name.
  worker_.SetMode(FakeMode::kRaw);
  worker_.SetRawResponse(200, R"(["inventory", 42])");
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, AllOf(HasSubstr("unexpected response shape"),
                               HasSubstr("connectors[1]: must be a string")));
}

TEST_F(ConnectRestProbeTest, ExpandedShapeErrorNamesThePath) {
  worker_.SetMode(FakeMode::kRaw);
  worker_.SetRawResponse(200, R"({"inventory": {"status": {"name": "inventory",
      "connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": 7}]}}})");
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error,
              HasSubstr("unexpected response shape: connectors[\"inventory\"]"
                        ".status.tasks[0].state: must be a string"));
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, NotFound) {
  worker_.SetMode(FakeMode::kNotFound);
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, AllOf(HasSubstr("HTTP 404"),
                               HasSubstr("is the url a Kafka Connect worker")));
  auto s = Series(probe);
  EXPECT_EQ(s.at(UpKey()), 0);
  EXPECT_EQ(s.count(LastSuccessKey()), 0u);  // never succeeded
  EXPECT_EQ(s.size(), 1u);
}

TEST_F(ConnectRestProbeTest, ServerErrorIncludesConnectsMessage) {
  worker_.SetMode(FakeMode::kServerError);
  worker_.SetErrorMessage(
      "Request timed out\norg.apache.kafka.common.errors.TimeoutException");
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("HTTP 500: Request timed out"));
  EXPECT_THAT(out.error, Not(HasSubstr("TimeoutException")));  // first line
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, MalformedJson) {
  worker_.SetMode(FakeMode::kMalformedJson);
  ConnectRestProbe probe(ClusterFor(worker_.Url()), log_);
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("malformed JSON"));
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, NeverCompletingResponseFailsByTheDeadline) {
  worker_.SetMode(FakeMode::kNeverComplete);
  ConnectRestProbe probe(ClusterFor(worker_.Url(), 1s), log_);
  const auto start = Clock::now();
  ProbeOutcome out = RunOnce(probe);
  const auto took = Clock::now() - start;
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error,
              AllOf(HasSubstr("GET /connectors"),
                    ::testing::AnyOf(HasSubstr("timed out"),
                                     HasSubstr("within the timeout"))));
  EXPECT_LT(took, 1500ms);
  EXPECT_GE(took, 900ms);  // it really did stall
  EXPECT_EQ(worker_.RequestCount(), 1u);
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, SlowLorisFailsByTheDeadline) {
  worker_.SetConnectors({Connector("inventory", "RUNNING", 3)});
  worker_.SetMode(FakeMode::kSlowLoris);
  ConnectRestProbe probe(ClusterFor(worker_.Url(), 1s), log_);
  const auto start = Clock::now();
  ProbeOutcome out = RunOnce(probe);
  const auto took = Clock::now() - start;
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("not complete within the timeout"));
  EXPECT_LT(took, 1500ms);
  EXPECT_GE(took, 900ms);
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, SlowHeadersFailByTheDeadline) {
  testing::SlowHeadersServer slow;
  ConnectRestProbe probe(ClusterFor(slow.Url(), 1s), log_);
  const auto start = Clock::now();
  auto run = std::async(std::launch::async, [&] { return RunOnce(probe); });
  if (run.wait_for(3s) != std::future_status::ready) {
    ADD_FAILURE() << "Run still busy 3 s into a 1 s timeout";
    probe.Cancel();  // keep the test bounded
    slow.Stop();
  }
  ProbeOutcome out = run.get();
  const auto took = Clock::now() - start;
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("not complete within the timeout"));
  EXPECT_LT(took, 1500ms);
  EXPECT_GE(took, 900ms);
  EXPECT_GE(slow.BytesSent(), 3u);  // it was trickling
}

TEST_F(ConnectRestProbeTest, HugeBodyIsRefused) {
  for (FakeMode mode : {FakeMode::kHugeBody, FakeMode::kHugeBodyChunked}) {
    SCOPED_TRACE(static_cast<int>(mode));
    worker_.SetMode(mode);
    // A timeout long enough for 16 MB under TSan: the refusal must come from
    // the byte limit (the error names it), not from the deadline.
    auto cluster = ClusterFor(worker_.Url(), 60s);
    ASSERT_EQ(cluster.max_response_bytes, 16u * 1024 * 1024);  // the default
    ConnectRestProbe probe(cluster, log_);
    ProbeOutcome out = RunOnce(probe);
    EXPECT_FALSE(out.success);
    EXPECT_THAT(out.error, HasSubstr("max_response_bytes (16777216)"));
    EXPECT_EQ(Series(probe).at(UpKey()), 0);
  }
}

TEST_F(ConnectRestProbeTest, BodyUnderTheLimitIsAccepted) {
  // The limit is on bytes, not a fixed size: a small limit refuses a normal
  // response, a large one accepts it.
  std::vector<FakeConnector> many;
  for (int i = 0; i < 50; ++i) {
    many.push_back(Connector("c" + std::to_string(i), "RUNNING", 4));
  }
  worker_.SetConnectors(many);
  auto small = ClusterFor(worker_.Url());
  small.max_response_bytes = 1024;
  ConnectRestProbe refused(small, log_);
  ProbeOutcome out = RunOnce(refused);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("max_response_bytes (1024)"));

  ConnectRestProbe accepted(ClusterFor(worker_.Url()), log_);
  out = RunOnce(accepted);
  ASSERT_TRUE(out.success) << out.error;
  EXPECT_EQ(accepted.Connectors().size(), 50u);
}

// A Connect REST that never ends its response head (issue #19): the probe
// fails with an error naming the head limit, long before its deadline.
TEST_F(ConnectRestProbeTest, EndlessResponseHeadFailsNamingTheLimit) {
  auto hostile = testing::HostileUpstream::EndlessHead();
  ConnectRestProbe probe(ClusterFor(hostile->Url(), 5s), log_);
  const auto start = Clock::now();
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, AllOf(HasSubstr("GET /connectors"),
                               HasSubstr("response head over 64 KiB from " +
                                         hostile->Url())));
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

// A port on which nothing accepts: bound but not listening, so that no other
// process can take it while the test runs.
class ClosedPort {
 public:
  ClosedPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot bind a socket");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() {
    if (fd_ >= 0) close(fd_);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST_F(ConnectRestProbeTest, ConnectionRefused) {
  ClosedPort closed;
  ConnectRestProbe probe(
      ClusterFor("http://127.0.0.1:" + std::to_string(closed.port())), log_);
  const auto start = Clock::now();
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("cannot connect"));
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
}

TEST_F(ConnectRestProbeTest, CancelUnblocksAStalledRun) {
  worker_.SetMode(FakeMode::kNeverComplete);
  ConnectRestProbe probe(ClusterFor(worker_.Url(), 10s), log_);
  auto run = std::async(std::launch::async, [&] { return RunOnce(probe); });
  ASSERT_TRUE(worker_.WaitForRequests(1, 5s));
  std::this_thread::sleep_for(100ms);  // let the client wait for the body
  ASSERT_EQ(run.wait_for(0ms), std::future_status::timeout);
  const auto cancelled_at = Clock::now();
  probe.Cancel();
  ASSERT_EQ(run.wait_for(2s), std::future_status::ready);
  EXPECT_LT(Clock::now() - cancelled_at, 1s);
  ProbeOutcome out = run.get();
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("cancelled"));

  // The next run starts afresh.
  worker_.SetMode(FakeMode::kNormal);
  out = RunOnce(probe);
  EXPECT_TRUE(out.success) << out.error;
  EXPECT_EQ(Series(probe).at(UpKey()), 1);
}

TEST_F(ConnectRestProbeTest, FailureKeepsTheLastSeriesAndRecovers) {
  auto c = Connector("inventory", "FAILED", 2, "FAILED");
  c.trace = "org.apache.kafka.connect.errors.ConnectException: x";
  worker_.SetConnectors({c, Connector("orders", "RUNNING", 1)});
  // 5 s: reading up to max_response_bytes of the huge body takes over 1 s
  // under ThreadSanitizer; every other failure here is immediate.
  ConnectRestProbe probe(ClusterFor(worker_.Url(), 5s), log_);
  ASSERT_TRUE(RunOnce(probe).success);
  auto good = Series(probe);
  ASSERT_EQ(good.at(UpKey()), 1);

  struct Failure {
    FakeMode mode;
    const char* error;
  };
  const Failure failures[] = {
      {FakeMode::kNotFound, "HTTP 404"},
      {FakeMode::kServerError, "HTTP 500"},
      {FakeMode::kMalformedJson, "malformed JSON"},
      {FakeMode::kHugeBody, "max_response_bytes"},
      {FakeMode::kRaw, "unexpected response shape"},
  };
  worker_.SetRawResponse(200, "[1]");
  for (const auto& f : failures) {
    SCOPED_TRACE(f.error);
    // Meanwhile the connectors changed; a failed poll must not show it.
    worker_.SetConnectors({Connector("orders", "RUNNING", 1)});
    worker_.SetMode(f.mode);
    ProbeOutcome out = RunOnce(probe);
    EXPECT_FALSE(out.success);
    EXPECT_THAT(out.error, HasSubstr(f.error));
    auto s = Series(probe);
    EXPECT_EQ(s.at(UpKey()), 0);
    EXPECT_EQ(s.at(LastSuccessKey()), good.at(LastSuccessKey()));
    s[UpKey()] = 1;
    EXPECT_EQ(s, good);  // everything else as of the last good poll

    worker_.SetConnectors({c, Connector("orders", "RUNNING", 1)});
    worker_.SetMode(FakeMode::kNormal);
    out = RunOnce(probe);
    ASSERT_TRUE(out.success) << out.error;
    s = Series(probe);
    EXPECT_EQ(s.at(UpKey()), 1);
    EXPECT_GE(s.at(LastSuccessKey()), good.at(LastSuccessKey()));
    EXPECT_EQ(WithoutTimestamp(s), WithoutTimestamp(good));
    good = s;
  }

  // The worker goes away entirely.
  worker_.Stop();
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("cannot connect"));
  auto s = Series(probe);
  EXPECT_EQ(s.at(UpKey()), 0);
  EXPECT_EQ(WithoutTimestamp(s).size(), WithoutTimestamp(good).size());
  ExpectStateSet(s, "inventory", -1, "FAILED");
  // A failed poll is not a state change: nothing about connectors logged.
  EXPECT_THAT(Log(), Not(HasSubstr("no longer listed")));
  EXPECT_EQ(CountOf(Log(), "ConnectException: x"), 1);
}

TEST_F(ConnectRestProbeTest, BasicAuth) {
  const std::string password = "s3cr3t-Pa55-w0rd";
  worker_.RequireBasicAuth("sentinel", password);
  worker_.SetConnectors({Connector("inventory", "RUNNING", 1)});

  // The password comes from a file named in the config.
  TempDir dir;
  WriteFile(dir.File("connect.password"), password + "\n");
  const std::string yaml =
      "connect_clusters:\n"
      "  - name: test\n"
      "    url: " +
      worker_.Url() +
      "\n"
      "    timeout: 2s\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_file: connect.password\n";
  const config::Config cfg =
      config::LoadConfigString(yaml, dir.File("config.yaml"));
  ASSERT_EQ(cfg.connect_clusters.size(), 1u);
  const config::ConnectCluster& cluster = cfg.connect_clusters[0];
  ASSERT_TRUE(cluster.basic_auth.has_value());
  EXPECT_EQ(cluster.basic_auth->password.value, password);

  ConnectRestProbe probe(cluster, log_);
  ProbeOutcome out = RunOnce(probe);
  ASSERT_TRUE(out.success) << out.error;
  EXPECT_EQ(Series(probe).at(UpKey()), 1);
  ExpectStateSet(Series(probe), "inventory", -1, "RUNNING");

  // Without credentials, and with the wrong ones: 401.
  ConnectRestProbe anonymous(ClusterFor(worker_.Url()), log_);
  out = RunOnce(anonymous);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("HTTP 401"));

  auto wrong = cluster;
  wrong.basic_auth->password.value = "not-the-" + password;
  ConnectRestProbe denied(wrong, log_);
  out = RunOnce(denied);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error, HasSubstr("HTTP 401"));
  EXPECT_THAT(out.error, Not(HasSubstr(password)));

  for (const Probe* p : {static_cast<const Probe*>(&probe),
                         static_cast<const Probe*>(&denied)}) {
    EXPECT_THAT(Text(*p), Not(HasSubstr(password)));
  }
  EXPECT_THAT(Log(), Not(HasSubstr(password)));
  EXPECT_EQ(worker_.RequestCount(), 3u);
}

// HTTPS against a CA and a server certificate made for each run.
class ConnectRestProbeTlsTest : public ConnectRestProbeTest {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string d = dir_->path();
    WriteFile(d + "/server.ext",
              "subjectAltName=IP:127.0.0.1\n"
              "basicConstraints=CA:FALSE\n"
              "keyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\n");
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    const std::string ca_ext =
        " -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign";
    const std::string cmds[] = {
        "openssl req -x509 -nodes -days 2" + ec + ca_ext + " -keyout " + d +
            "/ca.key -out " + d + "/ca.crt -subj /CN=cdc-sentinel-test-ca",
        "openssl req -x509 -nodes -days 2" + ec + ca_ext + " -keyout " + d +
            "/other-ca.key -out " + d +
            "/other-ca.crt -subj /CN=cdc-sentinel-other-ca",
        "openssl req -new -nodes" + ec + " -keyout " + d + "/server.key -out " +
            d + "/server.csr -subj /CN=127.0.0.1",
        "openssl x509 -req -days 2 -in " + d + "/server.csr -CA " + d +
            "/ca.crt -CAkey " + d + "/ca.key -CAcreateserial -out " + d +
            "/server.crt -extfile " + d + "/server.ext",
    };
    for (const auto& cmd : cmds) {
      if (std::system((cmd + " >" + d + "/openssl.log 2>&1").c_str()) != 0) {
        std::ifstream in(d + "/openssl.log");
        std::stringstream log;
        log << in.rdbuf();
        setup_error_ = new std::string("failed: " + cmd + "\n" + log.str());
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
    delete setup_error_;
    setup_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
    tls_worker_ = std::make_unique<FakeConnectWorker>(dir_->File("server.crt"),
                                                      dir_->File("server.key"));
    tls_worker_->SetConnectors({Connector("inventory", "RUNNING", 1)});
  }

  config::ConnectCluster Cluster(std::optional<config::ClientTls> tls) const {
    auto c = ClusterFor(tls_worker_->Url());
    EXPECT_EQ(c.url.scheme, "https");
    c.tls = std::move(tls);
    return c;
  }

  static TempDir* dir_;
  static std::string* setup_error_;
  std::unique_ptr<FakeConnectWorker> tls_worker_;
};

TempDir* ConnectRestProbeTlsTest::dir_ = nullptr;
std::string* ConnectRestProbeTlsTest::setup_error_ = nullptr;

TEST_F(ConnectRestProbeTlsTest, VerifiesWithCaFile) {
  config::ClientTls tls;
  tls.ca_file = dir_->File("ca.crt");
  ConnectRestProbe probe(Cluster(tls), log_);
  ProbeOutcome out = RunOnce(probe);
  ASSERT_TRUE(out.success) << out.error;
  EXPECT_EQ(Series(probe).at(UpKey()), 1);
  ExpectStateSet(Series(probe), "inventory", -1, "RUNNING");
  EXPECT_EQ(tls_worker_->RequestCount(), 1u);
}

TEST_F(ConnectRestProbeTlsTest, FailsWithoutTheCa) {
  ConnectRestProbe probe(Cluster(std::nullopt), log_);  // system trust store
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error,
              HasSubstr("TLS server certificate verification failed"));
  EXPECT_EQ(Series(probe).at(UpKey()), 0);
  EXPECT_EQ(tls_worker_->RequestCount(), 0u);  // no request was sent
}

TEST_F(ConnectRestProbeTlsTest, FailsWithAnotherCa) {
  config::ClientTls tls;
  tls.ca_file = dir_->File("other-ca.crt");
  ConnectRestProbe probe(Cluster(tls), log_);
  ProbeOutcome out = RunOnce(probe);
  EXPECT_FALSE(out.success);
  EXPECT_THAT(out.error,
              HasSubstr("TLS server certificate verification failed"));
  EXPECT_EQ(tls_worker_->RequestCount(), 0u);
}

TEST_F(ConnectRestProbeTlsTest, InsecureSkipVerify) {
  config::ClientTls tls;
  tls.insecure_skip_verify = true;
  ConnectRestProbe probe(Cluster(tls), log_);
  ProbeOutcome out = RunOnce(probe);
  ASSERT_TRUE(out.success) << out.error;
  EXPECT_EQ(Series(probe).at(UpKey()), 1);
  EXPECT_EQ(tls_worker_->RequestCount(), 1u);
}

}  // namespace
}  // namespace cdc
