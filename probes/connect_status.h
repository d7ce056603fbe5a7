#pragma once

// The Kafka Connect REST API's connector status model and its parsers.
// Pure functions over JSON: thread-safe.

#include <array>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace cdc::connect {

// Every state Kafka Connect reports (AbstractStatus.State), in export order.
inline constexpr std::array<std::string_view, 6> kStates = {
    "UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING"};

bool IsKnownState(std::string_view state);

struct TaskStatus {
  int id = 0;
  std::string state;
  std::string worker_id;
  std::string trace;  // only when FAILED
  bool operator==(const TaskStatus&) const = default;
};

struct ConnectorStatus {
  std::string name;
  std::string state;
  std::string worker_id;
  std::string trace;
  std::string type;             // "source", "sink" or "unknown"
  std::string connector_class;  // from the connector's config, "" if unknown
  // The config keys discovery reads (config::IsDiscoveryKey), from the
  // info; the others (and every secret) are not kept.
  std::map<std::string, std::string> config;
  std::vector<TaskStatus> tasks;
  bool operator==(const ConnectorStatus&) const = default;
};

// A response that is valid JSON but not of the documented shape. The message
// names the JSON path, e.g. `connectors["x"].status.tasks[0].state: must be
// a string`.
class ShapeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// GET /connectors?expand=status&expand=info: {"name": {"status": ...,
// "info": ...}}. Sorted by name.
std::vector<ConnectorStatus> ParseExpandedConnectors(const nlohmann::json& j);

// GET /connectors: ["a", "b"].
std::vector<std::string> ParseConnectorNames(const nlohmann::json& j);

// GET /connectors/{name}/status.
ConnectorStatus ParseConnectorStatus(const nlohmann::json& j,
                                     const std::string& where);

// GET /connectors/{name} (the same shape as expand=info): fills type,
// connector_class and config.
void ApplyConnectorInfo(const nlohmann::json& j, const std::string& where,
                        ConnectorStatus* c);

// The first line of a Java stack trace: the exception and its message.
std::string FirstLine(std::string_view trace);

}  // namespace cdc::connect
