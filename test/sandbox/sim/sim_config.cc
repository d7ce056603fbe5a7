#include "sim_config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cdc/common/duration.h"
#include "cdc/common/secret.h"

namespace cdc::sim {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Rejects keys of `node` that are not in `allowed`.
void CheckKeys(const YAML::Node& node, const std::string& where,
               std::initializer_list<std::string_view> allowed) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    const auto key = it->first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) {
        if (!list.empty()) list += ", ";
        list += a;
      }
      throw ConfigError(where + "." + key + ": unknown key (expected one of " +
                        list + ")");
    }
  }
}

YAML::Node RequireMap(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) throw ConfigError(where + ": must be a mapping");
  return node;
}

std::string Scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) throw ConfigError(where + ": must be a scalar");
  return node.as<std::string>();
}

bool Bool(const YAML::Node& node, const std::string& where) {
  const auto s = Scalar(node, where);
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  throw ConfigError(where + ": must be true or false");
}

long long Integer(const std::string& s, const std::string& where, long long min,
                  long long max) {
  if (s.empty()) throw ConfigError(where + ": must be an integer");
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    throw ConfigError(where + ": must be an integer, got \"" + s + "\"");
  }
  if (used != s.size()) {
    throw ConfigError(where + ": must be an integer, got \"" + s + "\"");
  }
  if (v < min || v > max) {
    throw ConfigError(where + ": must be between " + std::to_string(min) +
                      " and " + std::to_string(max));
  }
  return v;
}

std::chrono::milliseconds Duration(const YAML::Node& node,
                                   const std::string& where) {
  const auto s = Scalar(node, where);
  auto d = cdc::ParseDuration(s);
  if (!d) {
    throw ConfigError(where + ": not a duration (like 500ms, 5s, 1m): \"" + s +
                      "\"");
  }
  return *d;
}

void ParseListen(const std::string& text, SimConfig* c) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw ConfigError("rest.listen: must be HOST:PORT, got \"" + text + "\"");
  }
  c->rest_host = text.substr(0, colon);
  c->rest_port = static_cast<int>(
      Integer(text.substr(colon + 1), "rest.listen port", 0, 65535));
}

void ParseChaos(const YAML::Node& node, const std::string& where,
                ChaosSpec* chaos) {
  RequireMap(node, where);
  CheckKeys(node, where, {"stall_probability_per_minute", "stall_seconds"});
  if (node["stall_probability_per_minute"]) {
    const auto s = Scalar(node["stall_probability_per_minute"],
                          where + ".stall_probability_per_minute");
    try {
      size_t used = 0;
      chaos->stall_probability_per_minute = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    } catch (const std::exception&) {
      throw ConfigError(where + ".stall_probability_per_minute: not a number");
    }
    if (chaos->stall_probability_per_minute < 0.0 ||
        chaos->stall_probability_per_minute > 1.0) {
      throw ConfigError(where +
                        ".stall_probability_per_minute: must be in [0, 1]");
    }
  }
  if (node["stall_seconds"]) {
    chaos->stall_duration = std::chrono::seconds(
        Integer(Scalar(node["stall_seconds"], where + ".stall_seconds"),
                where + ".stall_seconds", 1, 86400));
  }
}

