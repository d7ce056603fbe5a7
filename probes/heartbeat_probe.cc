#include "probes/heartbeat_probe.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cdc/common/clock.h"
#include "cdc/common/duration.h"
#include "probes/verdict.h"

namespace cdc {
namespace {

constexpr std::size_t kMaxParsedValue = 1 << 20;  // heartbeats are tiny

class HeartbeatKind final : public ProbeKind {
 public:
  explicit HeartbeatKind(const KindEnv& env) : env_(env) {}
  std::string_view Name() const override { return "heartbeat"; }

  void Build(const config::Config& cfg, KindParts& parts) override {
    for (const auto& c : cfg.connectors) {
      if (!c.heartbeat.enabled) continue;
      parts.subscriptions.push_back(
          {c.kafka, c.HeartbeatTopic(), KafkaSubscription::Start::kLastRecord,
           "heartbeat",
           [&store = env_.store, name = c.name](const KafkaRecord& r) {
             RecordHeartbeat(
                 store, name,
                 ParseHeartbeatSeconds(r.value, UnixSeconds(WallClock::now())),
                 r.received, r.produced);
           }});
      KafkaSubscription& sub = parts.subscriptions.back();
      // Its own topic for the verdict only without markers (markers decide
      // otherwise, and a heartbeat topic of replication factor 1 on a dead
      // broker must not blind a connector whose markers flow).
      if (!c.marker.enabled) sub.connector = c.name;
      // Every heartbeat has the connector's server name as its key, so they
      // all go to one partition: the only one read once a fresh heartbeat
      // was seen there (KafkaWatcher). Read all again once the last one
      // received is older than half of max_age (before it is stale).
      sub.locate_key = "heartbeat";
      sub.locates = [](const KafkaRecord& r) { return !r.key.empty(); };
      sub.overdue = [&store = env_.store, name = c.name,
                     half = ToSeconds(c.heartbeat.max_age) / 2] {
        bool late = false;
        store.Read(name, [&](const ObservationStore::Entry& e) {
          // As the verdict counts it: since it was received.
          const double got = e.obs.heartbeat.last_received;
          late = got > 0 && UnixSeconds(WallClock::now()) - got > half;
        });
        return late;
      };
    }
  }

  void Collect(MetricSink& sink, WallClock::time_point now) override {
    env_.store.ForEach([&](const std::string& name,
                           const ObservationStore::Entry& e) {
      const HeartbeatObservation& h = e.obs.heartbeat;
      if (!e.config.heartbeat.enabled || h.records == 0) return;
      const MetricLabels l = ConnectorLabels(name, e);
      if (h.last_ts > 0) {
        sink.Gauge("cdc_heartbeat_last_timestamp_seconds",
                   "ts_ms of the newest Debezium heartbeat record, in seconds.",
                   l, h.last_ts);
      }
      sink.Gauge("cdc_heartbeat_last_received_timestamp_seconds",
                 "When cdc-sentinel last received a heartbeat record.", l,
                 h.last_received);
      sink.Gauge("cdc_heartbeat_stale",
                 "1 if no heartbeat arrived for longer than heartbeat.max_age.",
                 l, HeartbeatStale(e.config, h, now) ? 1 : 0);
    });
  }

 private:
  KindEnv env_;
};

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

void RecordHeartbeat(ObservationStore& store, const std::string& connector,
                     std::optional<double> ts_seconds,
                     WallClock::time_point received,
                     std::optional<WallClock::time_point> produced) {
  store.Update(connector, [&](ObservationStore::Entry& e) {
    HeartbeatObservation& h = e.obs.heartbeat;
    if (ts_seconds) h.last_ts = std::max(h.last_ts, *ts_seconds);
    h.last_received = UnixSeconds(received);
    ++h.records;
    RecordOutput(e.obs, e.config, produced.value_or(received), received);
  });
}

std::unique_ptr<ProbeKind> MakeHeartbeatKind(const KindEnv& env) {
  return std::make_unique<HeartbeatKind>(env);
}

}  // namespace cdc
