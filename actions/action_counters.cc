#include "actions/action_counters.h"

#include <set>

namespace cdc {

void ActionCounters::Count(Action action, const std::string& connector,
                           const std::string& result) {
  std::lock_guard<std::mutex> lock(mu_);
  ++(action == Action::kEvidence ? evidence_ : restarts_)[{connector, result}];
}

void ActionCounters::Retain(const std::vector<config::Connector>& connectors) {
  std::set<std::string> keep;
  for (const auto& c : connectors) keep.insert(c.name);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto* m : {&evidence_, &restarts_}) {
    std::erase_if(
        *m, [&](const auto& kv) { return keep.count(kv.first.first) == 0; });
  }
}

void ActionCounters::Collect(MetricSink& sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, n] : evidence_) {
    sink.Counter("cdc_evidence_captures_total",
                 "Evidence captures (e.g. thread dumps) by result.",
                 {{"connector", key.first}, {"result", key.second}},
                 static_cast<double>(n));
  }
  for (const auto& [key, n] : restarts_) {
    sink.Counter("cdc_remediation_restarts_total",
                 "Automatic connector restarts by result.",
                 {{"connector", key.first}, {"result", key.second}},
                 static_cast<double>(n));
  }
}

}  // namespace cdc
