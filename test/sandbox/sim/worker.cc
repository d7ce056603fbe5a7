#include "worker.h"

#include <algorithm>

#include "thread_dump.h"

namespace cdc::sim {
namespace {

using Clock = std::chrono::steady_clock;

// How long a RESTARTING state stays visible for instances whose restart is
// instantaneous (the connector object, REST-only tasks).
constexpr auto kRestartingFor = std::chrono::milliseconds(500);
// How long a connector created over REST shows UNASSIGNED, as while Connect
// rebalances it onto a worker.
constexpr auto kAssignAfter = std::chrono::milliseconds(200);

}  // namespace

Worker::Worker(const SimConfig& config, KafkaProducer& producer,
               OffsetStore& store, cdc::Logger& log)
    : worker_id_(config.worker_id),
      flush_interval_(config.offset_flush_interval),
      producer_(producer),
      store_(store),
      log_(log) {
  const auto now = Clock::now();
  size_t i = 0;
  for (const auto& spec : config.connectors) {
    std::optional<DebeziumSettings> settings;
    if (!spec.rest_only) settings = ParseDebeziumSettings(spec);
    // Connectors and tasks show UNASSIGNED briefly, as after a rebalance.
    const auto assigned_at =
        now + std::chrono::milliseconds(200 + 50 * static_cast<int>(i % 8));
    by_name_[spec.name] =
        std::make_shared<Connector>(spec, std::move(settings), assigned_at);
    ++i;
  }
}

Worker::~Worker() { Stop(); }

std::vector<ConnectorPtr> Worker::connectors() const {
  std::lock_guard<std::mutex> lock(list_mu_);
  std::vector<ConnectorPtr> out;
  out.reserve(by_name_.size());
  for (const auto& [name, c] : by_name_) out.push_back(c);
  return out;
}

ConnectorPtr Worker::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(list_mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

ConnectorPtr Worker::Create(ConnectorSpec spec, TargetState initial) {
  std::optional<DebeziumSettings> settings;
  if (!spec.rest_only) settings = ParseDebeziumSettings(spec);
  const std::string name = spec.name;
  auto c = std::make_shared<Connector>(std::move(spec), std::move(settings),
                                       Clock::now() + kAssignAfter);
  c->SetTarget(initial);
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(list_mu_);
    if (by_name_.count(name) != 0) return nullptr;
    by_name_[name] = c;
    // Before Start(), Start() starts it with the others.
    if (started_ && c->streaming() && initial != TargetState::kStopped) {
      queued = Submit([this, c] { StartTask(*c); });
    }
  }
  log_.Info("connector created",
            {{"connector", name},
             {"streaming", c->streaming() ? "true" : "false"},
             {"target", initial == TargetState::kStarted  ? "STARTED"
                        : initial == TargetState::kPaused ? "PAUSED"
                                                          : "STOPPED"},
             {"task", queued ? "starting" : "none"}});
  return c;
}

bool Worker::Delete(const std::string& name) {
  ConnectorPtr c;
  {
    std::lock_guard<std::mutex> lock(list_mu_);
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    c = std::move(it->second);
    by_name_.erase(it);
    c->MarkDeleted();
    if (c->streaming() && started_) {
      deleting_.push_back(c);
      // Stopped after whatever was queued for it before (a restart, a
      // resume): those see deleted() and start nothing.
      Submit([this, c] {
        StopTask(*c);
        std::lock_guard<std::mutex> l(list_mu_);
        deleting_.erase(std::remove(deleting_.begin(), deleting_.end(), c),
                        deleting_.end());
      });
    }
  }
  log_.Info("connector deleted", {{"connector", name}});
  return true;
}

void Worker::Start() {
  std::vector<ConnectorPtr> all;
  {
    std::lock_guard<std::mutex> lock(list_mu_);
    started_ = true;
    for (const auto& [name, c] : by_name_) all.push_back(c);
  }
  size_t streaming = 0;
  for (const auto& c : all) {
    if (c->streaming()) {
      if (c->target() != TargetState::kStopped) StartTask(*c);
      ++streaming;
    }
  }
  log_.Info("worker started", {{"worker_id", worker_id_},
                               {"connectors", std::to_string(all.size())},
                               {"streaming", std::to_string(streaming)}});
  herder_ = std::thread([this] { HerderMain(); });
  committer_ = std::thread([this] { CommitterMain(); });
}

void Worker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (herder_.joinable()) herder_.join();
  if (committer_.joinable()) committer_.join();
  std::vector<ConnectorPtr> all;
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(list_mu_);
    started = started_;
    for (const auto& [name, c] : by_name_) all.push_back(c);
    all.insert(all.end(), deleting_.begin(), deleting_.end());
    deleting_.clear();
  }
  // Stop all tasks at once (a reader may be blocked on a dead socket; each
  // is unblocked by shutdown(2)), then commit their final offsets.
  std::vector<std::pair<ConnectorPtr, std::unique_ptr<StreamingTask>>> tasks;
  for (const auto& c : all) {
    if (auto t = c->TakeTask()) {
      t->RequestStop();
      tasks.emplace_back(c, std::move(t));
    }
  }
  for (auto& [c, t] : tasks) {
    t->Stop();
    if (started) Commit(c.get(), t->Snapshot());
  }
  if (!tasks.empty()) log_.Info("all tasks stopped");
}

