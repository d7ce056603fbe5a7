#include "probes/pipeline_state.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "cdc/common/duration.h"

namespace cdc {
namespace {

// Markers carry "cdcs-" and 24 hex digits: unique per exporter run, so a
// restarted exporter never mistakes an old marker for a new one.
constexpr std::string_view kTokenPrefix = "cdcs-";
constexpr std::size_t kTokenHex = 24;

const std::vector<double> kLatencyBuckets = {0.05, 0.1, 0.25, 0.5, 1,  2,
                                             5,    10,  20,   30,  60, 120};

double Seconds(WallClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

PipelineState::PipelineState(Logger& log) : log_(log) {}

std::string PipelineState::NewToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string t(kTokenPrefix);
  for (std::size_t i = 0; i < kTokenHex; ++i) t.push_back(kHex[rng() & 15]);
  return t;
}

void PipelineState::SetConnectors(
    const std::vector<config::Connector>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Conn> next;
  for (const auto& cfg : connectors) {
    auto it = conns_.find(cfg.name);
    if (it != conns_.end()) {
      Conn c = std::move(it->second);
      c.cfg = cfg;
      next.emplace(cfg.name, std::move(c));
    } else {
      Conn c;
      c.cfg = cfg;
      c.latency = HistogramData(kLatencyBuckets);
      next.emplace(cfg.name, std::move(c));
    }
  }
  conns_ = std::move(next);
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    for (auto o = it->second.outcome.begin(); o != it->second.outcome.end();) {
      if (conns_.count(o->first) == 0) {
        it->second.deadline.erase(o->first);
        o = it->second.outcome.erase(o);
      } else {
        ++o;
      }
    }
    it = it->second.outcome.empty() ? rounds_.erase(it) : std::next(it);
  }
}

void PipelineState::OnRestPoll(
    const std::string& cluster, bool ok,
    const std::vector<connect::ConnectorStatus>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  // Unlisted (deleted or misnamed) or not polled: unknown.
  for (auto& [name, c] : conns_) {
    if (c.cfg.connect_cluster == cluster) c.rest_state = "unknown";
  }
  if (!ok) return;
  // One lookup per listed connector (a thousand on a big cluster), not a
  // scan of the list per configured one.
  for (const auto& s : connectors) {
    auto it = conns_.find(s.name);
    if (it == conns_.end() || it->second.cfg.connect_cluster != cluster) {
      continue;
    }
    std::string& state = it->second.rest_state;
    state = s.state;
    // A connector RUNNING with a task in another state is not running.
    for (const auto& t : s.tasks) {
      if (s.state == "RUNNING" && t.state != "RUNNING") {
        state = "TASK_" + t.state;
      }
    }
  }
}

void PipelineState::ExpectMarker(const std::string& token,
                                 WallClock::time_point written_at,
                                 const std::vector<std::string>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  Round r;
  r.written_at = written_at;
  for (const auto& name : connectors) {
    auto it = conns_.find(name);
    if (it == conns_.end()) continue;
    r.cohort = it->second.cfg.source;
    r.outcome[name] = 0;
    r.deadline[name] = written_at + it->second.cfg.marker.timeout;
  }
  if (!r.outcome.empty()) rounds_.emplace(token, std::move(r));
}

void PipelineState::MarkerWriteFailed(
    const std::vector<std::string>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& name : connectors) {
    auto it = conns_.find(name);
    if (it != conns_.end()) ++it->second.errors;
  }
}

void PipelineState::SetKafkaUp(const std::string& kafka, bool up) {
  std::lock_guard<std::mutex> lock(mu_);
  kafka_up_[kafka] = up;
}

bool PipelineState::AwaitingMarker(const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [token, r] : rounds_) {
    auto o = r.outcome.find(connector);
    if (o != r.outcome.end() && o->second == 0) return true;
  }
  return false;
}

