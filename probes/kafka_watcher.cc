#include "probes/kafka_watcher.h"

#include <nlohmann/json.hpp>

#include "cdc/common/duration.h"
#include "cdc/common/thread_name.h"

namespace cdc {
namespace {

constexpr std::size_t kMaxParsedValue = 1 << 20;  // heartbeats/offsets are tiny

double NowSeconds() {
  return std::chrono::duration<double>(WallClock::now().time_since_epoch())
      .count();
}

void Set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v,
         const std::string& where) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error(where + ": librdkafka property " + k + ": " + err);
  }
}

const char* KindName(KafkaInterest::Kind k) {
  switch (k) {
    case KafkaInterest::Kind::kMarker:
      return "marker";
    case KafkaInterest::Kind::kHeartbeat:
      return "heartbeat";
    case KafkaInterest::Kind::kOffsets:
      return "offsets";
  }
  return "?";
}

}  // namespace

std::optional<double> ParseHeartbeatSeconds(std::string_view value,
                                            double now_seconds) {
  if (value.empty() || value.size() > kMaxParsedValue) return std::nullopt;
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const nlohmann::json* p = &j;
  if (auto it = j.find("payload"); it != j.end() && it->is_object()) p = &*it;
  auto ts = p->find("ts_ms");
  if (ts == p->end() || !ts->is_number()) return std::nullopt;
  const double s = ts->get<double>() / 1000.0;
  // Before 2001 or more than a day ahead: a broken clock or not a heartbeat.
  if (s < 978307200.0 || s > now_seconds + 86400) return std::nullopt;
  return s;
}

bool ParseOffsetRecord(std::string_view key, std::string_view value,
                       std::string* connector, PipelineState::Offset* offset) {
  if (key.empty() || key.size() > kMaxParsedValue || value.empty() ||
      value.size() > kMaxParsedValue) {
    return false;
  }
  auto k = nlohmann::json::parse(key, nullptr, false);
  if (!k.is_array() || k.size() != 2 || !k[0].is_string()) return false;
  auto v = nlohmann::json::parse(value, nullptr, false);
  if (!v.is_object()) return false;
  auto file = v.find("file");
  auto pos = v.find("pos");
  if (file == v.end() || !file->is_string() || pos == v.end() ||
      !pos->is_number_unsigned()) {
    return false;
  }
  *connector = k[0].get<std::string>();
  offset->file = file->get<std::string>();
  offset->pos = pos->get<uint64_t>();
  offset->ts_sec = 0;
  if (auto ts = v.find("ts_sec"); ts != v.end() && ts->is_number()) {
    offset->ts_sec = ts->get<double>();
  }
  return true;
}

KafkaWatcher::KafkaWatcher(const config::KafkaCluster& cluster,
                           PipelineState& state, Logger& log)
    : cluster_(cluster), state_(state), log_(log) {
  const std::string where = "kafka_clusters " + cluster.name;
  KafkaConf conf(rd_kafka_conf_new());
  Set(conf.get(), "bootstrap.servers", cluster.bootstrap_servers, where);
  // Never joined: partitions are assigned by hand and nothing is committed.
  Set(conf.get(), "group.id", "cdc-sentinel-unused", where);
  Set(conf.get(), "enable.auto.commit", "false", where);
  Set(conf.get(), "enable.auto.offset.store", "false", where);
  Set(conf.get(), "enable.partition.eof", "false", where);
  Set(conf.get(), "client.id", "cdc-sentinel", where);
  // A fetch returns as soon as a record arrives; this only bounds how often
  // an idle fetch is repeated (100 ms cost 4x the CPU at 200 connectors:
  // bench/RESULTS.md, P1).
  Set(conf.get(), "fetch.wait.max.ms", "500", where);
  Set(conf.get(), "fetch.error.backoff.ms", "200", where);
  Set(conf.get(), "queued.max.messages.kbytes", "8192", where);
  Set(conf.get(), "reconnect.backoff.max.ms", "2000", where);
  for (const auto& [k, v] : cluster.properties) Set(conf.get(), k, v, where);
  for (const auto& [k, s] : cluster.secret_properties) {
    Set(conf.get(), k, s.value, where);
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaWatcher::LogCallback);
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk_) throw std::runtime_error(where + ": " + err);
  conf.release();  // owned by rk_ now
  rd_kafka_poll_set_consumer(rk_.get());
  poller_ = std::thread(&KafkaWatcher::PollLoop, this);
}

