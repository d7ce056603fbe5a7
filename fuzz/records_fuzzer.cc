// libFuzzer target: what the Kafka consumer parses from records it does not
// control: Debezium heartbeats, Kafka Connect offset records and the token
// scan of marker records (with rounds pending, so that found tokens are
// judged). Input: KEY 0xFF 0xFF VALUE (no separator: empty key, all value).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "probes/kafka_watcher.h"
#include "test/common/pipeline_harness.h"

namespace {

// Tokens the seed corpus contains (fixed, so that runs are reproducible).
constexpr const char* kTokens[] = {"cdcs-000000000000000000000001",
                                   "cdcs-0123456789abcdef01234567",
                                   "cdcs-ffffffffffffffffffffffff"};

cdc::config::Connector MakeConnector(const std::string& name) {
  cdc::config::Connector c;
  c.name = name;
  c.source = "db";
  c.kafka = "k";
  c.topic_prefix = name;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view key, value = in;
  if (auto sep = in.find("\xff\xff"); sep != std::string_view::npos) {
    key = in.substr(0, sep);
    value = in.substr(sep + 2);
  }
  const double now = 1.7e9;
  cdc::ParseHeartbeatSeconds(value, now);
  cdc::ParseHeartbeatSeconds(key, now);
  std::string connector;
  cdc::BinlogPosition offset;
  cdc::ParseOffsetRecord(key, value, &connector, &offset);

  static std::ostream null_stream(nullptr);
  static cdc::Logger log(null_stream, cdc::LogLevel::kError);
  cdc::PipelineHarness state(log);
  state.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  const auto t0 = cdc::WallClock::time_point(std::chrono::seconds(1700000000));
  for (const char* token : kTokens) state.ExpectMarker(token, t0, {"a", "b"});
  state.OnMarkerRecord("a", key, t0 + std::chrono::milliseconds(5));
  state.OnMarkerRecord("a", value, t0 + std::chrono::milliseconds(10));
  state.OnMarkerRecord("b", in, t0 + std::chrono::milliseconds(20));
  state.OnMarkerRecord("unknown", in, t0 + std::chrono::milliseconds(20));
  if (!connector.empty()) {
    state.OnCommittedOffset(connector, offset, t0);
    state.OnCommittedOffset("a", offset, t0);
  }
  state.Expire(t0 + std::chrono::hours(1));
  cdc::MetricSink sink;
  state.Collect(sink, t0 + std::chrono::hours(1));
  state.Snapshots(t0 + std::chrono::hours(1));
  return 0;
}
