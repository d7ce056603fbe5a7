#include "config/shard.h"

#include <charconv>
#include <set>

namespace cdc::config {

namespace {
constexpr int kMaxShards = 1024;

bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

bool ParseShard(std::string_view text, Shard* out, std::string* error) {
  const auto slash = text.find('/');
  Shard s;
  if (slash == std::string_view::npos ||
      !ParseInt(text.substr(0, slash), &s.index) ||
      !ParseInt(text.substr(slash + 1), &s.count)) {
    *error =
        "must be INDEX/COUNT, e.g. 0/3 (got \"" + std::string(text) + "\")";
    return false;
  }
  if (s.count < 1 || s.count > kMaxShards) {
    *error = "COUNT must be between 1 and " + std::to_string(kMaxShards) +
             " (got " + std::to_string(s.count) + ")";
    return false;
  }
  if (s.index < 0 || s.index >= s.count) {
    *error =
        "INDEX must be between 0 and COUNT-1 = " + std::to_string(s.count - 1) +
        " (got " + std::to_string(s.index) +
        "; a StatefulSet's pod ordinals start at 0)";
    return false;
  }
  *out = s;
  return true;
}

std::uint64_t StableHash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int ShardOf(std::string_view source_name, int count) {
  return count <= 1 ? 0
                    : static_cast<int>(StableHash(source_name) %
                                       static_cast<std::uint64_t>(count));
}

bool ConnectCluster::ReportsRestSeriesOf(const std::string& connector) const {
  if (shard.count <= 1 || shard.here.count(connector)) return true;
  return !shard.elsewhere.count(connector) &&
         ShardOf(connector, shard.count) == shard.index;
}

Config KeepShard(const Config& cfg, const Shard& shard, ShardSplit* split) {
  ShardSplit local;
  ShardSplit& sp = split ? *split : local;
  sp = ShardSplit{};
  Config out = cfg;
  if (shard.count <= 1) {
    for (const auto& s : cfg.sources) sp.kept_sources.push_back(s.name);
    for (const auto& c : cfg.connectors) sp.kept_connectors.push_back(c.name);
    return out;
  }
  std::set<std::string> sources;
  out.sources.clear();
  for (const auto& s : cfg.sources) {
    if (ShardOf(s.name, shard.count) == shard.index) {
      out.sources.push_back(s);
      sources.insert(s.name);
      sp.kept_sources.push_back(s.name);
    } else {
      sp.dropped_sources.push_back(s.name);
    }
  }
  std::set<std::string> connect, kafka;
  out.connectors.clear();
  for (const auto& c : cfg.connectors) {
    if (!sources.count(c.source)) {
      ++sp.dropped_connectors;
      continue;
    }
    out.connectors.push_back(c);
    sp.kept_connectors.push_back(c.name);
    if (!c.connect_cluster.empty()) connect.insert(c.connect_cluster);
    kafka.insert(c.kafka);
  }
  // A cluster whose connectors are discovered is polled by every replica:
  // each keeps those on its own sources.
  for (const auto& cc : cfg.connect_clusters) {
    if (!cc.discover.enabled) continue;
    connect.insert(cc.name);
    if (!cc.kafka_cluster.empty()) kafka.insert(cc.kafka_cluster);
    if (cfg.kafka_clusters.size() == 1)
      kafka.insert(cfg.kafka_clusters[0].name);
  }
  std::erase_if(out.connect_clusters,
                [&](const auto& c) { return !connect.count(c.name); });
  for (auto& cc : out.connect_clusters) {
    cc.shard.index = shard.index;
    cc.shard.count = shard.count;
    for (const auto& c : cfg.connectors) {
      if (c.connect_cluster != cc.name) continue;
      (sources.count(c.source) ? cc.shard.here : cc.shard.elsewhere)
          .insert(c.name);
    }
  }
  std::erase_if(out.kafka_clusters,
                [&](const auto& k) { return !kafka.count(k.name); });
  return out;
}

}  // namespace cdc::config
