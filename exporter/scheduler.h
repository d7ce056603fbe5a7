#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "probes/probe.h"

namespace cdc {

// Runs probes on their own intervals on a fixed pool of worker threads.
//
// Each run gets a deadline (now + the probe's timeout). A run still going at
// its deadline is reported as a timeout at once (cdc_probe_success 0) and the
// probe is asked to Cancel(); its late result is discarded. While a run is
// stuck, that probe is not started again (due rounds count as "skipped"), so
// one hanging target holds at most one worker and never delays the others,
// a scrape or a reload. Thread-safe.
class Scheduler {
 public:
  Scheduler(int workers, Logger& log);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the set of probes. A probe whose kind and target equal a running
  // one and that is the SameAs() it (equal configuration)
  // is dropped in favour of the running one, which keeps
  // its schedule and state; the others start now. Removed probes are
  // cancelled and their series disappear.
  void SetProbes(std::vector<std::shared_ptr<Probe>> probes);

  // The probes currently scheduled.
  std::vector<std::shared_ptr<Probe>> Probes() const;

  // The last result of every probe target, for the status page.
  struct Status {
    std::string kind, target;
    bool has_result = false, success = false;
    std::string last_error;  // of the last failed run
    double last_run_ts = 0;
  };
  std::vector<Status> Statuses() const;

  // Self-metrics (cdc_probe_*) and every probe's own series.
  void Collect(MetricSink& sink) const;

  // Stops dispatching, cancels runs in progress and waits up to `grace` for
  // the workers; workers still stuck in a probe after that are left behind
  // (they own what they touch) so that shutdown never hangs.
  void Stop(std::chrono::milliseconds grace);

 private:
  struct State;
  struct Target;
  void DispatchLoop();
  static void WorkerLoop(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace cdc
