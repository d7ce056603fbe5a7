#pragma once

#include <string>

#include "config/config.h"
#include "probes/observations.h"

namespace cdc {

// Why a verdict is what it is: the evidence that decided.
enum class VerdictReason {
  kNotRunning,       // REST says the connector (or a task) does not run
  kMarkersMissed,    // claims to run, markers not delivered
  kHeartbeatStale,   // claims to run, heartbeats stopped
  kMarkersAndHeartbeat,  // both of the above
  kDelivering,       // claims to run and delivers
  kNoResultYet,      // claims to run, no end-to-end result yet
};

// What the status page shows for a connector.
enum class VerdictStatus {
  kOk,
  kSilentFailure,  // claims to run but delivers nothing
  kFailed,         // REST: FAILED, or a task not RUNNING
  kInactive,       // REST: PAUSED, STOPPED, UNASSIGNED or RESTARTING
  kWaiting,        // no end-to-end result yet
};

// The verdict on one connector at one moment. The metrics, the status page,
// /api/v1/status, the log and the actions all read this; nothing derives it
// again.
struct Verdict {
  bool silent_failure = false;
  VerdictReason reason = VerdictReason::kNoResultYet;
  VerdictStatus status = VerdictStatus::kWaiting;
  RestObservation rest;
  std::string tls_version;
  int consecutive_misses = 0;      // for the reason text
  int heartbeat_silence_s = 0;     // for the reason text

  // The REST state as text: "RUNNING", "TASK_FAILED", "none", "unknown".
  std::string RestState() const { return rest.ToString(); }
  // The reason for the log and the status page, e.g. "REST state RUNNING
  // but 2 consecutive marker(s) not delivered".
  std::string ReasonText() const;
  // "OK", "SILENT FAILURE", "FAILED", "WAITING" or the inactive REST state.
  std::string StatusText() const;
};

// Whether the connector's heartbeats are stale at `now`: only once one has
// been seen (a connector without heartbeat.interval.ms never writes any, and
// that is not a failure), and only if heartbeats are watched.
bool HeartbeatStale(const config::Connector& c, const HeartbeatObservation& h,
                    WallClock::time_point now);

// The verdict: a pure function of what was observed, the connector's
// configuration and the time. No locks, clocks or I/O. docs/verdict.md.
Verdict Judge(const ConnectorObservations& obs, const config::Connector& c,
              WallClock::time_point now);

}  // namespace cdc
