#include "exporter/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace cdc {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A probe whose runs do what the test says: succeed, fail, or block until
// released (ignoring its deadline, like a probe stuck in a syscall).
class ScriptedProbe : public Probe {
 public:
  ScriptedProbe(std::string target, milliseconds interval, milliseconds timeout,
                std::string fingerprint = "v1")
      : target_(std::move(target)),
        interval_(interval),
        timeout_(timeout),
        fingerprint_(std::move(fingerprint)) {}

  std::string_view Kind() const override { return "scripted"; }
  const std::string& Target() const override { return target_; }
  milliseconds Interval() const override { return interval_; }
  milliseconds Timeout() const override { return timeout_; }
  bool SameAs(const Probe& other) const override {
    const auto* o = dynamic_cast<const ScriptedProbe*>(&other);
    return o != nullptr && o->fingerprint_ == fingerprint_;
  }

  ProbeOutcome Run(const ProbeContext&) override {
    ++runs;
    std::unique_lock<std::mutex> lock(mu_);
    if (block_) {
      ++blocked;
      cv_.wait(lock, [&] { return !block_ || (cancellable_ && cancelled_); });
    }
    if (throw_) throw std::runtime_error("boom");
    return fail_ ? ProbeOutcome::Fail("scripted failure") : ProbeOutcome::Ok();
  }
  void Cancel() override {
    ++cancels;
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  void Collect(MetricSink& sink) const override {
    sink.Gauge("scripted_value", "test", {{"target", target_}}, 1);
  }

  void Block(bool cancellable) {
    std::lock_guard<std::mutex> lock(mu_);
    block_ = true;
    cancellable_ = cancellable;
    cancelled_ = false;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    block_ = false;
    cv_.notify_all();
  }
  void SetFail(bool f) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = f;
  }
  void SetThrow(bool t) {
    std::lock_guard<std::mutex> lock(mu_);
    throw_ = t;
  }

  std::atomic<int> runs{0};
  std::atomic<int> blocked{0};
  std::atomic<int> cancels{0};

 private:
  const std::string target_;
  const milliseconds interval_, timeout_;
  const std::string fingerprint_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool block_ = false, cancellable_ = false, cancelled_ = false;
  bool fail_ = false, throw_ = false;
};

// Collects the scheduler's series into "name{target=...,result=...}" -> value.
std::map<std::string, double> Scrape(const Scheduler& s) {
  MetricSink sink;
  s.Collect(sink);
  std::map<std::string, double> out;
  for (const auto& f : sink.Take()) {
    for (const auto& m : f.metric) {
      std::string key = f.name + "{";
      for (const auto& l : m.label) {
        if (l.name == "probe") continue;
        key += l.name + "=" + l.value + ",";
      }
      key += "}";
      out[key] = f.type == prometheus::MetricType::Counter ? m.counter.value
                                                           : m.gauge.value;
    }
  }
  return out;
}

template <typename Pred>
bool WaitFor(Pred pred, milliseconds limit = milliseconds(3000)) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

