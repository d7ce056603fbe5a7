#include "rate_limiter.h"

#include <algorithm>

namespace cdc::sim {

RateLimiter::RateLimiter(uint64_t events_per_second)
    : rate_(events_per_second) {
  stats_.events_per_second = events_per_second;
}

void RateLimiter::SetRate(uint64_t events_per_second) {
  std::lock_guard<std::mutex> lock(mu_);
  rate_ = events_per_second;
  stats_.events_per_second = events_per_second;
  next_ = Clock::now();
  cv_.notify_all();
}

uint64_t RateLimiter::rate() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rate_;
}

RateLimiter::Stats RateLimiter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool RateLimiter::Acquire(uint64_t n, const std::function<bool()>& stopping) {
  std::unique_lock<std::mutex> lock(mu_);
  bool waited = false;
  const auto started = Clock::now();
  auto finish = [&](bool ok) {
    stats_.waiting = false;
    if (waited) {
      ++stats_.throttled;
      stats_.waited_ms += std::chrono::duration_cast<std::chrono::milliseconds>(
                              Clock::now() - started)
                              .count();
    }
    if (ok) stats_.passed += n;
    return ok;
  };
  for (;;) {
    if (stopping()) return finish(false);
    if (rate_ == 0) return finish(true);
    const auto now = Clock::now();
    // Credit for at most 20 ms of idle time (it makes up for oversleeping,
    // so the average rate is exact): no burst after a quiet period.
    const auto floor = now - std::chrono::milliseconds(20);
    if (next_ < floor) next_ = floor;
    const auto cost = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(n) /
                                      static_cast<double>(rate_)));
    // Events pass at 1/rate.
    if (next_ <= now) {
      next_ += cost;
      return finish(true);
    }
    waited = true;
    stats_.waiting = true;
    cv_.wait_until(lock, std::min(next_, now + std::chrono::milliseconds(50)));
  }
}

}  // namespace cdc::sim
