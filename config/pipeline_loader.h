#pragma once

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace cdc::config {

// Loads `sources`, `kafka_clusters` and `connectors` from the root mapping
// into *cfg and checks the references between them (and to
// cfg->connect_clusters, which must be loaded first). Throws ConfigError.
void LoadPipeline(const YamlReader& r, const YAML::Node& root, Config* cfg);

}  // namespace cdc::config
