#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/common/log.h"
#include "probes/observations.h"

namespace cdc {

// How one connector's part of a marker round ended.
enum class MarkerOutcome {
  kPending,   // not judged yet
  kFound,     // arrived within the timeout
  kNotFound,  // not within the timeout
  kError,     // not judged: the exporter could not read the Kafka cluster
};

// The marker kind's rounds and cohorts. Each round is one token written to a
// source; every connector of the source (its cohort) must deliver it within
// its marker timeout. Outcomes go to each connector's MarkerObservation in
// the ObservationStore; when the last member of a round is judged, its
// misses are counted as solo (another member got the marker) or shared (all
// missed it). A marker that arrives after its timeout is still observed (a
// late arrival: latency, cdc_marker_late_total): rounds are kept until every
// member has delivered, or for kRetention. Thread-safe; its lock is taken
// before the store's.
class MarkerLedger {
 public:
  MarkerLedger(ObservationStore& store, Logger& log);
  MarkerLedger(const MarkerLedger&) = delete;
  MarkerLedger& operator=(const MarkerLedger&) = delete;

  // A new unique token for a marker row: "cdcs-" and 24 hex digits, unique
  // per exporter run, so a restarted exporter never mistakes an old marker
  // for a new one.
  static std::string NewToken();

  // `token` was written to the source at `written_at`; each of `connectors`
  // must deliver it within its marker timeout.
  void Expect(const std::string& token, WallClock::time_point written_at,
              const std::vector<std::string>& connectors);
  // The marker could not be written: a round with result "error". `setup`
  // when the write was refused for a reason of the setup (no such table,
  // no privilege, a read-only server) rather than an unreachable source.
  void WriteFailed(const std::vector<std::string>& connectors, bool setup,
                   const std::string& error);
  // A record arrived on `connector`'s marker topic; finds tokens in its raw
  // bytes (key or value), whatever the converter.
  void OnRecord(const std::string& connector, std::string_view bytes,
                WallClock::time_point seen);
  // Judges markers past their deadline as not found (or as errors while
  // their Kafka cluster cannot be read).
  void Expire(WallClock::time_point now);
  // True if any marker of `connector` has not arrived yet (in time or
  // late).
  bool Awaiting(const std::string& connector) const;
  // How long a round is kept for late arrivals.
  static constexpr std::chrono::hours kRetention{1};
  // Drops the parts of rounds that belong to connectors no longer watched.
  void Retain(const std::vector<config::Connector>& connectors);

 private:
  struct Round {
    WallClock::time_point written_at;
    std::map<std::string, MarkerOutcome> outcome;
    std::map<std::string, WallClock::time_point> deadline;
    std::map<std::string, bool> arrived;  // in time or late
    std::size_t pending = 0;              // members not judged yet
    bool cohort_counted = false;
  };

  void JudgeLocked(Round& round, const std::string& connector,
                   MarkerOutcome outcome, WallClock::time_point at);
  void LateLocked(Round& round, const std::string& connector,
                  WallClock::time_point at);
  // Counts the cohort once every member is judged; drops the round once
  // every member has arrived (or it is past kRetention at `now`). Returns
  // whether it was dropped.
  bool FinishRound(std::map<std::string, Round>::iterator it,
                   WallClock::time_point now);
  // Marks `connector`'s markers written before `written_at` as no longer
  // awaited (a newer one arrived).
  void SupersedeLocked(const std::string& connector,
                       WallClock::time_point written_at,
                       WallClock::time_point now);
  // Writes the oldest unarrived marker's write time to the store.
  void UpdatePendingLocked(const std::string& connector);

  ObservationStore& store_;
  Logger& log_;
  mutable std::mutex mu_;
  std::map<std::string, Round> rounds_;  // by token
};

}  // namespace cdc
