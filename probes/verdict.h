#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "config/config.h"
#include "probes/observations.h"

namespace cdc {

// The verdict on a connector: exactly one of these
// (cdc_connector_verdict{verdict=...}). docs/verdict.md.
enum class VerdictState {
  kOk,             // the newest marker arrived in time
  kLagging,        // markers are late but the connector keeps producing
  kStalled,        // claims to run and has produced nothing since a marker
                   // was written, for longer than its stall window
  kNotRunning,     // REST: not RUNNING, or a task not RUNNING
  kMisconfigured,  // the setup prevents a judgement
  kUnknown,        // the exporter cannot observe (yet)
};
// "ok", "lagging", "stalled", "not_running", "misconfigured", "unknown".
std::string_view ToString(VerdictState s);
inline constexpr VerdictState kAllVerdictStates[] = {
    VerdictState::kOk,
    VerdictState::kLagging,
    VerdictState::kStalled,
    VerdictState::kNotRunning,
    VerdictState::kMisconfigured,
    VerdictState::kUnknown};

// The evidence that decided.
enum class VerdictReason {
  kNotRunning,        // REST says the connector (or a task) does not run
  kKafkaUnreadable,   // the exporter cannot read the Kafka cluster
  kKafkaRecovering,   // grace after the exporter's Kafka view came back
  kKafkaUnconfirmed,  // silent, but nothing read from Kafka since: blind?
  kKafkaPartitionsUnreadable,  // its own partitions cannot be read
  kMarkerWriteFailed,   // the marker could not be written (source unreachable)
  kCanaryNotWritable,   // setup: the write was refused (table, privilege)
  kMarkerTopicMissing,  // setup: the marker topic does not exist
  kCanaryNotCaptured,   // setup: committed past markers that never arrived
  kNoOutput,            // stalled: nothing since a marker write
  kHeartbeatStale,      // stalled, markers off: heartbeats stopped
  kMarkersLate,         // lagging: markers late, output still flowing
  kLateAndSilent,       // lagging: late, nothing since, not yet past window
  kBacklog,             // lagging: no marker yet, committed position behind
  kDelivering,          // ok
  kNoResultYet,         // unknown: nothing judged yet
};

// What the status page shows (a colour and a word).
enum class VerdictStatus {
  kOk,
  kSilentFailure,  // stalled
  kFailed,         // REST: FAILED, or a task not RUNNING
  kInactive,       // REST: PAUSED, STOPPED, UNASSIGNED or RESTARTING
  kLagging,
  kMisconfigured,
  kUnknown,
  kWaiting,  // no end-to-end result yet
};

// The floor of the automatic stall window: a stop-the-world pause of a few
// seconds must never be called a stall.
inline constexpr std::chrono::seconds kStallWindowFloor{5};
// Responses needed before the automatic window is learned (window_max
// until then).
inline constexpr std::size_t kStallWindowSamples = 3;
// After the exporter's own Kafka view comes back, nothing is judged stalled
// for the stall window or this long, whichever is longer: when the whole
// cluster was down, the connectors' producers reconnect on their own
// schedule (librdkafka backs off up to 10 s, Kafka's Java client up to 1 s,
// then both send what they buffered). The paging test saw a 5 s window
// call both sandbox connectors stalled a few seconds after a Kafka outage.
inline constexpr std::chrono::seconds kKafkaRecoveryGrace{30};

// The verdict on one connector at one moment. The metrics, the status page,
// /api/v1/status, the log and the actions all read this; nothing derives it
// again.
struct Verdict {
  VerdictState state = VerdictState::kUnknown;
  VerdictReason reason = VerdictReason::kNoResultYet;
  VerdictStatus status = VerdictStatus::kWaiting;
  bool silent_failure = false;  // state == kStalled
  RestObservation rest;
  std::string tls_version;
  double window_s = 0;       // the stall window in force
  double silence_s = 0;      // since the first unanswered marker write
  double pending_age_s = 0;  // of the oldest marker not seen yet
  int consecutive_misses = 0;
  int heartbeat_silence_s = 0;
  std::string detail;  // the error or topic behind a setup reason

  // The REST state as text: "RUNNING", "TASK_FAILED", "none", "unknown".
  std::string RestState() const { return rest.ToString(); }
  // The reason for the log and the status page, naming the evidence.
  std::string ReasonText() const;
  // "OK", "SILENT FAILURE", "LAGGING", "MISCONFIGURED", "UNKNOWN",
  // "WAITING", "FAILED" or the inactive REST state.
  std::string StatusText() const;
};

// Whether the connector's heartbeats are stale at `now`: only once one has
// been seen (a connector without heartbeat.interval.ms never writes any, and
// that is not a failure), and only if heartbeats are watched.
bool HeartbeatStale(const config::Connector& c, const HeartbeatObservation& h,
                    WallClock::time_point now);

// The connector's stall window: silent_failure.window if fixed; with auto,
// twice its slowest recent response plus 2 s, between kStallWindowFloor and
// silent_failure.window_max (window_max until kStallWindowSamples responses
// were seen).
std::chrono::milliseconds StallWindow(const ConnectorObservations& obs,
                                      const config::Connector& c);

// The verdict: a pure function of what was observed, the connector's
// configuration and the time. No locks, clocks or I/O. docs/verdict.md.
Verdict Judge(const ConnectorObservations& obs, const config::Connector& c,
              WallClock::time_point now);

}  // namespace cdc
