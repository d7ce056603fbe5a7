#pragma once

// Configuration of cdc-sim: the YAML file given with --config, and the
// Debezium MySQL settings read from each connector's Kafka Connect config.

#include <chrono>
#include <cstdint>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdc::sim {

// A configuration the simulator cannot run with. The message names the file
// location or connector and key, e.g. `connectors[1].sim.on_reset: must be
// "reconnect" or "fail"`.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OnReset { kReconnect, kFail };

// Clearly labelled fault injection: the reader stops consuming for a while.
struct ChaosSpec {
  double stall_probability_per_minute = 0.0;
  std::chrono::milliseconds stall_duration{30000};
  bool enabled() const { return stall_probability_per_minute > 0.0; }
};

// One connector as configured. Immutable after loading.
struct ConnectorSpec {
  std::string name;
  // The Kafka Connect connector config in file order; always holds "name".
  std::vector<std::pair<std::string, std::string>> config;
  std::string tls_version;    // "" = let the client library choose
  std::string password_file;  // overrides database.password when set
  OnReset on_reset = OnReset::kReconnect;
  bool rest_only = false;  // appears in REST only: no threads, no stream
  ChaosSpec chaos;
  // Throughput cap of the streaming task (binlog events per second; a rows
  // event counts one per row of a captured table); 0 = unlimited. Settable
  // at runtime: PUT /__sim/connectors/{n}/throttle?events_per_second=N.
  uint64_t max_events_per_second = 0;
  int task_count = 1;  // REST-only connectors may show several tasks

  // The value of a config key, or nullptr.
  const std::string* Get(std::string_view key) const;
};

struct SimConfig {
  std::string port_file;
  std::string rest_host = "127.0.0.1";
  int rest_port = 0;
  std::string worker_id = "127.0.0.1:8083";
  std::string bootstrap_servers;
  // kafka.source_address: the producer's connections to the brokers are
  // bound to this loopback address (e.g. 127.0.0.2), so that the sandbox can
  // cut the connectors' Kafka traffic alone. "" = not bound.
  std::string kafka_source_address;
  std::string offsets_topic = "connect-offsets";
  std::chrono::milliseconds offset_flush_interval{60000};  // Connect's default
  std::string log_file;                                    // "" = stderr
  std::string log_level = "info";
  std::vector<ConnectorSpec> connectors;
};

// The highest throughput cap accepted (config and REST).
inline constexpr long long kMaxEventsPerSecond = 10000000;

// A connector created over REST (POST /connectors, PUT
// /connectors/{name}/config): `config` is its Connect config in request
// order. Keys "sim.<key>" set what the YAML's `sim:` section sets
// (sim.tls_version, sim.password_file, sim.max_events_per_second,
// sim.on_reset, sim.rest_only, sim.tasks, sim.chaos.stall_seconds, ...) and
// are left out of the config REST shows. A "name" key must equal `name`.
// Throws ConfigError naming the key. The Debezium settings are not checked
// here (ParseDebeziumSettings).
ConnectorSpec ConnectorSpecFromConnect(
    const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& config);

// Parses and validates; throws ConfigError.
SimConfig ParseSimConfig(const std::string& yaml_text);
SimConfig LoadSimConfig(const std::string& path);

// What a Debezium MySQL connector (2.x) would read from its config, for the
// keys the simulator implements. Immutable after parsing.
struct DebeziumSettings {
  std::string hostname;
  int port = 3306;
  std::string user;
  std::string password;
  uint32_t server_id = 0;
  std::string topic_prefix;
  std::string table_include_list;         // as configured, for logs
  std::vector<std::regex> table_include;  // empty = every non-system table
  std::vector<std::regex> database_include;
  std::chrono::milliseconds heartbeat_interval{0};
  std::string heartbeat_action_query;
  std::string heartbeat_topic_prefix = "__debezium-heartbeat";
  std::string ssl_mode = "preferred";
  std::string ssl_ca;  // database.ssl.truststore, a PEM CA file here
  bool key_schemas_enable = true;  // JsonConverter's default
  bool value_schemas_enable = true;
  bool tombstones_on_delete = true;
  std::chrono::milliseconds connect_timeout{30000};
  std::string snapshot_mode = "initial";

  // Debezium's table filter: system databases never, then the include lists
  // (regular expressions matched against the whole "db" / "db.table").
  bool IncludesTable(const std::string& db, const std::string& table) const;
  std::string HeartbeatTopic() const {
    return heartbeat_topic_prefix + "." + topic_prefix;
  }
};

// Reads the connector's settings (and its password file); throws ConfigError
// naming the connector and key.
DebeziumSettings ParseDebeziumSettings(const ConnectorSpec& spec);

// Splits a comma-separated list, trimming blanks around items.
std::vector<std::string> SplitList(std::string_view text);

}  // namespace cdc::sim
