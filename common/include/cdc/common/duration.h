#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace cdc {

// Parses a Prometheus-style duration: one or more <number><unit> pairs with
// units ms, s, m, h, d, w, y (e.g. "500ms", "15s", "1m30s"). Returns nullopt
// when the text is not such a duration. Thread-safe (pure function).
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Formats a duration the way ParseDuration reads it ("1m30s", "500ms", "0s").
std::string FormatDuration(std::chrono::milliseconds d);

// Seconds as a double, for metrics and JSON.
inline double ToSeconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace cdc
