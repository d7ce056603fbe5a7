#pragma once

// The configuration model of cdc-sentinel. Plain values: copyable, not
// synchronised; the exporter swaps whole Config objects on reload.

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config/url.h"

namespace cdc::config {

using Duration = std::chrono::milliseconds;

// A password, read from a file or an environment variable when the config is
// loaded. `source` says where it came from ("file /run/secrets/x", "env
// CONNECT_PW") for messages; the value itself is never logged.
struct Secret {
  std::string value;
  std::string source;
  bool operator==(const Secret&) const = default;
};

struct BasicAuth {
  std::string username;
  Secret password;
  bool operator==(const BasicAuth&) const = default;
};

// TLS settings of an outgoing HTTPS connection.
struct ClientTls {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate (mutual TLS), with key_file
  std::string key_file;
  bool insecure_skip_verify = false;
  bool operator==(const ClientTls&) const = default;
};

struct MarkerSettings {
  bool enabled = true;
  Duration interval{std::chrono::seconds(10)};
  Duration timeout{std::chrono::seconds(30)};
  bool operator==(const MarkerSettings&) const = default;
};

struct HeartbeatSettings {
  bool enabled = true;
  Duration max_age{std::chrono::seconds(60)};
  std::string topic;  // default __debezium-heartbeat.<topic_prefix>
  bool operator==(const HeartbeatSettings&) const = default;
};

struct SilentFailureSettings {
  // Marker writes in a row that must go unanswered (no output from the
  // connector after them) before it is judged stalled.
  int consecutive_misses = 1;
  // How long a connector may produce nothing after a marker write before it
  // is stalled: nullopt is "auto" (learned from its own response times,
  // between the floor and window_max), else fixed.
  std::optional<Duration> window;
  Duration window_max{std::chrono::seconds(30)};
  bool operator==(const SilentFailureSettings&) const = default;
};

struct EvidenceSettings {
  std::vector<std::string> command;  // argv; empty: evidence capture is off
  std::string directory;
  Duration timeout{std::chrono::seconds(30)};
  Duration min_interval{std::chrono::minutes(10)};
  bool operator==(const EvidenceSettings&) const = default;
};

struct AutoRestartSettings {
  bool enabled = false;
  int after = 3;  // consecutive silent-failure verdicts
  int max_per_hour = 2;
  bool operator==(const AutoRestartSettings&) const = default;
};

// The settings of one connector's probes and actions (connectors[] entries
// and connect_clusters[].discover.defaults).
struct ConnectorSettings {
  MarkerSettings marker;
  HeartbeatSettings heartbeat;
  SilentFailureSettings silent_failure;
  EvidenceSettings evidence;
  AutoRestartSettings auto_restart;
  bool operator==(const ConnectorSettings&) const = default;
};

// connect_clusters[].discover: which connectors listed by the REST API are
// monitored without a connectors[] entry (config/discovery.h).
struct Discovery {
  bool enabled = true;
  // Connector name patterns (shell globs: '*', '?', '[...]'): a connector is
  // discovered if it matches an include (or include is empty) and no
  // exclude.
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  // The probe settings of discovered connectors (heartbeat.topic and
  // max_age follow each connector's own heartbeat settings, see
  // docs/configuration.md).
  ConnectorSettings defaults;
  bool operator==(const Discovery&) const = default;
};

struct ConnectCluster {
  std::string name;
  std::string url_text;
  HttpUrl url;
  Duration interval{std::chrono::seconds(15)};
  Duration timeout{std::chrono::seconds(5)};
  std::optional<BasicAuth> basic_auth;
  std::optional<ClientTls> tls;
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  // The Kafka cluster its connectors write to ("" : not set; connectors name
  // theirs, or the only kafka_clusters entry is used).
  std::string kafka_cluster;
  // Its workers' offset.storage.topic ("" : the Kafka cluster's
  // offsets_topic, the deprecated place).
  std::string offsets_topic;
  Discovery discover;
  // With --shard (config/shard.h, set by KeepShard): which connectors' REST
  // series this replica reports, so that each connector's appear on exactly
  // one replica: those configured here, and of the rest (not configured
  // anywhere) those whose name hashes to this replica.
  struct ShardView {
    int index = 0;
    int count = 1;
    std::set<std::string> here, elsewhere;  // configured on this cluster
    bool operator==(const ShardView&) const = default;
  } shard;
  bool ReportsRestSeriesOf(const std::string& connector) const;
  bool operator==(const ConnectCluster&) const = default;
};

// A MySQL/MariaDB server the connectors read (Aurora, RDS, self-hosted).
struct SourceTls {
  // disabled | required | verify_ca | verify_identity (as MySQL's ssl-mode).
  std::string mode = "required";
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool operator==(const SourceTls&) const = default;
};

struct Canary {
  std::string database = "cdc_canary";
  std::string table = "markers";
  bool create = true;  // CREATE DATABASE/TABLE IF NOT EXISTS at first use
  bool operator==(const Canary&) const = default;
};

struct Source {
  std::string name;
  std::string host;
  int port = 3306;
  std::string user;
  Secret password;
  SourceTls tls;
  Canary canary;
  // Other addresses that reach the same server, "host:port" (Aurora's
  // cluster, writer and custom endpoints, a proxy): a connector whose
  // database.hostname:database.port is one of them is discovered on this
  // source.
  std::vector<std::string> aliases;
  // How often the server-side probes (binlog session, offset lag) run.
  Duration interval{std::chrono::seconds(15)};
  Duration timeout{std::chrono::seconds(5)};
  bool operator==(const Source&) const = default;
};

struct KafkaCluster {
  std::string name;
  std::string bootstrap_servers;
  // librdkafka properties, passed through (security.protocol, sasl.*, ...).
  std::vector<std::pair<std::string, std::string>> properties;
  // librdkafka properties whose values are secrets, read from files.
  std::vector<std::pair<std::string, Secret>> secret_properties;
  // Kafka Connect's offset storage topic (offset.storage.topic), for the
  // offset-lag probe when the REST API has no /offsets (before Kafka 3.6)
  // or there is no REST API (MSK Connect).
  std::string offsets_topic = "connect-offsets";
  // Watched topics per Kafka consumer: more topics get more consumers. The
  // CPU of one consumer grows faster than its topics (librdkafka 2.0 handles
  // every assigned partition in every fetch response, and finds its topic by
  // name among all of them), so a bounded share per consumer keeps the cost
  // linear in the fleet (bench/RESULTS.md, P1). Each consumer adds a
  // librdkafka instance: its threads and a connection per broker.
  int topics_per_consumer = 250;
  // How often the "kafka" probe checks the cluster (a metadata request, which
  // also finds new topics and partitions to read), and its deadline.
  Duration interval{std::chrono::seconds(5)};
  Duration timeout{std::chrono::seconds(4)};
  bool operator==(const KafkaCluster&) const = default;
  // Equal in everything the consumer is made of (all but interval and
  // timeout): a reload that changes only those keeps the consumer.
  bool SameConsumer(const KafkaCluster& o) const {
    return name == o.name && bootstrap_servers == o.bootstrap_servers &&
           properties == o.properties &&
           secret_properties == o.secret_properties &&
           offsets_topic == o.offsets_topic &&
           topics_per_consumer == o.topics_per_consumer;
  }
};

struct Connector {
  std::string name;             // the Kafka Connect connector name
  std::string connect_cluster;  // "" for MSK Connect (no REST API)
  std::string source;
  std::string kafka;
  std::string topic_prefix;          // Debezium topic.prefix
  std::string binlog_user;           // "" : no binlog-session view
  std::string tls_version = "auto";  // auto | 1.2 | 1.3
  MarkerSettings marker;
  HeartbeatSettings heartbeat;
  SilentFailureSettings silent_failure;
  EvidenceSettings evidence;
  AutoRestartSettings auto_restart;
  // Found by discovery (config/discovery.h), not written in connectors[].
  bool discovered = false;
  bool operator==(const Connector&) const = default;

