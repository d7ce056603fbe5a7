#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "probes/observations.h"
#include "probes/probe_kind.h"

namespace cdc {

// The heartbeat kind: reads each connector's Debezium heartbeat topic
// (__debezium-heartbeat.<topic_prefix>, or heartbeat.topic) through the
// Kafka consumer, from its last record on, and exports when the newest
// heartbeat was written and received, and whether it is stale (older than
// heartbeat.max_age). It has no scheduled probe: the records come to it.

// Parses a Debezium heartbeat value ({"ts_ms":...} or the schema envelope
// {"schema":...,"payload":{"ts_ms":...}}); nullopt if absent or absurd.
std::optional<double> ParseHeartbeatSeconds(std::string_view value,
                                            double now_seconds);

// Writes one heartbeat record of `connector` into the store (and counts it
// as output of the connector). `ts_seconds` is the record's ts_ms / 1000
// when it had a sane one; `produced` its Kafka timestamp (default: when it
// was received).
void RecordHeartbeat(ObservationStore& store, const std::string& connector,
                     std::optional<double> ts_seconds,
                     WallClock::time_point received,
                     std::optional<WallClock::time_point> produced = {});

std::unique_ptr<ProbeKind> MakeHeartbeatKind(const KindEnv& env);

}  // namespace cdc
