#include "probes/connect_status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "config/discovery.h"

namespace cdc::connect {
namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& where, const std::string& why) {
  throw ShapeError(where + ": " + why);
}

const json& Field(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) Bad(where + "." + key, "missing");
  return *it;
}

std::string StringField(const json& obj, const char* key,
                        const std::string& where) {
  const json& v = Field(obj, key, where);
  if (!v.is_string()) Bad(where + "." + key, "must be a string");
  return v.get<std::string>();
}

std::string OptionalStringField(const json& obj, const char* key,
                                const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) Bad(where + "." + key, "must be a string");
  return it->get<std::string>();
}

std::string Quote(const std::string& s) { return "[\"" + s + "\"]"; }

}  // namespace

bool IsKnownState(std::string_view state) {
  return std::find(kStates.begin(), kStates.end(), state) != kStates.end();
}

std::string FirstLine(std::string_view trace) {
  const auto nl = trace.find_first_of("\r\n");
  std::string_view first = trace.substr(0, nl);
  constexpr std::size_t kMax = 500;
  if (first.size() > kMax) return std::string(first.substr(0, kMax)) + "...";
  return std::string(first);
}

ConnectorStatus ParseConnectorStatus(const json& j, const std::string& where) {
  if (!j.is_object()) Bad(where, "must be an object");
  ConnectorStatus c;
  c.name = StringField(j, "name", where);
  const json& conn = Field(j, "connector", where);
  if (!conn.is_object()) Bad(where + ".connector", "must be an object");
  c.state = StringField(conn, "state", where + ".connector");
  c.worker_id = OptionalStringField(conn, "worker_id", where + ".connector");
  c.trace = OptionalStringField(conn, "trace", where + ".connector");
  c.type = OptionalStringField(j, "type", where);
  const json& tasks = Field(j, "tasks", where);
  if (!tasks.is_array()) Bad(where + ".tasks", "must be an array");
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const std::string tw = where + ".tasks[" + std::to_string(i) + "]";
    const json& t = tasks[i];
    if (!t.is_object()) Bad(tw, "must be an object");
    TaskStatus ts;
    const json& id = Field(t, "id", tw);
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > 1000000) {
      Bad(tw + ".id", "must be a task number");
    }
    ts.id = id.get<int>();
    ts.state = StringField(t, "state", tw);
    ts.worker_id = OptionalStringField(t, "worker_id", tw);
    ts.trace = OptionalStringField(t, "trace", tw);
    c.tasks.push_back(std::move(ts));
  }
  std::sort(
      c.tasks.begin(), c.tasks.end(),
      [](const TaskStatus& a, const TaskStatus& b) { return a.id < b.id; });
  if (c.type.empty()) c.type = "unknown";
  return c;
}

void ApplyConnectorInfo(const json& j, const std::string& where,
                        ConnectorStatus* c) {
  if (!j.is_object()) Bad(where, "must be an object");
  if (auto type = OptionalStringField(j, "type", where); !type.empty()) {
    c->type = type;
  }
  auto cfg = j.find("config");
  if (cfg != j.end()) {
    if (!cfg->is_object()) Bad(where + ".config", "must be an object");
    c->connector_class =
        OptionalStringField(*cfg, "connector.class", where + ".config");
    for (const auto& [key, value] : cfg->items()) {
      // Connect's config values are strings; anything else is not read.
      if (value.is_string() && config::IsDiscoveryKey(key)) {
        c->config[key] = value.get<std::string>();
      }
    }
  }
}

std::vector<ConnectorStatus> ParseExpandedConnectors(const json& j) {
  if (!j.is_object()) Bad("connectors", "must be an object");
  std::vector<ConnectorStatus> out;
  for (const auto& [name, entry] : j.items()) {
    const std::string where = "connectors" + Quote(name);
    if (!entry.is_object()) Bad(where, "must be an object");
    ConnectorStatus c =
        ParseConnectorStatus(Field(entry, "status", where), where + ".status");
    if (c.name != name) {
      Bad(where + ".status.name", "does not match the connector's key");
    }
    if (auto info = entry.find("info"); info != entry.end()) {
      ApplyConnectorInfo(*info, where + ".info", &c);
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> ParseConnectorNames(const json& j) {
  if (!j.is_array()) Bad("connectors", "must be an array of names");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) {
      Bad("connectors[" + std::to_string(i) + "]", "must be a string");
    }
    out.push_back(j[i].get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cdc::connect
