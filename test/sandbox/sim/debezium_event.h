#pragma once

// Debezium MySQL 2.7 change events and heartbeats, serialised the way Kafka's
// JsonConverter writes them (with or without the {"schema","payload"}
// wrapper). Default Debezium modes: decimal.handling.mode=precise,
// time.precision.mode=adaptive_time_microseconds,
// bigint.unsigned.handling.mode=long, binary.handling.mode=bytes.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mysql_session.h"
#include "row_decoder.h"
#include "sim_config.h"

namespace cdc::sim {

inline constexpr const char* kDebeziumVersion = "2.7.3.Final";

struct KafkaRecord {
  std::string topic;
  std::optional<std::string> key;    // nullopt = null key
  std::optional<std::string> value;  // nullopt = tombstone
  std::vector<std::pair<std::string, std::string>> headers;
};

// The binlog coordinates of one row, for the envelope's "source" block.
struct SourceInfo {
  int64_t ts_ms = 0;  // binlog event time
  std::string db;
  std::string table;
  uint32_t server_id = 0;
  std::string gtid;  // "" = null
  std::string file;
  uint64_t pos = 0;
  int row = 0;
  std::optional<uint32_t> thread;
};

// Builds the records of one connector. Immutable: thread-safe.
class EventBuilder {
 public:
  explicit EventBuilder(const DebeziumSettings& settings);

  std::string TopicFor(const std::string& db, const std::string& table) const {
    return prefix_ + "." + db + "." + table;
  }

  // The records for one row change: "c", "u" or "d" (a delete is followed by
  // a tombstone; an update that changes the primary key becomes delete,
  // tombstone and create, as Debezium does). `now_us` is the processing time.
  std::vector<KafkaRecord> Change(const TableSchema& schema,
                                  const RowChange& change,
                                  const SourceInfo& source,
                                  int64_t now_us) const;

  KafkaRecord Heartbeat(int64_t now_ms) const;

 private:
  nlohmann::ordered_json KeyPayload(const TableSchema& schema,
                                    const Row& row) const;
  nlohmann::ordered_json KeySchema(const TableSchema& schema) const;
  nlohmann::ordered_json ValueSchema(const TableSchema& schema) const;
  std::optional<std::string> SerializeKey(const TableSchema& schema,
                                          const Row& row) const;
  std::string Envelope(const TableSchema& schema, const Row* before,
                       const Row* after, const SourceInfo& source, char op,
                       int64_t now_us) const;

  std::string prefix_;
  std::string heartbeat_topic_;
  bool key_schemas_;
  bool value_schemas_;
  bool tombstones_;
};

// One cell as Debezium represents it (payload only).
nlohmann::ordered_json CellToJson(const Cell& cell, const ColumnInfo& column);
// The Connect schema of one column, as JsonConverter writes it.
nlohmann::ordered_json ColumnSchema(const ColumnInfo& column);

std::string Base64(std::string_view bytes);
// The unscaled value of a decimal text ("-12.50" -> -1250) as Java's
// BigInteger.toByteArray() writes it (minimal two's complement, big-endian).
std::string DecimalUnscaledBytes(const std::string& text);
// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int y, int m, int d);

// Compact JSON as Kafka's JsonConverter writes it; invalid UTF-8 replaced.
std::string Dump(const nlohmann::ordered_json& j);

}  // namespace cdc::sim