void PipelineState::Judge(Round& round, const std::string& connector,
                          int outcome, WallClock::time_point at) {
  round.outcome[connector] = outcome;
  auto it = conns_.find(connector);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (outcome == 3) {
    ++c.errors;
    log_.Warn("marker not judged: the Kafka cluster cannot be read",
              {{"connector", connector}, {"kafka", c.cfg.kafka}});
    return;
  }
  if (outcome == 1) {
    const double latency = std::max(
        0.0, std::chrono::duration<double>(at - round.written_at).count());
    c.marker_found = true;
    c.marker_latency = latency;
    c.consecutive_misses = 0;
    ++c.found;
    c.last_success_ts = Seconds(at);
    c.latency.Observe(latency);
  } else {
    c.marker_found = false;
    ++c.consecutive_misses;
    ++c.not_found;
    log_.Warn("marker not delivered within the timeout",
              {{"connector", connector},
               {"tls_version", TlsLabelLocked(c)},
               {"timeout", FormatDuration(c.cfg.marker.timeout)},
               {"consecutive_misses", std::to_string(c.consecutive_misses)},
               {"rest_state",
                c.cfg.connect_cluster.empty() ? "none" : c.rest_state}});
  }
}

void PipelineState::FinishRoundIfDone(
    std::map<std::string, Round>::iterator it) {
  Round& r = it->second;
  int found = 0, missed = 0;
  for (const auto& [name, o] : r.outcome) {
    if (o == 0) return;
    if (o == 1) ++found;
    if (o == 2) ++missed;
  }
  // Solo: missed while another member of the cohort got the same marker.
  // Shared: every member missed it (with one member, every miss is shared).
  for (const auto& [name, o] : r.outcome) {
    if (o != 2) continue;
    auto c = conns_.find(name);
    if (c == conns_.end()) continue;
    if (found > 0) {
      ++c->second.solo;
    } else {
      ++c->second.shared;
    }
  }
  rounds_.erase(it);
}

void PipelineState::OnMarkerRecord(const std::string& connector,
                                   std::string_view bytes,
                                   WallClock::time_point seen) {
  // Also skips a null record key or value (data() == nullptr): memmem must
  // not be given a null pointer.
  if (bytes.size() < kTokenPrefix.size() + kTokenHex) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (rounds_.empty()) return;
  std::size_t pos = 0;
  while (true) {
    const void* hit = memmem(bytes.data() + pos, bytes.size() - pos,
                             kTokenPrefix.data(), kTokenPrefix.size());
    if (hit == nullptr) break;
    const std::size_t at = static_cast<const char*>(hit) - bytes.data();
    pos = at + kTokenPrefix.size();
    if (bytes.size() - at < kTokenPrefix.size() + kTokenHex) break;
    std::string_view token = bytes.substr(at, kTokenPrefix.size() + kTokenHex);
    bool hex = true;
    for (char ch : token.substr(kTokenPrefix.size())) hex = hex && IsHex(ch);
    if (!hex) continue;
    auto it = rounds_.find(std::string(token));
    if (it == rounds_.end()) continue;
    auto o = it->second.outcome.find(connector);
    if (o == it->second.outcome.end() || o->second != 0) continue;
    Judge(it->second, connector, 1, seen);
    FinishRoundIfDone(it);
  }
}

void PipelineState::Expire(WallClock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  // Oldest rounds first, so consecutive misses count in order.
  std::vector<std::pair<WallClock::time_point, std::string>> order;
  for (const auto& [token, r] : rounds_)
    order.emplace_back(r.written_at, token);
  std::sort(order.begin(), order.end());
  for (const auto& [when, token] : order) {
    auto it = rounds_.find(token);
    for (auto& [name, o] : it->second.outcome) {
      if (o == 0 && now >= it->second.deadline[name]) {
        auto c = conns_.find(name);
        const bool kafka_down = c != conns_.end() &&
                                kafka_up_.count(c->second.cfg.kafka) &&
                                !kafka_up_[c->second.cfg.kafka];
        Judge(it->second, name, kafka_down ? 3 : 2, now);
      }
    }
    FinishRoundIfDone(it);
  }
}

