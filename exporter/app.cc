#include "exporter/app.h"

#include <set>

#include "actions/remediation.h"
#include "cdc/common/clock.h"
#include "cdc/common/thread_name.h"
#include "exporter/process_metrics.h"
#include "exporter/version.h"

namespace cdc {

App::App(std::string config_path, Logger& log, config::Shard shard)
    : config_path_(std::move(config_path)), shard_(shard), log_(log) {
  KindEnv env{store_, log_};
  env.listed = [this](const std::string& cluster,
                      std::vector<config::ListedConnector> listed) {
    OnListing(cluster, std::move(listed));
  };
  for (const auto& entry : ProbeKindTable()) kinds_.push_back(entry.make(env));
}

App::~App() { Stop(); }

config::Config App::LoadFile() {
  config::Config file = config::LoadConfigFile(config_path_);
  for (const auto& w : file.warnings) log_.Warn(w);
  return file;
}

config::Config App::Effective(
    const config::Config& file,
    std::map<std::string, config::DiscoveryOutcome>* outcomes,
    config::ShardSplit* split) {
  std::map<std::string, std::vector<config::ListedConnector>> listings;
  {
    std::lock_guard<std::mutex> lock(listing_mu_);
    listings = listings_;
    listings_changed_ = false;
  }
  outcomes->clear();
  for (const auto& cluster : file.connect_clusters) {
    auto it = listings.find(cluster.name);
    if (!cluster.discover.enabled || it == listings.end()) continue;
    (*outcomes)[cluster.name] = config::Discover(file, cluster, it->second);
  }
  const config::Config merged = config::WithDiscovered(file, outcomes);
  config::Config cfg = config::KeepShard(merged, shard_, split);
  if (shard_.count > 1) {
    std::set<std::string> kept(split->kept_connectors.begin(),
                               split->kept_connectors.end());
    for (auto& [cluster, outcome] : *outcomes) {
      std::erase_if(outcome.connectors, [&](const config::Connector& c) {
        return !kept.count(c.name);
      });
      for (auto& f : outcome.findings) {
        if (f.result != config::DiscoveryResult::kMonitored ||
            kept.count(f.connector)) {
          continue;
        }
        f.result = config::DiscoveryResult::kOtherShard;
        f.reason = "its source is watched by another replica (--shard " +
                   shard_.ToString() + ")";
      }
    }
  }
  return cfg;
}

void App::LogShard(const config::ShardSplit& split) {
  if (shard_.count <= 1) return;
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out.empty() ? std::string("none") : out;
  };
  log_.Info("shard " + shard_.ToString() + ": watching " +
                std::to_string(split.kept_connectors.size()) +
                " connector(s) on " +
                std::to_string(split.kept_sources.size()) +
                " source(s); the other replicas watch the rest",
            {{"sources", join(split.kept_sources)},
             {"other_sources", join(split.dropped_sources)},
             {"connectors", join(split.kept_connectors)}});
}

void App::LogDiscovery(
    const std::map<std::string, config::DiscoveryOutcome>& outcomes) {
  std::map<std::string, std::string> now;
  for (const auto& [cluster, outcome] : outcomes) {
    for (const auto& f : outcome.findings) {
      const std::string result(config::DiscoveryResultName(f.result));
      const std::string key = cluster + "/" + f.connector;
      now[key] = result + ": " + f.reason;
      auto it = logged_findings_.find(key);
      if (it != logged_findings_.end() && it->second == now[key]) continue;
      const std::initializer_list<LogField> fields = {
          {"connect_cluster", cluster},
          {"connector", f.connector},
          {"result", result},
          {"reason", f.reason}};
      using R = config::DiscoveryResult;
      if (f.result == R::kMonitored) {
        log_.Info("discovered connector: monitored", fields);
      } else if (f.result == R::kNoSource ||
                 f.result == R::kCanaryNotCaptured ||
                 f.result == R::kIncomplete ||
                 f.result == R::kDuplicatePrefix) {
        log_.Warn("discovered connector cannot be monitored", fields);
      } else {
        log_.Info("discovered connector not monitored", fields);
      }
    }
  }
  for (const auto& [key, text] : logged_findings_) {
    if (now.count(key)) continue;
    const auto slash = key.find('/');
    log_.Info("connector no longer listed by its Connect cluster",
              {{"connect_cluster", key.substr(0, slash)},
               {"connector", key.substr(slash + 1)}});
  }
  logged_findings_ = std::move(now);
}

void App::OnListing(const std::string& cluster,
                    std::vector<config::ListedConnector> listed) {
  std::lock_guard<std::mutex> lock(listing_mu_);
  auto& slot = listings_[cluster];
  if (slot == listed) return;
  slot = std::move(listed);
  listings_changed_ = true;
}

void App::Reconcile() {
  {
    std::lock_guard<std::mutex> lock(listing_mu_);
    if (!listings_changed_) return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!scheduler_) return;
  std::map<std::string, config::DiscoveryOutcome> outcomes;
  config::ShardSplit split;
  config::Config cfg = Effective(file_config_, &outcomes, &split);
  try {
    if (!(cfg.connectors == config_.connectors &&
          cfg.connect_clusters == config_.connect_clusters &&
          cfg.kafka_clusters == config_.kafka_clusters)) {
      Apply(cfg);
      config_ = std::move(cfg);
    }
    LogDiscovery(outcomes);
    discovery_ = std::move(outcomes);
  } catch (const std::exception& e) {
    log_.Error(
        "could not start monitoring the discovered connectors; keeping the "
        "running configuration",
        {{"err", e.what()}});
  }
}

