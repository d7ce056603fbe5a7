#pragma once

// Discovery: the Debezium MySQL connectors a Kafka Connect cluster runs,
// turned into monitored connectors without a connectors[] entry. Pure
// functions over plain values: thread-safe.
//
// A connector listed by the REST API (GET /connectors?expand=info) is
// monitored when
//   - its class is io.debezium.connector.mysql.MySqlConnector,
//   - its name passes discover.include / discover.exclude,
//   - no connectors[] entry has its name (an explicit entry wins),
//   - its database.hostname:database.port is a configured source's
//     host:port or one of its aliases,
//   - the source's canary table is captured (table.include.list,
//     database.include.list and their exclude lists, as Debezium reads them),
//   - it has a topic.prefix (database.server.name before Debezium 2.0), and
//     a Kafka cluster is known for it (connect_clusters[].kafka_cluster, or
//     the only kafka_clusters entry).
// Every connector that is not monitored gets a result and a reason.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace cdc::config {

// One connector as the REST API lists it, with the config keys discovery
// reads (kDiscoveryKeys; the others are not kept).
struct ListedConnector {
  std::string name;
  std::string connector_class;
  std::map<std::string, std::string> config;
  bool operator==(const ListedConnector&) const = default;
};

// The connector config keys discovery reads.
bool IsDiscoveryKey(std::string_view key);

inline constexpr std::string_view kDebeziumMySqlClass =
    "io.debezium.connector.mysql.MySqlConnector";

// Why a listed connector is, or is not, monitored: the `result` label of
// cdc_discovered_connectors.
enum class DiscoveryResult {
  kMonitored,          // discovered and monitored
  kConfigured,         // a connectors[] entry has its name: that one is used
  kExcluded,           // discover.include/exclude leave it out
  kNotMySql,           // another connector class (a sink, another database)
  kNoSource,           // its database is not a configured source
  kCanaryNotCaptured,  // the canary table is outside its include lists
  kIncomplete,         // no topic.prefix, or no Kafka cluster for it
  kDuplicatePrefix,    // another monitored connector has its topic prefix
                       // (or, on another Connect cluster, its name)
  kOtherShard,         // its source belongs to another --shard replica
};
std::string_view DiscoveryResultName(DiscoveryResult r);
inline constexpr DiscoveryResult kAllDiscoveryResults[] = {
    DiscoveryResult::kMonitored,  DiscoveryResult::kConfigured,
    DiscoveryResult::kExcluded,   DiscoveryResult::kNotMySql,
    DiscoveryResult::kNoSource,   DiscoveryResult::kCanaryNotCaptured,
    DiscoveryResult::kIncomplete, DiscoveryResult::kDuplicatePrefix,
    DiscoveryResult::kOtherShard};

struct DiscoveryFinding {
  std::string connector;
  DiscoveryResult result = DiscoveryResult::kMonitored;
  // What decided, for the log: "database.hostname:database.port
  // db.example.com:3306 is not the host:port or an alias of any source".
  std::string reason;
  bool operator==(const DiscoveryFinding&) const = default;
};

struct DiscoveryOutcome {
  std::vector<Connector> connectors;       // kMonitored ones, sorted by name
  std::vector<DiscoveryFinding> findings;  // one per listed connector
};

// What `cluster`'s listing adds to `cfg` (the file's configuration, before
// --shard). `cluster` must be one of cfg.connect_clusters. Nothing (no
// finding either) when its discovery is off or cfg has no source.
DiscoveryOutcome Discover(const Config& cfg, const ConnectCluster& cluster,
                          const std::vector<ListedConnector>& listed);

// `cfg` with the monitored connectors of every outcome appended (cluster
// name -> outcome; clusters with discovery off contribute nothing). A
// connector whose name or Kafka topic prefix an earlier one (explicit, or
// of an earlier cluster) already has is left out, and its finding says so.
Config WithDiscovered(const Config& cfg,
                      std::map<std::string, DiscoveryOutcome>* outcomes);

// "host:port" -> (host, port); "[::1]:3306" for IPv6. nullopt if malformed.
std::optional<std::pair<std::string, int>> ParseHostPort(std::string_view s);

// Debezium's table filter for one table: whether `db`.`table` is captured
// under these settings (include/exclude lists of regular expressions,
// matched case-insensitively against the whole name). `why` says which
// list leaves it out.
bool CapturesTable(const std::map<std::string, std::string>& config,
                   const std::string& db, const std::string& table,
                   std::string* why);

}  // namespace cdc::config
