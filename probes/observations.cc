#include "probes/observations.h"

#include <algorithm>
#include <array>

#include "cdc/common/duration.h"
#include "probes/verdict.h"

namespace cdc {
namespace {

constexpr std::array<std::pair<RunState, std::string_view>, 6> kRunStates = {{
    {RunState::kUnassigned, "UNASSIGNED"},
    {RunState::kRunning, "RUNNING"},
    {RunState::kPaused, "PAUSED"},
    {RunState::kStopped, "STOPPED"},
    {RunState::kFailed, "FAILED"},
    {RunState::kRestarting, "RESTARTING"},
}};

bool IsInactive(RunState s) {
  return s == RunState::kPaused || s == RunState::kStopped ||
         s == RunState::kUnassigned || s == RunState::kRestarting;
}

}  // namespace

RunState ParseRunState(std::string_view text) {
  for (const auto& [state, name] : kRunStates) {
    if (name == text) return state;
  }
  return RunState::kOther;
}

std::string_view ToString(RunState s) {
  for (const auto& [state, name] : kRunStates) {
    if (state == s) return name;
  }
  return "";
}

std::string RestObservation::ToString() const {
  switch (source) {
    case Source::kNoApi:
      return "none";
    case Source::kUnknown:
      return "unknown";
    case Source::kListed:
      break;
  }
  if (task) {
    return "TASK_" + (*task == RunState::kOther
                          ? task_text
                          : std::string(cdc::ToString(*task)));
  }
  return connector == RunState::kOther ? connector_text
                                       : std::string(cdc::ToString(connector));
}

bool RestObservation::ClaimsRunning() const {
  return source != Source::kListed ||
         (connector == RunState::kRunning && !task.has_value());
}

bool RestObservation::Failed() const {
  return source == Source::kListed &&
         (connector == RunState::kFailed || task.has_value());
}

bool RestObservation::Inactive() const {
  return source == Source::kListed && !task.has_value() &&
         IsInactive(connector);
}

std::string TlsLabel(const config::Connector& c,
                     const ConnectorObservations& o) {
  if (c.tls_version != "auto") return c.tls_version;
  return o.session.detected_tls.empty() ? "unknown" : o.session.detected_tls;
}

void RecordOutput(ConnectorObservations& o, const config::Connector& c,
                  WallClock::time_point produced,
                  WallClock::time_point received) {
  // Clocks of the connector's host (or the broker) and the exporter's.
  constexpr double kSkew = 2.0;
  const double made = UnixSeconds(produced);
  const double seen = UnixSeconds(received);
  ProgressObservation& p = o.progress;
  p.last_output = std::max(p.last_output, made);
  MarkerObservation& m = o.marker;
  // A record made before the write (e.g. the last heartbeat read when the
  // exporter starts) does not answer it.
  if (m.unanswered_since == 0 || made + kSkew < m.unanswered_since) return;
  const double response = seen - m.unanswered_since;
  if (response >= 0 && m.topic_seen_at > 0 &&
      m.topic_seen_at <= m.unanswered_since &&
      response <= ToSeconds(StallWindow(o, c))) {
    p.responses.push_back(response);
    if (p.responses.size() > ProgressObservation::kMaxResponses) {
      p.responses.erase(p.responses.begin());
    }
  }
  m.unanswered_since = 0;
  m.unanswered_writes = 0;
}

void ObservationStore::SetConnectors(
    const std::vector<config::Connector>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Entry> next;
  for (const auto& cfg : connectors) {
    auto it = entries_.find(cfg.name);
    Entry e;
    // Read before the move: a connector that stays on its Kafka cluster
    // keeps what is known of its partitions.
    const bool same_kafka =
        it != entries_.end() && it->second.config.kafka == cfg.kafka;
    if (it != entries_.end()) e = std::move(it->second);
    e.config = cfg;
    // Whether there is a REST API follows the configuration at once.
    if (cfg.connect_cluster.empty()) {
      e.obs.rest = RestObservation{};
      e.obs.rest.source = RestObservation::Source::kNoApi;
    } else if (e.obs.rest.source == RestObservation::Source::kNoApi) {
      e.obs.rest = RestObservation{};
    }
    auto k = kafka_.find(cfg.kafka);
    if (!same_kafka) {
      e.obs.kafka = KafkaView{};  // its partitions are looked up again
      e.kafka_leaders.clear();
    }
    CopyClusterView(k == kafka_.end() ? KafkaView{} : k->second, e.obs.kafka);
    next.emplace(cfg.name, std::move(e));
  }
  entries_ = std::move(next);
}

std::optional<ObservationStore::Entry> ObservationStore::Get(
    const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(connector);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void ObservationStore::SetKafkaUp(const std::string& kafka, bool up,
                                  WallClock::time_point now,
                                  std::optional<WallClock::time_point> asked) {
  std::lock_guard<std::mutex> lock(mu_);
  KafkaView& v = kafka_[kafka];
  const bool went_down = !up && v.up.value_or(true);
  if (up && v.up.has_value() && !*v.up) {
    v.recovered_at = UnixSeconds(now);
  }
  v.up = up;
  if (up) {
    v.confirmed_at = std::max(v.confirmed_at, UnixSeconds(asked.value_or(now)));
  }
  for (auto& [name, e] : entries_) {
    if (e.config.kafka != kafka) continue;
    CopyClusterView(v, e.obs.kafka);
    if (went_down) {
      e.obs.marker.unanswered_since = 0;
      e.obs.marker.unanswered_writes = 0;
    }
  }
}

void ObservationStore::ConfirmKafka(const std::string& kafka,
                                    WallClock::time_point at) {
  std::lock_guard<std::mutex> lock(mu_);
  KafkaView& v = kafka_[kafka];
  v.confirmed_at = std::max(v.confirmed_at, UnixSeconds(at));
  for (auto& [name, e] : entries_) {
    if (e.config.kafka == kafka) e.obs.kafka.confirmed_at = v.confirmed_at;
  }
}

void ObservationStore::CopyClusterView(const KafkaView& v, KafkaView& into) {
  into.up = v.up;
  into.recovered_at = v.recovered_at;
  into.confirmed_at = v.confirmed_at;
}

void ObservationStore::ConfirmPartitions(Entry& e,
                                         const std::map<int, double>& brokers) {
  double at = e.kafka_leaders.empty() ? 0 : -1;
  for (int b : e.kafka_leaders) {
    auto it = brokers.find(b);
    const double t = it == brokers.end() ? 0 : it->second;
    at = at < 0 ? t : std::min(at, t);
  }
  e.obs.kafka.partitions_confirmed_at =
      std::max(e.obs.kafka.partitions_confirmed_at, std::max(at, 0.0));
}

void ObservationStore::SetKafkaPaths(
    const std::string& kafka,
    const std::map<std::string, KafkaPath>& by_connector,
    WallClock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& brokers = broker_confirmed_[kafka];
  for (auto& [name, e] : entries_) {
    if (e.config.kafka != kafka) continue;
    auto it = by_connector.find(name);
    const KafkaPath path = it == by_connector.end() ? KafkaPath{} : it->second;
    KafkaView& k = e.obs.kafka;
    if (path.unreadable.empty() && !k.unreadable.empty()) {
      k.partitions_recovered_at = UnixSeconds(now);
    }
    if (!path.unreadable.empty() && k.unreadable.empty()) {
      e.obs.marker.unanswered_since = 0;
      e.obs.marker.unanswered_writes = 0;
    }
    k.unreadable = path.unreadable;
    k.parked_settled_at = path.parked_settled_at;
    k.leaders_known = !path.leaders.empty();
    if (path.leaders != e.kafka_leaders) {
      // New leaders: only their own evidence counts.
      e.kafka_leaders = path.leaders;
      k.partitions_confirmed_at = 0;
    }
    ConfirmPartitions(e, brokers);
  }
}

void ObservationStore::ConfirmKafkaBrokers(
    const std::string& kafka, const std::map<int, double>& confirmed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& brokers = broker_confirmed_[kafka];
  for (const auto& [b, t] : confirmed) brokers[b] = std::max(brokers[b], t);
  for (auto& [name, e] : entries_) {
    if (e.config.kafka == kafka) ConfirmPartitions(e, brokers);
  }
}

std::optional<bool> ObservationStore::KafkaUp(const std::string& kafka) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kafka_.find(kafka);
  if (it == kafka_.end()) return std::nullopt;
  return it->second.up;
}

}  // namespace cdc
