#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cdc/common/metric_sink.h"
#include "config/config.h"

namespace cdc {

// What the actions did, by connector and result: the evidence captures
// (cdc_evidence_captures_total) and the automatic restarts
// (cdc_remediation_restarts_total). Lives as long as the exporter, so the
// counters survive a reload that rebuilds an action; a connector no longer
// watched loses its series. Thread-safe.
class ActionCounters {
 public:
  enum class Action { kEvidence, kRestart };

  void Count(Action action, const std::string& connector,
             const std::string& result);
  // Forgets the connectors that are not in `connectors`.
  void Retain(const std::vector<config::Connector>& connectors);
  void Collect(MetricSink& sink) const;

 private:
  mutable std::mutex mu_;
  // (connector, result) -> count
  std::map<std::pair<std::string, std::string>, uint64_t> evidence_, restarts_;
};

}  // namespace cdc
