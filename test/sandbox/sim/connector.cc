#include "connector.h"

namespace cdc::sim {

const char* StateName(State s) {
  switch (s) {
    case State::kUnassigned:
      return "UNASSIGNED";
    case State::kRunning:
      return "RUNNING";
    case State::kPaused:
      return "PAUSED";
    case State::kStopped:
      return "STOPPED";
    case State::kFailed:
      return "FAILED";
    case State::kRestarting:
      return "RESTARTING";
  }
  return "UNASSIGNED";
}

Connector::Connector(ConnectorSpec spec,
                     std::optional<DebeziumSettings> settings,
                     Clock::time_point assigned_at)
    : spec_(std::move(spec)),
      settings_(std::move(settings)),
      throttle_(spec_.max_events_per_second),
      assigned_at_(assigned_at) {
  const size_t n = static_cast<size_t>(configured_tasks());
  task_restarting_.assign(n, false);
  task_restarting_until_.assign(n, Clock::time_point{});
}

Connector::~Connector() {
  std::unique_ptr<StreamingTask> task;
  {
    std::lock_guard<std::mutex> lock(mu_);
    task = std::move(task_);
  }
  if (task) task->Stop();
}

std::string Connector::server() const {
  if (settings_) return settings_->topic_prefix;
  const auto* p = spec_.Get("topic.prefix");
  return p ? *p : spec_.name;
}

int Connector::configured_tasks() const {
  // Debezium's MySQL connector always runs exactly one task.
  return streaming() ? 1 : spec_.task_count;
}

TargetState Connector::target() const {
  std::lock_guard<std::mutex> lock(mu_);
  return target_;
}

ConnectorStatusView Connector::Status(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  ConnectorStatusView v;
  v.name = spec_.name;
  const bool unassigned = now < assigned_at_;
  if (unassigned) {
    v.state = State::kUnassigned;
  } else if (now < connector_restarting_until_) {
    v.state = State::kRestarting;
  } else {
    switch (target_) {
      case TargetState::kStarted:
        v.state = State::kRunning;
        break;
      case TargetState::kPaused:
        v.state = State::kPaused;
        break;
      case TargetState::kStopped:
        v.state = State::kStopped;
        break;
    }
  }
  if (target_ == TargetState::kStopped) return v;  // no tasks when stopped
  for (int i = 0; i < configured_tasks(); ++i) {
    TaskStatusView t;
    t.id = i;
    const auto idx = static_cast<size_t>(i);
    if (task_restarting_[idx] || now < task_restarting_until_[idx]) {
      t.state = State::kRestarting;
    } else if (unassigned) {
      t.state = State::kUnassigned;
    } else if (streaming() && !task_) {
      t.state = State::kUnassigned;
    } else if (streaming() && task_->failed()) {
      t.state = State::kFailed;
      t.trace = task_->Snapshot().trace;
    } else if (target_ == TargetState::kPaused) {
      t.state = State::kPaused;
    } else {
      t.state = State::kRunning;
    }
    v.tasks.push_back(std::move(t));
  }
  return v;
}

std::unique_ptr<StreamingTask> Connector::TakeTask() {
  std::lock_guard<std::mutex> lock(mu_);
  if (task_) {
    const auto snap = task_->Snapshot();
    for (const auto& [topic, n] : snap.topic_records) {
      auto base = topics_baseline_.find(topic);
      if (base == topics_baseline_.end() || n > base->second) {
        topics_.insert(topic);
      }
    }
    topics_baseline_.clear();
  }
  return std::move(task_);
}

void Connector::InstallTask(std::unique_ptr<StreamingTask> task) {
  std::lock_guard<std::mutex> lock(mu_);
  task_ = std::move(task);
}

std::optional<TaskSnapshot> Connector::TaskSnapshotNow() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!task_) return std::nullopt;
  return task_->Snapshot();
}

void Connector::SetTaskPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  if (task_) task_->SetPaused(paused);
}

void Connector::SetTarget(TargetState t) {
  std::lock_guard<std::mutex> lock(mu_);
  target_ = t;
}

void Connector::MarkConnectorRestarting(Clock::time_point until) {
  std::lock_guard<std::mutex> lock(mu_);
  connector_restarting_until_ = until;
}

void Connector::MarkTaskRestarting(int task, bool restarting,
                                   Clock::time_point until) {
  std::lock_guard<std::mutex> lock(mu_);
  if (task < 0 || static_cast<size_t>(task) >= task_restarting_.size()) return;
  task_restarting_[static_cast<size_t>(task)] = restarting;
  task_restarting_until_[static_cast<size_t>(task)] = until;
}

std::optional<SourceOffset> Connector::committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

void Connector::SetCommitted(const SourceOffset& o, uint64_t records) {
  std::lock_guard<std::mutex> lock(mu_);
  committed_ = o;
  committed_records_ = records;
}

uint64_t Connector::committed_records() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_records_;
}

std::set<std::string> Connector::Topics() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out = topics_;
  if (task_) {
    const auto snap = task_->Snapshot();
    for (const auto& [topic, n] : snap.topic_records) {
      auto base = topics_baseline_.find(topic);
      if (base == topics_baseline_.end() || n > base->second) out.insert(topic);
    }
  }
  return out;
}

void Connector::ResetTopics() {
  std::lock_guard<std::mutex> lock(mu_);
  topics_.clear();
  topics_baseline_.clear();
  if (task_) topics_baseline_ = task_->Snapshot().topic_records;
}

}  // namespace cdc::sim
