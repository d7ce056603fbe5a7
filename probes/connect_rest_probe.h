#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/connect_client.h"
#include "probes/connect_status.h"
#include "probes/observations.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"

namespace cdc {

// The REST status probe: polls one Kafka Connect cluster's REST API for the
// state of every connector and task. Thread-safe (see Probe).
//
// When a poll fails, cdc_connect_up drops to 0 and the connector series keep
// the values of the last successful poll (so a FAILED connector does not
// look resolved during a REST outage); cdc_connect_last_success_timestamp_
// seconds tells how old they are. Connectors that disappear from a
// successful poll lose their series at once.
class ConnectRestProbe final : public Probe {
 public:
  // Called after every poll with the cluster name, whether it succeeded and
  // the connectors it found (empty on failure), all of them (before
  // --shard leaves out those another replica reports).
  using Observer = std::function<void(
      const std::string&, bool, const std::vector<connect::ConnectorStatus>&)>;

  ConnectRestProbe(const config::ConnectCluster& cluster, Logger& log,
                   Observer observer = nullptr);

  std::string_view Kind() const override { return "connect_rest"; }
  const std::string& Target() const override { return cluster_.name; }
  std::chrono::milliseconds Interval() const override {
    return cluster_.interval;
  }
  std::chrono::milliseconds Timeout() const override {
    return cluster_.timeout;
  }
  bool SameAs(const Probe& other) const override;
  ProbeOutcome Run(const ProbeContext& ctx) override;
  void Cancel() override { client_.Cancel(); }
  void Collect(MetricSink& sink) const override;

  // The connectors of the last successful poll (for the status page).
  std::vector<connect::ConnectorStatus> Connectors() const;

 private:
  // Fetches every connector's status; throws std::runtime_error with a
  // reason on failure.
  std::vector<connect::ConnectorStatus> Poll(const ProbeContext& ctx);
  std::vector<connect::ConnectorStatus> PollWithoutExpand(
      const std::vector<std::string>& names, const ProbeContext& ctx);
  nlohmann::json GetJson(const std::string& path, const ProbeContext& ctx,
                         int* status);
  void LogChanges(const std::vector<connect::ConnectorStatus>& now);

  const config::ConnectCluster cluster_;
  Logger& log_;
  connect::ConnectClient client_;
  const Observer observer_;

  mutable std::mutex mu_;  // guards everything below
  bool polled_ = false;    // at least one run finished
  bool up_ = false;
  double last_success_ts_ = 0;
  bool expand_supported_ = true;
  std::vector<connect::ConnectorStatus> connectors_;
  // connectors_'s series, rendered when they were polled.
  std::vector<RenderedFamily> rendered_;
  // "connector" or "connector/task" -> state / trace first line last logged.
  std::map<std::string, std::string> logged_state_;
  std::map<std::string, std::string> logged_trace_;
};

// Writes one poll of `cluster` into the REST part of the store: every
// watched connector of the cluster becomes "unknown", then each one the poll
// listed takes its state (a RUNNING connector with a task in another state
// takes the task's state). A failed poll leaves them all "unknown".
void RecordRestPoll(ObservationStore& store, const std::string& cluster,
                    bool ok,
                    const std::vector<connect::ConnectorStatus>& connectors);

// The "connect_rest" kind: one ConnectRestProbe per Connect cluster.
std::unique_ptr<ProbeKind> MakeConnectRestKind(const KindEnv& env);

}  // namespace cdc
