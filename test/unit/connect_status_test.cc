#include "probes/connect_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace cdc::connect {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

// The status of a Debezium connector as Kafka Connect documents it.
constexpr char kStatus[] = R"json({
  "name": "inventory",
  "connector": {"state": "FAILED", "worker_id": "10.0.0.1:8083",
                "trace": "org.apache.kafka.connect.errors.ConnectException: boom\n\tat X.y(X.java:1)"},
  "tasks": [
    {"id": 0, "state": "RUNNING", "worker_id": "10.0.0.2:8083"},
    {"id": 1, "state": "FAILED", "worker_id": "10.0.0.1:8083",
     "trace": "io.debezium.DebeziumException: gone\n\tat Y.z(Y.java:2)"}
  ],
  "type": "source"
})json";

// Runs f, which must throw ShapeError, and returns its message.
template <typename F>
std::string ShapeErrorOf(F&& f) {
  try {
    f();
  } catch (const ShapeError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ShapeError";
  return "";
}

std::string StatusError(const std::string& text) {
  return ShapeErrorOf([&] { ParseConnectorStatus(json::parse(text), "x"); });
}

std::string ExpandedError(const std::string& text) {
  return ShapeErrorOf([&] { ParseExpandedConnectors(json::parse(text)); });
}

TEST(ConnectStatusTest, KnownStates) {
  for (auto s : kStates) EXPECT_TRUE(IsKnownState(s)) << s;
  EXPECT_THAT(kStates, ElementsAre("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED",
                                   "FAILED", "RESTARTING"));
  EXPECT_FALSE(IsKnownState("running"));
  EXPECT_FALSE(IsKnownState("DEGRADED"));
  EXPECT_FALSE(IsKnownState(""));
}

TEST(ConnectStatusTest, ParsesDocumentedStatus) {
  ConnectorStatus c = ParseConnectorStatus(json::parse(kStatus), "x");
  ConnectorStatus want;
  want.name = "inventory";
  want.state = "FAILED";
  want.worker_id = "10.0.0.1:8083";
  want.trace =
      "org.apache.kafka.connect.errors.ConnectException: boom\n\tat "
      "X.y(X.java:1)";
  want.type = "source";
  want.tasks = {{0, "RUNNING", "10.0.0.2:8083", ""},
                {1, "FAILED", "10.0.0.1:8083",
                 "io.debezium.DebeziumException: gone\n\tat Y.z(Y.java:2)"}};
  EXPECT_EQ(c, want);
}

TEST(ConnectStatusTest, OptionalFieldsMayBeMissingOrNull) {
  ConnectorStatus c = ParseConnectorStatus(json::parse(R"({
    "name": "a", "connector": {"state": "UNASSIGNED", "worker_id": null},
    "tasks": [{"id": 0, "state": "UNASSIGNED", "trace": null}]})"),
                                           "x");
  EXPECT_EQ(c.worker_id, "");
  EXPECT_EQ(c.trace, "");
  EXPECT_EQ(c.type, "unknown");  // before Kafka 2.0 there is no "type"
  ASSERT_EQ(c.tasks.size(), 1u);
  EXPECT_EQ(c.tasks[0].worker_id, "");
  EXPECT_EQ(c.tasks[0].trace, "");
}

TEST(ConnectStatusTest, UnknownFieldsAreIgnored) {
  ConnectorStatus c = ParseConnectorStatus(json::parse(R"({
    "name": "a", "extra": [1, 2], "version": {"x": 1},
    "connector": {"state": "RUNNING", "worker_id": "w:1", "since": 17},
    "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w:1",
               "generation": 3}],
    "type": "sink"})"),
                                           "x");
  EXPECT_EQ(c.name, "a");
  EXPECT_EQ(c.state, "RUNNING");
  EXPECT_EQ(c.type, "sink");
  ASSERT_EQ(c.tasks.size(), 1u);
  EXPECT_EQ(c.tasks[0].state, "RUNNING");
}

TEST(ConnectStatusTest, TasksAreSortedById) {
  ConnectorStatus c = ParseConnectorStatus(json::parse(R"({
    "name": "a", "connector": {"state": "RUNNING"},
    "tasks": [{"id": 10, "state": "PAUSED"}, {"id": 2, "state": "FAILED"},
              {"id": 0, "state": "RUNNING"}]})"),
                                           "x");
  ASSERT_EQ(c.tasks.size(), 3u);
  EXPECT_EQ(c.tasks[0].id, 0);
  EXPECT_EQ(c.tasks[0].state, "RUNNING");
  EXPECT_EQ(c.tasks[1].id, 2);
  EXPECT_EQ(c.tasks[1].state, "FAILED");
  EXPECT_EQ(c.tasks[2].id, 10);
  EXPECT_EQ(c.tasks[2].state, "PAUSED");
}

