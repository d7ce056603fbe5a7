#include "probes/connect_rest_probe.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cdc/common/clock.h"

namespace cdc {
namespace {

constexpr char kConnectUp[] = "cdc_connect_up";
constexpr char kConnectUpHelp[] =
    "1 if the last poll of the Kafka Connect REST API succeeded, else 0.";
constexpr char kLastSuccess[] = "cdc_connect_last_success_timestamp_seconds";
constexpr char kLastSuccessHelp[] =
    "Unix time of the last successful poll of the Kafka Connect REST API; "
    "connector series show the state as of then.";
constexpr char kState[] = "cdc_connector_state";
constexpr char kStateHelp[] =
    "Connector state from the Kafka Connect REST API: 1 for the current "
    "state, 0 for the others.";
constexpr char kTaskState[] = "cdc_connector_task_state";
constexpr char kTaskStateHelp[] =
    "Task state from the Kafka Connect REST API: 1 for the current state, 0 "
    "for the others.";
constexpr char kInfo[] = "cdc_connector_info";
constexpr char kInfoHelp[] =
    "Always 1; labels say the connector's type, class and the worker running "
    "it.";
constexpr char kTasks[] = "cdc_connector_tasks";
constexpr char kTasksHelp[] = "Number of tasks of the connector.";

// Adds the series of `c` to `sink`.
void AddConnectorSeries(const std::string& cl,
                        const connect::ConnectorStatus& c, MetricSink& sink) {
  for (auto s : connect::kStates) {
    sink.Gauge(kState, kStateHelp,
               {{"connect_cluster", cl},
                {"connector", c.name},
                {"state", std::string(s)}},
               c.state == s ? 1 : 0);
  }
  sink.Gauge(kInfo, kInfoHelp,
             {{"connect_cluster", cl},
              {"connector", c.name},
              {"type", c.type},
              {"connector_class", c.connector_class},
              {"worker_id", c.worker_id}},
             1);
  sink.Gauge(kTasks, kTasksHelp,
             {{"connect_cluster", cl}, {"connector", c.name}},
             static_cast<double>(c.tasks.size()));
  for (const auto& t : c.tasks) {
    const std::string id = std::to_string(t.id);
    for (auto s : connect::kStates) {
      sink.Gauge(kTaskState, kTaskStateHelp,
                 {{"connect_cluster", cl},
                  {"connector", c.name},
                  {"task", id},
                  {"state", std::string(s)}},
                 t.state == s ? 1 : 0);
    }
  }
}

// The per-connector and per-task series of one poll, rendered once: they
// change only when the probe runs, and there are 32,000 of them at a
// thousand connectors. Rendered a batch of connectors at a time, so that the
// intermediate objects of only one batch exist at once (a few hundred kB,
// not the ~20 MB of all 32,000 series).
std::vector<RenderedFamily> RenderConnectorSeries(
    const std::string& cl, const std::vector<connect::ConnectorStatus>& now) {
  constexpr std::size_t kBatch = 50;
  MetricSink all;
  for (std::size_t i = 0; i < now.size(); i += kBatch) {
    MetricSink batch;
    for (std::size_t j = i; j < std::min(now.size(), i + kBatch); ++j) {
      AddConnectorSeries(cl, now[j], batch);
    }
    for (const auto& f : batch.TakeRendered()) all.Add(f);
  }
  return all.TakeRendered();
}

}  // namespace

ConnectRestProbe::ConnectRestProbe(const config::ConnectCluster& cluster,
                                   Logger& log, Observer observer)
    : cluster_(cluster),
      log_(log),
      client_(cluster),
      observer_(std::move(observer)) {}

bool ConnectRestProbe::SameAs(const Probe& other) const {
  const auto* o = dynamic_cast<const ConnectRestProbe*>(&other);
  return o != nullptr && o->cluster_ == cluster_;
}

nlohmann::json ConnectRestProbe::GetJson(const std::string& path,
                                         const ProbeContext& ctx, int* status) {
  connect::HttpResult r = client_.Get(path, ctx.deadline);
  if (!r.ok) throw std::runtime_error("GET " + path + ": " + r.error);
  *status = r.status;
  if (r.status == 404) return nullptr;
  if (r.status != 200) {
    std::string detail;
    // Connect's errors are {"error_code":500,"message":"..."}.
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      detail = ": " + connect::FirstLine(j["message"].get<std::string>());
    }
    throw std::runtime_error("GET " + path + ": HTTP " +
                             std::to_string(r.status) + detail);
  }
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    throw std::runtime_error("GET " + path + ": malformed JSON (" +
                             std::to_string(r.body.size()) + " bytes)");
  }
  return j;
}

