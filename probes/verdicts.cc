#include "probes/verdicts.h"

#include "probes/probe_kind.h"

namespace cdc {

std::optional<Verdict> CurrentVerdict(const ObservationStore& store,
                                      const std::string& connector,
                                      WallClock::time_point now) {
  std::optional<Verdict> v;
  store.Read(connector, [&](const ObservationStore::Entry& e) {
    v = Judge(e.obs, e.config, now);
  });
  return v;
}

std::vector<ConnectorView> ConnectorViews(const ObservationStore& store,
                                          WallClock::time_point now) {
  std::vector<ConnectorView> out;
  store.ForEach([&](const std::string& name, const ObservationStore::Entry& e) {
    out.push_back({name, e.config, e.obs, Judge(e.obs, e.config, now)});
  });
  return out;
}

void CollectVerdicts(const ObservationStore& store, MetricSink& sink,
                     WallClock::time_point now) {
  store.ForEach([&](const std::string& name, const ObservationStore::Entry& e) {
    const Verdict v = Judge(e.obs, e.config, now);
    sink.Gauge("cdc_silent_failure",
               "1 if the connector claims to run (REST RUNNING, or no REST "
               "state) but end-to-end delivery is failing: markers not "
               "delivered or heartbeats stale. See docs/verdict.md.",
               ConnectorLabels(name, e), v.silent_failure ? 1 : 0);
  });
}

}  // namespace cdc
