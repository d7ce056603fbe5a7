#include "probes/verdicts.h"

#include "cdc/common/duration.h"
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

void VerdictBoard::Collect(const ObservationStore& store, MetricSink& sink,
                           WallClock::time_point now) {
  std::vector<std::pair<std::string, Verdict>> changed;
  store.ForEach([&](const std::string& name, const ObservationStore::Entry& e) {
    const Verdict v = Judge(e.obs, e.config, now);
    const MetricLabels l = ConnectorLabels(name, e);
    for (VerdictState s : kAllVerdictStates) {
      MetricLabels sl = l;
      sl.emplace_back("verdict", std::string(ToString(s)));
      sink.Gauge("cdc_connector_verdict",
                 "The verdict on the connector, a state set: exactly one "
                 "series is 1 (ok, lagging, stalled, not_running, "
                 "misconfigured, unknown). See docs/verdict.md.",
                 sl, v.state == s ? 1 : 0);
    }
    sink.Gauge("cdc_silent_failure",
               "1 if the verdict is stalled: the connector claims to run "
               "(REST RUNNING, no REST API, or REST unreachable) but has "
               "produced nothing since a marker was written, for longer "
               "than its stall window. See docs/verdict.md.",
               l, v.silent_failure ? 1 : 0);
    sink.Gauge("cdc_stall_window_seconds",
               "How long the connector may produce nothing after a marker "
               "write before it is judged stalled (learned from its own "
               "response times with silent_failure.window: auto).",
               l, v.window_s);
    // Where the connector sits, to join the per-connector series on (they
    // carry only connector and tls_version): its Connect cluster ("" for MSK
    // Connect), source (its cohort), Kafka cluster and topic prefix.
    {
      MetricLabels pl = l;
      pl.emplace_back("connect_cluster", e.config.connect_cluster);
      pl.emplace_back("source", e.config.source);
      pl.emplace_back("kafka_cluster", e.config.kafka);
      pl.emplace_back("topic_prefix", e.config.topic_prefix);
      sink.Gauge("cdc_connector_pipeline_info",
                 "Always 1; where the connector sits: its Kafka Connect "
                 "cluster, source (cohort), Kafka cluster and topic prefix. "
                 "Join on (connector).",
                 pl, 1);
    }
    // The connector's own settings, so that rules and dashboards compare
    // against them instead of the defaults.
    if (e.config.marker.enabled) {
      sink.Gauge("cdc_marker_interval_seconds",
                 "How often cdc-sentinel writes a marker for the connector "
                 "(its marker.interval).",
                 l, ToSeconds(e.config.marker.interval));
      sink.Gauge("cdc_marker_timeout_seconds",
                 "How long a marker may take to arrive before it counts as "
                 "missed (the connector's marker.timeout).",
                 l, ToSeconds(e.config.marker.timeout));
    }
    if (e.config.heartbeat.enabled) {
      sink.Gauge("cdc_heartbeat_max_age_seconds",
                 "The heartbeat age above which the connector's heartbeats "
                 "count as stale (its heartbeat.max_age).",
                 l, ToSeconds(e.config.heartbeat.max_age));
    }
    if (e.obs.progress.last_output > 0) {
      sink.Gauge("cdc_connector_last_output_timestamp_seconds",
                 "When the newest record the connector wrote (marker or "
                 "heartbeat topic) was produced, as far as cdc-sentinel has "
                 "read.",
                 l, e.obs.progress.last_output);
    }
    changed.emplace_back(name, v);
  });
  LogChanges(changed, now);
}

void VerdictBoard::Note(const ObservationStore& store,
                        WallClock::time_point now) {
  std::vector<std::pair<std::string, Verdict>> verdicts;
  store.ForEach([&](const std::string& name, const ObservationStore::Entry& e) {
    verdicts.emplace_back(name, Judge(e.obs, e.config, now));
  });
  LogChanges(verdicts, now);
}

void VerdictBoard::LogChanges(
    const std::vector<std::pair<std::string, Verdict>>& verdicts,
    WallClock::time_point at) {
  std::map<std::string, VerdictState> states;
  std::lock_guard<std::mutex> lock(mu_);
  // A scrape and the second-by-second Note may race: a judgement older than
  // the last one logged is not news (it would log a change back and forth).
  if (at < last_at_) return;
  last_at_ = at;
  for (const auto& [name, v] : verdicts) {
    states[name] = v.state;
    auto it = last_.find(name);
    const bool first = it == last_.end();
    if (!first && it->second == v.state) continue;
    // The first verdict of a connector is logged only if it is not ok.
    if (first &&
        (v.state == VerdictState::kOk || v.state == VerdictState::kUnknown)) {
      continue;
    }
    log_.Log(
        v.state == VerdictState::kStalled ? LogLevel::kWarn : LogLevel::kInfo,
        "connector verdict changed",
        {{"connector", name},
         {"tls_version", v.tls_version},
         {"from", first ? "none" : std::string(ToString(it->second))},
         {"verdict", std::string(ToString(v.state))},
         {"reason", v.ReasonText()}});
  }
  last_ = std::move(states);
}

}  // namespace cdc
