// The pure functions of the probes: record and response parsers, the binlog
// lag arithmetic, TLS labels and the marker statements.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "config/config.h"
#include "probes/binlog_session_probe.h"
#include "probes/heartbeat_probe.h"
#include "probes/kafka_watcher.h"
#include "probes/marker_probe.h"
#include "probes/mysql_session.h"
#include "probes/offset_lag_probe.h"
#include "test/common/pipeline_harness.h"

namespace cdc {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;

constexpr double kNow = 1'700'000'000.0;  // "now" for heartbeat sanity checks

// ---- ParseHeartbeatSeconds ---------------------------------------------

TEST(ParseHeartbeatSecondsTest, PlainValue) {
  EXPECT_THAT(ParseHeartbeatSeconds(R"({"ts_ms":1699999990123})", kNow),
              Optional(::testing::DoubleEq(1699999990.123)));
}

TEST(ParseHeartbeatSecondsTest, SchemaEnvelope) {
  const std::string v =
      R"({"schema":{"type":"struct","fields":[{"type":"int64",)"
      R"("optional":false,"field":"ts_ms"}],"optional":false,)"
      R"("name":"io.debezium.connector.common.Heartbeat"},)"
      R"("payload":{"ts_ms":1699999980000}})";
  EXPECT_THAT(ParseHeartbeatSeconds(v, kNow),
              Optional(::testing::DoubleEq(1699999980.0)));
}

TEST(ParseHeartbeatSecondsTest, MissingTsMs) {
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts":1699999990123})", kNow),
            std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"schema":{},"payload":{"x":1}})", kNow),
            std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({})", kNow), std::nullopt);
}

TEST(ParseHeartbeatSecondsTest, StringTsMsIsRejected) {
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":"1699999990123"})", kNow),
            std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":null})", kNow), std::nullopt);
}

TEST(ParseHeartbeatSecondsTest, AbsurdTimesAreRejected) {
  // Seconds instead of milliseconds: 1970.
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":1699999990})", kNow),
            std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":-5})", kNow), std::nullopt);
  // The edge of 2001 is still sane.
  EXPECT_THAT(ParseHeartbeatSeconds(R"({"ts_ms":978307200000})", kNow),
              Optional(978307200.0));
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":978307199000})", kNow),
            std::nullopt);
  // Up to a day ahead of now is clock skew; more is absurd.
  const auto ms = [](double s) {
    return R"({"ts_ms":)" + std::to_string(static_cast<long long>(s * 1000)) +
           "}";
  };
  EXPECT_THAT(ParseHeartbeatSeconds(ms(kNow + 86000), kNow),
              Optional(kNow + 86000));
  EXPECT_EQ(ParseHeartbeatSeconds(ms(kNow + 86401), kNow), std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":1e300})", kNow), std::nullopt);
}

TEST(ParseHeartbeatSecondsTest, NotJson) {
  EXPECT_EQ(ParseHeartbeatSeconds("", kNow), std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds("ts_ms=1699999990123", kNow), std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds(R"({"ts_ms":16999)", kNow), std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds("[1699999990123]", kNow), std::nullopt);
  EXPECT_EQ(ParseHeartbeatSeconds("1699999990123", kNow), std::nullopt);
  // An Avro-encoded heartbeat: binary, not JSON.
  EXPECT_EQ(ParseHeartbeatSeconds(std::string("\0\0\0\0\x01\xf6\xa8", 7), kNow),
            std::nullopt);
}

TEST(ParseHeartbeatSecondsTest, HugeValueIsNotParsed) {
  const std::string v =
      R"({"ts_ms":1699999990123,"pad":")" + std::string(1 << 20, 'x') + R"("})";
  EXPECT_EQ(ParseHeartbeatSeconds(v, kNow), std::nullopt);
  // The same value, small, parses: only the size rejected it.
  EXPECT_TRUE(
      ParseHeartbeatSeconds(R"({"ts_ms":1699999990123,"pad":"xx"})", kNow)
          .has_value());
}

// ---- ParseOffsetRecord -------------------------------------------------

