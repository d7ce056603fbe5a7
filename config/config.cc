#include "config/config.h"

#include <stdexcept>

#include "cdc/common/file.h"

namespace cdc::config {
namespace {
// Far above any real configuration (1,000 connectors is about 300 KiB).
constexpr std::size_t kMaxConfigBytes = 16 << 20;
}  // namespace

Config LoadConfigFile(const std::string& path) {
  std::string text;
  try {
    text = ReadRegularFile(path, kMaxConfigBytes);
  } catch (const FileReadError& e) {
    throw ConfigError(path + ": cannot read config file: " + e.reason());
  }
  return LoadConfigString(text, path);
}

}  // namespace cdc::config

namespace cdc::config {
namespace {
template <typename T>
const T* FindByName(const std::vector<T>& v, const std::string& name) {
  for (const auto& x : v) {
    if (x.name == name) return &x;
  }
  return nullptr;
}
}  // namespace

const Source* Config::FindSource(const std::string& name) const {
  return FindByName(sources, name);
}
const KafkaCluster* Config::FindKafka(const std::string& name) const {
  return FindByName(kafka_clusters, name);
}
const ConnectCluster* Config::FindConnectCluster(
    const std::string& name) const {
  return FindByName(connect_clusters, name);
}

std::string Config::OffsetsTopicOf(const Connector& c) const {
  if (const auto* cc = FindConnectCluster(c.connect_cluster);
      cc && !cc->offsets_topic.empty()) {
    return cc->offsets_topic;
  }
  const auto* k = FindKafka(c.kafka);
  return k ? k->offsets_topic : std::string("connect-offsets");
}

}  // namespace cdc::config
