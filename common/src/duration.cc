#include "cdc/common/duration.h"

#include <cctype>
#include <cstdint>
#include <limits>

namespace cdc {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};

// Longest names first so that "ms" is not read as "m" followed by garbage.
constexpr Unit kUnits[] = {{"ms", 1},
                           {"s", 1000},
                           {"m", 60 * 1000},
                           {"h", 3600 * 1000},
                           {"d", 86400LL * 1000},
                           {"w", 7 * 86400LL * 1000},
                           {"y", 365 * 86400LL * 1000}};

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text == "0") return std::chrono::milliseconds(0);
  int64_t total = 0;
  size_t i = 0;
  size_t last_unit_rank = sizeof(kUnits) / sizeof(kUnits[0]);
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    int64_t n = 0;
    while (i < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[i]))) {
      const int digit = text[i] - '0';
      if (n > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return std::nullopt;
      n = n * 10 + digit;
      ++i;
    }
    const Unit* unit = nullptr;
    size_t rank = 0;
    for (size_t u = 0; u < sizeof(kUnits) / sizeof(kUnits[0]); ++u) {
      if (text.substr(i, kUnits[u].name.size()) == kUnits[u].name) {
        unit = &kUnits[u];
        rank = u;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    // Prometheus requires units from largest to smallest, each at most once.
    if (last_unit_rank != sizeof(kUnits) / sizeof(kUnits[0]) &&
        unit->ms >= kUnits[last_unit_rank].ms) {
      return std::nullopt;
    }
    last_unit_rank = rank;
    if (n > std::numeric_limits<int64_t>::max() / unit->ms) return std::nullopt;
    const int64_t add = n * unit->ms;
    if (total > std::numeric_limits<int64_t>::max() - add) return std::nullopt;
    total += add;
    i += unit->name.size();
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const int64_t count = d.count();
  if (count == 0) return "0s";
  std::string out;
  // Unsigned: -INT64_MIN does not fit an int64_t. push_back, not `out = "-"`:
  // gcc 12 warns falsely (-Wrestrict) on the latter under ASan.
  uint64_t ms = static_cast<uint64_t>(count);
  if (count < 0) {
    out.push_back('-');
    ms = ~ms + 1;
  }
  const struct {
    const char* name;
    uint64_t ms;
  } parts[] = {{"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}};
  for (const auto& p : parts) {
    if (ms >= p.ms) {
      out += std::to_string(ms / p.ms) + p.name;
      ms %= p.ms;
    }
  }
  return out;
}

}  // namespace cdc
