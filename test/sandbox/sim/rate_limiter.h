#pragma once

// A throughput cap for a streaming task: at most N binlog events per second
// pass, paced evenly (at most 20 ms of credit is saved up while idle, so a
// backlog drains at the configured rate, with no burst after a pause). The rate can change at any time; 0 means
// unlimited. Owned by the connector, so it survives task restarts.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace cdc::sim {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(uint64_t events_per_second = 0);

  // 0 = unlimited. Wakes a waiting Acquire(), which then paces at the new
  // rate from now on.
  void SetRate(uint64_t events_per_second);
  uint64_t rate() const;

  // Blocks until `n` events may pass at the current rate. Checks `stopping`
  // at least every 50 ms; false (nothing taken) once it returns true.
  bool Acquire(uint64_t n, const std::function<bool()>& stopping);

  struct Stats {
    uint64_t events_per_second = 0;
    uint64_t passed = 0;        // events let through since construction
    uint64_t throttled = 0;     // of which had to wait
    int64_t waited_ms = 0;      // total time spent waiting
    bool waiting = false;       // an Acquire() is waiting right now
  };
  Stats stats() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t rate_ = 0;
  Clock::time_point next_{};  // when the next event may pass
  Stats stats_;
};

}  // namespace cdc::sim