KafkaWatcher::~KafkaWatcher() {
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  rd_kafka_consumer_close(rk_.get());
}

void KafkaWatcher::LogCallback(const rd_kafka_t* rk, int level, const char* fac,
                               const char* buf) {
  auto* self = static_cast<KafkaWatcher*>(rd_kafka_opaque(rk));
  if (self == nullptr) return;
  const LogLevel l = level <= 3   ? LogLevel::kError
                     : level == 4 ? LogLevel::kWarn
                                  : LogLevel::kDebug;
  self->log_.Log(
      l, "librdkafka",
      {{"kafka", self->cluster_.name}, {"facility", fac}, {"detail", buf}});
}

void KafkaWatcher::SetInterests(std::vector<KafkaInterest> interests) {
  std::lock_guard<std::mutex> lock(mu_);
  std::multimap<std::string, KafkaInterest> next;
  std::map<std::string, std::set<std::string>> offsets_readers;
  for (auto& i : interests) {
    if (i.kind == KafkaInterest::Kind::kOffsets) {
      offsets_readers[i.topic].insert(i.connector);
    }
    next.emplace(i.topic, std::move(i));
  }
  // Partitions of topics no longer watched are released.
  KafkaTopicPartitionList gone(rd_kafka_topic_partition_list_new(0));
  for (auto it = assigned_.begin(); it != assigned_.end();) {
    if (next.count(it->first) == 0) {
      rd_kafka_topic_partition_list_add(gone.get(), it->first.c_str(),
                                        it->second);
      it = assigned_.erase(it);
    } else {
      ++it;
    }
  }
  if (gone->cnt > 0) {
    if (rd_kafka_error_t* e =
            rd_kafka_incremental_unassign(rk_.get(), gone.get())) {
      log_.Warn("cannot release Kafka partitions",
                {{"kafka", cluster_.name}, {"err", rd_kafka_error_string(e)}});
      rd_kafka_error_destroy(e);
    }
  }
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    it = next.count(it->first) ? std::next(it) : partitions_.erase(it);
  }
  by_topic_ = std::move(next);
  offsets_readers_ = std::move(offsets_readers);
}

ProbeOutcome KafkaWatcher::Refresh(std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(
      rk_.get(), /*all_topics=*/1, nullptr, &raw,
      static_cast<int>(std::max<int64_t>(100, timeout.count() - 200)));
  KafkaMetadata md(raw);
  std::lock_guard<std::mutex> lock(mu_);
  refreshed_ = true;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    up_ = false;
    state_.SetKafkaUp(cluster_.name, false);
    return ProbeOutcome::Fail("metadata request to " +
                              cluster_.bootstrap_servers +
                              " failed: " + rd_kafka_err2str(err));
  }
  up_ = true;
  state_.SetKafkaUp(cluster_.name, true);
  KafkaTopicPartitionList add(rd_kafka_topic_partition_list_new(0));
  std::map<std::string, int> present;
  for (int t = 0; t < md->topic_cnt; ++t) {
    const auto& topic = md->topics[t];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    present[topic.topic] = topic.partition_cnt;
  }
  for (auto it = by_topic_.begin(); it != by_topic_.end();
       it = by_topic_.upper_bound(it->first)) {
    const std::string& topic = it->first;
    auto p = present.find(topic);
    partitions_[topic] = p == present.end() ? 0 : p->second;
    if (p == present.end()) continue;
    // Existing when we started: from the end (markers) or the last record
    // (heartbeats). Appeared since: from the beginning.
    const bool new_topic = refreshed_once_ && seen_topics_.count(topic) == 0;
    seen_topics_.insert(topic);
    int64_t start = RD_KAFKA_OFFSET_BEGINNING;
    if (!new_topic) {
      switch (it->second.kind) {
        case KafkaInterest::Kind::kMarker:
          start = RD_KAFKA_OFFSET_END;
          break;
        case KafkaInterest::Kind::kHeartbeat:
          start = RD_KAFKA_OFFSET_TAIL(1);
          break;
        case KafkaInterest::Kind::kOffsets:
          start = RD_KAFKA_OFFSET_BEGINNING;
          break;
      }
    }
    for (int part = 0; part < p->second; ++part) {
      if (assigned_.insert({topic, part}).second) {
        rd_kafka_topic_partition_list_add(add.get(), topic.c_str(), part)
            ->offset = start;
      }
    }
  }
  refreshed_once_ = true;
  if (add->cnt > 0) {
    if (rd_kafka_error_t* e =
            rd_kafka_incremental_assign(rk_.get(), add.get())) {
      const std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      for (int i = 0; i < add->cnt; ++i) {
        assigned_.erase({add->elems[i].topic, add->elems[i].partition});
      }
      return ProbeOutcome::Fail("cannot assign partitions: " + why);
    }
    log_.Debug("assigned Kafka partitions",
               {{"kafka", cluster_.name}, {"count", std::to_string(add->cnt)}});
  }
  return ProbeOutcome::Ok();
}

