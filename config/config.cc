#include "config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace cdc::config {

Config LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path +
                      ": cannot read config file: " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return LoadConfigString(ss.str(), path);
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

}  // namespace cdc::config
