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
