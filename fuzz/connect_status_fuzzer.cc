// libFuzzer target: the Kafka Connect REST JSON parsers. Any JSON document
// must parse into statuses or throw connect::ShapeError; anything else (a
// nlohmann type_error, a crash, a sanitizer report) is a bug.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "probes/connect_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cdc::connect;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  FirstLine(text);
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  try {
    for (const auto& c : ParseExpandedConnectors(j)) {
      IsKnownState(c.state);
      FirstLine(c.trace);
    }
  } catch (const ShapeError&) {
  }
  try {
    ParseConnectorNames(j);
  } catch (const ShapeError&) {
  }
  try {
    ConnectorStatus c = ParseConnectorStatus(j, "connectors[\"x\"].status");
    ApplyConnectorInfo(j, "connectors[\"x\"].info", &c);
  } catch (const ShapeError&) {
  }
  // The per-connector fallback: /connectors/{name} on its own.
  try {
    ConnectorStatus c;
    ApplyConnectorInfo(j, "connectors[\"x\"]", &c);
  } catch (const ShapeError&) {
  }
  return 0;
}
