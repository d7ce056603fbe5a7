// Regression tests for what fuzzing (fuzz/) found in the parsers of
// untrusted input. Each test names the fuzz target and the finding; most are
// only observable under -DCDC_SANITIZE=ON (UBSan/ASan), where the original
// code aborts.

#include <gtest/gtest.h>

#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

#include "cdc/common/log.h"
#include "config/config.h"
#include "test/common/pipeline_harness.h"

namespace cdc {
namespace {

config::Connector MakeConnector(const std::string& name) {
  config::Connector c;
  c.name = name;
  c.source = "db";
  c.kafka = "k";
  c.topic_prefix = name;
  return c;
}

// records_fuzzer, empty input: a Kafka record with a null key or value
// (a tombstone) reached memmem() with a null pointer while a marker was
// pending (UBSan: "null pointer passed as argument 1, which is declared to
// never be null", then probes/pipeline_state.cc, now probes/marker_ledger.cc OnRecord).
TEST(FuzzRegressionTest, MarkerScanOfNullRecordBytes) {
  std::ostringstream out;
  Logger log(out, LogLevel::kError);
  PipelineHarness state(log);
  state.SetConnectors({MakeConnector("a")});
  const auto t0 = WallClock::time_point(std::chrono::seconds(1700000000));
  const std::string token = "cdcs-0123456789abcdef01234567";
  state.ExpectMarker(token, t0, {"a"});
  state.OnMarkerRecord("a", std::string_view(), t0);
  state.OnMarkerRecord("a", std::string_view(nullptr, 0), t0);
  state.OnMarkerRecord("a", "cdcs-", t0);
  EXPECT_TRUE(state.AwaitingMarker("a"));
  // A real record still finds its token.
  state.OnMarkerRecord("a", "{\"token\":\"" + token + "\"}",
                       t0 + std::chrono::milliseconds(50));
  EXPECT_FALSE(state.AwaitingMarker("a"));
}

}  // namespace
}  // namespace cdc