constexpr char kOffsetKey[] =
    R"(["inventory-connector",{"server":"dbserver1"}])";
constexpr char kOffsetValue[] =
    R"({"ts_sec":1700000000,"file":"mysql-bin.000003","pos":154,)"
    R"("row":1,"server_id":223344,"event":2})";

TEST(ParseOffsetRecordTest, DebeziumMysqlRecord) {
  std::string connector;
  BinlogPosition o;
  ASSERT_TRUE(ParseOffsetRecord(kOffsetKey, kOffsetValue, &connector, &o));
  EXPECT_EQ(connector, "inventory-connector");
  EXPECT_EQ(o.file, "mysql-bin.000003");
  EXPECT_EQ(o.pos, 154u);
  EXPECT_EQ(o.ts_sec, 1700000000);
}

TEST(ParseOffsetRecordTest, GtidRecordWithoutTsSec) {
  std::string connector;
  BinlogPosition o;
  o.ts_sec = 42;  // left over from a previous record: must be reset
  ASSERT_TRUE(ParseOffsetRecord(
      kOffsetKey,
      R"({"file":"binlog.000010","pos":9876543210,)"
      R"("gtids":"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-77"})",
      &connector, &o));
  EXPECT_EQ(o.file, "binlog.000010");
  EXPECT_EQ(o.pos, 9876543210u);
  EXPECT_EQ(o.ts_sec, 0);
}

TEST(ParseOffsetRecordTest, TombstoneOrEmptyValue) {
  std::string connector;
  BinlogPosition o;
  EXPECT_FALSE(ParseOffsetRecord(kOffsetKey, "", &connector, &o));
  EXPECT_FALSE(ParseOffsetRecord(kOffsetKey, "null", &connector, &o));
  EXPECT_FALSE(ParseOffsetRecord("", kOffsetValue, &connector, &o));
  EXPECT_EQ(connector, "");
}

TEST(ParseOffsetRecordTest, WrongKeyShape) {
  std::string connector;
  BinlogPosition o;
  for (const char* key :
       {R"({"connector":"c","server":"s"})", R"(["c"])",
        R"(["c",{"server":"s"},"extra"])", R"([1,{"server":"s"}])", R"("c")",
        "not json", R"(["c",{"server":"s"})"}) {
    EXPECT_FALSE(ParseOffsetRecord(key, kOffsetValue, &connector, &o)) << key;
  }
  EXPECT_EQ(connector, "");
}

TEST(ParseOffsetRecordTest, BadPositions) {
  std::string connector;
  BinlogPosition o;
  for (const char* value :
       {R"({"file":"mysql-bin.000003"})", R"({"pos":154})",
        R"({"file":"mysql-bin.000003","pos":-1})",
        R"({"file":"mysql-bin.000003","pos":"154"})",
        R"({"file":"mysql-bin.000003","pos":1.5})", R"({"file":3,"pos":154})",
        R"(["mysql-bin.000003",154])", "not json"}) {
    EXPECT_FALSE(ParseOffsetRecord(kOffsetKey, value, &connector, &o)) << value;
  }
  EXPECT_EQ(connector, "");
}

TEST(ParseOffsetRecordTest, HugeValueIsNotParsed) {
  std::string connector;
  BinlogPosition o;
  const std::string v =
      R"({"file":"f","pos":1,"pad":")" + std::string(1 << 20, 'x') + R"("})";
  EXPECT_FALSE(ParseOffsetRecord(kOffsetKey, v, &connector, &o));
}

// ---- ParseRestOffsets --------------------------------------------------

TEST(ParseRestOffsetsTest, Kafka36Shape) {
  const auto o =
      ParseRestOffsets(R"({"offsets":[{"partition":{"server":"dbserver1"},)"
                       R"("offset":{"transaction_id":null,"ts_sec":1700000000,)"
                       R"("file":"mysql-bin.000003","pos":154,"row":1,)"
                       R"("server_id":223344,"event":2}}]})");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->file, "mysql-bin.000003");
  EXPECT_EQ(o->pos, 154u);
  EXPECT_EQ(o->ts_sec, 1700000000);
}