  void ApplySettings(const ConnectorSettings& s) {
    marker = s.marker;
    heartbeat = s.heartbeat;
    silent_failure = s.silent_failure;
    evidence = s.evidence;
    auto_restart = s.auto_restart;
  }

  std::string MarkerTopic(const Canary& c) const {
    return topic_prefix + "." + c.database + "." + c.table;
  }
  std::string HeartbeatTopic() const {
    return heartbeat.topic.empty() ? "__debezium-heartbeat." + topic_prefix
                                   : heartbeat.topic;
  }
};

struct Global {
  // Threads that run probes. A probe that hangs holds one until its own
  // I/O timeouts release it; the others keep running on the rest.
  int probe_workers = 4;
  bool operator==(const Global&) const = default;
};

struct Config {
  std::string file;  // where it was loaded from, for messages
  Global global;
  std::vector<ConnectCluster> connect_clusters;
  std::vector<Source> sources;
  std::vector<KafkaCluster> kafka_clusters;
  std::vector<Connector> connectors;
  // Things that load but should change, "FILE:LINE:COL: PATH: what to do"
  // (deprecated keys); logged at every load.
  std::vector<std::string> warnings;

  const Source* FindSource(const std::string& name) const;
  const KafkaCluster* FindKafka(const std::string& name) const;
  const ConnectCluster* FindConnectCluster(const std::string& name) const;
  // The Kafka Connect offsets topic of a connector's workers: its Connect
  // cluster's offsets_topic, else its Kafka cluster's.
  std::string OffsetsTopicOf(const Connector& c) const;
};

// A configuration error. what() is the full message a user sees:
// "config.yaml:12:5: connect_clusters[0].url: must be an http or https URL".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads and validates a config file. Throws ConfigError.
Config LoadConfigFile(const std::string& path);

// Same, from text; `file` is only used in messages.
Config LoadConfigString(const std::string& text, const std::string& file);

}  // namespace cdc::config
