// Discovery (config/discovery.h): which connectors a Connect cluster lists
// are monitored, with what settings, and why the others are not.

#include "config/discovery.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/shard.h"
#include "probes/connect_status.h"

namespace cdc::config {
namespace {

constexpr const char* kBase = R"(
connect_clusters:
  - name: main
    url: http://connect:8083
    kafka_cluster: msk
    offsets_topic: connect-offsets-main
    discover:
      exclude: ["*-test"]
      marker: {interval: 5s, timeout: 10s}
      heartbeat: {max_age: 20s}
      auto_restart: {enabled: true, after: 2}
      evidence:
        command: [/bin/echo, "${connector}", "dump-${connector}.txt"]
        directory: /tmp
sources:
  - name: aurora
    host: orders.cluster-abc.eu-west-1.rds.amazonaws.com
    port: 3306
    user: monitor
    password_env: CDC_SENTINEL_TEST_PASSWORD
    aliases: ["orders-writer.example.com:3306", "proxy:6033"]
  - name: billing
    host: billing.internal
    user: monitor
    password_env: CDC_SENTINEL_TEST_PASSWORD
    canary: {database: ops, table: canary}
kafka_clusters:
  - name: msk
    bootstrap_servers: b-1.msk:9092
  - name: other
    bootstrap_servers: other:9092
)";

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("CDC_SENTINEL_TEST_PASSWORD", "pw", 1); }
  static Config Load(const std::string& extra = "") {
    return LoadConfigString(std::string(kBase) + extra, "test.yaml");
  }
};

// A Debezium MySQL connector as the REST API lists it, that discovery
// monitors on source "aurora".
ListedConnector Good(const std::string& name = "orders-cdc") {
  return {
      name,
      std::string(kDebeziumMySqlClass),
      {{"database.hostname", "orders.cluster-abc.eu-west-1.rds.amazonaws.com"},
       {"database.port", "3306"},
       {"database.user", "debezium"},
       {"topic.prefix", name + "-prefix"},
       {"table.include.list", "shop.orders,cdc_canary.markers"},
       {"heartbeat.interval.ms", "10000"}}};
}

DiscoveryFinding Only(const DiscoveryOutcome& o) {
  EXPECT_EQ(o.findings.size(), 1u);
  return o.findings.empty() ? DiscoveryFinding{} : o.findings[0];
}

TEST_F(DiscoveryTest, MonitorsADebeziumMySqlConnectorWithItsOwnSettings) {
  const Config cfg = Load();
  const DiscoveryOutcome o = Discover(cfg, cfg.connect_clusters[0], {Good()});
  ASSERT_EQ(o.connectors.size(), 1u);
  const Connector& c = o.connectors[0];
  EXPECT_EQ(c.name, "orders-cdc");
  EXPECT_EQ(c.connect_cluster, "main");
  EXPECT_EQ(c.source, "aurora");
  EXPECT_EQ(c.kafka, "msk");
  EXPECT_EQ(c.topic_prefix, "orders-cdc-prefix");
  EXPECT_EQ(c.binlog_user, "debezium");
  EXPECT_TRUE(c.discovered);
  // discover.defaults
  EXPECT_EQ(c.marker.interval, std::chrono::seconds(5));
  EXPECT_EQ(c.marker.timeout, std::chrono::seconds(10));
  EXPECT_TRUE(c.auto_restart.enabled);
  EXPECT_EQ(c.auto_restart.after, 2);
  EXPECT_EQ(c.evidence.command,
            (std::vector<std::string>{"/bin/echo", "orders-cdc",
                                      "dump-orders-cdc.txt"}));
  // A heartbeat every 10 s is late after 30 s, more than the 20 s default.
  EXPECT_TRUE(c.heartbeat.enabled);
  EXPECT_EQ(c.heartbeat.max_age, std::chrono::seconds(30));
  EXPECT_EQ(c.HeartbeatTopic(), "__debezium-heartbeat.orders-cdc-prefix");
  EXPECT_EQ(c.MarkerTopic(cfg.sources[0].canary),
            "orders-cdc-prefix.cdc_canary.markers");
  EXPECT_EQ(Only(o).result, DiscoveryResult::kMonitored);
  EXPECT_EQ(cfg.OffsetsTopicOf(c), "connect-offsets-main");
}