void ParseSim(const YAML::Node& node, const std::string& where,
              ConnectorSpec* spec) {
  RequireMap(node, where);
  CheckKeys(node, where,
            {"tls_version", "password_file", "on_reset", "rest_only", "chaos",
             "tasks", "max_events_per_second"});
  if (node["tls_version"]) {
    spec->tls_version = Scalar(node["tls_version"], where + ".tls_version");
    if (spec->tls_version != "TLSv1.2" && spec->tls_version != "TLSv1.3") {
      throw ConfigError(where + ".tls_version: must be TLSv1.2 or TLSv1.3");
    }
  }
  if (node["password_file"]) {
    spec->password_file =
        Scalar(node["password_file"], where + ".password_file");
  }
  if (node["on_reset"]) {
    const auto v = Scalar(node["on_reset"], where + ".on_reset");
    if (v == "reconnect") {
      spec->on_reset = OnReset::kReconnect;
    } else if (v == "fail") {
      spec->on_reset = OnReset::kFail;
    } else {
      throw ConfigError(where + ".on_reset: must be \"reconnect\" or \"fail\"");
    }
  }
  if (node["rest_only"]) {
    spec->rest_only = Bool(node["rest_only"], where + ".rest_only");
  }
  if (node["chaos"]) ParseChaos(node["chaos"], where + ".chaos", &spec->chaos);
  if (node["max_events_per_second"]) {
    spec->max_events_per_second = static_cast<uint64_t>(Integer(
        Scalar(node["max_events_per_second"], where + ".max_events_per_second"),
        where + ".max_events_per_second", 0, kMaxEventsPerSecond));
  }
  if (node["tasks"]) {
    spec->task_count = static_cast<int>(Integer(
        Scalar(node["tasks"], where + ".tasks"), where + ".tasks", 1, 64));
  }
}

void SetConfig(ConnectorSpec* spec, const std::string& key,
               const std::string& value) {
  for (auto& [k, v] : spec->config) {
    if (k == key) {
      v = value;
      return;
    }
  }
  spec->config.emplace_back(key, value);
}

std::string ReplaceAll(std::string s, std::string_view from,
                       const std::string& to) {
  size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
  return s;
}

ConnectorSpec ParseConnector(const YAML::Node& node, const std::string& where) {
  RequireMap(node, where);
  CheckKeys(node, where, {"name", "config", "sim"});
  ConnectorSpec spec;
  if (!node["name"]) throw ConfigError(where + ".name: required");
  spec.name = Scalar(node["name"], where + ".name");
  if (spec.name.empty()) throw ConfigError(where + ".name: must not be empty");
  if (spec.name.find('/') != std::string::npos) {
    throw ConfigError(where + ".name: must not contain '/'");
  }
  spec.config.emplace_back("name", spec.name);
  if (node["config"]) {
    const auto cfg = RequireMap(node["config"], where + ".config");
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      const auto key = it->first.as<std::string>();
      const auto value = Scalar(it->second, where + ".config." + key);
      if (key == "name") {
        if (value != spec.name) {
          throw ConfigError(where + ".config.name: differs from the name");
        }
        continue;
      }
      SetConfig(&spec, key, value);
    }
  }
  if (node["sim"]) ParseSim(node["sim"], where + ".sim", &spec);
  return spec;
}

// `generate: {count, tasks, name_prefix, config}`: REST-only connectors for
// scale tests. "${name}" and "${index}" in template values are replaced.
void Generate(const YAML::Node& node, const std::string& where,
              std::vector<ConnectorSpec>* out) {
  RequireMap(node, where);
  CheckKeys(node, where, {"count", "tasks", "name_prefix", "config"});
  if (!node["count"]) throw ConfigError(where + ".count: required");
  const int count = static_cast<int>(Integer(
      Scalar(node["count"], where + ".count"), where + ".count", 1, 100000));
  int tasks = 1;
  if (node["tasks"]) {
    tasks = static_cast<int>(Integer(Scalar(node["tasks"], where + ".tasks"),
                                     where + ".tasks", 1, 64));
  }
  std::string prefix = "scale-";
  if (node["name_prefix"]) {
    prefix = Scalar(node["name_prefix"], where + ".name_prefix");
  }
  std::vector<std::pair<std::string, std::string>> tmpl;
  if (node["config"]) {
    const auto cfg = RequireMap(node["config"], where + ".config");
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      tmpl.emplace_back(
          it->first.as<std::string>(),
          Scalar(it->second, where + ".config." + it->first.as<std::string>()));
    }
  }
  const int width = static_cast<int>(std::to_string(count).size());
  for (int i = 1; i <= count; ++i) {
    std::string index = std::to_string(i);
    index.insert(0, static_cast<size_t>(width) - index.size(), '0');
    ConnectorSpec spec;
    spec.name = prefix + index;
    spec.rest_only = true;
    spec.task_count = tasks;
    spec.config.emplace_back("name", spec.name);
    SetConfig(&spec, "connector.class",
              "io.debezium.connector.mysql.MySqlConnector");
    SetConfig(&spec, "tasks.max", std::to_string(tasks));
    SetConfig(&spec, "database.hostname", "127.0.0.1");
    SetConfig(&spec, "database.port", "3306");
    SetConfig(&spec, "database.user", "debezium");
    SetConfig(&spec, "database.server.id", std::to_string(100000 + i));
    SetConfig(&spec, "topic.prefix", spec.name);
    for (const auto& [k, v] : tmpl) {
      if (k == "name") continue;
      SetConfig(
          &spec, k,
          ReplaceAll(ReplaceAll(v, "${name}", spec.name), "${index}", index));
    }
    out->push_back(std::move(spec));
  }
}

