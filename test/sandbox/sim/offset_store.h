#pragma once

// Source offsets kept the way Kafka Connect keeps them: in the worker's
// offsets topic, key ["<connector>",{"server":"<topic.prefix>"}], value the
// Debezium MySQL offset map. Read back at start (all partitions, up to the
// high watermarks; the last record per key wins).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cdc/common/log.h"
#include "kafka_producer.h"

namespace cdc::sim {

// Debezium MySQL's source offset. "pos" is where a restart begins reading
// (the start of the current transaction while inside one); "event" binlog
// row events and then "row" rows are skipped from there. Thread-compatible.
struct SourceOffset {
  std::string file;
  uint64_t pos = 0;
  std::string gtids;  // "" = unknown
  int64_t ts_sec = 0;
  uint64_t event = 0;
  uint64_t row = 0;
  uint32_t server_id = 0;

  nlohmann::ordered_json ToJson() const;
  static std::optional<SourceOffset> FromJson(const nlohmann::json& j);
  bool SamePosition(const SourceOffset& o) const {
    return file == o.file && pos == o.pos && event == o.event && row == o.row &&
           gtids == o.gtids;
  }
  std::string ToString() const;  // for logs
};

// Thread-safe.
class OffsetStore {
 public:
  OffsetStore(KafkaProducer& producer, std::string bootstrap_servers,
              std::string topic, cdc::Logger& log);
  OffsetStore(const OffsetStore&) = delete;
  OffsetStore& operator=(const OffsetStore&) = delete;

  // Reads the offsets topic to its end. A missing topic is not an error.
  bool Load(std::chrono::milliseconds timeout, std::string* error);

  std::optional<SourceOffset> Get(const std::string& connector,
                                  const std::string& server) const;

  // Queues an offset record (the caller flushes the producer) and remembers
  // it as the stored offset.
  bool Write(const std::string& connector, const std::string& server,
             const SourceOffset& offset);

  static std::string Key(const std::string& connector,
                         const std::string& server);
  const std::string& topic() const { return topic_; }

 private:
  KafkaProducer& producer_;
  const std::string bootstrap_;
  const std::string topic_;
  cdc::Logger& log_;
  mutable std::mutex mu_;
  std::map<std::string, SourceOffset> offsets_;  // by Key()
};

}  // namespace cdc::sim