void PipelineState::OnHeartbeat(const std::string& connector,
                                std::optional<double> ts_seconds,
                                WallClock::time_point received) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it == conns_.end()) return;
  if (ts_seconds) it->second.hb_ts = std::max(it->second.hb_ts, *ts_seconds);
  it->second.hb_received = Seconds(received);
  ++it->second.hb_records;
}

void PipelineState::OnBinlogSessions(const std::string& connector,
                                     const std::vector<Session>& sessions) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  const int before = c.sessions;
  c.sessions = static_cast<int>(sessions.size());
  if (sessions.empty()) {
    if (before > 0) {
      log_.Warn("binlog session gone from the source",
                {{"connector", connector},
                 {"session_id", std::to_string(c.session_id)}});
    }
    c.session_observed = true;
    return;  // session_id keeps the last session seen
  }
  // With several (a shared binlog_user), follow the newest.
  const Session* s = &sessions[0];
  for (const auto& x : sessions) {
    if (x.connected_since > s->connected_since) s = &x;
  }
  // A reconnect replaces a session seen before (ids start at 1); the first
  // session ever seen is not one, even after rounds that found none.
  if (c.session_id != 0 && s->id != c.session_id) {
    ++c.reconnects;
    log_.Info("binlog session re-established",
              {{"connector", connector},
               {"old_session_id", std::to_string(c.session_id)},
               {"new_session_id", std::to_string(s->id)},
               {"tls", s->tls}});
  }
  c.session_observed = true;
  c.session_id = s->id;
  c.session_since = s->connected_since;
  c.detected_tls = s->tls;
}

void PipelineState::OnCommittedOffset(const std::string& connector,
                                      const Offset& offset,
                                      WallClock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (!c.offset || c.offset->file != offset.file ||
      c.offset->pos != offset.pos) {
    c.offset_changed_at = Seconds(now);
  }
  c.offset = offset;
}

std::optional<PipelineState::Offset> PipelineState::CommittedOffset(
    const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it == conns_.end()) return std::nullopt;
  return it->second.offset;
}

void PipelineState::OnBinlogLag(const std::string& connector,
                                double lag_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it != conns_.end()) it->second.lag_bytes = lag_bytes;
}

std::string PipelineState::TlsLabelLocked(const Conn& c) const {
  if (c.cfg.tls_version != "auto") return c.cfg.tls_version;
  return c.detected_tls.empty() ? "unknown" : c.detected_tls;
}

std::string PipelineState::TlsLabel(const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  return it == conns_.end() ? "unknown" : TlsLabelLocked(it->second);
}

bool PipelineState::HeartbeatStaleLocked(const Conn& c,
                                         WallClock::time_point now) const {
  // Only once a heartbeat has been seen: a connector without
  // heartbeat.interval.ms never writes any, and that is not a failure.
  if (!c.cfg.heartbeat.enabled || c.hb_records == 0) return false;
  return Seconds(now) - c.hb_received > ToSeconds(c.cfg.heartbeat.max_age);
}

