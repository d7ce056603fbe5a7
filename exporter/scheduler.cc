#include "exporter/scheduler.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "cdc/common/clock.h"
#include "cdc/common/duration.h"
#include "cdc/common/thread_name.h"

namespace cdc {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRepeatErrorLogEvery = std::chrono::minutes(5);

}  // namespace

struct Scheduler::Target {
  std::shared_ptr<Probe> probe;
  std::string kind;
  std::string name;
  Clock::time_point next_run;
  // The run in progress, if any.
  bool in_flight = false;
  bool overrun = false;  // reported as a timeout already
  Clock::time_point started;
  Clock::time_point deadline;
  bool removed = false;
  // Self-metric state.
  bool has_result = false;
  bool last_success = false;
  double last_duration = 0;
  double last_run_ts = 0;
  uint64_t runs_success = 0, runs_error = 0, runs_timeout = 0, runs_skipped = 0;
  std::string last_error;
  // Log de-duplication.
  std::string logged_error;
  Clock::time_point logged_at;
};

struct Scheduler::State {
  explicit State(Logger& l) : log(l) {}
  Logger& log;
  mutable std::mutex mu;
  std::condition_variable dispatch_cv;
  std::condition_variable work_cv;
  std::condition_variable idle_cv;
  std::vector<std::shared_ptr<Target>> targets;
  std::deque<std::shared_ptr<Target>> queue;
  bool stopping = false;
  int workers = 0;
  int busy = 0;
  int alive = 0;
  std::thread dispatcher;
  std::vector<std::thread> pool;

  // Records the end of a round for `t`. Called with mu held.
  void Record(Target& t, const char* result, bool success, double duration,
              const std::string& error) {
    t.has_result = true;
    t.last_success = success;
    t.last_duration = duration;
    t.last_run_ts = WallSeconds();
    t.last_error = error;
    if (std::string_view(result) == "success")
      ++t.runs_success;
    else if (std::string_view(result) == "error")
      ++t.runs_error;
    else if (std::string_view(result) == "timeout")
      ++t.runs_timeout;
    else
      ++t.runs_skipped;
    const auto now = Clock::now();
    if (success) {
      if (!t.logged_error.empty()) {
        log.Info("probe recovered", {{"probe", t.kind}, {"target", t.name}});
      }
      t.logged_error.clear();
    } else if (error != t.logged_error ||
               now - t.logged_at > kRepeatErrorLogEvery) {
      log.Warn("probe failed", {{"probe", t.kind},
                                {"target", t.name},
                                {"result", result},
                                {"err", error}});
      t.logged_error = error;
      t.logged_at = now;
    }
  }
};

Scheduler::Scheduler(int workers, Logger& log)
    : state_(std::make_shared<State>(log)) {
  state_->workers = std::max(1, workers);
  for (int i = 0; i < state_->workers; ++i) {
    ++state_->alive;
    state_->pool.emplace_back(&Scheduler::WorkerLoop, state_);
  }
  state_->dispatcher = std::thread(&Scheduler::DispatchLoop, this);
}

Scheduler::~Scheduler() { Stop(std::chrono::seconds(5)); }

void Scheduler::SetProbes(std::vector<std::shared_ptr<Probe>> probes) {
  std::vector<std::shared_ptr<Probe>> to_cancel;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    std::map<std::string, std::shared_ptr<Target>> old;
    for (auto& t : state_->targets) old[t->kind + "\x1f" + t->name] = t;
    std::vector<std::shared_ptr<Target>> next;
    const auto now = Clock::now();
    for (auto& p : probes) {
      const std::string key = std::string(p->Kind()) + "\x1f" + p->Target();
      auto it = old.find(key);
      if (it != old.end() &&
          it->second->probe->SameAs(*p)) {
        next.push_back(it->second);
        old.erase(it);
        continue;
      }
      auto t = std::make_shared<Target>();
      t->probe = std::move(p);
      t->kind = std::string(t->probe->Kind());
      t->name = t->probe->Target();
      t->next_run = now;
      next.push_back(std::move(t));
    }
    for (auto& [key, t] : old) {
      t->removed = true;
      if (t->in_flight) to_cancel.push_back(t->probe);
    }
    state_->targets = std::move(next);
  }
  state_->dispatch_cv.notify_all();
  for (auto& p : to_cancel) p->Cancel();
}

std::vector<std::shared_ptr<Probe>> Scheduler::Probes() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::shared_ptr<Probe>> out;
  for (const auto& t : state_->targets) out.push_back(t->probe);
  return out;
}

std::vector<Scheduler::Status> Scheduler::Statuses() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Status> out;
  for (const auto& t : state_->targets) {
    out.push_back({t->kind, t->name, t->has_result, t->last_success,
                   t->last_error, t->last_run_ts});
  }
  return out;
}