std::vector<connect::ConnectorStatus> ConnectRestProbe::PollWithoutExpand(
    const std::vector<std::string>& names, const ProbeContext& ctx) {
  std::vector<connect::ConnectorStatus> out;
  for (const auto& name : names) {
    const std::string base = "/connectors/" + connect::EncodePathSegment(name);
    int status = 0;
    auto st = GetJson(base + "/status", ctx, &status);
    if (status == 404) continue;  // deleted since the listing
    auto c = connect::ParseConnectorStatus(st, "connectors[\"" + name + "\"]");
    auto info = GetJson(base, ctx, &status);
    if (status != 404) {
      connect::ApplyConnectorInfo(info, "connectors[\"" + name + "\"]", &c);
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<connect::ConnectorStatus> ConnectRestProbe::Poll(
    const ProbeContext& ctx) {
  int status = 0;
  const std::string path = "/connectors?expand=status&expand=info";
  auto j = GetJson(path, ctx, &status);
  if (status == 404) {
    throw std::runtime_error("GET " + path +
                             ": HTTP 404 (is the url a Kafka Connect worker?)");
  }
  try {
    if (j.is_array()) {
      // Workers before Kafka 2.3 ignore expand and list names only.
      bool was_supported;
      {
        std::lock_guard<std::mutex> lock(mu_);
        was_supported = expand_supported_;
        expand_supported_ = false;
      }
      if (was_supported) {
        log_.Info(
            "Connect worker does not support ?expand; polling each "
            "connector's status instead",
            {{"connect_cluster", cluster_.name}});
      }
      return PollWithoutExpand(connect::ParseConnectorNames(j), ctx);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      expand_supported_ = true;
    }
    return connect::ParseExpandedConnectors(j);
  } catch (const connect::ShapeError& e) {
    throw std::runtime_error("unexpected response shape: " +
                             std::string(e.what()));
  }
}

void ConnectRestProbe::LogChanges(
    const std::vector<connect::ConnectorStatus>& now) {
  // Called with mu_ held.
  std::set<std::string> present;
  auto note = [&](const std::string& key, const std::string& connector,
                  const std::string* task, const std::string& state,
                  const std::string& trace) {
    present.insert(key);
    auto it = logged_state_.find(key);
    const bool changed = it == logged_state_.end() || it->second != state;
    if (it != logged_state_.end() && it->second != state) {
      if (task != nullptr) {
        log_.Info("task state changed", {{"connect_cluster", cluster_.name},
                                         {"connector", connector},
                                         {"task", *task},
                                         {"from", it->second},
                                         {"to", state}});
      } else {
        log_.Info("connector state changed",
                  {{"connect_cluster", cluster_.name},
                   {"connector", connector},
                   {"from", it->second},
                   {"to", state}});
      }
    }
    logged_state_[key] = state;
    if (state == "FAILED" && !trace.empty()) {
      const std::string first = connect::FirstLine(trace);
      if (logged_trace_[key] != first) {
        logged_trace_[key] = first;
        log_.Error(task ? "task FAILED" : "connector FAILED",
                   {{"connect_cluster", cluster_.name},
                    {"connector", connector},
                    {"task", task ? *task : ""},
                    {"trace", first}});
      }
    } else {
      logged_trace_.erase(key);
    }
    if (changed && !connect::IsKnownState(state)) {
      log_.Warn(
          "unknown state from the Connect REST API; all state series "
          "are 0",
          {{"connect_cluster", cluster_.name},
           {"connector", connector},
           {"state", state}});
    }
  };
  for (const auto& c : now) {
    note(c.name, c.name, nullptr, c.state, c.trace);
    for (const auto& t : c.tasks) {
      const std::string id = std::to_string(t.id);
      note(c.name + "/" + id, c.name, &id, t.state, t.trace);
    }
  }
  for (auto it = logged_state_.begin(); it != logged_state_.end();) {
    if (present.count(it->first) == 0) {
      if (it->first.find('/') == std::string::npos) {
        log_.Info(
            "connector no longer listed",
            {{"connect_cluster", cluster_.name}, {"connector", it->first}});
      }
      logged_trace_.erase(it->first);
      it = logged_state_.erase(it);
    } else {
      ++it;
    }
  }
}

ProbeOutcome ConnectRestProbe::Run(const ProbeContext& ctx) {
  client_.Reset();
  std::vector<connect::ConnectorStatus> now;
  std::string error;
  try {
    now = Poll(ctx);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (observer_) observer_(cluster_.name, error.empty(), now);
  // With --shard, another replica reports the others (none twice).
  std::erase_if(now, [&](const connect::ConnectorStatus& c) {
    return !cluster_.ReportsRestSeriesOf(c.name);
  });
  std::vector<RenderedFamily> rendered;
  if (error.empty()) rendered = RenderConnectorSeries(cluster_.name, now);
  std::lock_guard<std::mutex> lock(mu_);
  polled_ = true;
  if (!error.empty()) {
    up_ = false;
    return ProbeOutcome::Fail(error);
  }
  up_ = true;
  last_success_ts_ = WallSeconds();
  LogChanges(now);
  connectors_ = std::move(now);
  rendered_ = std::move(rendered);
  return ProbeOutcome::Ok();
}

std::vector<connect::ConnectorStatus> ConnectRestProbe::Connectors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connectors_;
}

void ConnectRestProbe::Collect(MetricSink& sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!polled_) return;
  const std::string& cl = cluster_.name;
  sink.Gauge(kConnectUp, kConnectUpHelp, {{"connect_cluster", cl}},
             up_ ? 1 : 0);
  if (last_success_ts_ > 0) {
    sink.Gauge(kLastSuccess, kLastSuccessHelp, {{"connect_cluster", cl}},
               last_success_ts_);
  }
  for (const auto& f : rendered_) sink.Add(f);
}

void RecordRestPoll(ObservationStore& store, const std::string& cluster,
                    bool ok,
                    const std::vector<connect::ConnectorStatus>& connectors) {
  // One lookup per listed connector (a thousand on a big cluster), not a
  // scan of the list per configured one.
  std::map<std::string, const connect::ConnectorStatus*> listed;
  if (ok) {
    for (const auto& s : connectors) listed.emplace(s.name, &s);
  }
  store.UpdateAll([&](const std::string& name, ObservationStore::Entry& e) {
    if (e.config.connect_cluster != cluster) return;
    RestObservation r;  // unlisted (deleted or misnamed) or not polled
    auto it = listed.find(name);
    if (it != listed.end()) {
      const connect::ConnectorStatus& s = *it->second;
      r.source = RestObservation::Source::kListed;
      r.connector = ParseRunState(s.state);
      r.connector_text = s.state;
      for (const auto& t : s.tasks) {
        if (r.connector == RunState::kRunning && t.state != "RUNNING") {
          r.task = ParseRunState(t.state);
          r.task_text = t.state;
        }
      }
    }
    e.obs.rest = std::move(r);
  });
}

namespace {

std::vector<config::ListedConnector> ToListed(
    const std::vector<connect::ConnectorStatus>& connectors) {
  std::vector<config::ListedConnector> out;
  out.reserve(connectors.size());
  for (const auto& c : connectors) {
    out.push_back({c.name, c.connector_class, c.config});
  }
  return out;
}

class ConnectRestKind final : public ProbeKind {
 public:
  explicit ConnectRestKind(const KindEnv& env) : env_(env) {}
  std::string_view Name() const override { return "connect_rest"; }
  void Build(const config::Config& cfg, KindParts& parts) override {
    for (const auto& cluster : cfg.connect_clusters) {
      auto listed = cluster.discover.enabled ? env_.listed : nullptr;
      parts.probes.push_back(std::make_shared<ConnectRestProbe>(
          cluster, env_.log,
          [&store = env_.store, listed](
              const std::string& name, bool ok,
              const std::vector<connect::ConnectorStatus>& connectors) {
            RecordRestPoll(store, name, ok, connectors);
            if (ok && listed) listed(name, ToListed(connectors));
          }));
    }
  }

 private:
  KindEnv env_;
};

}  // namespace

std::unique_ptr<ProbeKind> MakeConnectRestKind(const KindEnv& env) {
  return std::make_unique<ConnectRestKind>(env);
}

}  // namespace cdc