PipelineState::Verdict PipelineState::VerdictLocked(
    const Conn& c, WallClock::time_point now) const {
  Verdict v;
  v.tls_version = TlsLabelLocked(c);
  v.rest_state = c.cfg.connect_cluster.empty() ? "none" : c.rest_state;
  // Only a connector that claims to run (or cannot tell: no REST API, or
  // REST unreachable) can fail silently; any other state is loud.
  const bool claims_running = v.rest_state == "RUNNING" ||
                              v.rest_state == "none" ||
                              v.rest_state == "unknown";
  const bool markers_failing =
      c.cfg.marker.enabled &&
      c.consecutive_misses >= c.cfg.silent_failure.consecutive_misses;
  const bool hb_stale = HeartbeatStaleLocked(c, now);
  if (!claims_running) {
    v.reason = "REST state " + v.rest_state + " (not a silent failure)";
    return v;
  }
  if (markers_failing || hb_stale) {
    v.silent_failure = true;
    v.reason = "REST state " + v.rest_state + " but ";
    if (markers_failing) {
      v.reason += std::to_string(c.consecutive_misses) +
                  " consecutive marker(s) not delivered";
    }
    if (markers_failing && hb_stale) v.reason += " and ";
    if (hb_stale) {
      v.reason +=
          "no heartbeat for " +
          std::to_string(static_cast<int>(Seconds(now) - c.hb_received)) + "s";
    }
    return v;
  }
  v.reason = c.marker_found.has_value() || c.hb_records > 0
                 ? "delivering"
                 : "no end-to-end result yet";
  return v;
}

PipelineState::Verdict PipelineState::GetVerdict(
    const std::string& connector, WallClock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it == conns_.end()) return {};
  return VerdictLocked(it->second, now);
}

uint64_t PipelineState::SoloFailures(const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  return it == conns_.end() ? 0 : it->second.solo;
}

void PipelineState::CountEvidence(const std::string& connector,
                                  const std::string& result) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it != conns_.end()) ++it->second.evidence[result];
}

void PipelineState::CountRestart(const std::string& connector,
                                 const std::string& result) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(connector);
  if (it != conns_.end()) ++it->second.restarts[result];
}

