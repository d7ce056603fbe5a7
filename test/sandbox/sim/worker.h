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

// Thread-safe. The connectors of the config are there from construction;
// others are created and deleted at runtime (REST), as in Connect.
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
  // A snapshot of the current connectors, sorted by name. A connector
  // deleted meanwhile stays valid for whoever holds it.
  std::vector<ConnectorPtr> connectors() const;
  ConnectorPtr Find(const std::string& name) const;

  // Adds a connector (POST /connectors): listed at once, UNASSIGNED for a
  // moment, its task started on the herder (none while `initial` is
  // kStopped; paused when kPaused). Returns nullptr when a connector of that
  // name exists. Throws ConfigError, naming the key, when a streaming
  // connector's Debezium settings are invalid.
  ConnectorPtr Create(ConnectorSpec spec,
                      TargetState initial = TargetState::kStarted);
  // Removes a connector (DELETE /connectors/{name}) from every listing at
  // once; its task is stopped on the herder, committing its last offset
  // (the stored offsets stay, as in Connect). False for an unknown name.
  bool Delete(const std::string& name);

  // REST operations: they return at once; the work runs on the herder.
  // Returns the status to report (instances to restart shown RESTARTING).
  ConnectorStatusView Restart(const ConnectorPtr& c, bool include_tasks,
                              bool only_failed);
  void RestartTask(const ConnectorPtr& c, int task);
  void Pause(const ConnectorPtr& c);
  void Resume(const ConnectorPtr& c);
  void StopConnector(const ConnectorPtr& c);

  // The JVM-like thread dump of every streaming connector.
  std::string ThreadDump() const;

 private:
  void HerderMain();
  void CommitterMain();
  // Queues `op` for the herder; false (op dropped) once stopping.
  bool Submit(std::function<void()> op);
  // Flushes the producer and writes changed offsets. `only`: one connector;
  // `final_offset`: the snapshot of a task that has just stopped.
  void Commit(Connector* only, const std::optional<TaskSnapshot>& final_snap);
  void StartTask(Connector& c);  // not for a deleted connector
  void StopTask(Connector& c);   // stops, then commits its last offset

  const std::string worker_id_;
  const std::chrono::milliseconds flush_interval_;
  KafkaProducer& producer_;
  OffsetStore& store_;
  cdc::Logger& log_;
  // Lock order: list_mu_, then mu_ (Create and Delete queue their herder
  // work under list_mu_, so that a connector's requests keep their order).
  mutable std::mutex list_mu_;
  std::map<std::string, ConnectorPtr> by_name_;  // guarded by list_mu_
  // Deleted streaming connectors whose task the herder has yet to stop, for
  // Stop() should the herder never get to it. Guarded by list_mu_.
  std::vector<ConnectorPtr> deleting_;
  bool started_ = false;  // guarded by list_mu_

  std::mutex commit_mu_;  // one commit at a time

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> ops_;  // guarded by mu_
  bool stopping_ = false;                  // guarded by mu_
  std::thread herder_;
  std::thread committer_;
};

}  // namespace cdc::sim
