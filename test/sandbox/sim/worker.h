#pragma once

// The simulated Kafka Connect worker: owns the connectors, runs the herder
// (one thread that carries out lifecycle requests in order, as Connect's
// herder does) and the periodic offset commit (offset.flush.interval.ms).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/log.h"
#include "connector.h"
#include "kafka_producer.h"
#include "offset_store.h"
#include "sim_config.h"

namespace cdc::sim {

// Thread-safe. The set of connectors is fixed at construction.
class Worker {
 public:
  // Throws ConfigError when a streaming connector's settings are invalid.
  Worker(const SimConfig& config, KafkaProducer& producer, OffsetStore& store,
         cdc::Logger& log);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the streaming tasks and the herder and committer threads.
  void Start();
  // Stops every task (committing its final offsets) and joins all threads.
  void Stop();

  const std::string& worker_id() const { return worker_id_; }
  // Sorted by name.
  const std::vector<std::unique_ptr<Connector>>& connectors() const {
    return connectors_;
  }
  Connector* Find(const std::string& name) const;

  // REST operations: they return at once; the work runs on the herder.
  // Returns the status to report (instances to restart shown RESTARTING).
  ConnectorStatusView Restart(Connector& c, bool include_tasks,
                              bool only_failed);
  void RestartTask(Connector& c, int task);
  void Pause(Connector& c);
  void Resume(Connector& c);
  void StopConnector(Connector& c);

  // The JVM-like thread dump of every streaming connector.
  std::string ThreadDump() const;

 private:
  void Submit(std::function<void()> op);
  void HerderMain();
  void CommitterMain();
  // Flushes the producer and writes changed offsets. `only`: one connector;
  // `final_offset`: the snapshot of a task that has just stopped.
  void Commit(Connector* only, const std::optional<TaskSnapshot>& final_snap);
  void StartTask(Connector& c);
  void StopTask(Connector& c);  // stops, then commits its last offset

  const std::string worker_id_;
  const std::chrono::milliseconds flush_interval_;
  KafkaProducer& producer_;
  OffsetStore& store_;
  cdc::Logger& log_;
  std::vector<std::unique_ptr<Connector>> connectors_;
  std::map<std::string, Connector*> by_name_;

  std::mutex commit_mu_;  // one commit at a time

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> ops_;  // guarded by mu_
  bool stopping_ = false;                  // guarded by mu_
  bool started_ = false;
  std::thread herder_;
  std::thread committer_;
};

}  // namespace cdc::sim
