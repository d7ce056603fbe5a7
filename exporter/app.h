#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actions/action_counters.h"
#include "cdc/common/log.h"
#include "config/config.h"
#include "config/discovery.h"
#include "config/shard.h"
#include "exporter/scheduler.h"
#include "probes/observations.h"
#include "probes/probe_kind.h"
#include "probes/verdicts.h"

namespace cdc {

// The exporter: the current configuration, the probes it implies and the
// metrics they produce. Thread-safe: scrapes, reloads (HTTP or SIGHUP) and
// shutdown may come from any thread.
class App {
 public:
  // `shard`: the part of the configuration this replica watches
  // (--shard; 0/1 for all of it), applied at start and at every reload.
  App(std::string config_path, Logger& log, config::Shard shard = {});
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Loads the configuration and starts the probes. Throws ConfigError.
  void Start();

  // Re-reads the configuration file. On success the probes are updated (an
  // unchanged probe keeps running undisturbed); on failure the running
  // configuration stays and the error is returned.
  bool Reload(std::string* error);

  // The Prometheus text exposition of every metric.
  std::string ScrapeText();

  bool Ready() const { return ready_; }
  void Stop();

  // A copy of the running configuration.
  config::Config CurrentConfig() const;

  // Every watched connector with its observations and verdict (for the
  // status page and /api/v1/status).
  std::vector<ConnectorView> Connectors(WallClock::time_point now) const {
    return ConnectorViews(store_, now);
  }
  // Every probe's last result (for the status page).
  std::vector<Scheduler::Status> ProbeStatuses() const;
  // The last discovery outcome of each discovering Connect cluster (for the
  // status page): which listed connectors are watched, and why not.
  std::map<std::string, config::DiscoveryOutcome> Discovery() const;

 private:
  // Builds everything the configuration needs, kind by kind from the probe
  // kind table, then the actions (throws on a problem that the loader cannot
  // see, e.g. a librdkafka property), then switches to it.
  void Apply(const config::Config& cfg);
  std::vector<std::shared_ptr<ProbeKind>> Kinds() const;
  void CollectSelf(MetricSink& sink) const;
  // Loads the file (logging its warnings) into file_config_; throws
  // ConfigError.
  config::Config LoadFile();
  // The configuration to run: `file` plus the connectors discovered from
  // the latest listings, then this replica's shard of it. Sets
  // *outcomes and the split. Called under mu_.
  config::Config Effective(
      const config::Config& file,
      std::map<std::string, config::DiscoveryOutcome>* outcomes,
      config::ShardSplit* split);
  void LogShard(const config::ShardSplit& split);
  // Logs what changed in the discovery findings since the last call.
  void LogDiscovery(
      const std::map<std::string, config::DiscoveryOutcome>& outcomes);
  // A REST poll's listing (KindEnv::listed): kept for Reconcile.
  void OnListing(const std::string& cluster,
                 std::vector<config::ListedConnector> listed);
  // Re-applies the configuration when a listing changed (on the
  // cdc-verdicts thread, every second).
  void Reconcile();

  const std::string config_path_;
  const config::Shard shard_;
  Logger& log_;
  // Declared before the kinds: outlives every thread they run.
  ObservationStore store_;
  VerdictBoard verdicts_{log_};
  ActionCounters action_counters_;
  std::shared_ptr<Scheduler> scheduler_;
  // One object per probe kind (ProbeKindTable), in table order. Guarded by
  // mu_.
  std::vector<std::shared_ptr<ProbeKind>> kinds_;

  mutable std::mutex
      mu_;  // guards config_ and the reload status; serialises reloads
  config::Config config_;       // running: the file's, discovered, sharded
  config::Config file_config_;  // as loaded from the file
  // The last discovery outcome per Connect cluster, and what was logged of
  // it (connector -> result and reason). Guarded by mu_.
  std::map<std::string, config::DiscoveryOutcome> discovery_;
  std::map<std::string, std::string> logged_findings_;
  // The latest listing of each discovering Connect cluster.
  std::mutex listing_mu_;
  std::map<std::string, std::vector<config::ListedConnector>>
      listings_;                   // guarded by listing_mu_
  bool listings_changed_ = false;  // guarded by listing_mu_
  bool last_reload_ok_ = false;
  double last_reload_success_ts_ = 0;
  std::atomic<bool> ready_{false};
  // Logs verdict changes every second (VerdictBoard::Note), scrapes or not.
  std::mutex note_mu_;
  std::condition_variable note_cv_;
  bool note_stop_ = false;
  std::thread note_thread_;
};

}  // namespace cdc