void Worker::StartTask(Connector& c) {
  if (c.deleted()) return;
  const auto offset = store_.Get(c.name(), c.server());
  if (offset) c.SetCommitted(*offset, 0);
  log_.Info("WorkerSourceTask{id=" + c.name() + "-0} Starting task",
            {{"connector", c.name()},
             {"offset", offset ? offset->ToString()
                               : std::string("none (schema_only: end of "
                                             "binlog)")}});
  auto task = std::make_unique<StreamingTask>(
      c.spec(), *c.settings(), TaskContext{producer_, log_, &c.throttle()},
      offset);
  if (c.target() == TargetState::kPaused) task->SetPaused(true);
  task->Start();
  c.InstallTask(std::move(task));
}

void Worker::StopTask(Connector& c) {
  auto task = c.TakeTask();
  if (!task) return;
  log_.Info("WorkerSourceTask{id=" + c.name() + "-0} Stopping task",
            {{"connector", c.name()}});
  task->Stop();
  Commit(&c, task->Snapshot());
}

void Worker::Commit(Connector* only,
                    const std::optional<TaskSnapshot>& final_snap) {
  std::lock_guard<std::mutex> lock(commit_mu_);
  // Keeps every connector considered alive while its offset is written,
  // even if it is deleted meanwhile.
  const std::vector<ConnectorPtr> all =
      only == nullptr ? connectors() : std::vector<ConnectorPtr>{};
  struct Pending {
    Connector* c;
    SourceOffset offset;
    uint64_t records;
    uint64_t acknowledged;
  };
  std::vector<Pending> pending;
  auto consider = [&](Connector* c, const std::optional<TaskSnapshot>& snap) {
    if (!snap || !snap->offset) return;
    const auto committed = c->committed();
    if (committed && committed->SamePosition(*snap->offset)) return;
    const uint64_t before = c->committed_records();
    const uint64_t acked =
        snap->records >= before ? snap->records - before : snap->records;
    pending.push_back({c, *snap->offset, snap->records, acked});
  };
  if (only != nullptr) {
    consider(only, final_snap ? final_snap : only->TaskSnapshotNow());
  } else {
    for (const auto& c : all) {
      if (c->streaming()) consider(c.get(), c->TaskSnapshotNow());
    }
  }
  if (pending.empty()) return;
  // Offsets may only be committed for records the broker acknowledged.
  if (!producer_.Flush(std::chrono::seconds(10))) {
    for (const auto& p : pending) {
      log_.Error("WorkerSourceTask{id=" + p.c->name() +
                     "-0} Failed to flush, timed out while waiting for "
                     "producer to flush outstanding " +
                     std::to_string(producer_.Outstanding()) + " messages",
                 {{"connector", p.c->name()}});
    }
    return;
  }
  for (const auto& p : pending) {
    store_.Write(p.c->name(), p.c->server(), p.offset);
  }
  if (!producer_.Flush(std::chrono::seconds(10))) {
    log_.Error("offset records not acknowledged in time",
               {{"topic", store_.topic()}});
    return;
  }
  for (const auto& p : pending) {
    p.c->SetCommitted(p.offset, p.records);
    log_.Info(
        "WorkerSourceTask{id=" + p.c->name() + "-0} Committing offsets for " +
            std::to_string(p.acknowledged) + " acknowledged messages",
        {{"connector", p.c->name()}, {"offset", Dump(p.offset.ToJson())}});
  }
}