void Scheduler::DispatchLoop() {
  NameThisThread("cdc-scheduler");
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  while (!s.stopping) {
    const auto now = Clock::now();
    auto wake = now + std::chrono::hours(1);
    std::vector<std::shared_ptr<Probe>> to_cancel;
    for (auto& tp : s.targets) {
      Target& t = *tp;
      if (t.in_flight && !t.overrun) {
        if (now >= t.deadline) {
          t.overrun = true;
          s.Record(t, "timeout", false, ToSeconds(now - t.started),
                   "no result within the timeout of " +
                       FormatDuration(t.probe->Timeout()) +
                       "; the run was cancelled");
          to_cancel.push_back(t.probe);
        } else {
          wake = std::min(wake, t.deadline);
        }
      }
      if (now >= t.next_run) {
        if (t.in_flight) {
          s.Record(
              t, "skipped", false, 0,
              "previous run still in progress after " +
                  FormatDuration(
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          now - t.started)));
        } else {
          t.in_flight = true;
          t.overrun = false;
          t.started = now;
          t.deadline = now + t.probe->Timeout();
          s.queue.push_back(tp);
          s.work_cv.notify_one();
          wake = std::min(wake, t.deadline);
        }
        // Fixed rate; after a stall, resume on the next whole interval.
        const auto interval = t.probe->Interval();
        t.next_run += interval;
        if (t.next_run <= now) t.next_run = now + interval;
      }
      wake = std::min(wake, t.next_run);
    }
    if (!to_cancel.empty()) {
      lock.unlock();
      for (auto& p : to_cancel) p->Cancel();
      lock.lock();
      continue;  // re-evaluate: time passed while cancelling
    }
    s.dispatch_cv.wait_until(lock, wake);
  }
}

void Scheduler::WorkerLoop(std::shared_ptr<State> state) {
  NameThisThread("cdc-probe");
  State& s = *state;
  std::unique_lock<std::mutex> lock(s.mu);
  while (true) {
    s.work_cv.wait(lock, [&] { return s.stopping || !s.queue.empty(); });
    if (s.stopping) break;
    std::shared_ptr<Target> t = std::move(s.queue.front());
    s.queue.pop_front();
    ++s.busy;
    const ProbeContext ctx{t->deadline};
    const auto started = t->started;
    std::shared_ptr<Probe> probe = t->probe;
    lock.unlock();

    ProbeOutcome outcome;
    try {
      outcome = probe->Run(ctx);
    } catch (const std::exception& e) {
      outcome = ProbeOutcome::Fail(std::string("probe threw: ") + e.what());
    } catch (...) {
      outcome = ProbeOutcome::Fail("probe threw a non-standard exception");
    }
    const double duration = ToSeconds(Clock::now() - started);

    lock.lock();
    --s.busy;
    t->in_flight = false;
    if (t->overrun) {
      s.log.Debug("probe finished after its deadline; result discarded",
                  {{"probe", t->kind},
                   {"target", t->name},
                   {"duration_seconds", std::to_string(duration)}});
    } else if (!t->removed) {
      s.Record(*t, outcome.success ? "success" : "error", outcome.success,
               duration, outcome.error);
    }
    s.dispatch_cv.notify_all();
  }
  --s.alive;
  s.idle_cv.notify_all();
}

void Scheduler::Collect(MetricSink& sink) const {
  std::vector<std::shared_ptr<Probe>> probes;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& tp : state_->targets) {
      const Target& t = *tp;
      probes.push_back(t.probe);
      if (!t.has_result) continue;
      const MetricLabels l = {{"probe", t.kind}, {"target", t.name}};
      sink.Gauge("cdc_probe_success",
                 "1 if the probe's last run could observe its target, 0 if "
                 "it failed or timed out.",
                 l, t.last_success ? 1 : 0);
      sink.Gauge("cdc_probe_duration_seconds",
                 "How long the probe's last run took.", l, t.last_duration);
      sink.Gauge("cdc_probe_last_run_timestamp_seconds",
                 "Unix time the probe's last run ended or was judged timed "
                 "out.",
                 l, t.last_run_ts);
      const std::pair<const char*, uint64_t> results[] = {
          {"success", t.runs_success},
          {"error", t.runs_error},
          {"timeout", t.runs_timeout},
          {"skipped", t.runs_skipped}};
      for (const auto& [result, n] : results) {
        MetricLabels lr = l;
        lr.emplace_back("result", result);
        sink.Counter("cdc_probe_runs_total",
                     "Probe rounds by result: success, error (could not "
                     "observe), timeout (no result by the deadline), skipped "
                     "(previous run still stuck).",
                     lr, static_cast<double>(n));
      }
    }
    sink.Gauge("cdc_probe_workers", "Threads available to run probes.", {},
               state_->workers);
    sink.Gauge("cdc_probe_workers_busy", "Threads running a probe now.", {},
               state_->busy);
  }
  for (const auto& p : probes) p->Collect(sink);
}

void Scheduler::Stop(std::chrono::milliseconds grace) {
  State& s = *state_;
  std::vector<std::shared_ptr<Probe>> to_cancel;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
    s.queue.clear();
    for (auto& t : s.targets) {
      if (t->in_flight) to_cancel.push_back(t->probe);
    }
  }
  s.dispatch_cv.notify_all();
  s.work_cv.notify_all();
  for (auto& p : to_cancel) p->Cancel();
  if (s.dispatcher.joinable()) s.dispatcher.join();
  bool all_done;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    all_done = s.idle_cv.wait_for(lock, grace, [&] { return s.alive == 0; });
  }
  for (auto& th : s.pool) {
    if (all_done) {
      th.join();
    } else {
      th.detach();
    }
  }
  if (!all_done) {
    s.log.Warn("probe workers still stuck at shutdown; leaving them behind",
               {{"grace", FormatDuration(grace)}});
  }
  s.pool.clear();
}

}  // namespace cdc