// One row per way a listed connector ends up: the change to Good(), the
// result, and a word the reason must contain.
struct Row {
  const char* what;
  std::function<void(ListedConnector&)> change;
  DiscoveryResult result;
  const char* reason;
};

TEST_F(DiscoveryTest, EveryResultWithItsReason) {
  using R = DiscoveryResult;
  const std::vector<Row> rows = {
      {"an alias of the source",
       [](auto& l) {
         l.config["database.hostname"] = "ORDERS-writer.example.com";
       },
       R::kMonitored, "aurora"},
      {"the port defaults to 3306",
       [](auto& l) { l.config.erase("database.port"); }, R::kMonitored,
       "aurora"},
      {"a regex include list",
       [](auto& l) {
         l.config["table.include.list"] = "shop\\..*, CDC_CANARY\\..*";
       },
       R::kMonitored, ""},
      {"Debezium 1.x names",
       [](auto& l) {
         l.config.erase("topic.prefix");
         l.config.erase("table.include.list");
         l.config["database.server.name"] = "legacy";
         l.config["table.whitelist"] = "cdc_canary.markers";
       },
       R::kMonitored, "legacy"},
      {"heartbeats off",
       [](auto& l) { l.config.erase("heartbeat.interval.ms"); }, R::kMonitored,
       "heartbeats off"},
      {"a sink",
       [](auto& l) {
         l.connector_class = "io.confluent.connect.s3.S3SinkConnector";
       },
       R::kNotMySql, "S3SinkConnector"},
      {"excluded by name", [](auto& l) { l.name = "orders-test"; },
       R::kExcluded, "*-test"},
      {"another server",
       [](auto& l) { l.config["database.hostname"] = "elsewhere.internal"; },
       R::kNoSource, "elsewhere.internal:3306"},
      {"the alias host on another port",
       [](auto& l) { l.config["database.hostname"] = "proxy"; }, R::kNoSource,
       "proxy:3306"},
      {"a port that is not one",
       [](auto& l) { l.config["database.port"] = "33o6"; }, R::kNoSource,
       "33o6"},
      {"the canary table left out",
       [](auto& l) { l.config["table.include.list"] = "shop.orders"; },
       R::kCanaryNotCaptured, "table.include.list"},
      {"the canary database left out",
       [](auto& l) { l.config["database.include.list"] = "shop"; },
       R::kCanaryNotCaptured, "database.include.list"},
      {"the canary table excluded",
       [](auto& l) {
         l.config.erase("table.include.list");
         l.config["table.exclude.list"] = "cdc_canary\\.mark.*";
       },
       R::kCanaryNotCaptured, "table.exclude.list"},
      {"an include list that is not a regex",
       [](auto& l) { l.config["table.include.list"] = "shop.(orders"; },
       R::kCanaryNotCaptured, "regular expressions"},
      {"no topic prefix", [](auto& l) { l.config.erase("topic.prefix"); },
       R::kIncomplete, "topic.prefix"},
  };
  const Config cfg = Load();
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    ListedConnector l = Good();
    row.change(l);
    const DiscoveryOutcome o = Discover(cfg, cfg.connect_clusters[0], {l});
    const DiscoveryFinding f = Only(o);
    EXPECT_EQ(DiscoveryResultName(f.result), DiscoveryResultName(row.result));
    EXPECT_NE(f.reason.find(row.reason), std::string::npos) << f.reason;
    EXPECT_EQ(o.connectors.size(), row.result == R::kMonitored ? 1u : 0u);
    if (std::string(row.what) == "heartbeats off") {
      EXPECT_FALSE(o.connectors[0].heartbeat.enabled);
    }
  }
}

TEST_F(DiscoveryTest, HeartbeatTopicFollowsTheConnectorsPrefixKey) {
  const Config cfg = Load();
  ListedConnector v2 = Good("a");
  v2.config["topic.heartbeat.prefix"] = "hb";
  ListedConnector v1 = Good("b");
  v1.config["heartbeat.topics.prefix"] = "beats";
  const DiscoveryOutcome o = Discover(cfg, cfg.connect_clusters[0], {v2, v1});
  ASSERT_EQ(o.connectors.size(), 2u);
  EXPECT_EQ(o.connectors[0].HeartbeatTopic(), "hb.a-prefix");
  EXPECT_EQ(o.connectors[1].HeartbeatTopic(), "beats.b-prefix");
}

