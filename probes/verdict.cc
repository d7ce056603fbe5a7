#include "probes/verdict.h"

#include <algorithm>

#include "cdc/common/clock.h"
#include "cdc/common/duration.h"

namespace cdc {
namespace {

using std::chrono::milliseconds;

// A connector's committed position must be at least this much newer than a
// marker write to show that the connector read past it (binlog event times
// have whole seconds; the exporter's and the server's clocks differ a bit).
constexpr double kPastMarkerSlack = 2.0;

// The verdict on a connector with markers: the end-to-end evidence.
void JudgeMarkers(const ConnectorObservations& obs, const config::Connector& c,
                  double now_s, Verdict& v) {
  const MarkerObservation& m = obs.marker;
  const double timeout = ToSeconds(c.marker.timeout);
  auto decide = [&](VerdictState s, VerdictReason r) {
    v.state = s;
    v.reason = r;
  };
  if (m.last_write == MarkerObservation::Write::kSetupError) {
    v.detail = m.write_error;
    return decide(VerdictState::kMisconfigured,
                  VerdictReason::kCanaryNotWritable);
  }
  if (m.topic_partitions == 0 && m.first_write_at > 0 &&
      now_s - m.first_write_at > v.window_s) {
    return decide(VerdictState::kMisconfigured,
                  VerdictReason::kMarkerTopicMissing);
  }
  if (m.last_write == MarkerObservation::Write::kUnreachable) {
    v.detail = m.write_error;
    return decide(VerdictState::kUnknown, VerdictReason::kMarkerWriteFailed);
  }
  // Output seen since the exporter began writing markers.
  const bool produced =
      obs.progress.last_output > m.first_write_at && m.first_write_at > 0;
  if (!m.ever_arrived() && produced && m.pending_since > 0 &&
      v.pending_age_s > timeout) {
    // It produces, yet no marker ever arrived: either the canary table is
    // not captured (the connector committed positions past the markers) or
    // it works through a backlog older than the markers.
    const auto& off = obs.offset.committed;
    if (off && off->ts_sec > m.pending_since + kPastMarkerSlack) {
      return decide(VerdictState::kMisconfigured,
                    VerdictReason::kCanaryNotCaptured);
    }
    return decide(VerdictState::kLagging, VerdictReason::kBacklog);
  }
  if (m.unanswered_since > 0 &&
      m.unanswered_writes >= c.silent_failure.consecutive_misses &&
      v.silence_s > v.window_s && (m.ever_arrived() || !produced)) {
    return decide(VerdictState::kStalled, VerdictReason::kNoOutput);
  }
  if (v.pending_age_s > timeout || m.consecutive_misses > 0) {
    // Nothing at all since a marker older than the timeout (possible when
    // the timeout is shorter than the stall window): late, but not shown to
    // be producing; stalled if the silence outlasts the window.
    if (m.unanswered_since > 0 && v.silence_s > timeout) {
      return decide(VerdictState::kLagging, VerdictReason::kLateAndSilent);
    }
    return decide(VerdictState::kLagging, VerdictReason::kMarkersLate);
  }
  if (m.last_found.has_value()) {
    return decide(VerdictState::kOk, VerdictReason::kDelivering);
  }
  decide(VerdictState::kUnknown, VerdictReason::kNoResultYet);
}

// Without markers only the heartbeats can tell.
void JudgeHeartbeats(const ConnectorObservations& obs,
                     const config::Connector& c, WallClock::time_point now,
                     Verdict& v) {
  if (!c.heartbeat.enabled || obs.heartbeat.records == 0) {
    v.state = VerdictState::kUnknown;
    v.reason = VerdictReason::kNoResultYet;
  } else if (HeartbeatStale(c, obs.heartbeat, now)) {
    v.state = VerdictState::kStalled;
    v.reason = VerdictReason::kHeartbeatStale;
  } else {
    v.state = VerdictState::kOk;
    v.reason = VerdictReason::kDelivering;
  }
}

// When the silence a stall is judged on began: the oldest marker write not
// answered, or (heartbeats alone) the moment the last heartbeat became
// overdue.
double SilenceBegan(const ConnectorObservations& obs,
                    const config::Connector& c) {
  if (c.marker.enabled) return obs.marker.unanswered_since;
  return obs.heartbeat.last_received + ToSeconds(c.heartbeat.max_age);
}

// From when the leaders of the connector's own partitions must have been
// heard from for its silence to count: after the silence began and, for a
// marker, after it would normally have arrived (its slowest recent
// response). Evidence from between the write and then proves little: a
// broker that served a record just after the write can die before the
// marker reaches it.
double PartitionsHeardSince(const ConnectorObservations& obs,
                            const config::Connector& c) {
  const auto& r = obs.progress.responses;
  const double slowest = c.marker.enabled && !r.empty()
                             ? *std::max_element(r.begin(), r.end())
                             : 0;
  return SilenceBegan(obs, c) + slowest;
}

VerdictStatus StatusOf(const Verdict& v) {
  switch (v.state) {
    case VerdictState::kStalled:
      return VerdictStatus::kSilentFailure;
    case VerdictState::kNotRunning:
      return v.rest.Failed() ? VerdictStatus::kFailed
                             : VerdictStatus::kInactive;
    case VerdictState::kLagging:
      return VerdictStatus::kLagging;
    case VerdictState::kMisconfigured:
      return VerdictStatus::kMisconfigured;
    case VerdictState::kUnknown:
      return v.reason == VerdictReason::kNoResultYet ? VerdictStatus::kWaiting
                                                     : VerdictStatus::kUnknown;
    case VerdictState::kOk:
      break;
  }
  return VerdictStatus::kOk;
}

std::string Secs(double s) { return std::to_string(static_cast<int>(s)) + "s"; }

double RecoveryGrace(double window_s) {
  return std::max(window_s, ToSeconds(kKafkaRecoveryGrace));
}

}  // namespace

std::string_view ToString(VerdictState s) {
  switch (s) {
    case VerdictState::kOk:
      return "ok";
    case VerdictState::kLagging:
      return "lagging";
    case VerdictState::kStalled:
      return "stalled";
    case VerdictState::kNotRunning:
      return "not_running";
    case VerdictState::kMisconfigured:
      return "misconfigured";
    case VerdictState::kUnknown:
      return "unknown";
  }
  return "unknown";
}

bool HeartbeatStale(const config::Connector& c, const HeartbeatObservation& h,
                    WallClock::time_point now) {
  if (!c.heartbeat.enabled || h.records == 0) return false;
  return UnixSeconds(now) - h.last_received > ToSeconds(c.heartbeat.max_age);
}

milliseconds StallWindow(const ConnectorObservations& obs,
                         const config::Connector& c) {
  if (c.silent_failure.window) return *c.silent_failure.window;
  const milliseconds max = c.silent_failure.window_max;
  const milliseconds floor = std::min<milliseconds>(kStallWindowFloor, max);
  const auto& r = obs.progress.responses;
  if (r.size() < kStallWindowSamples) return max;
  const double slowest = *std::max_element(r.begin(), r.end());
  const auto learned = milliseconds(
      static_cast<int64_t>(std::min(2 * slowest + 2.0, ToSeconds(max)) * 1000));
  return std::clamp(learned, floor, max);
}

Verdict Judge(const ConnectorObservations& obs, const config::Connector& c,
              WallClock::time_point now) {
  Verdict v;
  const double now_s = UnixSeconds(now);
  const MarkerObservation& m = obs.marker;
  v.rest = obs.rest;
  v.tls_version = TlsLabel(c, obs);
  v.consecutive_misses = m.consecutive_misses;
  v.window_s = ToSeconds(StallWindow(obs, c));
  v.pending_age_s =
      m.pending_since > 0 ? std::max(0.0, now_s - m.pending_since) : 0;
  v.silence_s =
      m.unanswered_since > 0 ? std::max(0.0, now_s - m.unanswered_since) : 0;
  if (HeartbeatStale(c, obs.heartbeat, now)) {
    v.heartbeat_silence_s =
        static_cast<int>(now_s - obs.heartbeat.last_received);
  }
  if (!obs.rest.ClaimsRunning()) {
    v.state = VerdictState::kNotRunning;
    v.reason = VerdictReason::kNotRunning;
  } else if (obs.kafka.up.has_value() && !*obs.kafka.up) {
    v.state = VerdictState::kUnknown;
    v.reason = VerdictReason::kKafkaUnreadable;
  } else if (!obs.kafka.unreadable.empty()) {
    v.state = VerdictState::kUnknown;
    v.reason = VerdictReason::kKafkaPartitionsUnreadable;
    v.detail = obs.kafka.unreadable;
  } else if (std::max(obs.kafka.recovered_at,
                      obs.kafka.partitions_recovered_at) > 0 &&
             now_s - std::max(obs.kafka.recovered_at,
                              obs.kafka.partitions_recovered_at) <
                 RecoveryGrace(v.window_s)) {
    v.state = VerdictState::kUnknown;
    v.reason = VerdictReason::kKafkaRecovering;
  } else if (c.marker.enabled) {
    JudgeMarkers(obs, c, now_s, v);
  } else {
    JudgeHeartbeats(obs, c, now, v);
  }
  if ((v.state == VerdictState::kStalled ||
       v.reason == VerdictReason::kLateAndSilent) &&
      (obs.kafka.confirmed_at < SilenceBegan(obs, c) ||
       (obs.kafka.leaders_known &&
        obs.kafka.partitions_confirmed_at < PartitionsHeardSince(obs, c)) ||
       (obs.kafka.parked_settled_at >= 0 &&
        obs.kafka.parked_settled_at < PartitionsHeardSince(obs, c)))) {
    // The exporter has read nothing from the cluster (no metadata answer, no
    // record) since the silence began: its own view may have just broken
    // (a broker down before the next metadata request notices). A stall
    // waits for that evidence; it comes within the kafka probe's interval.
    // Likewise for the brokers that lead the connector's own partitions
    // (one broker can die while the others answer), and for the partitions
    // of its topics that are not read (KafkaWatcher's partition learning):
    // its records could have gone there since.
    v.state = VerdictState::kUnknown;
    v.reason = VerdictReason::kKafkaUnconfirmed;
  }
  v.silent_failure = v.state == VerdictState::kStalled;
  v.status = StatusOf(v);
  return v;
}

std::string Verdict::ReasonText() const {
  const std::string state = "REST state " + RestState();
  switch (reason) {
    case VerdictReason::kNotRunning:
      return state + " (not a silent failure)";
    case VerdictReason::kKafkaUnreadable:
      return state +
             "; not judged: cdc-sentinel cannot read the Kafka "
             "cluster (cdc_kafka_up 0)";
    case VerdictReason::kKafkaRecovering:
      return state +
             "; not judged yet: cdc-sentinel's Kafka view came back "
             "less than " +
             Secs(RecoveryGrace(window_s)) +
             " ago (the connectors' producers reconnect too)";
    case VerdictReason::kKafkaUnconfirmed:
      return state +
             "; not judged yet: silent, but cdc-sentinel has read nothing "
             "from the Kafka cluster since the silence began (no metadata "
             "answer, no record): it cannot yet tell a stall from its own "
             "blindness";
    case VerdictReason::kKafkaPartitionsUnreadable:
      return state + "; not judged: cdc-sentinel cannot read " + detail +
             " (the connector cannot write there either)";
    case VerdictReason::kMarkerWriteFailed:
      return state + "; not judged: the marker could not be written (" +
             detail + ")";
    case VerdictReason::kCanaryNotWritable:
      return "misconfigured: the canary table cannot be written (" + detail +
             ")";
    case VerdictReason::kMarkerTopicMissing:
      return "misconfigured: the marker topic does not exist (is the canary "
             "table in the connector's table.include.list, and may it create "
             "topics?)";
    case VerdictReason::kCanaryNotCaptured:
      return "misconfigured: no marker has ever arrived, but the connector "
             "committed positions past them (is the canary table in its "
             "table.include.list?)";
    case VerdictReason::kNoOutput:
      return state + " but nothing produced for " + Secs(silence_s) +
             " since a marker was written (stall window " + Secs(window_s) +
             ")";
    case VerdictReason::kHeartbeatStale:
      return state + " but no heartbeat for " +
             std::to_string(heartbeat_silence_s) + "s";
    case VerdictReason::kMarkersLate:
      return state + "; lagging: markers late (oldest unseen " +
             Secs(pending_age_s) + ", " + std::to_string(consecutive_misses) +
             " consecutive marker(s) not delivered in time) but the "
             "connector keeps producing";
    case VerdictReason::kLateAndSilent:
      return state + "; lagging: markers late (oldest unseen " +
             Secs(pending_age_s) + ") and nothing produced for " +
             Secs(silence_s) +
             " since a marker was written; stalled if the "
             "silence outlasts the stall window (" +
             Secs(window_s) + ")";
    case VerdictReason::kBacklog:
      return state + "; lagging: no marker has arrived yet (oldest " +
             Secs(pending_age_s) +
             ") and the committed position is not past them: a backlog";
    case VerdictReason::kDelivering:
      return "delivering";
    case VerdictReason::kNoResultYet:
      return "no end-to-end result yet";
  }
  return "";
}

std::string Verdict::StatusText() const {
  switch (status) {
    case VerdictStatus::kOk:
      return "OK";
    case VerdictStatus::kSilentFailure:
      return "SILENT FAILURE";
    case VerdictStatus::kFailed:
      return "FAILED";
    case VerdictStatus::kInactive:
      return RestState();
    case VerdictStatus::kLagging:
      return "LAGGING";
    case VerdictStatus::kMisconfigured:
      return "MISCONFIGURED";
    case VerdictStatus::kUnknown:
      return "UNKNOWN";
    case VerdictStatus::kWaiting:
      return "WAITING";
  }
  return "OK";
}

}  // namespace cdc
