#include "exporter/app.h"

#include "exporter/process_metrics.h"
#include "exporter/version.h"
#include "probes/binlog_session_probe.h"
#include "probes/connect_rest_probe.h"
#include "probes/marker_probe.h"
#include "probes/offset_lag_probe.h"
#include "probes/remediation_probe.h"

namespace cdc {
namespace {

double WallSeconds() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

App::App(std::string config_path, Logger& log)
    : config_path_(std::move(config_path)), log_(log), pipeline_(log) {}

App::~App() { Stop(); }

void App::Start() {
  config::Config cfg = config::LoadConfigFile(config_path_);
  std::lock_guard<std::mutex> lock(mu_);
  scheduler_ = std::make_shared<Scheduler>(cfg.global.probe_workers, log_);
  Apply(cfg);
  config_ = std::move(cfg);
  last_reload_ok_ = true;
  last_reload_success_ts_ = WallSeconds();
  ready_ = true;
}

void App::Apply(const config::Config& cfg) {
  std::vector<std::shared_ptr<Probe>> probes;
  for (const auto& cluster : cfg.connect_clusters) {
    probes.push_back(std::make_shared<ConnectRestProbe>(
        cluster, log_,
        [this](const std::string& name, bool ok,
               const std::vector<connect::ConnectorStatus>& connectors) {
          pipeline_.OnRestPoll(name, ok, connectors);
        }));
  }

  // Kafka: one watcher per cluster that connectors use.
  std::map<std::string, std::shared_ptr<KafkaWatcher>> watchers;
  std::map<std::string, std::vector<KafkaInterest>> interests;
  for (const auto& c : cfg.connectors) {
    const config::KafkaCluster& k = *cfg.FindKafka(c.kafka);
    const config::Source& src = *cfg.FindSource(c.source);
    auto& list = interests[k.name];
    if (c.marker.enabled) {
      list.push_back(
          {KafkaInterest::Kind::kMarker, c.MarkerTopic(src.canary), c.name});
    }
    if (c.heartbeat.enabled) {
      list.push_back(
          {KafkaInterest::Kind::kHeartbeat, c.HeartbeatTopic(), c.name});
    }
    list.push_back({KafkaInterest::Kind::kOffsets, k.offsets_topic, c.name});
  }
  for (const auto& [name, list] : interests) {
    const config::KafkaCluster& k = *cfg.FindKafka(name);
    auto it = watchers_.find(name);
    if (it != watchers_.end() && it->second->cluster().SameConsumer(k)) {
      watchers[name] = it->second;
    } else {
      watchers[name] = std::make_shared<KafkaWatcher>(k, pipeline_, log_);
    }
    probes.push_back(std::make_shared<KafkaProbe>(watchers[name], k));
  }

  // Per source: markers (one probe per marker interval), binlog sessions,
  // offset lag.
  for (const auto& src : cfg.sources) {
    std::vector<config::Connector> mine;
    std::map<std::chrono::milliseconds, std::vector<std::string>> by_interval;
    std::map<std::string, std::string> binlog_users;
    for (const auto& c : cfg.connectors) {
      if (c.source != src.name) continue;
      mine.push_back(c);
      if (c.marker.enabled) by_interval[c.marker.interval].push_back(c.name);
      if (!c.binlog_user.empty()) binlog_users[c.name] = c.binlog_user;
    }
    if (mine.empty()) continue;
    for (const auto& [interval, names] : by_interval) {
      probes.push_back(
          std::make_shared<MarkerProbe>(src, interval, names, pipeline_, log_));
    }
    if (!binlog_users.empty()) {
      probes.push_back(std::make_shared<BinlogSessionProbe>(src, binlog_users,
                                                            pipeline_, log_));
    }
    probes.push_back(
        std::make_shared<OffsetLagProbe>(src, mine, cfg, pipeline_, log_));
  }

  // Evidence capture and auto-restart, for the connectors that want them.
  for (const auto& c : cfg.connectors) {
    if (!RemediationProbe::Needed(c)) continue;
    probes.push_back(std::make_shared<RemediationProbe>(
        c,
        c.connect_cluster.empty() ? nullptr
                                  : cfg.FindConnectCluster(c.connect_cluster),
        pipeline_, log_));
  }

  // Everything built: switch over.
  pipeline_.SetConnectors(cfg.connectors);
  for (auto& [name, w] : watchers) w->SetInterests(interests[name]);
  watchers_ = std::move(watchers);
  scheduler_->SetProbes(std::move(probes));
}

bool App::Reload(std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    config::Config cfg = config::LoadConfigFile(config_path_);
    if (cfg.global.probe_workers != config_.global.probe_workers) {
      log_.Warn("global.probe_workers changes only at restart",
                {{"running", std::to_string(config_.global.probe_workers)},
                 {"configured", std::to_string(cfg.global.probe_workers)}});
    }
    Apply(cfg);
    config_ = std::move(cfg);
    last_reload_ok_ = true;
    last_reload_success_ts_ = WallSeconds();
    log_.Info("configuration reloaded", {{"file", config_path_}});
    return true;
  } catch (const std::exception& e) {
    last_reload_ok_ = false;
    *error = e.what();
    log_.Error("configuration reload failed; keeping the running one",
               {{"err", *error}});
    return false;
  }
}

config::Config App::CurrentConfig() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void App::CollectSelf(MetricSink& sink) const {
  sink.Gauge("cdc_exporter_build_info",
             "Always 1; labels say the version and git revision of "
             "cdc-sentinel.",
             {{"version", kVersion}, {"revision", kRevision}}, 1);
  std::lock_guard<std::mutex> lock(mu_);
  sink.Gauge("cdc_config_last_reload_successful",
             "1 if the last configuration load succeeded, 0 if it was "
             "rejected (the previous configuration is still running).",
             {}, last_reload_ok_ ? 1 : 0);
  sink.Gauge("cdc_config_last_reload_success_timestamp_seconds",
             "Unix time of the last successful configuration load.", {},
             last_reload_success_ts_);
}

std::string App::ScrapeText() {
  MetricSink sink;
  CollectSelf(sink);
  CollectProcessMetrics(sink);
  std::shared_ptr<Scheduler> scheduler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    scheduler = scheduler_;
  }
  if (scheduler) scheduler->Collect(sink);
  pipeline_.Collect(sink, std::chrono::system_clock::now());
  return sink.Render();
}

std::vector<Scheduler::Status> App::ProbeStatuses() const {
  std::shared_ptr<Scheduler> scheduler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    scheduler = scheduler_;
  }
  return scheduler ? scheduler->Statuses() : std::vector<Scheduler::Status>{};
}

void App::Stop() {
  ready_ = false;
  std::shared_ptr<Scheduler> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = std::move(scheduler_);
  }
  if (s) s->Stop(std::chrono::seconds(5));
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.clear();  // stops the consumers
}

}  // namespace cdc