bool Worker::Submit(std::function<void()> op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  ops_.push_back(std::move(op));
  cv_.notify_all();
  return true;
}

void Worker::HerderMain() {
  for (;;) {
    std::function<void()> op;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !ops_.empty(); });
      if (stopping_) return;
      op = std::move(ops_.front());
      ops_.pop_front();
    }
    op();
  }
}

void Worker::CommitterMain() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, flush_interval_, [this] { return stopping_; })) {
        return;
      }
    }
    Commit(nullptr, std::nullopt);
  }
}

ConnectorStatusView Worker::Restart(const ConnectorPtr& cp, bool include_tasks,
                                    bool only_failed) {
  Connector& c = *cp;
  const auto now = Clock::now();
  // Like Connect's herder, answer with the current states, RESTARTING for
  // every instance the request will restart (the restarts themselves run
  // asynchronously and may finish before this returns).
  ConnectorStatusView view = c.Status(now);
  const bool connector = !only_failed || view.state == State::kFailed;
  if (connector) {
    c.MarkConnectorRestarting(now + kRestartingFor);
    view.state = State::kRestarting;
    view.trace.clear();
  }
  if (include_tasks) {
    for (auto& t : view.tasks) {
      if (only_failed && t.state != State::kFailed) continue;
      t.state = State::kRestarting;
      t.trace.clear();
      RestartTask(cp, t.id);
    }
  }
  log_.Info("restart requested",
            {{"connector", c.name()},
             {"include_tasks", include_tasks ? "true" : "false"},
             {"only_failed", only_failed ? "true" : "false"}});
  return view;
}

void Worker::RestartTask(const ConnectorPtr& cp, int task) {
  if (!cp->streaming()) {
    cp->MarkTaskRestarting(task, false, Clock::now() + kRestartingFor);
    return;
  }
  cp->MarkTaskRestarting(task, true);
  Submit([this, cp, task] {
    StopTask(*cp);
    if (cp->target() != TargetState::kStopped) StartTask(*cp);
    cp->MarkTaskRestarting(task, false);
  });
}

void Worker::Pause(const ConnectorPtr& cp) {
  Submit([this, cp] {
    cp->SetTarget(TargetState::kPaused);
    cp->SetTaskPaused(true);
    log_.Info("connector paused", {{"connector", cp->name()}});
  });
}

void Worker::Resume(const ConnectorPtr& cp) {
  Submit([this, cp] {
    const auto before = cp->target();
    cp->SetTarget(TargetState::kStarted);
    if (cp->streaming()) {
      if (before == TargetState::kStopped) {
        StartTask(*cp);
      } else {
        cp->SetTaskPaused(false);
      }
    }
    log_.Info("connector resumed", {{"connector", cp->name()}});
  });
}

void Worker::StopConnector(const ConnectorPtr& cp) {
  Submit([this, cp] {
    cp->SetTarget(TargetState::kStopped);
    if (cp->streaming()) StopTask(*cp);
    log_.Info("connector stopped", {{"connector", cp->name()}});
  });
}

std::string Worker::ThreadDump() const {
  const auto now = std::chrono::system_clock::now();
  const auto steady_now = Clock::now();
  std::string out = ThreadDumpHeader(now);
  int number = 40;
  for (const auto& c : connectors()) {
    if (!c->streaming()) continue;
    DumpEntry e;
    e.connector = c->name();
    const auto status = c->Status(steady_now);
    e.state = std::string(StateName(status.state)) + "/" +
              (status.tasks.empty() ? std::string("-")
                                    : StateName(status.tasks[0].state));
    if (auto snap = c->TaskSnapshotNow()) {
      e.task = *snap;
    } else {
      e.task.endpoint =
          c->settings()->hostname + ":" + std::to_string(c->settings()->port);
    }
    e.java_thread_number = number++;
    out += ThreadDumpEntry(e, now);
  }
  return out;
}

}  // namespace cdc::sim
