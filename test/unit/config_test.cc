// Tests of the configuration loader, durations, URLs and command-line flags.
//
// Bad configs live in config/testdata/bad/, one file per error, each starting
// with "# want: FILE:LINE:COL: path: reason" where FILE stands for the
// fixture's own path. The whole message is compared.

#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cdc/common/duration.h"
#include "config/shard.h"
#include "config/url.h"
#include "exporter/flags.h"

namespace cdc {
namespace {

using config::ConfigError;
using config::LoadConfigFile;
using config::LoadConfigString;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kTestdata = std::string(CDC_SOURCE_DIR) + "/config/testdata";

// The secrets the fixtures use; no error message may contain them.
constexpr char kFilePassword[] = "s3cr3t-from-file";
constexpr char kEnvPassword[] = "s3cr3t-from-env";
constexpr char kPasswordEnv[] = "CDC_SENTINEL_TEST_PASSWORD";
constexpr char kUnsetEnv[] = "CDC_SENTINEL_TEST_UNSET";

// Sets the environment the fixtures expect, for the lifetime of a test.
class FixtureEnv {
 public:
  FixtureEnv() {
    setenv(kPasswordEnv, kEnvPassword, 1);
    unsetenv(kUnsetEnv);
  }
  ~FixtureEnv() { unsetenv(kPasswordEnv); }
  FixtureEnv(const FixtureEnv&) = delete;
  FixtureEnv& operator=(const FixtureEnv&) = delete;
};

// The message LoadConfigFile throws, or "" when it loads.
std::string LoadError(const std::string& path) {
  try {
    LoadConfigFile(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string LoadStringError(const std::string& text, const std::string& file) {
  try {
    LoadConfigString(text, file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// ------------------------------------------------------------- good configs

TEST(ConfigGood, FullUsesEveryKey) {
  FixtureEnv env;
  const std::string dir = kTestdata + "/good";
  const std::string file = dir + "/full.yaml";
  const config::Config cfg = LoadConfigFile(file);

  EXPECT_EQ(cfg.file, file);
  EXPECT_EQ(cfg.global.probe_workers, 8);
  ASSERT_EQ(cfg.connect_clusters.size(), 3u);

  const auto& prod = cfg.connect_clusters[0];
  EXPECT_EQ(prod.name, "prod-connect_1.eu");
  EXPECT_EQ(prod.url_text, "https://connect.example.com:8443/kafka-connect/");
  EXPECT_EQ(prod.url.scheme, "https");
  EXPECT_EQ(prod.url.host, "connect.example.com");
  EXPECT_EQ(prod.url.port, 8443);
  EXPECT_EQ(prod.url.base_path, "/kafka-connect");
  EXPECT_EQ(prod.interval, seconds(90));
  EXPECT_EQ(prod.timeout, milliseconds(2500));
  ASSERT_TRUE(prod.basic_auth.has_value());
  EXPECT_EQ(prod.basic_auth->username, "sentinel");
  // Read from the file, relative to the config's folder, newline dropped.
  EXPECT_EQ(prod.basic_auth->password.value, kFilePassword);
  EXPECT_EQ(prod.basic_auth->password.source,
            "file " + dir + "/../secrets/connect-password");
  ASSERT_TRUE(prod.tls.has_value());
  EXPECT_EQ(prod.tls->ca_file, dir + "/../tls/ca.pem");
  EXPECT_EQ(prod.tls->cert_file, "");
  EXPECT_EQ(prod.tls->key_file, "");
  EXPECT_FALSE(prod.tls->insecure_skip_verify);
  EXPECT_EQ(prod.max_response_bytes, 1048576u);

  const auto& staging = cfg.connect_clusters[1];
  EXPECT_EQ(staging.name, "staging");
  EXPECT_EQ(staging.url.scheme, "http");
  EXPECT_EQ(staging.url.host, "::1");
  EXPECT_EQ(staging.url.port, 8083);
  EXPECT_EQ(staging.url.base_path, "");
  EXPECT_EQ(staging.url.SchemeHostPort(), "http://[::1]:8083");
  EXPECT_EQ(staging.interval, seconds(10));
  EXPECT_EQ(staging.timeout, seconds(10));  // equal to interval is allowed
  ASSERT_TRUE(staging.basic_auth.has_value());
  EXPECT_EQ(staging.basic_auth->username, "staging user");
  EXPECT_EQ(staging.basic_auth->password.value, kEnvPassword);
  EXPECT_EQ(staging.basic_auth->password.source,
            std::string("env ") + kPasswordEnv);
  EXPECT_FALSE(staging.tls.has_value());
  EXPECT_EQ(staging.max_response_bytes, 1024u);

  const auto& mtls = cfg.connect_clusters[2];
  EXPECT_EQ(mtls.name, "mtls");
  EXPECT_EQ(mtls.url.port, 443);
  EXPECT_EQ(mtls.interval, seconds(15));
  EXPECT_EQ(mtls.timeout, seconds(5));
  EXPECT_FALSE(mtls.basic_auth.has_value());
  ASSERT_TRUE(mtls.tls.has_value());
  EXPECT_EQ(mtls.tls->ca_file, "");
  EXPECT_EQ(mtls.tls->cert_file, dir + "/../tls/client.pem");
  EXPECT_EQ(mtls.tls->key_file, dir + "/../tls/client-key.pem");
  EXPECT_TRUE(mtls.tls->insecure_skip_verify);
  EXPECT_EQ(mtls.max_response_bytes, 16u * 1024 * 1024);
}

TEST(ConfigGood, MinimalGetsDefaults) {
  const config::Config cfg = LoadConfigFile(kTestdata + "/good/minimal.yaml");
  EXPECT_EQ(cfg.global.probe_workers, 4);
  ASSERT_EQ(cfg.connect_clusters.size(), 1u);
  const auto& c = cfg.connect_clusters[0];
  EXPECT_EQ(c.name, "self-managed");
  EXPECT_EQ(c.url.scheme, "http");
  EXPECT_EQ(c.url.host, "127.0.0.1");
  EXPECT_EQ(c.url.port, 8083);
  EXPECT_EQ(c.url.base_path, "");
  EXPECT_EQ(c.interval, seconds(15));
  EXPECT_EQ(c.timeout, seconds(5));
  EXPECT_EQ(c.max_response_bytes, 16u * 1024 * 1024);
  EXPECT_FALSE(c.basic_auth.has_value());
  EXPECT_FALSE(c.tls.has_value());
}

TEST(ConfigGood, EmptyValuesMeanDefaults) {
  const config::Config cfg = LoadConfigString(
      "global:\n"
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: http://h\n"
      "    interval:\n"
      "    timeout: ~\n",
      "inline.yaml");
  EXPECT_EQ(cfg.global.probe_workers, 4);
  EXPECT_EQ(cfg.connect_clusters.at(0).interval, seconds(15));
  EXPECT_EQ(cfg.connect_clusters.at(0).timeout, seconds(5));
}

// ------------------------------------------------- pipeline (good configs)

constexpr char kKafkaSecret[] = "s3cr3t-kafka-sasl";

TEST(ConfigGoodPipeline, Sources) {
  FixtureEnv env;
  const std::string dir = kTestdata + "/good";
  const config::Config cfg = LoadConfigFile(dir + "/pipeline.yaml");
  ASSERT_EQ(cfg.sources.size(), 5u);

  const auto& full = cfg.sources[0];
  EXPECT_EQ(full.name, "aurora-orders");
  EXPECT_EQ(full.host, "orders.cluster-abc.eu-west-1.rds.amazonaws.com");
  EXPECT_EQ(full.port, 3307);
  EXPECT_EQ(full.user, "cdc_sentinel");
  EXPECT_EQ(full.password.value, kFilePassword);
  EXPECT_EQ(full.password.source,
            "file " + dir + "/../secrets/connect-password");
  EXPECT_EQ(full.tls.mode, "verify_ca");
  EXPECT_EQ(full.tls.ca_file, dir + "/../tls/ca.pem");
  EXPECT_EQ(full.tls.cert_file, dir + "/../tls/client.pem");
  EXPECT_EQ(full.tls.key_file, dir + "/../tls/client-key.pem");
  EXPECT_EQ(full.canary.database, "ops_canary");
  EXPECT_EQ(full.canary.table, "cdc_markers_v2");
  EXPECT_FALSE(full.canary.create);
  EXPECT_EQ(full.interval, seconds(30));
  EXPECT_EQ(full.timeout, milliseconds(2500));

  const auto& billing = cfg.sources[1];
  EXPECT_EQ(billing.name, "billing-rds");
  EXPECT_EQ(billing.port, 3306);
  EXPECT_EQ(billing.user, "monitor");
  EXPECT_EQ(billing.password.value, kEnvPassword);
  EXPECT_EQ(billing.password.source, std::string("env ") + kPasswordEnv);
  EXPECT_EQ(billing.tls.mode, "verify_identity");
  EXPECT_EQ(billing.tls.ca_file, dir + "/../tls/ca.pem");
  EXPECT_EQ(billing.tls.cert_file, "");
  EXPECT_EQ(billing.tls.key_file, "");
  // Only the table set: the others keep their defaults.
  EXPECT_EQ(billing.canary.database, "cdc_canary");
  EXPECT_EQ(billing.canary.table, "markers_billing");
  EXPECT_TRUE(billing.canary.create);

  EXPECT_EQ(cfg.sources[2].name, "legacy");
  EXPECT_EQ(cfg.sources[2].host, "10.0.0.5");
  EXPECT_EQ(cfg.sources[2].tls.mode, "disabled");
  EXPECT_EQ(cfg.sources[3].name, "explicit-required");
  EXPECT_EQ(cfg.sources[3].tls.mode, "required");

  const auto& d = cfg.sources[4];
  EXPECT_EQ(d.name, "defaults");
  EXPECT_EQ(d.host, "db2.internal");
  EXPECT_EQ(d.port, 3306);
  EXPECT_EQ(d.user, "monitor");
  EXPECT_EQ(d.password.value, kFilePassword);
  EXPECT_EQ(d.tls, config::SourceTls{});
  EXPECT_EQ(d.tls.mode, "required");
  EXPECT_EQ(d.tls.ca_file, "");
  EXPECT_EQ(d.tls.cert_file, "");
  EXPECT_EQ(d.tls.key_file, "");
  EXPECT_EQ(d.canary.database, "cdc_canary");
  EXPECT_EQ(d.canary.table, "markers");
  EXPECT_TRUE(d.canary.create);
  EXPECT_EQ(d.interval, seconds(15));
  EXPECT_EQ(d.timeout, seconds(5));

  EXPECT_EQ(cfg.FindSource("legacy"), &cfg.sources[2]);
  EXPECT_EQ(cfg.FindSource("nope"), nullptr);
}

TEST(ConfigGoodPipeline, KafkaClusters) {
  FixtureEnv env;
  const std::string dir = kTestdata + "/good";
  const config::Config cfg = LoadConfigFile(dir + "/pipeline.yaml");
  ASSERT_EQ(cfg.kafka_clusters.size(), 2u);

  const auto& msk = cfg.kafka_clusters[0];
  EXPECT_EQ(msk.name, "msk-prod");
  EXPECT_EQ(msk.bootstrap_servers,
            "b-1.msk.example.com:9096,b-2.msk.example.com:9096");
  // In file order, numbers as written.
  const std::vector<std::pair<std::string, std::string>> want_props = {
      {"security.protocol", "SASL_SSL"},
      {"sasl.mechanism", "SCRAM-SHA-512"},
      {"sasl.username", "cdc-sentinel"},
      {"socket.timeout.ms", "10000"},
  };
  EXPECT_EQ(msk.properties, want_props);
  ASSERT_EQ(msk.secret_properties.size(), 1u);
  EXPECT_EQ(msk.secret_properties[0].first, "sasl.password");
  // Read from the file, relative to the config's folder, newline dropped.
  EXPECT_EQ(msk.secret_properties[0].second.value, kKafkaSecret);
  EXPECT_EQ(msk.secret_properties[0].second.source,
            "file " + dir + "/../secrets/kafka-sasl-password");
  EXPECT_EQ(msk.offsets_topic, "connect-offsets-prod");
  EXPECT_EQ(msk.topics_per_consumer, 100);
  EXPECT_EQ(msk.interval, std::chrono::seconds(10));
  EXPECT_EQ(msk.timeout, std::chrono::milliseconds(2500));

  const auto& local = cfg.kafka_clusters[1];
  EXPECT_EQ(local.name, "local");
  EXPECT_EQ(local.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_TRUE(local.properties.empty());
  EXPECT_TRUE(local.secret_properties.empty());
  EXPECT_EQ(local.offsets_topic, "connect-offsets");
  EXPECT_EQ(local.topics_per_consumer, 250);
  EXPECT_EQ(local.interval, std::chrono::seconds(5));
  EXPECT_EQ(local.timeout, std::chrono::seconds(4));
  // Interval and timeout are the probe's, not the consumer's.
  auto faster = local;
  faster.interval = std::chrono::seconds(1);
  faster.timeout = std::chrono::milliseconds(500);
  EXPECT_TRUE(faster.SameConsumer(local));
  EXPECT_FALSE(faster == local);
  faster.offsets_topic = "other";
  EXPECT_FALSE(faster.SameConsumer(local));
  faster = local;
  faster.topics_per_consumer = 10;
  EXPECT_FALSE(faster.SameConsumer(local));

  EXPECT_EQ(cfg.FindKafka("local"), &cfg.kafka_clusters[1]);
  EXPECT_EQ(cfg.FindKafka("nope"), nullptr);
}

TEST(ConfigGoodPipeline, Connectors) {
  FixtureEnv env;
  const config::Config cfg = LoadConfigFile(kTestdata + "/good/pipeline.yaml");
  ASSERT_EQ(cfg.connect_clusters.size(), 1u);
  ASSERT_EQ(cfg.connectors.size(), 4u);

  const auto& full = cfg.connectors[0];
  EXPECT_EQ(full.name, "orders-cdc");
  EXPECT_EQ(full.connect_cluster, "self-managed");
  EXPECT_EQ(cfg.FindConnectCluster(full.connect_cluster),
            &cfg.connect_clusters[0]);
  EXPECT_EQ(full.source, "aurora-orders");
  EXPECT_EQ(full.kafka, "msk-prod");
  EXPECT_EQ(full.topic_prefix, "orders");
  EXPECT_EQ(full.binlog_user, "cdc_orders");
  EXPECT_EQ(full.tls_version, "1.2");
  EXPECT_TRUE(full.marker.enabled);
  EXPECT_EQ(full.marker.interval, seconds(5));
  EXPECT_EQ(full.marker.timeout, std::chrono::minutes(1));
  EXPECT_TRUE(full.heartbeat.enabled);
  EXPECT_EQ(full.heartbeat.max_age, std::chrono::minutes(2));
  EXPECT_EQ(full.heartbeat.topic, "orders.heartbeats");
  EXPECT_EQ(full.HeartbeatTopic(), "orders.heartbeats");
  EXPECT_EQ(full.MarkerTopic(cfg.FindSource(full.source)->canary),
            "orders.ops_canary.cdc_markers_v2");
  EXPECT_EQ(full.silent_failure.consecutive_misses, 3);
  EXPECT_EQ(full.silent_failure.window, seconds(12));
  EXPECT_EQ(full.silent_failure.window_max, std::chrono::minutes(1));
  const std::vector<std::string> want_argv = {"/usr/local/bin/collect-evidence",
                                              "--connector", "orders-cdc"};
  EXPECT_EQ(full.evidence.command, want_argv);
  EXPECT_EQ(full.evidence.directory, "/var/lib/cdc-sentinel/evidence");
  EXPECT_EQ(full.evidence.timeout, seconds(45));
  EXPECT_EQ(full.evidence.min_interval, std::chrono::minutes(30));
  EXPECT_TRUE(full.auto_restart.enabled);
  EXPECT_EQ(full.auto_restart.after, 5);
  EXPECT_EQ(full.auto_restart.max_per_hour, 4);

  // MSK Connect: no connect_cluster, so no REST API.
  const auto& msk = cfg.connectors[1];
  EXPECT_EQ(msk.name, "billing-msk");
  EXPECT_EQ(msk.connect_cluster, "");
  EXPECT_EQ(msk.source, "billing-rds");
  EXPECT_EQ(msk.kafka, "msk-prod");
  EXPECT_EQ(msk.topic_prefix, "billing");
  EXPECT_EQ(msk.binlog_user, "");
  EXPECT_EQ(msk.tls_version, "1.3");
  EXPECT_FALSE(msk.marker.enabled);
  EXPECT_EQ(msk.marker.interval, seconds(10));
  EXPECT_EQ(msk.marker.timeout, seconds(30));
  EXPECT_FALSE(msk.heartbeat.enabled);
  EXPECT_EQ(msk.heartbeat.max_age, seconds(60));
  EXPECT_EQ(msk.HeartbeatTopic(), "__debezium-heartbeat.billing");
  EXPECT_EQ(msk.MarkerTopic(cfg.FindSource(msk.source)->canary),
            "billing.cdc_canary.markers_billing");
  // A one-element argv; timeout and min_interval keep their defaults.
  EXPECT_EQ(msk.evidence.command,
            std::vector<std::string>{"/usr/local/bin/collect-evidence"});
  EXPECT_EQ(msk.evidence.directory, "/var/lib/cdc-sentinel/evidence");
  EXPECT_EQ(msk.evidence.timeout, seconds(30));
  EXPECT_EQ(msk.evidence.min_interval, std::chrono::minutes(10));
  EXPECT_FALSE(msk.auto_restart.enabled);

  // Partial sections: the keys left out keep their defaults.
  const auto& partial = cfg.connectors[2];
  EXPECT_EQ(partial.name, "orders-local");
  EXPECT_EQ(partial.connect_cluster, "self-managed");
  EXPECT_EQ(partial.kafka, "local");
  EXPECT_EQ(partial.topic_prefix, "orders");  // also on msk-prod: allowed
  EXPECT_EQ(partial.tls_version, "auto");
  EXPECT_TRUE(partial.marker.enabled);
  EXPECT_EQ(partial.marker.interval, seconds(20));
  EXPECT_EQ(partial.marker.timeout, seconds(30));
  EXPECT_TRUE(partial.heartbeat.enabled);
  EXPECT_EQ(partial.heartbeat.max_age, seconds(90));
  EXPECT_EQ(partial.heartbeat.topic, "");
  EXPECT_TRUE(partial.auto_restart.enabled);
  EXPECT_EQ(partial.auto_restart.after, 3);
  EXPECT_EQ(partial.auto_restart.max_per_hour, 2);
}

TEST(ConfigGoodPipeline, ConnectorDefaults) {
  FixtureEnv env;
  const config::Config cfg = LoadConfigFile(kTestdata + "/good/pipeline.yaml");
  ASSERT_EQ(cfg.connectors.size(), 4u);
  const auto& d = cfg.connectors[3];
  EXPECT_EQ(d.name, "defaults-cdc");
  EXPECT_EQ(d.connect_cluster, "");
  EXPECT_EQ(d.source, "defaults");
  EXPECT_EQ(d.kafka, "local");
  EXPECT_EQ(d.topic_prefix, "dflt");
  EXPECT_EQ(d.binlog_user, "");
  EXPECT_EQ(d.tls_version, "auto");
  EXPECT_TRUE(d.marker.enabled);
  EXPECT_EQ(d.marker.interval, seconds(10));
  EXPECT_EQ(d.marker.timeout, seconds(30));
  EXPECT_TRUE(d.heartbeat.enabled);
  EXPECT_EQ(d.heartbeat.max_age, seconds(60));
  EXPECT_EQ(d.heartbeat.topic, "");
  EXPECT_EQ(d.HeartbeatTopic(), "__debezium-heartbeat.dflt");
  const config::Source* src = cfg.FindSource(d.source);
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(d.MarkerTopic(src->canary), "dflt.cdc_canary.markers");
  EXPECT_EQ(d.silent_failure.consecutive_misses, 1);
  EXPECT_EQ(d.silent_failure.window, std::nullopt);  // auto
  EXPECT_EQ(d.silent_failure.window_max, seconds(30));
  EXPECT_TRUE(d.evidence.command.empty());  // evidence capture off
  EXPECT_EQ(d.evidence.directory, "");
  EXPECT_EQ(d.evidence.timeout, seconds(30));
  EXPECT_EQ(d.evidence.min_interval, std::chrono::minutes(10));
  EXPECT_FALSE(d.auto_restart.enabled);
  EXPECT_EQ(d.auto_restart.after, 3);
  EXPECT_EQ(d.auto_restart.max_per_hour, 2);
  // Everything equal to a default-constructed connector but the required keys.
  config::Connector want;
  want.name = "defaults-cdc";
  want.source = "defaults";
  want.kafka = "local";
  want.topic_prefix = "dflt";
  EXPECT_EQ(d, want);
}

// connect_clusters is optional when connectors are configured (AWS MSK
// Connect has no REST API to poll).
TEST(ConfigGoodPipeline, ConnectorsWithoutConnectClusters) {
  FixtureEnv env;
  const config::Config cfg = LoadConfigString(
      "sources:\n"
      "  - name: db\n"
      "    host: db.internal\n"
      "    user: monitor\n"
      "    password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "kafka_clusters:\n"
      "  - name: msk\n"
      "    bootstrap_servers: b-1.msk:9098\n"
      "connectors:\n"
      "  - name: orders\n"
      "    source: db\n"
      "    kafka: msk\n"
      "    topic_prefix: orders\n",
      "inline.yaml");
  EXPECT_TRUE(cfg.connect_clusters.empty());
  ASSERT_EQ(cfg.connectors.size(), 1u);
  EXPECT_EQ(cfg.connectors[0].connect_cluster, "");
}

// Durations at the ends of their ranges are accepted.
TEST(ConfigGoodPipeline, DurationBounds) {
  FixtureEnv env;
  const config::Config cfg = LoadConfigString(
      "sources:\n"
      "  - name: db\n"
      "    host: db.internal\n"
      "    user: monitor\n"
      "    password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "    interval: 1s\n"
      "    timeout: 100ms\n"
      "  - name: db2\n"
      "    host: db.internal\n"
      "    user: monitor\n"
      "    password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "    interval: 24h\n"
      "    timeout: 24h\n"
      "kafka_clusters:\n"
      "  - name: k\n"
      "    bootstrap_servers: kafka:9092\n"
      "connectors:\n"
      "  - name: a\n"
      "    source: db\n"
      "    kafka: k\n"
      "    topic_prefix: a\n"
      "    marker: {interval: 1s, timeout: 1s}\n"
      "    heartbeat: {max_age: 1s}\n"
      "    evidence: {command: [x], directory: d, timeout: 1s,"
      " min_interval: 0s}\n"
      "    silent_failure: {consecutive_misses: 1, window: auto}\n"
      "    auto_restart: {after: 1, max_per_hour: 1}\n"
      "  - name: b\n"
      "    source: db2\n"
      "    kafka: k\n"
      "    topic_prefix: b\n"
      "    marker: {interval: 24h, timeout: 24h}\n"
      "    heartbeat: {max_age: 24h}\n"
      "    evidence: {command: [x], directory: d, timeout: 24h,"
      " min_interval: 24h}\n"
      "    silent_failure: {consecutive_misses: 100}\n"
      "    auto_restart: {after: 1000, max_per_hour: 60}\n",
      "inline.yaml");
  ASSERT_EQ(cfg.connectors.size(), 2u);
  EXPECT_EQ(cfg.sources[0].timeout, milliseconds(100));
  EXPECT_EQ(cfg.sources[1].interval, std::chrono::hours(24));
  EXPECT_EQ(cfg.connectors[0].evidence.min_interval, milliseconds(0));
  EXPECT_EQ(cfg.connectors[1].marker.interval, std::chrono::hours(24));
  EXPECT_EQ(cfg.connectors[1].silent_failure.consecutive_misses, 100);
  EXPECT_EQ(cfg.connectors[1].auto_restart.after, 1000);
  EXPECT_EQ(cfg.connectors[1].auto_restart.max_per_hour, 60);
}

// As Prometheus' scrape_timeout: a timeout left out follows an interval
// shorter than its default (the bad fixtures show a written-out one longer
// than the interval is still an error), and a longer interval keeps the
// default.
TEST(ConfigGoodPipeline, ShortIntervalShortensTheDefaultTimeout) {
  FixtureEnv env;
  const config::Config cfg = LoadConfigString(
      "connect_clusters:\n"
      "  - name: short\n"
      "    url: http://h\n"
      "    interval: 2s\n"
      "  - name: long\n"
      "    url: http://h2\n"
      "    interval: 1m\n"
      "sources:\n"
      "  - name: db\n"
      "    host: db.internal\n"
      "    user: monitor\n"
      "    password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "    interval: 3s\n"
      "kafka_clusters:\n"
      "  - name: k\n"
      "    bootstrap_servers: kafka:9092\n"
      "    interval: 1s\n",
      "inline.yaml");
  ASSERT_EQ(cfg.connect_clusters.size(), 2u);
  EXPECT_EQ(cfg.connect_clusters[0].timeout, seconds(2));
  EXPECT_EQ(cfg.connect_clusters[1].timeout, seconds(5));
  ASSERT_EQ(cfg.sources.size(), 1u);
  EXPECT_EQ(cfg.sources[0].timeout, seconds(3));
  ASSERT_EQ(cfg.kafka_clusters.size(), 1u);
  EXPECT_EQ(cfg.kafka_clusters[0].timeout, seconds(1));
}

// A failure after a Kafka secret was read must not show it.
TEST(ConfigSecrets, KafkaSecretNotInErrorMessages) {
  FixtureEnv env;
  const std::string file = kTestdata + "/good/inline.yaml";
  const std::string got = LoadStringError(
      "kafka_clusters:\n"
      "  - name: k\n"
      "    bootstrap_servers: kafka:9092\n"
      "    secret_properties_files:\n"
      "      sasl.password: ../secrets/kafka-sasl-password\n"
      "    offsets_topic: connect offsets\n",
      file);
  EXPECT_EQ(got, file +
                     ":6:20: kafka_clusters[0].offsets_topic: may contain only "
                     "letters, digits, '-', '_' and '.' (as Kafka topic "
                     "names)");
  EXPECT_EQ(got.find(kKafkaSecret), std::string::npos) << got;
}

// -------------------------------------------------------------- bad configs

std::vector<std::string> BadFixtures() {
  std::vector<std::string> names;
  for (const auto& e :
       std::filesystem::directory_iterator(kTestdata + "/bad")) {
    names.push_back(e.path().filename().string());
  }
  // By number, so that 100- comes after 99-.
  const auto number = [](const std::string& name) {
    std::size_t digits = 0;
    while (digits < name.size() &&
           std::isdigit(static_cast<unsigned char>(name[digits]))) {
      ++digits;
    }
    return std::make_pair(
        digits == 0 ? SIZE_MAX : std::stoul(name.substr(0, digits)), name);
  };
  std::sort(names.begin(), names.end(),
            [&](const std::string& a, const std::string& b) {
              return number(a) < number(b);
            });
  return names;
}

class ConfigBad : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigBad, FailsWithTheExpectedMessage) {
  FixtureEnv env;
  const std::string path = kTestdata + "/bad/" + GetParam();
  ASSERT_EQ(path.substr(path.size() - 5), ".yaml");

  std::ifstream in(path);
  std::string first;
  ASSERT_TRUE(std::getline(in, first)) << path;
  const std::string prefix = "# want: FILE:";
  ASSERT_EQ(first.rfind(prefix, 0), 0u)
      << path << ": the first line must be \"" << prefix << "...\"";
  const std::string want = path + first.substr(prefix.size() - 1);

  const std::string got = LoadError(path);
  EXPECT_EQ(got, want);
  for (const char* secret :
       {kFilePassword, kEnvPassword, "s3cr3t", "hunter2"}) {
    EXPECT_EQ(got.find(secret), std::string::npos)
        << "the message shows a secret: " << got;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConfigBad,
                         ::testing::ValuesIn(BadFixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name =
                               info.param.substr(0, info.param.rfind('.'));
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return name;
                         });

TEST(ConfigBadFixtures, AreNumberedAndPresent) {
  const auto names = BadFixtures();
  ASSERT_GE(names.size(), 50u);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string nn =
        (i + 1 < 10 ? "0" : "") + std::to_string(i + 1) + "-";
    EXPECT_EQ(names[i].rfind(nn, 0), 0u)
        << names[i] << " should start with " << nn;
  }
}

TEST(ConfigFile, MissingFile) {
  EXPECT_EQ(LoadError("/nonexistent/cdc-sentinel.yaml"),
            "/nonexistent/cdc-sentinel.yaml: cannot read config file: No such "
            "file or directory");
}

// A failure after the passwords were read must not show them.
TEST(ConfigSecrets, NotInErrorMessages) {
  FixtureEnv env;
  const std::string file = kTestdata + "/good/inline.yaml";
  const std::string got = LoadStringError(
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: http://h\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_file: ../secrets/connect-password\n"
      "  - name: b\n"
      "    url: http://h\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "    tls: {}\n",
      file);
  EXPECT_EQ(got, file +
                     ":12:5: connect_clusters[1].tls: is set but url is not "
                     "https");
  EXPECT_EQ(got.find(kFilePassword), std::string::npos) << got;
  EXPECT_EQ(got.find(kEnvPassword), std::string::npos) << got;
}

// A config, a password file or a property file that is not a regular file
// (a FIFO, /dev/zero, /dev/stdin) is refused at once instead of blocking or
// being read forever; an empty regular password file is refused too.
TEST(ConfigFile, OnlyRegularFilesAreRead) {
  EXPECT_EQ(LoadError("/dev/zero"),
            "/dev/zero: cannot read config file: not a regular file");
  const std::string fifo =
      testing::TempDir() + "/cdc-config-fifo-" + std::to_string(getpid());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(LoadError(fifo),
            fifo + ": cannot read config file: not a regular file");
  const std::string text =
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: http://h\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_file: " +
      fifo + "\n";
  EXPECT_EQ(LoadStringError(text, "f.yaml"),
            "f.yaml:6:22: connect_clusters[0].basic_auth.password_file: cannot "
            "read file " +
                fifo + ": not a regular file");
  unlink(fifo.c_str());
  const std::string file = kTestdata + "/good/x.yaml";
  EXPECT_EQ(LoadStringError("connect_clusters:\n"
                            "  - name: a\n"
                            "    url: http://h\n"
                            "    basic_auth:\n"
                            "      username: sentinel\n"
                            "      password_file: ../secrets/empty\n",
                            file),
            file +
                ":6:22: connect_clusters[0].basic_auth.password_file: file " +
                kTestdata + "/good/../secrets/empty is empty");
}

// yaml-cpp 0.7's YAML::LoadAll never returns on a document that starts with a
// stray ',' (found by config_fuzzer); the loader must answer with an error.
TEST(ConfigFile, StrayCommaIsAnErrorNotAHang) {
  EXPECT_EQ(
      LoadStringError(",a:\n", "f.yaml").rfind("f.yaml:1:1: invalid YAML", 0),
      0u)
      << LoadStringError(",a:\n", "f.yaml");
  EXPECT_EQ(LoadStringError(",", "f.yaml").rfind("f.yaml:1:1: invalid YAML", 0),
            0u)
      << LoadStringError(",", "f.yaml");
}

// Relative paths are taken from the config's folder, not the working one.
TEST(ConfigFile, RelativePathsFromTheConfigFolder) {
  const std::string text =
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: https://h\n"
      "    tls:\n"
      "      ca_file: tls/ca.pem\n";
  const auto cfg = LoadConfigString(text, kTestdata + "/x.yaml");
  EXPECT_EQ(cfg.connect_clusters.at(0).tls->ca_file, kTestdata + "/tls/ca.pem");
  EXPECT_EQ(LoadStringError(text, kTestdata + "/good/x.yaml"),
            kTestdata +
                "/good/x.yaml:5:16: connect_clusters[0].tls.ca_file: cannot "
                "read file " +
                kTestdata + "/good/tls/ca.pem: No such file or directory");
}

// ---------------------------------------------------------------- durations

TEST(Duration, Parses) {
  const struct {
    const char* text;
    milliseconds want;
  } cases[] = {
      {"500ms", milliseconds(500)},
      {"15s", seconds(15)},
      {"2m", std::chrono::minutes(2)},
      {"1h30m", std::chrono::minutes(90)},
      {"1m30s", seconds(90)},
      {"1s500ms", milliseconds(1500)},
      {"0", milliseconds(0)},
      {"0s", milliseconds(0)},
      {"1d", std::chrono::hours(24)},
      {"1w", std::chrono::hours(24 * 7)},
      {"1y", std::chrono::hours(24 * 365)},
      {"9223372036854775807ms", milliseconds::max()},
  };
  for (const auto& c : cases) {
    const auto got = ParseDuration(c.text);
    ASSERT_TRUE(got.has_value()) << c.text;
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(Duration, Rejects) {
  for (const char* text : {
           "",
           "15",
           "s",
           "ms",
           "1.5s",
           "1s1m",  // units out of order
           "1ms1s",
           "1m1m",  // repeated unit
           "-1s",
           "+1s",
           " 1s",
           "1s ",
           "1S",
           "1sec",
           "1 s",
           "00",
           "0x10s",
           "9223372036854775808ms",    // number overflows
           "9223372036854775807s",     // number times unit overflows
           "1s9223372036854775807ms",  // sum overflows
       }) {
    EXPECT_FALSE(ParseDuration(text).has_value()) << '"' << text << '"';
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(seconds(15)), "15s");
  EXPECT_EQ(FormatDuration(std::chrono::minutes(2)), "2m");
  EXPECT_EQ(FormatDuration(std::chrono::minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(std::chrono::hours(24)), "24h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1s500ms");
}

TEST(Duration, FormatThenParseRoundTrips) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1000LL, 61001LL, 3600000LL, 3723004LL,
                     86400000LL * 400}) {
    const auto back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.has_value()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

// --------------------------------------------------------------------- URLs

TEST(HttpUrl, Parses) {
  std::string why;
  auto u = config::ParseHttpUrl("http://connect:8083", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "connect");
  EXPECT_EQ(u->port, 8083);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(u->SchemeHostPort(), "http://connect:8083");

  u = config::ParseHttpUrl("http://h", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, 80);

  u = config::ParseHttpUrl("https://h.example.com/", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->base_path, "");

  u = config::ParseHttpUrl("https://gw.example.com:8443/a/connect//", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "gw.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->base_path, "/a/connect");
  EXPECT_EQ(u->SchemeHostPort(), "https://gw.example.com:8443");

  u = config::ParseHttpUrl("https://[fe80::1]:65535/x", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->port, 65535);
  EXPECT_EQ(u->SchemeHostPort(), "https://[fe80::1]:65535");

  u = config::ParseHttpUrl("http://[::1]", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 80);
}

TEST(HttpUrl, Rejects) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"connect:8083", "must be an http or https URL"},
      {"ftp://h", "must be an http or https URL"},
      {"HTTP://h", "must be an http or https URL"},
      {"", "must be an http or https URL"},
      {"http://h/?a=b", "must not contain a query or fragment"},
      {"http://h/#top", "must not contain a query or fragment"},
      {"http://u:p@h", "must not contain credentials; use basic_auth"},
      {"http://", "has no host"},
      {"http://:80", "has no host"},
      {"http:///x", "has no host"},
      {"http://[]:80", "has no host"},
      {"http://h:0", "has an invalid port"},
      {"http://h:65536", "has an invalid port"},
      {"http://h:99999999999", "has an invalid port"},
      {"http://h:", "has an invalid port"},
      {"http://h:8o", "has an invalid port"},
      {"http://h:-1", "has an invalid port"},
      {"http://[::1", "has an unterminated IPv6 address"},
      {"http://[::1]x", "has garbage after the IPv6 address"},
      {"http://[::1]:", "has an invalid port"},
      {"http://::1:80", "has an invalid host (put IPv6 addresses in [])"},
      {"http://h!st", "has an invalid host"},
      {"http://[::g/]", "has an unterminated IPv6 address"},
      {"http://[::1 ]", "must not contain spaces or control characters"},
      {"http://h /x", "must not contain spaces or control characters"},
      {"http://h/a\tb", "must not contain spaces or control characters"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(config::ParseHttpUrl(c.text, &why).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
}

// -------------------------------------------------------------------- flags

struct FlagsResult {
  bool ok;
  Flags flags;
  std::string error;
};

FlagsResult Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "cdc-sentinel");
  FlagsResult r;
  r.ok = ParseFlags(static_cast<int>(args.size()), args.data(), &r.flags,
                    &r.error);
  return r;
}

TEST(Flags, Defaults) {
  const auto r = Parse({"--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.flags.config_file, "c.yaml");
  EXPECT_EQ(r.flags.listen_address, ":9877");
  EXPECT_EQ(r.flags.log_level, LogLevel::kInfo);
  EXPECT_EQ(r.flags.log_format, LogFormat::kLogfmt);
  EXPECT_FALSE(r.flags.config_check);
  EXPECT_FALSE(r.flags.version);
  EXPECT_FALSE(r.flags.help);
}

TEST(Flags, EqualsAndSpaceFormsAgree) {
  const auto eq = Parse({"--config.file=c.yaml", "--web.listen-address=:1",
                         "--log.level=debug", "--log.format=json"});
  const auto sp = Parse({"--config.file", "c.yaml", "--web.listen-address",
                         ":1", "--log.level", "debug", "--log.format", "json"});
  for (const auto* r : {&eq, &sp}) {
    ASSERT_TRUE(r->ok) << r->error;
    EXPECT_EQ(r->flags.config_file, "c.yaml");
    EXPECT_EQ(r->flags.listen_address, ":1");
    EXPECT_EQ(r->flags.log_level, LogLevel::kDebug);
    EXPECT_EQ(r->flags.log_format, LogFormat::kJson);
  }
}

TEST(Flags, Booleans) {
  auto r = Parse({"--config.file=c.yaml", "--config.check"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.config_check);
  // A boolean flag does not take the next argument as its value.
  EXPECT_EQ(r.flags.config_file, "c.yaml");

  r = Parse({"--config.check=true", "--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.config_check);

  r = Parse({"--config.check=false", "--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.flags.config_check);

  r = Parse({"--config.check=yes", "--config.file=c.yaml"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "flag --config.check takes no value or true/false");
}

TEST(Flags, VersionAndHelpNeedNoConfigFile) {
  auto r = Parse({"--version"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.version);
  r = Parse({"-h"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.help);
  r = Parse({"--help"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.help);
}

TEST(Flags, Errors) {
  const struct {
    std::vector<const char*> args;
    const char* error;
  } cases[] = {
      {{}, "flag --config.file is required"},
      {{"--config.check"}, "flag --config.file is required"},
      {{"--config.file=c.yaml", "--nope"}, "unknown flag --nope"},
      {{"--config.file=c.yaml", "--nope=1"}, "unknown flag --nope"},
      {{"--config.file=c.yaml", "-v"}, "unexpected argument \"-v\""},
      {{"c.yaml"}, "unexpected argument \"c.yaml\""},
      {{"--config.file"}, "flag --config.file needs a value"},
      {{"--config.file=c.yaml", "--log.level"},
       "flag --log.level needs a value"},
      {{"--config.file="}, "flag --config.file must not be empty"},
      {{"--config.file=c.yaml", "--log.level=loud"},
       "flag --log.level: \"loud\" is not one of debug, info, warn, error"},
      {{"--config.file=c.yaml", "--log.level", "warning"},
       "flag --log.level: \"warning\" is not one of debug, info, warn, error"},
      {{"--config.file=c.yaml", "--log.format=text"},
       "flag --log.format: \"text\" is not one of logfmt, json"},
      {{"--config.file=c.yaml", "--web.listen-address=9877"},
       "flag --web.listen-address: \"9877\" is not HOST:PORT"},
      {{"--config.file=c.yaml", "--web.listen-address", "h:x"},
       "flag --web.listen-address: \"h:x\" has an invalid port"},
  };
  for (const auto& c : cases) {
    const auto r = Parse(c.args);
    EXPECT_FALSE(r.ok) << c.error;
    EXPECT_EQ(r.error, c.error);
  }
}

TEST(Flags, SplitListenAddress) {
  const struct {
    const char* addr;
    const char* host;
    int port;
  } good[] = {
      {":9877", "0.0.0.0", 9877},      {"127.0.0.1:80", "127.0.0.1", 80},
      {"localhost:0", "localhost", 0}, {"[::1]:9090", "::1", 9090},
      {"[::]:65535", "::", 65535},
  };
  for (const auto& c : good) {
    std::string host, error;
    int port = -1;
    ASSERT_TRUE(SplitListenAddress(c.addr, &host, &port, &error))
        << c.addr << ": " << error;
    EXPECT_EQ(host, c.host) << c.addr;
    EXPECT_EQ(port, c.port) << c.addr;
  }
  const struct {
    const char* addr;
    const char* error;
  } bad[] = {
      {"9877", "\"9877\" is not HOST:PORT"},
      {"", "\"\" is not HOST:PORT"},
      {"h:", "\"h:\" has an invalid port"},
      {"h:abc", "\"h:abc\" has an invalid port"},
      {"h:80x", "\"h:80x\" has an invalid port"},
      {"h:65536", "\"h:65536\" has an invalid port"},
      {"h:-1", "\"h:-1\" has an invalid port"},
  };
  for (const auto& c : bad) {
    std::string host, error;
    int port = -1;
    EXPECT_FALSE(SplitListenAddress(c.addr, &host, &port, &error)) << c.addr;
    EXPECT_EQ(error, c.error);
  }
}

// -------------------------------------------------------------------- shard

TEST(Shard, ParsesIndexOfCount) {
  config::Shard s;
  std::string why;
  ASSERT_TRUE(config::ParseShard("2/3", &s, &why)) << why;
  EXPECT_EQ(s, (config::Shard{2, 3}));
  EXPECT_EQ(s.ToString(), "2/3");
  ASSERT_TRUE(config::ParseShard("0/1", &s, &why)) << why;
  EXPECT_EQ(s, (config::Shard{0, 1}));
  const struct {
    const char* text;
    const char* why;
  } bad[] = {
      {"3/3", "INDEX must be between 0 and COUNT-1 = 2"},
      {"-1/3", "INDEX must be between 0 and COUNT-1 = 2"},
      {"0/0", "COUNT must be between 1 and 1024 (got 0)"},
      {"0/1025", "COUNT must be between 1 and 1024 (got 1025)"},
      {"1", "must be INDEX/COUNT, e.g. 0/3 (got \"1\")"},
      {"a/3", "must be INDEX/COUNT"},
      {"1/3x", "must be INDEX/COUNT"},
      {"/3", "must be INDEX/COUNT"},
      {"", "must be INDEX/COUNT"},
  };
  for (const auto& b : bad) {
    why.clear();
    EXPECT_FALSE(config::ParseShard(b.text, &s, &why)) << b.text;
    EXPECT_NE(why.find(b.why), std::string::npos) << b.text << ": " << why;
  }
}

TEST(Shard, FlagSetsIt) {
  auto r = Parse({"--config.file=c.yaml", "--shard=1/4"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.flags.shard, (config::Shard{1, 4}));
  EXPECT_EQ(Parse({"--config.file=c.yaml"}).flags.shard, (config::Shard{0, 1}));
  r = Parse({"--config.file=c.yaml", "--shard=4/4"});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("--shard"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("pod ordinals start at 0"), std::string::npos)
      << r.error;
}

// Replicas agree only if the hash is the same everywhere and forever: a
// change would move sources between running replicas. Pinned to FNV-1a 64.
TEST(Shard, HashIsPinned) {
  EXPECT_EQ(config::StableHash(""), 14695981039346656037ull);
  EXPECT_EQ(config::StableHash("a"), 12638187200555641996ull);
  EXPECT_EQ(config::StableHash("sandbox-mariadb"), 7190141925243785981ull);
  EXPECT_EQ(config::ShardOf("anything", 1), 0);
}

// 40 sources with 2 connectors each, on 3 Connect clusters and 2 Kafka
// clusters: for every COUNT, the shards together keep every connector
// exactly once, a source's connectors stay together, each shard keeps only
// the clusters its connectors use, and no shard is left nearly empty.
TEST(Shard, EveryConnectorExactlyOnceWithItsCohort) {
  config::Config cfg;
  for (int k = 0; k < 2; ++k) {
    cfg.kafka_clusters.push_back({});
    cfg.kafka_clusters.back().name = "kafka-" + std::to_string(k);
  }
  for (int c = 0; c < 3; ++c) {
    cfg.connect_clusters.push_back({});
    cfg.connect_clusters.back().name = "connect-" + std::to_string(c);
  }
  for (int i = 0; i < 40; ++i) {
    config::Source s;
    s.name = "source-" + std::to_string(i);
    cfg.sources.push_back(s);
    for (int j = 0; j < 2; ++j) {
      config::Connector c;
      c.name = s.name + "-cdc-" + std::to_string(j);
      c.source = s.name;
      c.connect_cluster =
          i % 7 == 0 ? "" : "connect-" + std::to_string((i + j) % 3);
      c.kafka = "kafka-" + std::to_string(i % 2);
      cfg.connectors.push_back(c);
    }
  }
  const config::Config whole = config::KeepShard(cfg, {0, 1});
  EXPECT_EQ(whole.connectors.size(), 80u);
  EXPECT_EQ(whole.sources.size(), 40u);

  for (int count = 2; count <= 5; ++count) {
    std::map<std::string, int> seen;
    for (int index = 0; index < count; ++index) {
      config::ShardSplit split;
      const config::Config part =
          config::KeepShard(cfg, {index, count}, &split);
      std::set<std::string> sources, connect, kafka;
      for (const auto& s : part.sources) sources.insert(s.name);
      for (const auto& c : part.connectors) {
        ++seen[c.name];
        EXPECT_TRUE(sources.count(c.source)) << c.name;
        EXPECT_EQ(config::ShardOf(c.source, count), index) << c.name;
        if (!c.connect_cluster.empty()) connect.insert(c.connect_cluster);
        kafka.insert(c.kafka);
      }
      std::set<std::string> kept_connect, kept_kafka;
      for (const auto& c : part.connect_clusters) kept_connect.insert(c.name);
      for (const auto& k : part.kafka_clusters) kept_kafka.insert(k.name);
      EXPECT_EQ(kept_connect, connect) << index << "/" << count;
      EXPECT_EQ(kept_kafka, kafka) << index << "/" << count;
      EXPECT_EQ(split.kept_connectors.size(), part.connectors.size());
      EXPECT_EQ(split.kept_sources.size() + split.dropped_sources.size(), 40u);
      EXPECT_EQ(split.dropped_connectors + part.connectors.size(), 80u);
      // 40 sources: an even split is 40/COUNT; none below a third of it.
      EXPECT_GE(part.sources.size() * 3 * count, 40u)
          << index << "/" << count << " keeps " << part.sources.size();
    }
    EXPECT_EQ(seen.size(), 80u) << count;
    for (const auto& [name, n] : seen) EXPECT_EQ(n, 1) << name << " " << count;

    // The REST series of every connector of a Connect cluster, configured
    // or not, come from exactly one replica: the one that watches it, or
    // for one nobody watches, the one its name hashes to.
    std::vector<std::string> listed;
    for (const auto& c : cfg.connectors) {
      if (c.connect_cluster == "connect-1") listed.push_back(c.name);
    }
    for (int i = 0; i < 20; ++i)
      listed.push_back("unwatched-" + std::to_string(i));
    for (const auto& name : listed) {
      int reporters = 0;
      for (int index = 0; index < count; ++index) {
        const config::Config part = config::KeepShard(cfg, {index, count});
        for (const auto& cc : part.connect_clusters) {
          if (cc.name == "connect-1" && cc.ReportsRestSeriesOf(name)) {
            ++reporters;
            for (const auto& c : part.connectors) {
              if (c.name == name) {
                EXPECT_TRUE(cc.shard.here.count(name)) << name;
              }
            }
          }
        }
      }
      EXPECT_EQ(reporters, 1) << name << " in " << count << " shards";
    }
  }
}

}  // namespace
}  // namespace cdc