TEST(ConnectStatusTest, EmptyTaskList) {
  ConnectorStatus c = ParseConnectorStatus(
      json::parse(R"({"name": "a", "connector": {"state": "RUNNING"},
                      "tasks": []})"),
      "x");
  EXPECT_TRUE(c.tasks.empty());
}

TEST(ConnectStatusTest, StatusShapeErrorsNameThePath) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"([])", "x: must be an object"},
      {R"("RUNNING")", "x: must be an object"},
      {R"({"connector": {"state": "RUNNING"}, "tasks": []})",
       "x.name: missing"},
      {R"({"name": 7, "connector": {"state": "RUNNING"}, "tasks": []})",
       "x.name: must be a string"},
      {R"({"name": "a", "tasks": []})", "x.connector: missing"},
      {R"({"name": "a", "connector": "RUNNING", "tasks": []})",
       "x.connector: must be an object"},
      {R"({"name": "a", "connector": {}, "tasks": []})",
       "x.connector.state: missing"},
      {R"({"name": "a", "connector": {"state": 1}, "tasks": []})",
       "x.connector.state: must be a string"},
      {R"({"name": "a", "connector": {"state": "RUNNING", "worker_id": 8083},
           "tasks": []})",
       "x.connector.worker_id: must be a string"},
      {R"({"name": "a", "connector": {"state": "FAILED", "trace": ["l1"]},
           "tasks": []})",
       "x.connector.trace: must be a string"},
      {R"({"name": "a", "connector": {"state": "RUNNING"}})",
       "x.tasks: missing"},
      {R"({"name": "a", "connector": {"state": "RUNNING"}, "tasks": {}})",
       "x.tasks: must be an array"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 0, "state": "RUNNING"}, 1]})",
       "x.tasks[1]: must be an object"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"state": "RUNNING"}]})",
       "x.tasks[0].id: missing"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": "0", "state": "RUNNING"}]})",
       "x.tasks[0].id: must be a task number"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": -1, "state": "RUNNING"}]})",
       "x.tasks[0].id: must be a task number"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 1.5, "state": "RUNNING"}]})",
       "x.tasks[0].id: must be a task number"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 4294967296, "state": "RUNNING"}]})",
       "x.tasks[0].id: must be a task number"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 0}]})",
       "x.tasks[0].state: missing"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 0, "state": null}]})",
       "x.tasks[0].state: must be a string"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 0, "state": "RUNNING", "worker_id": true}]})",
       "x.tasks[0].worker_id: must be a string"},
      {R"({"name": "a", "connector": {"state": "RUNNING"},
           "tasks": [{"id": 0, "state": "FAILED", "trace": {}}]})",
       "x.tasks[0].trace: must be a string"},
      {R"({"name": "a", "connector": {"state": "RUNNING"}, "tasks": [],
           "type": 1})",
       "x.type: must be a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(StatusError(c.json), c.error);
  }
}

TEST(ConnectStatusTest, ParsesExpandedConnectorsSortedByName) {
  json j = json::parse(R"({
    "zeta": {
      "status": {"name": "zeta", "connector": {"state": "PAUSED",
                 "worker_id": "w:2"}, "tasks": [], "type": "source"},
      "info": {"name": "zeta", "type": "sink", "tasks": [],
               "config": {"connector.class":
                          "io.confluent.connect.jdbc.JdbcSinkConnector",
                          "tasks.max": "1"}}},
    "alpha": {
      "status": {"name": "alpha", "connector": {"state": "RUNNING",
                 "worker_id": "w:1"},
                 "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w:1"}],
                 "type": "source"}}
  })");
  auto cs = ParseExpandedConnectors(j);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].name, "alpha");
  EXPECT_EQ(cs[0].state, "RUNNING");
  EXPECT_EQ(cs[0].type, "source");
  EXPECT_EQ(cs[0].connector_class, "");  // no info
  ASSERT_EQ(cs[0].tasks.size(), 1u);
  EXPECT_EQ(cs[1].name, "zeta");
  EXPECT_EQ(cs[1].state, "PAUSED");
  EXPECT_EQ(cs[1].worker_id, "w:2");
  EXPECT_EQ(cs[1].type, "sink");  // info wins over status
  EXPECT_EQ(cs[1].connector_class,
            "io.confluent.connect.jdbc.JdbcSinkConnector");
  EXPECT_TRUE(cs[1].tasks.empty());

  EXPECT_TRUE(ParseExpandedConnectors(json::object()).empty());
}