void KafkaWatcher::PollLoop() {
  NameThisThread("cdc-kafka-poll");
  while (!stop_) {
    KafkaMessage msg(rd_kafka_consumer_poll(rk_.get(), 100));
    const auto now = WallClock::now();
    if (msg) {
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Handle(*msg);
      } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log_.Debug("Kafka consumer error",
                   {{"kafka", cluster_.name},
                    {"err", rd_kafka_message_errstr(msg.get())}});
      }
    }
    // Judge overdue markers promptly, whatever the traffic.
    state_.Expire(now);
  }
}

void KafkaWatcher::Handle(const rd_kafka_message_t& msg) {
  const std::string topic = rd_kafka_topic_name(msg.rkt);
  const std::string_view value(static_cast<const char*>(msg.payload),
                               msg.payload ? msg.len : 0);
  const std::string_view key(static_cast<const char*>(msg.key),
                             msg.key ? msg.key_len : 0);
  const auto now = WallClock::now();
  // Marker and heartbeat interests are copied (one or two per topic); the
  // offsets topic has one interest per connector, so its records are parsed
  // first and their connector looked up instead.
  std::vector<KafkaInterest> interests;
  bool offsets_topic = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++records_;
    offsets_topic = offsets_readers_.count(topic) != 0;
    auto range = by_topic_.equal_range(topic);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second.kind != KafkaInterest::Kind::kOffsets) {
        interests.push_back(it->second);
      }
    }
  }
  if (offsets_topic) {
    std::string connector;
    PipelineState::Offset offset;
    if (ParseOffsetRecord(key, value, &connector, &offset)) {
      bool wanted;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = offsets_readers_.find(topic);
        wanted = it != offsets_readers_.end() && it->second.count(connector);
      }
      if (wanted) state_.OnCommittedOffset(connector, offset, now);
    }
  }
  for (const auto& i : interests) {
    switch (i.kind) {
      case KafkaInterest::Kind::kMarker:
        if (state_.AwaitingMarker(i.connector)) {
          state_.OnMarkerRecord(i.connector, value, now);
          state_.OnMarkerRecord(i.connector, key, now);
        }
        break;
      case KafkaInterest::Kind::kHeartbeat:
        state_.OnHeartbeat(i.connector,
                           ParseHeartbeatSeconds(value, NowSeconds()), now);
        break;
      case KafkaInterest::Kind::kOffsets:
        break;  // handled above
    }
  }
}

void KafkaWatcher::Collect(MetricSink& sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!refreshed_) return;
  sink.Gauge("cdc_kafka_up",
             "1 if the last metadata request to the Kafka cluster succeeded.",
             {{"kafka", cluster_.name}}, up_ ? 1 : 0);
  sink.Counter("cdc_kafka_records_consumed_total",
               "Records read from the watched topics of the Kafka cluster.",
               {{"kafka", cluster_.name}}, static_cast<double>(records_));
  for (const auto& [topic, n] : partitions_) {
    auto it = by_topic_.find(topic);
    sink.Gauge(
        "cdc_kafka_topic_partitions",
        "Partitions of a watched topic (0: the topic does not exist; "
        "for a marker topic, is the canary table in the connector's "
        "table.include.list?).",
        {{"kafka", cluster_.name},
         {"topic", topic},
         {"kind", it == by_topic_.end() ? "" : KindName(it->second.kind)}},
        n);
  }
}

std::string KafkaProbe::Fingerprint() const {
  const auto& c = watcher_->cluster();
  std::string f = c.name + "|" + c.bootstrap_servers + "|" + c.offsets_topic +
                  "|" + std::to_string(interval_.count()) + "|" +
                  std::to_string(timeout_.count());
  for (const auto& [k, v] : c.properties) f += "|" + k + "=" + v;
  for (const auto& [k, s] : c.secret_properties) f += "|" + k + "=" + s.value;
  return f;
}

}  // namespace cdc
