#pragma once

// One Kafka Connect connector as the worker sees it: its config, its
// connector/task states as the REST API reports them, and (for streaming
// connectors) its running task. REST-only connectors hold no thread: their
// transient states (UNASSIGNED at start, RESTARTING) are computed from
// timestamps when read.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "offset_store.h"
#include "rate_limiter.h"
#include "sim_config.h"
#include "streaming_task.h"

namespace cdc::sim {

// Kafka Connect's AbstractStatus.State.
enum class State {
  kUnassigned,
  kRunning,
  kPaused,
  kStopped,
  kFailed,
  kRestarting
};
const char* StateName(State s);

// What the user asked for (Connect's TargetState).
enum class TargetState { kStarted, kPaused, kStopped };

struct TaskStatusView {
  int id = 0;
  State state = State::kUnassigned;
  std::string trace;  // FAILED only
};

struct ConnectorStatusView {
  std::string name;
  State state = State::kUnassigned;
  std::string trace;
  std::vector<TaskStatusView> tasks;  // empty when STOPPED
};

// Thread-safe. Shared (ConnectorPtr) by the worker's list, herder requests,
// the committer and REST handlers, so that one deleted while in use stays
// valid until the last holder lets go.
class Connector {
 public:
  using Clock = std::chrono::steady_clock;

  Connector(ConnectorSpec spec, std::optional<DebeziumSettings> settings,
            Clock::time_point assigned_at);
  ~Connector();
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  const ConnectorSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  bool streaming() const { return settings_.has_value(); }
  const DebeziumSettings* settings() const {
    return settings_ ? &*settings_ : nullptr;
  }
  // "server" of the source partition: topic.prefix (or the name).
  std::string server() const;
  int configured_tasks() const;

  ConnectorStatusView Status(Clock::time_point now) const;
  TargetState target() const;
  bool Exists(int task) const { return task >= 0 && task < configured_tasks(); }

  // Streaming task slot. Take() empties it (status RESTARTING or
  // UNASSIGNED meanwhile); Install() fills it.
  std::unique_ptr<StreamingTask> TakeTask();
  void InstallTask(std::unique_ptr<StreamingTask> task);
  std::optional<TaskSnapshot> TaskSnapshotNow() const;
  void SetTaskPaused(bool paused);

  // State changes requested over REST.
  void SetTarget(TargetState t);
  void MarkConnectorRestarting(Clock::time_point until);
  void MarkTaskRestarting(int task, bool restarting,
                          Clock::time_point until = {});

  // Offsets committed to the offsets topic for this connector.
  std::optional<SourceOffset> committed() const;
  void SetCommitted(const SourceOffset& o, uint64_t records);
  uint64_t committed_records() const;

  std::set<std::string> Topics() const;
  void ResetTopics();

  // Set once the connector is deleted (DELETE /connectors/{name}): no task
  // is started for it any more, even by a request queued before the delete.
  void MarkDeleted() { deleted_.store(true); }
  bool deleted() const { return deleted_.load(); }

  // The streaming task's throughput cap; outlives every task of this
  // connector (a restart keeps the rate).
  RateLimiter& throttle() { return throttle_; }
  const RateLimiter& throttle() const { return throttle_; }

 private:
  const ConnectorSpec spec_;
  const std::optional<DebeziumSettings> settings_;
  RateLimiter throttle_;
  std::atomic<bool> deleted_{false};

  mutable std::mutex mu_;
  Clock::time_point assigned_at_;
  TargetState target_ = TargetState::kStarted;
  Clock::time_point connector_restarting_until_{};
  std::vector<bool> task_restarting_;
  std::vector<Clock::time_point> task_restarting_until_;
  std::unique_ptr<StreamingTask> task_;
  std::optional<SourceOffset> committed_;
  uint64_t committed_records_ = 0;
  std::set<std::string> topics_;  // of tasks that have been replaced
  // Records per topic of the current task when the topics were last reset.
  std::map<std::string, uint64_t> topics_baseline_;
};

using ConnectorPtr = std::shared_ptr<Connector>;

}  // namespace cdc::sim