bool ParseBoolValue(const std::string& v, const std::string& where) {
  std::string lower;
  for (char c : v) lower.push_back(static_cast<char>(std::tolower(c)));
  if (lower == "true") return true;
  if (lower == "false") return false;
  throw ConfigError(where + ": must be true or false, got \"" + v + "\"");
}

std::vector<std::regex> CompileList(const std::string& text,
                                    const std::string& where) {
  std::vector<std::regex> out;
  for (const auto& item : SplitList(text)) {
    try {
      out.emplace_back(item, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& e) {
      throw ConfigError(where + ": bad regular expression \"" + item +
                        "\": " + e.what());
    }
  }
  return out;
}

}  // namespace

const std::string* ConnectorSpec::Get(std::string_view key) const {
  for (const auto& [k, v] : config) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    auto item = Trim(text.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

ConnectorSpec ConnectorSpecFromConnect(
    const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& config) {
  ConnectorSpec spec;
  spec.name = name;
  if (name.empty()) throw ConfigError("name: must not be empty");
  if (name.find('/') != std::string::npos) {
    throw ConfigError("name: must not contain '/'");
  }
  for (char ch : name) {
    if (std::iscntrl(static_cast<unsigned char>(ch))) {
      throw ConfigError("name: must not contain control characters");
    }
  }
  spec.config.emplace_back("name", name);
  // The sim.* keys become the YAML's `sim:` mapping, so that ParseSim
  // checks them the same way (and names them alike: "sim.tls_version").
  std::map<std::string, std::string> scalars;
  std::map<std::string, std::map<std::string, std::string>> maps;
  for (const auto& [key, value] : config) {
    if (key == "name") {
      if (value != name) {
        throw ConfigError("Connector name configuration (" + value +
                          ") doesn't match connector name in the URL (" + name +
                          ")");
      }
      continue;
    }
    if (key.rfind("sim.", 0) != 0) {
      SetConfig(&spec, key, value);
      continue;
    }
    const std::string rest = key.substr(4);
    const auto dot = rest.find('.');
    if (dot == std::string::npos) {
      if (rest.empty() || maps.count(rest) != 0) {
        throw ConfigError(key + ": unknown key or not a scalar");
      }
      scalars[rest] = value;
      continue;
    }
    const std::string outer = rest.substr(0, dot);
    const std::string inner = rest.substr(dot + 1);
    if (outer.empty() || inner.empty() ||
        inner.find('.') != std::string::npos || scalars.count(outer) != 0) {
      throw ConfigError(key + ": unknown key");
    }
    maps[outer][inner] = value;
  }
  if (scalars.empty() && maps.empty()) return spec;
  YAML::Node sim(YAML::NodeType::Map);
  for (const auto& [k, v] : scalars) sim[k] = v;
  for (const auto& [k, m] : maps) {
    YAML::Node sub(YAML::NodeType::Map);
    for (const auto& [ik, iv] : m) sub[ik] = iv;
    sim[k] = sub;
  }
  ParseSim(sim, "sim", &spec);
  return spec;
}

SimConfig ParseSimConfig(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("YAML: ") + e.what());
  }
  if (!root.IsMap()) throw ConfigError("top level: must be a mapping");
  CheckKeys(root, "config",
            {"port_file", "rest", "worker_id", "kafka", "offsets_topic",
             "offset_flush_interval", "log_file", "log_level", "connectors"});
  SimConfig c;
  if (root["port_file"]) c.port_file = Scalar(root["port_file"], "port_file");
  if (root["rest"]) {
    const auto rest = RequireMap(root["rest"], "rest");
    CheckKeys(rest, "rest", {"listen"});
    if (rest["listen"]) ParseListen(Scalar(rest["listen"], "rest.listen"), &c);
  }
  if (root["worker_id"]) c.worker_id = Scalar(root["worker_id"], "worker_id");
  if (!root["kafka"]) throw ConfigError("kafka.bootstrap_servers: required");
  {
    const auto kafka = RequireMap(root["kafka"], "kafka");
    CheckKeys(kafka, "kafka", {"bootstrap_servers", "source_address"});
    if (kafka["source_address"]) {
      c.kafka_source_address =
          Scalar(kafka["source_address"], "kafka.source_address");
      in_addr a{};
      if (c.kafka_source_address.rfind("127.", 0) != 0 ||
          inet_pton(AF_INET, c.kafka_source_address.c_str(), &a) != 1) {
        throw ConfigError(
            "kafka.source_address: must be an IPv4 loopback address like "
            "127.0.0.2, got \"" +
            c.kafka_source_address + "\"");
      }
    }
    if (!kafka["bootstrap_servers"]) {
      throw ConfigError("kafka.bootstrap_servers: required");
    }
    c.bootstrap_servers =
        Scalar(kafka["bootstrap_servers"], "kafka.bootstrap_servers");
  }
  if (root["offsets_topic"]) {
    c.offsets_topic = Scalar(root["offsets_topic"], "offsets_topic");
  }
  if (root["offset_flush_interval"]) {
    c.offset_flush_interval =
        Duration(root["offset_flush_interval"], "offset_flush_interval");
    if (c.offset_flush_interval.count() <= 0) {
      throw ConfigError("offset_flush_interval: must be positive");
    }
  }
  if (root["log_file"]) c.log_file = Scalar(root["log_file"], "log_file");
  if (root["log_level"]) {
    c.log_level = Scalar(root["log_level"], "log_level");
    if (c.log_level != "debug" && c.log_level != "info" &&
        c.log_level != "warn" && c.log_level != "error") {
      throw ConfigError("log_level: must be debug, info, warn or error");
    }
  }
  if (root["connectors"]) {
    const auto list = root["connectors"];
    if (!list.IsSequence()) throw ConfigError("connectors: must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "connectors[" + std::to_string(i) + "]";
      if (list[i].IsMap() && list[i]["generate"]) {
        CheckKeys(list[i], where, {"generate"});
        Generate(list[i]["generate"], where + ".generate", &c.connectors);
      } else {
        c.connectors.push_back(ParseConnector(list[i], where));
      }
    }
  }
  std::set<std::string> names;
  for (const auto& spec : c.connectors) {
    if (!names.insert(spec.name).second) {
      throw ConfigError("connectors: duplicate name \"" + spec.name + "\"");
    }
  }
  return c;
}

