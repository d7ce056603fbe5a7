// The probe kinds: one line per kind. Adding a kind is a new
// probes/<kind>_probe.{h,cc} pair with its Make...Kind(), its config
// section, and one line here (docs/contributing.md).

#include "probes/binlog_session_probe.h"
#include "probes/connect_rest_probe.h"
#include "probes/heartbeat_probe.h"
#include "probes/kafka_watcher.h"
#include "probes/marker_probe.h"
#include "probes/offset_lag_probe.h"
#include "probes/probe_kind.h"

namespace cdc {

const std::vector<KindTableEntry>& ProbeKindTable() {
  static const std::vector<KindTableEntry> kTable = {
      {"connect_rest", &MakeConnectRestKind},
      {"marker", &MakeMarkerKind},
      {"heartbeat", &MakeHeartbeatKind},
      {"binlog_session", &MakeBinlogSessionKind},
      {"offset_lag", &MakeOffsetLagKind},
      // Last: reads the topics that the kinds above subscribe to.
      {"kafka", &MakeKafkaKind},
  };
  return kTable;
}

MetricLabels ConnectorLabels(const std::string& name,
                             const ObservationStore::Entry& e) {
  return {{"connector", name}, {"tls_version", TlsLabel(e.config, e.obs)}};
}

}  // namespace cdc