TEST_F(DiscoveryTest, AnExplicitEntryWinsAndItsPrefixIsTaken) {
  const Config cfg = Load(R"(
connectors:
  - name: orders-cdc
    connect_cluster: main
    source: aurora
    topic_prefix: orders-cdc-prefix
)");
  // Taken from the Connect cluster's kafka_cluster.
  EXPECT_EQ(cfg.connectors[0].kafka, "msk");
  ListedConnector twin = Good("orders-twin");
  twin.config["topic.prefix"] = "orders-cdc-prefix";
  const DiscoveryOutcome o =
      Discover(cfg, cfg.connect_clusters[0], {Good(), twin});
  EXPECT_TRUE(o.connectors.empty());
  ASSERT_EQ(o.findings.size(), 2u);
  EXPECT_EQ(o.findings[0].connector, "orders-cdc");
  EXPECT_EQ(o.findings[0].result, DiscoveryResult::kConfigured);
  EXPECT_EQ(o.findings[1].result, DiscoveryResult::kDuplicatePrefix);

  // The same name on another Connect cluster is not "configured": it would
  // go unwatched without a word.
  Config two = cfg;
  ConnectCluster other = two.connect_clusters[0];
  other.name = "other";
  two.connect_clusters.push_back(other);
  ListedConnector namesake = Good();
  namesake.config["topic.prefix"] = "elsewhere";
  const DiscoveryOutcome o2 =
      Discover(two, two.connect_clusters[1], {namesake});
  EXPECT_EQ(Only(o2).result, DiscoveryResult::kDuplicatePrefix);
  EXPECT_NE(Only(o2).reason.find("Connect cluster main"), std::string::npos)
      << Only(o2).reason;
}

TEST_F(DiscoveryTest, IncludeListAndDiscoveryOff) {
  Config cfg = Load();
  cfg.connect_clusters[0].discover.include = {"billing-*"};
  DiscoveryOutcome o = Discover(cfg, cfg.connect_clusters[0], {Good()});
  EXPECT_EQ(Only(o).result, DiscoveryResult::kExcluded);
  cfg.connect_clusters[0].discover.enabled = false;
  o = Discover(cfg, cfg.connect_clusters[0], {Good()});
  EXPECT_TRUE(o.findings.empty());
  EXPECT_TRUE(o.connectors.empty());
  // The REST view alone (no source): nothing to match, nothing said.
  Config rest_only = Load();
  rest_only.sources.clear();
  o = Discover(rest_only, rest_only.connect_clusters[0], {Good()});
  EXPECT_TRUE(o.findings.empty());
  EXPECT_TRUE(o.connectors.empty());
}

TEST_F(DiscoveryTest, NoKafkaClusterKnown) {
  Config cfg = Load();
  cfg.connect_clusters[0].kafka_cluster.clear();  // and two are configured
  const DiscoveryOutcome o = Discover(cfg, cfg.connect_clusters[0], {Good()});
  EXPECT_EQ(Only(o).result, DiscoveryResult::kIncomplete);
  EXPECT_NE(Only(o).reason.find("kafka_cluster"), std::string::npos);
}

TEST_F(DiscoveryTest, SameNameOnTwoConnectClustersIsMonitoredOnce) {
  Config cfg = Load();
  ConnectCluster second = cfg.connect_clusters[0];
  second.name = "second";
  cfg.connect_clusters.push_back(second);
  std::map<std::string, DiscoveryOutcome> outcomes;
  outcomes["main"] = Discover(cfg, cfg.connect_clusters[0], {Good()});
  ListedConnector other = Good();
  other.config["topic.prefix"] = "elsewhere";
  outcomes["second"] = Discover(cfg, cfg.connect_clusters[1], {other});
  const Config merged = WithDiscovered(cfg, &outcomes);
  ASSERT_EQ(merged.connectors.size(), 1u);
  EXPECT_EQ(merged.connectors[0].connect_cluster, "main");
  EXPECT_TRUE(outcomes["second"].connectors.empty());
  EXPECT_EQ(Only(outcomes["second"]).result, DiscoveryResult::kDuplicatePrefix);
}