// A log sink the test can read while scheduler workers write to it (a bare
// std::ostringstream read with str() during a write is a data race; TSan
// found one here).
class LockedLog : public std::streambuf {
 public:
  std::string str() const {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    std::lock_guard<std::mutex> lock(mu_);
    text_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(mu_);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

class LockedLogStream : public std::ostream {
 public:
  LockedLogStream() : std::ostream(&buf_) {}
  std::string str() const { return buf_.str(); }

 private:
  LockedLog buf_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  LockedLogStream log_out_;
  Logger log_{log_out_, LogLevel::kDebug};
};

TEST_F(SchedulerTest, RunsEachProbeOnItsInterval) {
  auto fast = std::make_shared<ScriptedProbe>("fast", milliseconds(50),
                                              milliseconds(40));
  auto slow = std::make_shared<ScriptedProbe>("slow", milliseconds(400),
                                              milliseconds(40));
  Scheduler s(2, log_);
  s.SetProbes({fast, slow});
  std::this_thread::sleep_for(milliseconds(620));
  s.Stop(milliseconds(1000));
  // Started at once, then fixed rate: fast ~13 runs, slow 2.
  EXPECT_GE(fast->runs.load(), 6);
  EXPECT_LE(fast->runs.load(), 14);
  EXPECT_EQ(slow->runs.load(), 2);
}

TEST_F(SchedulerTest, ReportsSuccessAndErrorAndSurvivesExceptions) {
  auto ok = std::make_shared<ScriptedProbe>("ok", milliseconds(1000),
                                            milliseconds(500));
  auto bad = std::make_shared<ScriptedProbe>("bad", milliseconds(1000),
                                             milliseconds(500));
  auto thrower = std::make_shared<ScriptedProbe>("thrower", milliseconds(1000),
                                                 milliseconds(500));
  bad->SetFail(true);
  thrower->SetThrow(true);
  Scheduler s(2, log_);
  s.SetProbes({ok, bad, thrower});
  ASSERT_TRUE(WaitFor([&] {
    auto m = Scrape(s);
    return m.count("cdc_probe_success{target=thrower,}") &&
           m.count("cdc_probe_success{target=bad,}") &&
           m.count("cdc_probe_success{target=ok,}");
  }));
  auto m = Scrape(s);
  EXPECT_EQ(m["cdc_probe_success{target=ok,}"], 1);
  EXPECT_EQ(m["cdc_probe_success{target=bad,}"], 0);
  EXPECT_EQ(m["cdc_probe_success{target=thrower,}"], 0);
  EXPECT_EQ(m["cdc_probe_runs_total{target=ok,result=success,}"], 1);
  EXPECT_EQ(m["cdc_probe_runs_total{target=bad,result=error,}"], 1);
  EXPECT_EQ(m["cdc_probe_runs_total{target=thrower,result=error,}"], 1);
  EXPECT_GT(m["cdc_probe_last_run_timestamp_seconds{target=ok,}"], 1.7e9);
  EXPECT_EQ(m["scripted_value{target=ok,}"], 1);  // probes' own series
  EXPECT_NE(log_out_.str().find("probe threw: boom"), std::string::npos);
  EXPECT_NE(log_out_.str().find("scripted failure"), std::string::npos);
}

TEST_F(SchedulerTest, HungProbeIsReportedAtItsDeadlineAndBlocksNothing) {
  auto hung = std::make_shared<ScriptedProbe>("hung", milliseconds(300),
                                              milliseconds(200));
  auto healthy = std::make_shared<ScriptedProbe>("healthy", milliseconds(50),
                                                 milliseconds(40));
  hung->Block(/*cancellable=*/false);  // ignores Cancel, like a stuck syscall
  Scheduler s(2, log_);
  const auto start = Clock::now();
  s.SetProbes({hung, healthy});
  ASSERT_TRUE(WaitFor([&] {
    return Scrape(s)["cdc_probe_runs_total{target=hung,result=timeout,}"] == 1;
  }));
  const auto judged = Clock::now() - start;
  EXPECT_GE(judged, milliseconds(200));
  // At the deadline, not at release (which never comes by itself); the
  // margin is for loaded CI machines and sanitizer builds.
  EXPECT_LT(judged, milliseconds(1000));
  EXPECT_EQ(Scrape(s)["cdc_probe_success{target=hung,}"], 0);
  // Cancelled at the deadline too (right after the timeout is recorded).
  EXPECT_TRUE(WaitFor([&] { return hung->cancels.load() >= 1; },
                      milliseconds(500)));

  // While it stays stuck: no second run, due rounds are "skipped", the
  // healthy probe keeps running and scrapes answer at once.
  const int healthy_before = healthy->runs.load();
  std::this_thread::sleep_for(milliseconds(700));
  const auto scrape_start = Clock::now();
  auto m = Scrape(s);
  EXPECT_LT(Clock::now() - scrape_start, milliseconds(200));
  EXPECT_EQ(hung->runs.load(), 1);
  EXPECT_GE(m["cdc_probe_runs_total{target=hung,result=skipped,}"], 2);
  EXPECT_GE(healthy->runs.load() - healthy_before, 5);  // 14 when idle
  EXPECT_EQ(m["cdc_probe_success{target=healthy,}"], 1);

  // Released: its late result is discarded, and it runs again on schedule.
  hung->Release();
  ASSERT_TRUE(WaitFor([&] { return hung->runs.load() >= 2; }));
  ASSERT_TRUE(WaitFor(
      [&] { return Scrape(s)["cdc_probe_success{target=hung,}"] == 1; }));
  s.Stop(milliseconds(1000));
}

TEST_F(SchedulerTest, CancelUnblocksACooperativeProbe) {
  auto p = std::make_shared<ScriptedProbe>("coop", milliseconds(10000),
                                           milliseconds(100));
  p->Block(/*cancellable=*/true);
  Scheduler s(1, log_);
  s.SetProbes({p});
  ASSERT_TRUE(WaitFor([&] { return p->cancels.load() >= 1; }));
  // The worker is free again: the busy gauge returns to 0.
  ASSERT_TRUE(
      WaitFor([&] { return Scrape(s)["cdc_probe_workers_busy{}"] == 0; }));
  EXPECT_EQ(Scrape(s)["cdc_probe_runs_total{target=coop,result=timeout,}"], 1);
  s.Stop(milliseconds(1000));
}

TEST_F(SchedulerTest, ReloadKeepsUnchangedProbesAndDropsRemovedOnes) {
  auto a = std::make_shared<ScriptedProbe>("a", milliseconds(10000),
                                           milliseconds(100));
  auto b = std::make_shared<ScriptedProbe>("b", milliseconds(10000),
                                           milliseconds(100));
  Scheduler s(2, log_);
  s.SetProbes({a, b});
  ASSERT_TRUE(WaitFor([&] { return a->runs == 1 && b->runs == 1; }));

  // Same config for a (new object, same fingerprint), b gone, c new.
  auto a2 = std::make_shared<ScriptedProbe>("a", milliseconds(10000),
                                            milliseconds(100));
  auto c = std::make_shared<ScriptedProbe>("c", milliseconds(10000),
                                           milliseconds(100));
  s.SetProbes({a2, c});
  ASSERT_TRUE(WaitFor([&] { return c->runs == 1; }));
  auto probes = s.Probes();
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_EQ(probes[0].get(), a.get());  // the running one is kept
  EXPECT_EQ(a2->runs.load(), 0);
  EXPECT_EQ(a->runs.load(), 1);  // not restarted by the reload
  auto m = Scrape(s);
  EXPECT_EQ(m.count("cdc_probe_success{target=b,}"), 0u);
  EXPECT_EQ(m.count("scripted_value{target=b,}"), 0u);
  EXPECT_EQ(m["cdc_probe_success{target=a,}"], 1);

  // A changed fingerprint replaces the probe and runs it at once.
  auto a3 = std::make_shared<ScriptedProbe>("a", milliseconds(10000),
                                            milliseconds(100), "v2");
  s.SetProbes({a3, c});
  ASSERT_TRUE(WaitFor([&] { return a3->runs == 1; }));
  s.Stop(milliseconds(1000));
}

TEST_F(SchedulerTest, RemovingAHungProbeCancelsItAndKeepsItsSeriesOut) {
  auto hung = std::make_shared<ScriptedProbe>("hung", milliseconds(10000),
                                              milliseconds(5000));
  hung->Block(/*cancellable=*/false);
  Scheduler s(1, log_);
  s.SetProbes({hung});
  ASSERT_TRUE(WaitFor([&] { return hung->blocked.load() == 1; }));
  const auto start = Clock::now();
  s.SetProbes({});  // reload while the probe hangs: returns at once
  EXPECT_LT(Clock::now() - start, milliseconds(100));
  EXPECT_EQ(hung->cancels.load(), 1);
  hung->Release();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Scrape(s).count("cdc_probe_success{target=hung,}"), 0u);
  s.Stop(milliseconds(1000));
}

TEST_F(SchedulerTest, StopDoesNotHangOnAStuckWorker) {
  auto hung = std::make_shared<ScriptedProbe>("hung", milliseconds(10000),
                                              milliseconds(5000));
  hung->Block(/*cancellable=*/false);
  auto s = std::make_unique<Scheduler>(1, log_);
  s->SetProbes({hung});
  ASSERT_TRUE(WaitFor([&] { return hung->blocked.load() == 1; }));
  const auto start = Clock::now();
  s->Stop(milliseconds(200));
  s.reset();
  EXPECT_LT(Clock::now() - start, milliseconds(500));
  EXPECT_NE(log_out_.str().find("still stuck at shutdown"), std::string::npos);
  hung->Release();  // the left-behind worker finishes on its own
  std::this_thread::sleep_for(milliseconds(50));
}

TEST_F(SchedulerTest, FailuresAreLoggedOncePerDistinctError) {
  auto bad = std::make_shared<ScriptedProbe>("bad", milliseconds(30),
                                             milliseconds(20));
  bad->SetFail(true);
  Scheduler s(1, log_);
  s.SetProbes({bad});
  ASSERT_TRUE(WaitFor([&] { return bad->runs.load() >= 5; }));
  bad->SetFail(false);
  ASSERT_TRUE(WaitFor([&] {
    return log_out_.str().find("probe recovered") != std::string::npos;
  }));
  s.Stop(milliseconds(1000));
  const std::string logs = log_out_.str();
  size_t n = 0;
  for (size_t pos = 0;
       (pos = logs.find("scripted failure", pos)) != std::string::npos; ++pos) {
    ++n;
  }
  EXPECT_EQ(n, 1u);
}

}  // namespace
}  // namespace cdc
