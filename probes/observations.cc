#include "probes/observations.h"

#include <array>

namespace cdc {
namespace {

constexpr std::array<std::pair<RunState, std::string_view>, 6> kRunStates = {{
    {RunState::kUnassigned, "UNASSIGNED"},
    {RunState::kRunning, "RUNNING"},
    {RunState::kPaused, "PAUSED"},
    {RunState::kStopped, "STOPPED"},
    {RunState::kFailed, "FAILED"},
    {RunState::kRestarting, "RESTARTING"},
}};

bool IsInactive(RunState s) {
  return s == RunState::kPaused || s == RunState::kStopped ||
         s == RunState::kUnassigned || s == RunState::kRestarting;
}

}  // namespace

RunState ParseRunState(std::string_view text) {
  for (const auto& [state, name] : kRunStates) {
    if (name == text) return state;
  }
  return RunState::kOther;
}

std::string_view ToString(RunState s) {
  for (const auto& [state, name] : kRunStates) {
    if (state == s) return name;
  }
  return "";
}

std::string RestObservation::ToString() const {
  switch (source) {
    case Source::kNoApi:
      return "none";
    case Source::kUnknown:
      return "unknown";
    case Source::kListed:
      break;
  }
  if (task) {
    return "TASK_" + (*task == RunState::kOther
                          ? task_text
                          : std::string(cdc::ToString(*task)));
  }
  return connector == RunState::kOther ? connector_text
                                       : std::string(cdc::ToString(connector));
}

bool RestObservation::ClaimsRunning() const {
  return source != Source::kListed ||
         (connector == RunState::kRunning && !task.has_value());
}

bool RestObservation::Failed() const {
  return source == Source::kListed &&
         (connector == RunState::kFailed || task.has_value());
}

bool RestObservation::Inactive() const {
  return source == Source::kListed && !task.has_value() &&
         IsInactive(connector);
}

std::string TlsLabel(const config::Connector& c,
                     const ConnectorObservations& o) {
  if (c.tls_version != "auto") return c.tls_version;
  return o.session.detected_tls.empty() ? "unknown" : o.session.detected_tls;
}

void ObservationStore::SetConnectors(
    const std::vector<config::Connector>& connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Entry> next;
  for (const auto& cfg : connectors) {
    auto it = entries_.find(cfg.name);
    Entry e;
    if (it != entries_.end()) e = std::move(it->second);
    e.config = cfg;
    // Whether there is a REST API follows the configuration at once.
    if (cfg.connect_cluster.empty()) {
      e.obs.rest = RestObservation{};
      e.obs.rest.source = RestObservation::Source::kNoApi;
    } else if (e.obs.rest.source == RestObservation::Source::kNoApi) {
      e.obs.rest = RestObservation{};
    }
    next.emplace(cfg.name, std::move(e));
  }
  entries_ = std::move(next);
}

std::optional<ObservationStore::Entry> ObservationStore::Get(
    const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(connector);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void ObservationStore::SetKafkaUp(const std::string& kafka, bool up) {
  std::lock_guard<std::mutex> lock(mu_);
  kafka_up_[kafka] = up;
}

std::optional<bool> ObservationStore::KafkaUp(const std::string& kafka) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = kafka_up_.find(kafka);
  if (it == kafka_up_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cdc
