#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/connect_client.h"
#include "probes/mysql_session.h"
#include "probes/observations.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"

namespace cdc {

// The offset-lag probe for the connectors of one source: compares each
// connector's committed binlog position with the source's current position.
// The committed position comes from the Connect REST API (GET
// /connectors/{name}/offsets, Kafka 3.6+) where there is one and it
// answers, else from the connect-offsets topic (read by the KafkaWatcher).
// The server position comes from SHOW MASTER STATUS (MariaDB, MySQL <= 8.3)
// or SHOW BINARY LOG STATUS (MySQL 8.2+), file sizes from SHOW BINARY LOGS.
// Thread-safe (see Probe).
class OffsetLagProbe final : public Probe {
 public:
  OffsetLagProbe(const config::Source& source,
                 const std::vector<config::Connector>& connectors,
                 const config::Config& config, ObservationStore& store,
                 Logger& log);

  std::string_view Kind() const override { return "offset_lag"; }
  const std::string& Target() const override { return source_.name; }
  std::chrono::milliseconds Interval() const override {
    return source_.interval;
  }
  std::chrono::milliseconds Timeout() const override { return source_.timeout; }
  bool SameAs(const Probe& other) const override;
  ProbeOutcome Run(const ProbeContext& ctx) override;
  void Cancel() override;
  void Collect(MetricSink&) const override {}

 private:
  struct Item {
    std::string connector;
    std::string cluster;  // "" : no REST API
    bool operator==(const Item&) const = default;
  };
  // The connector's offset from GET /connectors/{name}/offsets, or nullopt.
  // A cluster whose request fails is put in `failed_clusters` and not asked
  // again this round.
  std::optional<BinlogPosition> RestOffset(
      const Item& item, std::chrono::steady_clock::time_point deadline,
      std::set<std::string>& failed_clusters);

  const config::Source source_;
  std::vector<Item> items_;
  std::map<std::string, config::ConnectCluster> clusters_;  // by name
  ObservationStore& store_;
  Logger& log_;
  MysqlSession session_;
  std::map<std::string, std::unique_ptr<connect::ConnectClient>> clients_;
  // Only touched by Run():
  bool binary_log_status_syntax_ = false;
  std::map<std::string, bool> rest_offsets_unsupported_;  // by cluster
};

// Binlog files as SHOW BINARY LOGS lists them: (name, size), oldest first.
using BinlogFiles = std::vector<std::pair<std::string, uint64_t>>;

// Bytes from (file, pos) to (server_file, server_pos); nullopt when `file`
// is not among `logs` (purged, or another server's binlog).
std::optional<double> BinlogLagBytes(const BinlogFiles& logs,
                                     const std::string& server_file,
                                     uint64_t server_pos,
                                     const std::string& file, uint64_t pos);

// Parses the body of GET /connectors/{name}/offsets of a Debezium MySQL
// connector: {"offsets":[{"partition":{...},"offset":{"file","pos",...}}]}.
std::optional<BinlogPosition> ParseRestOffsets(const std::string& body);

// Parses a Kafka Connect offset record of a Debezium MySQL connector. Key
// ["<connector>",{"server":"<prefix>"}]; value {"file","pos","ts_sec",...}.
// Returns false if it is not one.
bool ParseOffsetRecord(std::string_view key, std::string_view value,
                       std::string* connector, BinlogPosition* offset);

// Writes a committed position of `connector` into the offset part of the
// store; the change timestamp moves only when the position does.
void RecordCommittedOffset(ObservationStore& store,
                           const std::string& connector,
                           const BinlogPosition& offset,
                           WallClock::time_point now);

// The "offset_lag" kind: one OffsetLagProbe per source with connectors, and
// the Connect offsets topic of each Kafka cluster read for their committed
// positions; exports cdc_source_offset_* and cdc_source_binlog_lag_bytes.
std::unique_ptr<ProbeKind> MakeOffsetLagKind(const KindEnv& env);

}  // namespace cdc