SimConfig LoadSimConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return ParseSimConfig(ss.str());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

bool DebeziumSettings::IncludesTable(const std::string& db,
                                     const std::string& table) const {
  static constexpr std::string_view kSystem[] = {
      "mysql", "sys", "performance_schema", "information_schema"};
  for (auto s : kSystem) {
    if (db == s) return false;
  }
  if (!database_include.empty()) {
    bool any = false;
    for (const auto& re : database_include) {
      if (std::regex_match(db, re)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (table_include.empty()) return true;
  const std::string full = db + "." + table;
  for (const auto& re : table_include) {
    if (std::regex_match(full, re)) return true;
  }
  return false;
}

DebeziumSettings ParseDebeziumSettings(const ConnectorSpec& spec) {
  const std::string where = "connector " + spec.name + ": ";
  auto required = [&](std::string_view key) -> std::string {
    const auto* v = spec.Get(key);
    if (v == nullptr || v->empty()) {
      throw ConfigError(where + std::string(key) + ": required");
    }
    return *v;
  };
  auto optional = [&](std::string_view key) -> const std::string* {
    return spec.Get(key);
  };
  DebeziumSettings s;
  s.hostname = required("database.hostname");
  s.port = static_cast<int>(
      Integer(required("database.port"), where + "database.port", 1, 65535));
  s.user = required("database.user");
  if (!spec.password_file.empty()) {
    try {
      s.password = cdc::ReadSecretFile(spec.password_file);
    } catch (const std::exception& e) {
      throw ConfigError(where + "sim.password_file: " + e.what());
    }
  } else if (const auto* pw = optional("database.password")) {
    s.password = *pw;
  }
  s.server_id = static_cast<uint32_t>(Integer(required("database.server.id"),
                                              where + "database.server.id", 1,
                                              4294967295LL));
  s.topic_prefix = required("topic.prefix");
  if (const auto* v = optional("table.include.list")) {
    s.table_include_list = *v;
    s.table_include = CompileList(*v, where + "table.include.list");
  }
  if (const auto* v = optional("database.include.list")) {
    s.database_include = CompileList(*v, where + "database.include.list");
  }
  if (const auto* v = optional("heartbeat.interval.ms")) {
    s.heartbeat_interval = std::chrono::milliseconds(
        Integer(*v, where + "heartbeat.interval.ms", 0, 86400000));
  }
  if (const auto* v = optional("heartbeat.action.query")) {
    s.heartbeat_action_query = *v;
  }
  if (const auto* v = optional("topic.heartbeat.prefix")) {
    s.heartbeat_topic_prefix = *v;
  }
  if (const auto* v = optional("database.ssl.mode")) {
    s.ssl_mode = *v;
    static constexpr std::string_view kModes[] = {
        "disabled", "preferred", "required", "verify_ca", "verify_identity"};
    if (std::find(std::begin(kModes), std::end(kModes), s.ssl_mode) ==
        std::end(kModes)) {
      throw ConfigError(where +
                        "database.ssl.mode: must be one of disabled, "
                        "preferred, required, verify_ca, verify_identity");
    }
  }
  if (const auto* v = optional("database.ssl.truststore")) s.ssl_ca = *v;
  if (const auto* v = optional("key.converter.schemas.enable")) {
    s.key_schemas_enable =
        ParseBoolValue(*v, where + "key.converter.schemas.enable");
  }
  if (const auto* v = optional("value.converter.schemas.enable")) {
    s.value_schemas_enable =
        ParseBoolValue(*v, where + "value.converter.schemas.enable");
  }
  if (const auto* v = optional("tombstones.on.delete")) {
    s.tombstones_on_delete = ParseBoolValue(*v, where + "tombstones.on.delete");
  }
  if (const auto* v = optional("connect.timeout.ms")) {
    s.connect_timeout = std::chrono::milliseconds(
        Integer(*v, where + "connect.timeout.ms", 1000, 3600000));
  }
  if (const auto* v = optional("snapshot.mode")) s.snapshot_mode = *v;
  return s;
}

}  // namespace cdc::sim
