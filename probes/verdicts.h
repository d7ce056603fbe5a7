#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "probes/observations.h"
#include "probes/verdict.h"

namespace cdc {

// Verdicts read from the store: the one Judge() applied to each connector's
// observations. Thread-safe (the store's lock).

// The verdict on `connector` now; nullopt if it is not watched.
std::optional<Verdict> CurrentVerdict(const ObservationStore& store,
                                      const std::string& connector,
                                      WallClock::time_point now);

// One connector as the status page and /api/v1/status show it.
struct ConnectorView {
  std::string name;
  config::Connector config;
  ConnectorObservations obs;
  Verdict verdict;
};
std::vector<ConnectorView> ConnectorViews(const ObservationStore& store,
                                          WallClock::time_point now);

// Every connector's verdict series (cdc_connector_verdict,
// cdc_silent_failure, cdc_stall_window_seconds, the connector's own
// settings (cdc_marker_interval_seconds, cdc_marker_timeout_seconds,
// cdc_heartbeat_max_age_seconds),
// cdc_connector_last_output_timestamp_seconds), and one log line per change
// of a connector's verdict, with the evidence that decided. Thread-safe.
class VerdictBoard {
 public:
  explicit VerdictBoard(Logger& log) : log_(log) {}
  // The verdict metrics of every connector; logs the verdicts that changed
  // since the last Collect or Note.
  void Collect(const ObservationStore& store, MetricSink& sink,
               WallClock::time_point now);
  // Judges every connector and logs the verdicts that changed, without
  // metrics. App calls it every second, so that a change is logged when it
  // happens even if nobody scrapes.
  void Note(const ObservationStore& store, WallClock::time_point now);

 private:
  void LogChanges(const std::vector<std::pair<std::string, Verdict>>& verdicts,
                  WallClock::time_point at);

  Logger& log_;
  std::mutex mu_;
  std::map<std::string, VerdictState> last_;  // by connector
  WallClock::time_point last_at_{};           // of the judgement in last_
};

}  // namespace cdc