TEST(ParseRestOffsetsTest, SkipsEntriesWithoutAPosition) {
  const auto o = ParseRestOffsets(
      R"({"offsets":[{"partition":{},"offset":{"file":"a"}},)"
      R"({"partition":{},"offset":null},)"
      R"({"partition":{},"offset":{"file":"b.000002","pos":7}}]})");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->file, "b.000002");
  EXPECT_EQ(o->pos, 7u);
  EXPECT_EQ(o->ts_sec, 0);
}

TEST(ParseRestOffsetsTest, EmptyListHasNoOffset) {
  EXPECT_EQ(ParseRestOffsets(R"({"offsets":[]})"), std::nullopt);
}

TEST(ParseRestOffsetsTest, Garbage) {
  for (const char* body :
       {"", "not json", "[]", "{}", R"({"offsets":{}})",
        R"({"offsets":[1,"x",null]})",
        R"({"offsets":[{"offset":{"file":"f","pos":-3}}]})",
        R"({"error_code":404,"message":"Unknown connector x"})"}) {
    EXPECT_EQ(ParseRestOffsets(body), std::nullopt) << body;
  }
}

// ---- BinlogLagBytes ----------------------------------------------------

const BinlogFiles kLogs = {
    {"bin.000001", 1000}, {"bin.000002", 2000}, {"bin.000003", 500}};

TEST(BinlogLagBytesTest, SameFile) {
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000003", 100),
              Optional(300.0));
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000003", 400),
              Optional(0.0));
  // Needs no file list.
  EXPECT_THAT(BinlogLagBytes({}, "bin.000009", 90, "bin.000009", 40),
              Optional(50.0));
}

TEST(BinlogLagBytesTest, AcrossFilesSumsTheSizes) {
  // Rest of bin.000001, all of bin.000002, start of bin.000003.
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000001", 600),
              Optional(400.0 + 2000.0 + 400.0));
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000002", 1500),
              Optional(500.0 + 400.0));
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000002", 0, "bin.000001", 1000),
              Optional(0.0));
}

TEST(BinlogLagBytesTest, PurgedCommittedFileIsUnknown) {
  EXPECT_EQ(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000000", 10),
            std::nullopt);
  EXPECT_EQ(BinlogLagBytes(kLogs, "bin.000003", 400, "other-host.000001", 10),
            std::nullopt);
}

TEST(BinlogLagBytesTest, ServerFileMissingIsUnknown) {
  EXPECT_EQ(BinlogLagBytes(kLogs, "bin.000004", 400, "bin.000002", 10),
            std::nullopt);
}

TEST(BinlogLagBytesTest, CommittedAheadIsZero) {
  EXPECT_THAT(BinlogLagBytes(kLogs, "bin.000003", 400, "bin.000003", 450),
              Optional(0.0));
}

// ---- BinlogSessionProbe::TlsLabel --------------------------------------

TEST(TlsLabelTest, ServerValuesToLabels) {
  EXPECT_EQ(BinlogSessionProbe::TlsLabel(std::string("TLSv1.3")), "1.3");
  EXPECT_EQ(BinlogSessionProbe::TlsLabel(std::string("TLSv1.2")), "1.2");
  EXPECT_EQ(BinlogSessionProbe::TlsLabel(std::string("")), "none");
  EXPECT_EQ(BinlogSessionProbe::TlsLabel(std::nullopt), "unknown");
}

// ---- Marker statements -------------------------------------------------

TEST(MarkerSqlTest, QuoteIdentifier) {
  EXPECT_EQ(QuoteIdentifier("markers"), "`markers`");
  EXPECT_EQ(QuoteIdentifier("a`b"), "`a``b`");
  EXPECT_EQ(QuoteIdentifier(""), "``");
}