void PipelineState::Collect(MetricSink& sink, WallClock::time_point now) {
  Expire(now);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, c] : conns_) {
    const MetricLabels l = {{"connector", name},
                            {"tls_version", TlsLabelLocked(c)}};
    auto with = [&](const char* k, const std::string& v) {
      MetricLabels x = l;
      x.emplace_back(k, v);
      return x;
    };
    const Verdict v = VerdictLocked(c, now);
    sink.Gauge("cdc_silent_failure",
               "1 if the connector claims to run (REST RUNNING, or no REST "
               "state) but end-to-end delivery is failing: markers not "
               "delivered or heartbeats stale. See docs/verdict.md.",
               l, v.silent_failure ? 1 : 0);
    if (c.cfg.marker.enabled) {
      if (c.marker_found) {
        sink.Gauge("cdc_marker_success",
                   "1 if the last marker written to the source arrived in the "
                   "connector's topic within the timeout, 0 if not.",
                   l, *c.marker_found ? 1 : 0);
        sink.Gauge("cdc_marker_last_latency_seconds",
                   "Time from writing the last delivered marker to seeing it "
                   "in Kafka.",
                   l, c.marker_latency);
      }
      sink.Gauge("cdc_marker_consecutive_misses",
                 "Markers in a row not delivered within the timeout.", l,
                 c.consecutive_misses);
      sink.Histogram("cdc_marker_latency_seconds",
                     "Time from writing a marker to the source to seeing it "
                     "in the connector's Kafka topic.",
                     l, c.latency);
      const std::pair<const char*, uint64_t> results[] = {
          {"found", c.found}, {"not_found", c.not_found}, {"error", c.errors}};
      for (const auto& [result, n] : results) {
        sink.Counter("cdc_marker_probes_total",
                     "Marker rounds by result: found (in time), not_found "
                     "(not within the timeout), error (could not write it).",
                     with("result", result), static_cast<double>(n));
      }
      if (c.last_success_ts > 0) {
        sink.Gauge("cdc_marker_last_success_timestamp_seconds",
                   "When a marker last arrived within its timeout.", l,
                   c.last_success_ts);
      }
      for (const auto& [kind, n] :
           {std::pair<const char*, uint64_t>{"solo", c.solo},
            std::pair<const char*, uint64_t>{"shared", c.shared}}) {
        MetricLabels cl = {{"cohort", c.cfg.source},
                           {"connector", name},
                           {"tls_version", TlsLabelLocked(c)},
                           {"kind", kind}};
        sink.Counter("cdc_cohort_failures_total",
                     "Missed markers by kind: solo (another connector of the "
                     "same source got the same marker) or shared (all "
                     "missed it).",
                     cl, static_cast<double>(n));
      }
    }
    if (c.cfg.heartbeat.enabled && c.hb_records > 0) {
      if (c.hb_ts > 0) {
        sink.Gauge("cdc_heartbeat_last_timestamp_seconds",
                   "ts_ms of the newest Debezium heartbeat record, in seconds.",
                   l, c.hb_ts);
      }
      sink.Gauge("cdc_heartbeat_last_received_timestamp_seconds",
                 "When cdc-sentinel last received a heartbeat record.", l,
                 c.hb_received);
      sink.Gauge("cdc_heartbeat_stale",
                 "1 if no heartbeat arrived for longer than heartbeat.max_age.",
                 l, HeartbeatStaleLocked(c, now) ? 1 : 0);
    }
    if (!c.cfg.binlog_user.empty() && c.session_observed) {
      sink.Gauge("cdc_binlog_session_up",
                 "1 if the source shows a binlog (replication) session of the "
                 "connector's binlog_user.",
                 l, c.sessions > 0 ? 1 : 0);
      sink.Gauge("cdc_binlog_sessions",
                 "Binlog sessions of the connector's binlog_user on the "
                 "source (more than 1: the user is shared).",
                 l, c.sessions);
      if (c.sessions > 0) {
        sink.Gauge("cdc_binlog_session_start_timestamp_seconds",
                   "When the current binlog session connected.", l,
                   c.session_since);
      }
      sink.Counter("cdc_binlog_session_reconnects_total",
                   "Times the connector's binlog session was replaced by a "
                   "new one (a new connection id).",
                   l, static_cast<double>(c.reconnects));
    }
    if (c.offset) {
      if (c.offset->ts_sec > 0) {
        sink.Gauge("cdc_source_offset_timestamp_seconds",
                   "Event time of the connector's committed binlog position.",
                   l, c.offset->ts_sec);
      }
      sink.Gauge("cdc_source_offset_last_change_timestamp_seconds",
                 "When cdc-sentinel last saw the committed position move.", l,
                 c.offset_changed_at);
    }
    if (c.lag_bytes) {
      sink.Gauge("cdc_source_binlog_lag_bytes",
                 "Binlog bytes between the connector's committed position and "
                 "the source's current position.",
                 l, *c.lag_bytes);
    }
    for (const auto& [result, n] : c.evidence) {
      sink.Counter("cdc_evidence_captures_total",
                   "Evidence captures (e.g. thread dumps) by result.",
                   {{"connector", name}, {"result", result}},
                   static_cast<double>(n));
    }
    for (const auto& [result, n] : c.restarts) {
      sink.Counter("cdc_remediation_restarts_total",
                   "Automatic connector restarts by result.",
                   {{"connector", name}, {"result", result}},
                   static_cast<double>(n));
    }
  }
}

std::vector<PipelineState::Snapshot> PipelineState::Snapshots(
    WallClock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Snapshot> out;
  for (const auto& [name, c] : conns_) {
    Snapshot s;
    s.connector = name;
    s.cohort = c.cfg.source;
    s.verdict = VerdictLocked(c, now);
    s.tls_version = s.verdict.tls_version;
    s.rest_state = s.verdict.rest_state;
    s.marker_found = c.marker_found;
    s.marker_latency = c.marker_latency;
    s.consecutive_misses = c.consecutive_misses;
    if (c.hb_records > 0) s.heartbeat_age = Seconds(now) - c.hb_received;
    s.heartbeat_stale = HeartbeatStaleLocked(c, now);
    if (!c.cfg.binlog_user.empty() && c.session_observed) {
      s.session_up = c.sessions > 0;
    }
    if (c.lag_bytes) s.lag_bytes = *c.lag_bytes;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace cdc
