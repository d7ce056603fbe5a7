#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cdc/common/log.h"
#include "config/config.h"
#include "exporter/scheduler.h"
#include "probes/kafka_watcher.h"
#include "probes/pipeline_state.h"

namespace cdc {

// The exporter: the current configuration, the probes it implies and the
// metrics they produce. Thread-safe: scrapes, reloads (HTTP or SIGHUP) and
// shutdown may come from any thread.
class App {
 public:
  App(std::string config_path, Logger& log);
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

  // What is known of every configured connector (for the status page).
  PipelineState& pipeline() { return pipeline_; }
  // Every probe's last result (for the status page).
  std::vector<Scheduler::Status> ProbeStatuses() const;

 private:
  // Builds everything the configuration needs (throws on a problem that the
  // loader cannot see, e.g. a librdkafka property), then switches to it.
  void Apply(const config::Config& cfg);
  void CollectSelf(MetricSink& sink) const;

  const std::string config_path_;
  Logger& log_;
  std::shared_ptr<Scheduler> scheduler_;
  PipelineState pipeline_;
  // One consumer per Kafka cluster, kept across reloads while its settings
  // do not change. Guarded by mu_.
  std::map<std::string, std::shared_ptr<KafkaWatcher>> watchers_;

  mutable std::mutex
      mu_;  // guards config_ and the reload status; serialises reloads
  config::Config config_;
  bool last_reload_ok_ = false;
  double last_reload_success_ts_ = 0;
  std::atomic<bool> ready_{false};
};

}  // namespace cdc
