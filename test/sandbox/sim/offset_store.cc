#include "offset_store.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "cdc/common/kafka_handles.h"

namespace cdc::sim {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
bool ReadUnsigned(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;  // optional
  if (!it->is_number_integer()) return false;
  *out = it->get<T>();
  return true;
}

}  // namespace

nlohmann::ordered_json SourceOffset::ToJson() const {
  // Key order as Debezium's MySqlOffsetContext writes it; "event" and "row"
  // only when non-zero.
  Json j;
  j["ts_sec"] = ts_sec;
  j["file"] = file;
  j["pos"] = pos;
  if (!gtids.empty()) j["gtids"] = gtids;
  if (row != 0) j["row"] = row;
  j["server_id"] = server_id;
  if (event != 0) j["event"] = event;
  return j;
}

std::optional<SourceOffset> SourceOffset::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  SourceOffset o;
  auto file = j.find("file");
  if (file == j.end() || !file->is_string()) return std::nullopt;
  o.file = file->get<std::string>();
  if (!ReadUnsigned(j, "pos", &o.pos) || !ReadUnsigned(j, "row", &o.row) ||
      !ReadUnsigned(j, "event", &o.event) ||
      !ReadUnsigned(j, "server_id", &o.server_id) ||
      !ReadUnsigned(j, "ts_sec", &o.ts_sec)) {
    return std::nullopt;
  }
  auto gtids = j.find("gtids");
  if (gtids != j.end() && gtids->is_string())
    o.gtids = gtids->get<std::string>();
  return o;
}

std::string SourceOffset::ToString() const {
  std::string s = file + ":" + std::to_string(pos);
  if (event != 0 || row != 0) {
    s += " (skip " + std::to_string(event) + " events, " + std::to_string(row) +
         " rows)";
  }
  if (!gtids.empty()) s += " gtids=" + gtids;
  return s;
}

OffsetStore::OffsetStore(KafkaProducer& producer, std::string bootstrap_servers,
                         std::string topic, cdc::Logger& log)
    : producer_(producer),
      bootstrap_(std::move(bootstrap_servers)),
      topic_(std::move(topic)),
      log_(log) {}

std::string OffsetStore::Key(const std::string& connector,
                             const std::string& server) {
  Json j = Json::array();
  j.push_back(connector);
  Json partition;
  partition["server"] = server;
  j.push_back(std::move(partition));
  return Dump(j);
}

std::optional<SourceOffset> OffsetStore::Get(const std::string& connector,
                                             const std::string& server) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = offsets_.find(Key(connector, server));
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

bool OffsetStore::Write(const std::string& connector, const std::string& server,
                        const SourceOffset& offset) {
  KafkaRecord r;
  r.topic = topic_;
  r.key = Key(connector, server);
  r.value = Dump(offset.ToJson());
  if (!producer_.Produce(r, [] { return true; })) return false;
  std::lock_guard<std::mutex> lock(mu_);
  offsets_[*r.key] = offset;
  return true;
}

bool OffsetStore::Load(std::chrono::milliseconds timeout, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(
               deadline - std::chrono::steady_clock::now())
               .count()));
  };
  char err[512];
  KafkaConf conf(rd_kafka_conf_new());
  const std::pair<const char*, const char*> settings[] = {
      {"bootstrap.servers", bootstrap_.c_str()},
      {"group.id", "cdc-sim-offset-reader"},
      {"client.id", "cdc-sim-offset-reader"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"}};
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf.get(), k, v, err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      *error = std::string("offset reader config ") + k + ": " + err;
      return false;
    }
  }
  RouteKafkaLogs(conf.get(), &log_);
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) {
    *error = std::string("offset reader: ") + err;
    return false;
  }
  conf.release();
  rd_kafka_poll_set_consumer(rk.get());

  const rd_kafka_metadata_t* md_raw = nullptr;
  KafkaTopic rkt(rd_kafka_topic_new(rk.get(), topic_.c_str(), nullptr));
  const auto md_err =
      rd_kafka_metadata(rk.get(), 0, rkt.get(), &md_raw, left_ms());
  KafkaMetadata md(md_raw);
  if (md_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    *error = std::string("offsets topic metadata: ") + rd_kafka_err2str(md_err);
    return false;
  }
  if (md->topic_cnt != 1 ||
      md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
      md->topics[0].partition_cnt == 0) {
    log_.Info("offsets topic does not exist yet; starting without offsets",
              {{"topic", topic_}});
    rd_kafka_consumer_close(rk.get());
    return true;
  }
  struct Part {
    int32_t id;
    int64_t high;
    bool done;
  };
  std::vector<Part> parts;
  KafkaTopicPartitionList assignment(
      rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt));
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    const int32_t p = md->topics[0].partitions[i].id;
    int64_t low = 0;
    int64_t high = 0;
    const auto werr = rd_kafka_query_watermark_offsets(
        rk.get(), topic_.c_str(), p, &low, &high, left_ms());
    if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      *error =
          "offsets topic watermarks: " + std::string(rd_kafka_err2str(werr));
      rd_kafka_consumer_close(rk.get());
      return false;
    }
    if (high > low) {
      parts.push_back({p, high, false});
      rd_kafka_topic_partition_list_add(assignment.get(), topic_.c_str(), p)
          ->offset = low;
    }
  }
  size_t records = 0;
  if (!parts.empty()) {
    rd_kafka_assign(rk.get(), assignment.get());
    size_t remaining = parts.size();
    while (remaining > 0) {
      if (left_ms() == 0) {
        *error = "timed out reading the offsets topic";
        rd_kafka_consumer_close(rk.get());
        return false;
      }
      KafkaMessage msg(rd_kafka_consumer_poll(rk.get(), 200));
      if (!msg) continue;
      Part* part = nullptr;
      for (auto& p : parts) {
        if (p.id == msg->partition) part = &p;
      }
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (part != nullptr && !part->done) {
          part->done = true;
          --remaining;
        }
        continue;
      }
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_.Warn("offsets topic read error",
                  {{"error", rd_kafka_message_errstr(msg.get())}});
        continue;
      }
      ++records;
      if (msg->key != nullptr) {
        const std::string key_text(static_cast<const char*>(msg->key),
                                   msg->key_len);
        auto key = nlohmann::json::parse(key_text, nullptr, false);
        if (key.is_array() && key.size() == 2 && key[0].is_string() &&
            key[1].is_object() && key[1].contains("server") &&
            key[1]["server"].is_string()) {
          const auto k = Key(key[0].get<std::string>(),
                             key[1]["server"].get<std::string>());
          std::lock_guard<std::mutex> lock(mu_);
          if (msg->payload == nullptr) {
            offsets_.erase(k);  // tombstone: offsets reset
          } else {
            auto value = nlohmann::json::parse(
                std::string(static_cast<const char*>(msg->payload), msg->len),
                nullptr, false);
            if (auto o = SourceOffset::FromJson(value)) offsets_[k] = *o;
          }
        }
      }
      if (part != nullptr && !part->done && msg->offset + 1 >= part->high) {
        part->done = true;
        --remaining;
      }
    }
  }
  rd_kafka_consumer_close(rk.get());
  std::lock_guard<std::mutex> lock(mu_);
  log_.Info("read source offsets",
            {{"topic", topic_},
             {"records", std::to_string(records)},
             {"connectors", std::to_string(offsets_.size())}});
  return true;
}

}  // namespace cdc::sim