TEST_F(DiscoveryTest, EveryShardPollsADiscoveringCluster) {
  Config cfg = Load();
  // No connectors[] at all: without discovery the shards would drop the
  // Connect cluster and never see a connector.
  for (int i = 0; i < 2; ++i) {
    const Config part = KeepShard(cfg, Shard{i, 2}, nullptr);
    ASSERT_EQ(part.connect_clusters.size(), 1u) << i;
    ASSERT_EQ(part.kafka_clusters.size(), 1u) << i;
    EXPECT_EQ(part.kafka_clusters[0].name, "msk");
  }
  // The discovered connector lands on its source's shard only.
  std::map<std::string, DiscoveryOutcome> outcomes;
  outcomes["main"] = Discover(cfg, cfg.connect_clusters[0], {Good()});
  const Config merged = WithDiscovered(cfg, &outcomes);
  int kept = 0;
  for (int i = 0; i < 2; ++i) {
    kept += static_cast<int>(
        KeepShard(merged, Shard{i, 2}, nullptr).connectors.size());
  }
  EXPECT_EQ(kept, 1);
}

TEST_F(DiscoveryTest, LoaderKeysAndTheDeprecatedOffsetsTopic) {
  const Config cfg = LoadConfigString(R"(
connect_clusters:
  - name: a
    url: http://a:8083
    discover: false
  - name: b
    url: http://b:8083
kafka_clusters:
  - name: k
    bootstrap_servers: k:9092
    offsets_topic: old-place
)",
                                      "t.yaml");
  EXPECT_FALSE(cfg.connect_clusters[0].discover.enabled);
  EXPECT_TRUE(cfg.connect_clusters[1].discover.enabled);
  ASSERT_EQ(cfg.warnings.size(), 1u);
  EXPECT_NE(
      cfg.warnings[0].find("t.yaml:11:5: kafka_clusters[0].offsets_topic: "
                           "deprecated"),
      std::string::npos)
      << cfg.warnings[0];
  Connector c;
  c.connect_cluster = "b";
  c.kafka = "k";
  EXPECT_EQ(cfg.OffsetsTopicOf(c), "old-place");
}

TEST(HostPortTest, Parses) {
  EXPECT_EQ(ParseHostPort("db:3306"), std::make_pair(std::string("db"), 3306));
  EXPECT_EQ(ParseHostPort("[::1]:3307"),
            std::make_pair(std::string("::1"), 3307));
  for (const char* bad : {"db", "db:", ":3306", "db:0", "db:65536", "db:x",
                          "::1:3306", "[::1]3306", "[::1]"}) {
    EXPECT_FALSE(ParseHostPort(bad)) << bad;
  }
}

TEST(ListedConfigTest, KeepsOnlyTheKeysDiscoveryReads) {
  const auto j = nlohmann::json::parse(R"({
    "orders-cdc": {
      "status": {"name": "orders-cdc", "connector": {"state": "RUNNING",
                 "worker_id": "w:8083"}, "tasks": [], "type": "source"},
      "info": {"name": "orders-cdc", "type": "source", "tasks": [],
               "config": {"connector.class":
                            "io.debezium.connector.mysql.MySqlConnector",
                          "database.hostname": "db", "database.port": "3306",
                          "database.password": "hunter2",
                          "topic.prefix": "orders", "tasks.max": "1",
                          "heartbeat.interval.ms": 10000}}}})");
  const auto listed = connect::ParseExpandedConnectors(j);
  ASSERT_EQ(listed.size(), 1u);
  const auto& conf = listed[0].config;
  EXPECT_EQ(conf.at("database.hostname"), "db");
  EXPECT_EQ(conf.at("topic.prefix"), "orders");
  EXPECT_EQ(conf.count("database.password"), 0u);  // never kept
  EXPECT_EQ(conf.count("tasks.max"), 0u);
  EXPECT_EQ(conf.count("heartbeat.interval.ms"), 0u);  // not a string
}

}  // namespace
}  // namespace cdc::config
