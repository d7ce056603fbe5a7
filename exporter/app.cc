#include "exporter/app.h"

#include "actions/remediation.h"
#include "cdc/common/clock.h"
#include "cdc/common/thread_name.h"
#include "exporter/process_metrics.h"
#include "exporter/version.h"

namespace cdc {

App::App(std::string config_path, Logger& log, config::Shard shard)
    : config_path_(std::move(config_path)), shard_(shard), log_(log) {
  const KindEnv env{store_, log_};
  for (const auto& entry : ProbeKindTable()) kinds_.push_back(entry.make(env));
}

App::~App() { Stop(); }

config::Config App::Load() {
  config::Config full = config::LoadConfigFile(config_path_);
  if (shard_.count <= 1) return full;
  config::ShardSplit split;
  config::Config cfg = config::KeepShard(full, shard_, &split);
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
  return cfg;
}

void App::Start() {
  config::Config cfg = Load();
  std::lock_guard<std::mutex> lock(mu_);
  scheduler_ = std::make_shared<Scheduler>(cfg.global.probe_workers, log_);
  Apply(cfg);
  config_ = std::move(cfg);
  last_reload_ok_ = true;
  last_reload_success_ts_ = WallSeconds();
  ready_ = true;
  note_thread_ = std::thread([this] {
    NameThisThread("cdc-verdicts");
    std::unique_lock<std::mutex> lock(note_mu_);
    while (!note_cv_.wait_for(lock, std::chrono::seconds(1),
                              [this] { return note_stop_; })) {
      lock.unlock();
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
    config::Config cfg = Load();
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