TEST(ConnectStatusTest, ExpandedShapeErrorsNameThePath) {
  const std::string ok_status =
      R"("status": {"name": "a", "connector": {"state": "RUNNING"},
                    "tasks": []})";
  struct Case {
    std::string json;
    const char* error;
  };
  const Case cases[] = {
      {R"(["a", "b"])", "connectors: must be an object"},
      {R"({"a": []})", R"(connectors["a"]: must be an object)"},
      {R"({"a": {"info": {}}})", R"(connectors["a"].status: missing)"},
      {R"({"a": {"status": {"name": "b", "connector": {"state": "RUNNING"},
                            "tasks": []}}})",
       R"(connectors["a"].status.name: does not match the connector's key)"},
      {R"({"a": {"status": {"name": "a", "connector": {"state": "RUNNING"},
                            "tasks": [{"id": 0, "state": 3}]}}})",
       R"(connectors["a"].status.tasks[0].state: must be a string)"},
      {R"({"a": {"status": {"name": "a", "connector": {"state": "RUNNING"}}}})",
       R"(connectors["a"].status.tasks: missing)"},
      {"{\"a\": {" + ok_status + R"(, "info": "x"}})",
       R"(connectors["a"].info: must be an object)"},
      {"{\"a\": {" + ok_status + R"(, "info": {"type": 2}}})",
       R"(connectors["a"].info.type: must be a string)"},
      {"{\"a\": {" + ok_status + R"(, "info": {"config": []}}})",
       R"(connectors["a"].info.config: must be an object)"},
      {"{\"a\": {" + ok_status +
           R"(, "info": {"config": {"connector.class": 5}}}})",
       R"(connectors["a"].info.config.connector.class: must be a string)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_EQ(ExpandedError(c.json), c.error);
  }
}

TEST(ConnectStatusTest, ApplyConnectorInfo) {
  ConnectorStatus c;
  c.type = "source";
  ApplyConnectorInfo(json::parse(R"({"name": "a", "tasks": [],
      "config": {"connector.class": "io.debezium.connector.postgresql.PostgresConnector"}})"),
                     "i", &c);
  EXPECT_EQ(c.type, "source");  // no type in info: kept
  EXPECT_EQ(c.connector_class,
            "io.debezium.connector.postgresql.PostgresConnector");

  ApplyConnectorInfo(json::parse(R"({"type": "sink", "extra": 1})"), "i", &c);
  EXPECT_EQ(c.type, "sink");
  EXPECT_EQ(c.connector_class,
            "io.debezium.connector.postgresql.PostgresConnector");  // no config

  EXPECT_EQ(ShapeErrorOf([&] { ApplyConnectorInfo(json::array(), "i", &c); }),
            "i: must be an object");
}

TEST(ConnectStatusTest, ParsesConnectorNamesSorted) {
  EXPECT_THAT(ParseConnectorNames(json::parse(R"(["b", "a", "c c"])")),
              ElementsAre("a", "b", "c c"));
  EXPECT_TRUE(ParseConnectorNames(json::array()).empty());
  EXPECT_EQ(ShapeErrorOf([] { ParseConnectorNames(json::object()); }),
            "connectors: must be an array of names");
  EXPECT_EQ(
      ShapeErrorOf([] { ParseConnectorNames(json::parse(R"(["a", 1])")); }),
      "connectors[1]: must be a string");
}

TEST(ConnectStatusTest, FirstLine) {
  EXPECT_EQ(FirstLine("java.lang.NullPointerException\n\tat A.b(A.java:1)"),
            "java.lang.NullPointerException");
  EXPECT_EQ(FirstLine("org.x.E: msg\r\n\tat A.b(A.java:1)"), "org.x.E: msg");
  EXPECT_EQ(FirstLine("only one line"), "only one line");
  EXPECT_EQ(FirstLine(""), "");
  EXPECT_EQ(FirstLine("\nsecond"), "");
  EXPECT_EQ(FirstLine(std::string(500, 'a') + "\nb"), std::string(500, 'a'));
  EXPECT_EQ(FirstLine(std::string(501, 'a')), std::string(500, 'a') + "...");
}

}  // namespace
}  // namespace cdc::connect
