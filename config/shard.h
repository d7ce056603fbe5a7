#pragma once

// --shard=INDEX/COUNT: N exporters share one configuration, each keeping the
// sources (with every connector on them: whole cohorts, so a shared-source
// comparison is never split) whose stable hash falls to its index.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace cdc::config {

struct Shard {
  int index = 0;
  int count = 1;  // 1: no sharding
  bool operator==(const Shard&) const = default;
  std::string ToString() const {
    return std::to_string(index) + "/" + std::to_string(count);
  }
};

// "INDEX/COUNT" with 0 <= INDEX < COUNT <= 1024. False with a message.
bool ParseShard(std::string_view text, Shard* out, std::string* error);

// FNV-1a (64 bit) of the source name: the same on every replica, every
// build and every platform, so that replicas agree without talking.
std::uint64_t StableHash(std::string_view s);

// The shard a source belongs to.
int ShardOf(std::string_view source_name, int count);

// What one shard keeps and drops, by name, for the log and --config.check.
struct ShardSplit {
  std::vector<std::string> kept_sources, dropped_sources;
  std::vector<std::string> kept_connectors;
  int dropped_connectors = 0;
};

// The part of `cfg` this shard watches: its sources, the connectors on them,
// and the Connect and Kafka clusters those connectors use, plus every Connect
// cluster that discovers connectors (each replica polls it and keeps the
// discovered connectors of its own sources). Everything else is left out
// (another replica watches it). count 1 returns cfg unchanged.
Config KeepShard(const Config& cfg, const Shard& shard,
                 ShardSplit* split = nullptr);

}  // namespace cdc::config