TEST(MarkerSqlTest, DefaultCanaryStatements) {
  const config::Canary c;
  EXPECT_THAT(
      MarkerProbe::CreateTableSql(c),
      StartsWith("CREATE TABLE IF NOT EXISTS `cdc_canary`.`markers` ("));
  EXPECT_THAT(MarkerProbe::CreateTableSql(c),
              HasSubstr("id VARCHAR(64) NOT NULL PRIMARY KEY"));
  EXPECT_THAT(MarkerProbe::CreateTableSql(c), HasSubstr("token VARCHAR(64)"));
  EXPECT_EQ(MarkerProbe::UpsertSql(c),
            "INSERT INTO `cdc_canary`.`markers` (id, token) VALUES (?, ?) "
            "ON DUPLICATE KEY UPDATE token = VALUES(token)");
}

TEST(MarkerSqlTest, IdentifiersAreQuotedAndValuesArePlaceholders) {
  config::Canary c;
  c.database = "ops`; DROP DATABASE x; --";
  c.table = "mark ers";
  const std::string quoted_db = "`ops``; DROP DATABASE x; --`";
  const std::string create = MarkerProbe::CreateTableSql(c);
  const std::string upsert = MarkerProbe::UpsertSql(c);
  EXPECT_THAT(create, HasSubstr(quoted_db + ".`mark ers` ("));
  EXPECT_THAT(upsert, StartsWith("INSERT INTO " + quoted_db + ".`mark ers` "));
  // Row id and token are bound, never spliced in.
  EXPECT_EQ(std::count(upsert.begin(), upsert.end(), '?'), 2);
  EXPECT_EQ(std::count(create.begin(), create.end(), '?'), 0);
  EXPECT_THAT(upsert, Not(HasSubstr("'")));
}

}  // namespace
}  // namespace cdc

namespace cdc {
namespace {

TEST(KafkaProbeTest, IntervalAndTimeoutComeFromTheClusterConfig) {
  std::ostringstream log_text;
  Logger log(log_text, LogLevel::kError);
  PipelineHarness state(log);
  config::KafkaCluster k;
  k.name = "k";
  k.bootstrap_servers = "127.0.0.1:1";  // never contacted in this test
  auto watcher = std::make_shared<KafkaWatcher>(k, state.store(), log);
  k.interval = std::chrono::seconds(2);
  k.timeout = std::chrono::milliseconds(1500);
  KafkaProbe probe(watcher, k);
  EXPECT_EQ(probe.Interval(), std::chrono::seconds(2));
  EXPECT_EQ(probe.Timeout(), std::chrono::milliseconds(1500));
  // A new interval is a new probe for the scheduler (same consumer).
  auto slower = k;
  slower.interval = std::chrono::seconds(30);
  EXPECT_FALSE(KafkaProbe(watcher, slower).SameAs(probe));
  EXPECT_TRUE(KafkaProbe(watcher, k).SameAs(probe));
}

}  // namespace
}  // namespace cdc

namespace cdc {
namespace {

// The key of the exporter's canary row tells the partition its markers go
// to: the id must be whole, and a record without a key tells nothing.
TEST(KeyHoldsIdTest, MatchesTheWholeRowIdOnly) {
  const std::string id = "cdc-sentinel/host-1/1m";
  EXPECT_TRUE(KeyHoldsId(R"({"id":"cdc-sentinel/host-1/1m"})", id));
  EXPECT_TRUE(KeyHoldsId(
      R"({"schema":{"type":"struct"},"payload":{"id":"cdc-sentinel/host-1/1m"}})",
      id));
  // Avro: a length byte, then the bytes, nothing after.
  EXPECT_TRUE(KeyHoldsId(std::string("\x2c") + id, id));
  EXPECT_FALSE(KeyHoldsId(R"({"id":"cdc-sentinel/host-1/1m30s"})", id))
      << "another interval's row";
  EXPECT_FALSE(KeyHoldsId(R"({"id":"cdc-sentinel/host-1/1m.x"})", id));
  EXPECT_FALSE(KeyHoldsId(R"({"id":"cdc-sentinel/host-2/1m"})", id));
  EXPECT_FALSE(KeyHoldsId("", id)) << "no key";
  EXPECT_TRUE(KeyHoldsId(
      R"({"id":"cdc-sentinel/host-1/1m30s"} {"id":"cdc-sentinel/host-1/1m"})",
      id))
      << "the second occurrence is whole";
}

}  // namespace
}  // namespace cdc
