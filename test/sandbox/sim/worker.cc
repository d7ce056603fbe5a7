#include "worker.h"

#include <algorithm>

#include "thread_dump.h"

namespace cdc::sim {
namespace {

using Clock = std::chrono::steady_clock;

// How long a RESTARTING state stays visible for instances whose restart is
// instantaneous (the connector object, REST-only tasks).
constexpr auto kRestartingFor = std::chrono::milliseconds(500);

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
    connectors_.push_back(
        std::make_unique<Connector>(spec, std::move(settings), assigned_at));
    ++i;
  }
  std::sort(connectors_.begin(), connectors_.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  for (const auto& c : connectors_) by_name_[c->name()] = c.get();
}

Worker::~Worker() { Stop(); }

Connector* Worker::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void Worker::Start() {
  size_t streaming = 0;
  for (const auto& c : connectors_) {
    if (c->streaming()) {
      StartTask(*c);
      ++streaming;
    }
  }
  log_.Info("worker started",
            {{"worker_id", worker_id_},
             {"connectors", std::to_string(connectors_.size())},
             {"streaming", std::to_string(streaming)}});
  started_ = true;
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
  // Stop all tasks at once (a reader may be blocked on a dead socket; each
  // is unblocked by shutdown(2)), then commit their final offsets.
  std::vector<std::pair<Connector*, std::unique_ptr<StreamingTask>>> tasks;
  for (const auto& c : connectors_) {
    if (auto t = c->TakeTask()) {
      t->RequestStop();
      tasks.emplace_back(c.get(), std::move(t));
    }
  }
  for (auto& [c, t] : tasks) {
    t->Stop();
    if (started_) Commit(c, t->Snapshot());
  }
  if (!tasks.empty()) log_.Info("all tasks stopped");
}

void Worker::StartTask(Connector& c) {
  const auto offset = store_.Get(c.name(), c.server());
  if (offset) c.SetCommitted(*offset, 0);
  log_.Info("WorkerSourceTask{id=" + c.name() + "-0} Starting task",
            {{"connector", c.name()},
             {"offset", offset ? offset->ToString()
                               : std::string("none (schema_only: end of "
                                             "binlog)")}});
  auto task = std::make_unique<StreamingTask>(
      c.spec(), *c.settings(), TaskContext{producer_, log_, &c.throttle()}, offset);
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
    for (const auto& c : connectors_) {
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

void Worker::Submit(std::function<void()> op) {
  std::lock_guard<std::mutex> lock(mu_);
  ops_.push_back(std::move(op));
  cv_.notify_all();
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

ConnectorStatusView Worker::Restart(Connector& c, bool include_tasks,
                                    bool only_failed) {
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
      RestartTask(c, t.id);
    }
  }
  log_.Info("restart requested",
            {{"connector", c.name()},
             {"include_tasks", include_tasks ? "true" : "false"},
             {"only_failed", only_failed ? "true" : "false"}});
  return view;
}

void Worker::RestartTask(Connector& c, int task) {
  if (!c.streaming()) {
    c.MarkTaskRestarting(task, false, Clock::now() + kRestartingFor);
    return;
  }
  c.MarkTaskRestarting(task, true);
  Connector* cp = &c;
  Submit([this, cp, task] {
    StopTask(*cp);
    if (cp->target() != TargetState::kStopped) StartTask(*cp);
    cp->MarkTaskRestarting(task, false);
  });
}

void Worker::Pause(Connector& c) {
  Connector* cp = &c;
  Submit([this, cp] {
    cp->SetTarget(TargetState::kPaused);
    cp->SetTaskPaused(true);
    log_.Info("connector paused", {{"connector", cp->name()}});
  });
}

void Worker::Resume(Connector& c) {
  Connector* cp = &c;
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

void Worker::StopConnector(Connector& c) {
  Connector* cp = &c;
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
  for (const auto& c : connectors_) {
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
