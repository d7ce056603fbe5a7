#pragma once

// Wall-clock time as Unix seconds, the unit every exported timestamp uses.

#include <chrono>

namespace cdc {

using WallClock = std::chrono::system_clock;

// `t` as seconds since the Unix epoch, with the fraction. Thread-safe.
inline double UnixSeconds(WallClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Now as seconds since the Unix epoch, with the fraction. Thread-safe.
inline double WallSeconds() { return UnixSeconds(WallClock::now()); }

}  // namespace cdc
