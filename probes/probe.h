#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "cdc/common/metric_sink.h"

namespace cdc {

// What the scheduler tells a probe about the run it starts.
struct ProbeContext {
  std::chrono::steady_clock::time_point deadline;

  // The time left before the deadline, but at least `floor` (an I/O call
  // given no time at all would fail without trying).
  std::chrono::milliseconds Remaining(
      std::chrono::milliseconds floor = std::chrono::milliseconds(100)) const {
    return std::max(floor,
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  }
};

// What a probe run reports: whether the probe could do its job. A probe that
// ran and found a problem in the pipeline (a FAILED connector) still
// succeeded; `success` is false only when the probe itself could not observe
// (unreachable, timed out, bad response). `error` says why, for the log.
struct ProbeOutcome {
  bool success = true;
  std::string error;

  static ProbeOutcome Ok() { return {}; }
  static ProbeOutcome Fail(std::string why) { return {false, std::move(why)}; }
};

// One probe target (e.g. the REST status of one Connect cluster). The
// scheduler calls Run() on its interval from a worker thread, never twice at
// once; Cancel() and Collect() may be called from other threads at any time.
// Implementations are thread-safe in that sense. Run() must not throw (the
// scheduler catches and reports anything that escapes) and should honour
// ctx.deadline through its own I/O timeouts.
class Probe {
 public:
  virtual ~Probe() = default;

  // The probe kind, e.g. "connect_rest": the `probe` label.
  virtual std::string_view Kind() const = 0;
  // The target, e.g. the cluster name: the `target` label.
  virtual const std::string& Target() const = 0;
  virtual std::chrono::milliseconds Interval() const = 0;
  virtual std::chrono::milliseconds Timeout() const = 0;
  // Whether `other` is a probe of the same type whose configuration
  // compares equal (operator== of the config structs, so no field can be
  // forgotten): on reload such a probe is kept as it is (no reset of its
  // state or counters).
  virtual bool SameAs(const Probe& other) const = 0;

  virtual ProbeOutcome Run(const ProbeContext& ctx) = 0;
  // Best effort: makes a run in progress return soon (called after its
  // deadline passed, or at shutdown).
  virtual void Cancel() {}
  // Adds this probe's own series (not the scheduler's self-metrics).
  virtual void Collect(MetricSink& sink) const = 0;
};

}  // namespace cdc
