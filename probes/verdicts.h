#pragma once

#include <optional>
#include <string>
#include <vector>

#include "probes/metric_sink.h"
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

// cdc_silent_failure of every connector.
void CollectVerdicts(const ObservationStore& store, MetricSink& sink,
                     WallClock::time_point now);

}  // namespace cdc