void App::Start() {
  config::Config file = LoadFile();
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, config::DiscoveryOutcome> outcomes;
  config::ShardSplit split;
  config::Config cfg = Effective(file, &outcomes, &split);
  LogShard(split);
  scheduler_ = std::make_shared<Scheduler>(cfg.global.probe_workers, log_);
  Apply(cfg);
  config_ = std::move(cfg);
  file_config_ = std::move(file);
  discovery_ = std::move(outcomes);
  last_reload_ok_ = true;
  last_reload_success_ts_ = WallSeconds();
  ready_ = true;
  note_thread_ = std::thread([this] {
    NameThisThread("cdc-verdicts");
    std::unique_lock<std::mutex> lock(note_mu_);
    while (!note_cv_.wait_for(lock, std::chrono::seconds(1),
                              [this] { return note_stop_; })) {
      lock.unlock();
      Reconcile();
      verdicts_.Note(store_, WallClock::now());
      lock.lock();
    }
  });
}

void App::Apply(const config::Config& cfg) {
  KindParts parts;
  for (const auto& kind : kinds_) kind->Build(cfg, parts);
  BuildActions(cfg, store_, action_counters_, log_, parts.probes);

  // Everything built: switch over.
  store_.SetConnectors(cfg.connectors);
  action_counters_.Retain(cfg.connectors);
  for (auto& commit : parts.commits) commit();
  scheduler_->SetProbes(std::move(parts.probes));
}

std::vector<std::shared_ptr<ProbeKind>> App::Kinds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return kinds_;
}

bool App::Reload(std::string* error) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    config::Config file = LoadFile();
    std::map<std::string, config::DiscoveryOutcome> outcomes;
    config::ShardSplit split;
    config::Config cfg = Effective(file, &outcomes, &split);
    LogShard(split);
    if (cfg.global.probe_workers != config_.global.probe_workers) {
      log_.Warn("global.probe_workers changes only at restart",
                {{"running", std::to_string(config_.global.probe_workers)},
                 {"configured", std::to_string(cfg.global.probe_workers)}});
    }
    Apply(cfg);
    config_ = std::move(cfg);
    file_config_ = std::move(file);
    LogDiscovery(outcomes);
    discovery_ = std::move(outcomes);
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
  sink.Gauge("cdc_exporter_shard_info",
             "Always 1; the part of the configuration this replica watches "
             "(--shard=INDEX/COUNT; 0 of 1 when not sharded).",
             {{"index", std::to_string(shard_.index)},
              {"count", std::to_string(shard_.count)}},
             1);
  std::lock_guard<std::mutex> lock(mu_);
  sink.Gauge("cdc_config_last_reload_successful",
             "1 if the last configuration load succeeded, 0 if it was "
             "rejected (the previous configuration is still running).",
             {}, last_reload_ok_ ? 1 : 0);
  sink.Gauge("cdc_config_last_reload_success_timestamp_seconds",
             "Unix time of the last successful configuration load.", {},
             last_reload_success_ts_);
  for (const auto& [cluster, outcome] : discovery_) {
    std::map<config::DiscoveryResult, int> counts;
    for (const auto& f : outcome.findings) ++counts[f.result];
    for (auto r : config::kAllDiscoveryResults) {
      sink.Gauge("cdc_discovered_connectors",
                 "Connectors the Connect cluster lists, by what discovery "
                 "made of them: monitored, configured (a connectors[] entry "
                 "is used), excluded, not_mysql, other_shard, or a reason it "
                 "cannot be monitored (no_source, canary_not_captured, "
                 "incomplete, duplicate_prefix; the log says why).",
                 {{"connect_cluster", cluster},
                  {"result", std::string(config::DiscoveryResultName(r))}},
                 counts[r]);
    }
  }
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
  const auto now = WallClock::now();
  verdicts_.Collect(store_, sink, now);
  auto kinds = Kinds();
  for (const auto& kind : kinds) kind->Collect(sink, now);
  // Should this be the last reference (a concurrent Stop), the kafka kind
  // goes first, as in Stop().
  while (!kinds.empty()) kinds.pop_back();
  action_counters_.Collect(sink);
  return sink.Render();
}

std::map<std::string, config::DiscoveryOutcome> App::Discovery() const {
  std::lock_guard<std::mutex> lock(mu_);
  return discovery_;
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
  {
    std::lock_guard<std::mutex> lock(note_mu_);
    note_stop_ = true;
  }
  note_cv_.notify_all();
  if (note_thread_.joinable()) note_thread_.join();
  std::shared_ptr<Scheduler> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = std::move(scheduler_);
  }
  if (s) s->Stop(std::chrono::seconds(5));
  std::vector<std::shared_ptr<ProbeKind>> kinds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    kinds = std::move(kinds_);
  }
  // Last built, first gone: the kafka kind's consumers stop before the
  // kinds whose records they deliver.
  while (!kinds.empty()) kinds.pop_back();
}

}  // namespace cdc
