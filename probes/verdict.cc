#include "probes/verdict.h"

#include "cdc/common/duration.h"

namespace cdc {
namespace {

double Seconds(WallClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

bool HeartbeatStale(const config::Connector& c, const HeartbeatObservation& h,
                    WallClock::time_point now) {
  if (!c.heartbeat.enabled || h.records == 0) return false;
  return Seconds(now) - h.last_received > ToSeconds(c.heartbeat.max_age);
}

Verdict Judge(const ConnectorObservations& obs, const config::Connector& c,
              WallClock::time_point now) {
  Verdict v;
  v.rest = obs.rest;
  v.tls_version = TlsLabel(c, obs);
  v.consecutive_misses = obs.marker.consecutive_misses;
  const bool markers_failing =
      c.marker.enabled &&
      obs.marker.consecutive_misses >= c.silent_failure.consecutive_misses;
  const bool hb_stale = HeartbeatStale(c, obs.heartbeat, now);
  const bool has_result =
      obs.marker.last_found.has_value() || obs.heartbeat.records > 0;
  if (hb_stale) {
    v.heartbeat_silence_s =
        static_cast<int>(Seconds(now) - obs.heartbeat.last_received);
  }
  if (!obs.rest.ClaimsRunning()) {
    v.reason = VerdictReason::kNotRunning;
  } else if (markers_failing && hb_stale) {
    v.reason = VerdictReason::kMarkersAndHeartbeat;
  } else if (markers_failing) {
    v.reason = VerdictReason::kMarkersMissed;
  } else if (hb_stale) {
    v.reason = VerdictReason::kHeartbeatStale;
  } else {
    v.reason = has_result ? VerdictReason::kDelivering
                          : VerdictReason::kNoResultYet;
  }
  v.silent_failure = v.reason == VerdictReason::kMarkersMissed ||
                     v.reason == VerdictReason::kHeartbeatStale ||
                     v.reason == VerdictReason::kMarkersAndHeartbeat;
  // The status page's summary, most serious first.
  if (v.silent_failure) {
    v.status = VerdictStatus::kSilentFailure;
  } else if (obs.rest.Failed()) {
    v.status = VerdictStatus::kFailed;
  } else if (obs.rest.Inactive()) {
    v.status = VerdictStatus::kInactive;
  } else if (!obs.marker.last_found.has_value() &&
             obs.heartbeat.records == 0) {
    v.status = VerdictStatus::kWaiting;
  } else {
    v.status = VerdictStatus::kOk;
  }
  return v;
}

std::string Verdict::ReasonText() const {
  const std::string state = RestState();
  switch (reason) {
    case VerdictReason::kNotRunning:
      return "REST state " + state + " (not a silent failure)";
    case VerdictReason::kDelivering:
      return "delivering";
    case VerdictReason::kNoResultYet:
      return "no end-to-end result yet";
    case VerdictReason::kMarkersMissed:
    case VerdictReason::kHeartbeatStale:
    case VerdictReason::kMarkersAndHeartbeat:
      break;
  }
  std::string text = "REST state " + state + " but ";
  if (reason != VerdictReason::kHeartbeatStale) {
    text += std::to_string(consecutive_misses) +
            " consecutive marker(s) not delivered";
  }
  if (reason == VerdictReason::kMarkersAndHeartbeat) text += " and ";
  if (reason != VerdictReason::kMarkersMissed) {
    text += "no heartbeat for " + std::to_string(heartbeat_silence_s) + "s";
  }
  return text;
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
    case VerdictStatus::kWaiting:
      return "WAITING";
  }
  return "OK";
}

}  // namespace cdc
