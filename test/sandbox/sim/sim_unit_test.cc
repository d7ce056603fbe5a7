// Unit tests of cdc-sim's pure parts: config parsing, row decoding, the
// Debezium/JsonConverter encodings, the Connect REST shapes, and creating
// and deleting connectors at runtime (worker and REST, with REST-only
// connectors and a task whose MariaDB does not answer). No sandbox needed.

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/log.h"
#include "connect_rest.h"
#include "debezium_event.h"
#include "kafka_producer.h"
#include "offset_store.h"
#include "rate_limiter.h"
#include "row_decoder.h"
#include "sim_config.h"
#include "thread_dump.h"
#include "worker.h"

namespace cdc::sim {
namespace {

using Json = nlohmann::json;

std::string Minimal(const std::string& connectors) {
  return "kafka: {bootstrap_servers: \"127.0.0.1:9092\"}\n"
         "offset_flush_interval: 5s\n"
         "connectors:\n" +
         connectors;
}

std::string ConfigError(const std::string& yaml) {
  try {
    ParseSimConfig(yaml);
  } catch (const cdc::sim::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SimConfig, ParsesTheSandboxShape) {
  const auto c = ParseSimConfig(
      "port_file: /tmp/x.ports\n"
      "rest: {listen: 127.0.0.1:0}\n"
      "worker_id: 127.0.0.1:8083\n"
      "kafka: {bootstrap_servers: \"127.0.0.1:9092\"}\n"
      "offsets_topic: connect-offsets\n"
      "offset_flush_interval: 5s\n"
      "connectors:\n"
      "  - name: a\n"
      "    config:\n"
      "      database.port: 3306\n"
      "      topic.prefix: pa\n"
      "    sim: {tls_version: TLSv1.3, on_reset: fail,\n"
      "          chaos: {stall_probability_per_minute: 0.5, stall_seconds: "
      "7}}\n"
      "  - generate: {count: 12, tasks: 4, name_prefix: scale-}\n");
  EXPECT_EQ(c.rest_host, "127.0.0.1");
  EXPECT_EQ(c.rest_port, 0);
  EXPECT_EQ(c.offset_flush_interval, std::chrono::seconds(5));
  ASSERT_EQ(c.connectors.size(), 13u);
  const auto& a = c.connectors[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.config.front(),
            std::make_pair(std::string("name"), std::string("a")));
  ASSERT_NE(a.Get("database.port"), nullptr);
  EXPECT_EQ(*a.Get("database.port"), "3306");
  EXPECT_EQ(a.tls_version, "TLSv1.3");
  EXPECT_EQ(a.on_reset, OnReset::kFail);
  EXPECT_TRUE(a.chaos.enabled());
  EXPECT_EQ(a.chaos.stall_duration, std::chrono::seconds(7));
  EXPECT_EQ(c.connectors[1].name, "scale-01");
  EXPECT_EQ(c.connectors[12].name, "scale-12");
  EXPECT_TRUE(c.connectors[12].rest_only);
  EXPECT_EQ(c.connectors[12].task_count, 4);
  EXPECT_EQ(*c.connectors[12].Get("tasks.max"), "4");
}

TEST(SimConfig, RejectsMistakesWithActionableMessages) {
  EXPECT_EQ(ConfigError(Minimal("  - name: a\n    sim: {on_reset: retry}\n")),
            "connectors[0].sim.on_reset: must be \"reconnect\" or \"fail\"");
  EXPECT_EQ(
      ConfigError(Minimal("  - name: a\n    sim: {tls_version: TLSv1.1}\n")),
      "connectors[0].sim.tls_version: must be TLSv1.2 or TLSv1.3");
  EXPECT_NE(ConfigError(Minimal("  - name: a\n    sim: {colour: red}\n"))
                .find("connectors[0].sim.colour: unknown key"),
            std::string::npos);
  EXPECT_EQ(ConfigError(Minimal("  - name: a\n  - name: a\n")),
            "connectors: duplicate name \"a\"");
  EXPECT_EQ(ConfigError("connectors: []\n"),
            "kafka.bootstrap_servers: required");
  EXPECT_EQ(
      ConfigError("kafka: {bootstrap_servers: x}\noffset_flush_interval: "
                  "soon\n"),
      "offset_flush_interval: not a duration (like 500ms, 5s, 1m): \"soon\"");
  EXPECT_NE(ConfigError("kafka: {bootstrap_servers: x}\nbogus: 1\n")
                .find("config.bogus: unknown key"),
            std::string::npos);
}

TEST(DebeziumSettings, ReadsKeysAndFiltersTablesLikeDebezium) {
  const auto c = ParseSimConfig(
      Minimal("  - name: a\n"
              "    config:\n"
              "      database.hostname: 127.0.0.1\n"
              "      database.port: \"3307\"\n"
              "      database.user: u\n"
              "      database.password: p\n"
              "      database.server.id: \"5401\"\n"
              "      topic.prefix: pa\n"
              "      table.include.list: inventory.customers, cdc_canary\\..*\n"
              "      heartbeat.interval.ms: \"2000\"\n"
              "      value.converter.schemas.enable: \"false\"\n"));
  const auto s = ParseDebeziumSettings(c.connectors[0]);
  EXPECT_EQ(s.port, 3307);
  EXPECT_EQ(s.server_id, 5401u);
  EXPECT_EQ(s.heartbeat_interval, std::chrono::milliseconds(2000));
  EXPECT_TRUE(s.key_schemas_enable);
  EXPECT_FALSE(s.value_schemas_enable);
  EXPECT_EQ(s.HeartbeatTopic(), "__debezium-heartbeat.pa");
  EXPECT_TRUE(s.IncludesTable("inventory", "customers"));
  EXPECT_TRUE(s.IncludesTable("cdc_canary", "markers"));
  EXPECT_FALSE(s.IncludesTable("inventory", "orders"));
  EXPECT_FALSE(s.IncludesTable("inventory", "customers2"));  // whole match
  EXPECT_FALSE(s.IncludesTable("mysql", "user"));

  auto missing =
      ParseSimConfig(Minimal("  - name: b\n    config: {topic.prefix: x}\n"));
  try {
    ParseDebeziumSettings(missing.connectors[0]);
    FAIL() << "expected ConfigError";
  } catch (const cdc::sim::ConfigError& e) {
    EXPECT_STREQ(e.what(), "connector b: database.hostname: required");
  }
}

// --- row format
// ---------------------------------------------------------------

TEST(RowDecoder, DecimalBinaryFormat) {
  // DECIMAL(10,2): 8 integer digits in 4 bytes, 2 fraction digits in 1 byte.
  const uint8_t pos[] = {0x80, 0x00, 0x04, 0xD2, 0x38};  // 1234.56
  const uint8_t neg[] = {0x7F, 0xFF, 0xFB, 0x2D, 0xC7};  // -1234.56
  size_t used = 0;
  bool ok = false;
  EXPECT_EQ(DecodeDecimal(pos, sizeof(pos), 10, 2, &used, &ok), "1234.56");
  EXPECT_TRUE(ok);
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(DecodeDecimal(neg, sizeof(neg), 10, 2, &used, &ok), "-1234.56");
  EXPECT_TRUE(ok);
  DecodeDecimal(pos, 3, 10, 2, &used, &ok);
  EXPECT_FALSE(ok) << "truncated input";
}

// Builds TABLE_MAP and WRITE_ROWS events by hand: (INT, VARCHAR(20), DATE),
// the kind of table Connector/C 3.3's own extractor rejects.
TEST(RowDecoder, DecodesRowsOfAMetadataFreeTable) {
  MARIADB_RPL_EVENT tm{};
  tm.event_type = TABLE_MAP_EVENT;
  char db[] = "inventory";
  char table[] = "t";
  char types[] = {static_cast<char>(MYSQL_TYPE_LONG),
                  static_cast<char>(MYSQL_TYPE_VARCHAR),
                  static_cast<char>(MYSQL_TYPE_DATE)};
  char meta[] = {20, 0};  // VARCHAR max length 20
  tm.event.table_map.table_id = 42;
  tm.event.table_map.database = {db, std::strlen(db)};
  tm.event.table_map.table = {table, std::strlen(table)};
  tm.event.table_map.column_count = 3;
  tm.event.table_map.column_types = {types, 3};
  tm.event.table_map.metadata = {meta, 2};
  TableMap map;
  std::string error;
  ASSERT_TRUE(ParseTableMap(tm, &map, &error)) << error;
  ASSERT_EQ(map.columns.size(), 3u);
  EXPECT_EQ(map.columns[1].meta, 20);

  // Two rows: (7, "ab", 1990-05-17) and (-1, NULL, NULL).
  const uint32_t date = (1990u << 9) | (5u << 5) | 17u;
  std::vector<uint8_t> data = {0x00,  // null bitmap
                               7,
                               0,
                               0,
                               0,  // INT 7
                               2,
                               'a',
                               'b',  // VARCHAR "ab"
                               static_cast<uint8_t>(date & 0xff),
                               static_cast<uint8_t>((date >> 8) & 0xff),
                               static_cast<uint8_t>(date >> 16),
                               0x06,  // cols 2,3 NULL
                               0xff,
                               0xff,
                               0xff,
                               0xff};  // INT -1
  unsigned char present = 0x07;
  MARIADB_RPL_EVENT rows{};
  rows.event_type = WRITE_ROWS_EVENT_V1;
  rows.event.rows.table_id = 42;
  rows.event.rows.column_count = 3;
  rows.event.rows.column_bitmap = &present;
  rows.event.rows.row_data = data.data();
  rows.event.rows.row_data_size = data.size();
  std::vector<RowChange> out;
  ASSERT_TRUE(DecodeRows(map, rows, &out, &error)) << error;
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].op, RowChange::Op::kInsert);
  EXPECT_EQ(out[0].after[0].Signed(), 7);
  EXPECT_EQ(out[0].after[1].bytes, "ab");
  EXPECT_EQ(out[0].after[2].year, 1990);
  EXPECT_EQ(out[0].after[2].month, 5);
  EXPECT_EQ(out[0].after[2].day, 17);
  EXPECT_EQ(out[1].after[0].Signed(), -1);
  EXPECT_EQ(out[1].after[1].kind, Cell::Kind::kNull);
  EXPECT_EQ(out[1].after[2].kind, Cell::Kind::kNull);

  data.pop_back();  // truncated row image
  rows.event.rows.row_data_size = data.size();
  out.clear();
  EXPECT_FALSE(DecodeRows(map, rows, &out, &error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

// --- Debezium / JsonConverter encodings
// ---------------------------------------

TEST(DebeziumEvent, DecimalIsBigIntegerBytesInBase64) {
  auto b64 = [](const std::string& d) {
    return Base64(DecimalUnscaledBytes(d));
  };
  EXPECT_EQ(b64("1234.56"), "AeJA");  // 123456 = 0x01E240
  EXPECT_EQ(b64("0.00"), "AA==");
  EXPECT_EQ(b64("-1"), "/w==");
  EXPECT_EQ(b64("128"), "AIA=");   // 0x0080: sign byte kept
  EXPECT_EQ(b64("-128"), "gA==");  // 0x80
  EXPECT_EQ(b64("-129"), "/38=");  // 0xFF7F
}

TEST(DebeziumEvent, TemporalAndEnumCells) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(1990, 5, 17), 7441);
  ColumnInfo time_col{"t", "time", "time", false, true, 0, 0, {}};
  Cell t;
  t.kind = Cell::Kind::kTime;
  t.negative = true;
  t.hour = 1;
  t.minute = 2;
  t.second = 3;
  EXPECT_EQ(CellToJson(t, time_col), -3723000000LL);

  ColumnInfo dt3{"d", "datetime", "datetime(3)", false, true, 3, 0, {}};
  ColumnInfo dt6{"d", "datetime", "datetime(6)", false, true, 6, 0, {}};
  Cell dt;
  dt.kind = Cell::Kind::kDateTime;
  dt.year = 2024;
  dt.month = 1;
  dt.day = 2;
  dt.hour = 3;
  dt.minute = 4;
  dt.second = 5;
  dt.micros = 123456;
  EXPECT_EQ(CellToJson(dt, dt3), 1704164645123LL);
  EXPECT_EQ(CellToJson(dt, dt6), 1704164645123456LL);

  ColumnInfo ts_col{"ts", "timestamp", "timestamp(3)", false, true, 3, 0, {}};
  Cell ts;
  ts.kind = Cell::Kind::kTimestamp;
  ts.i = 1704164645;
  ts.micros = 678000;
  ts.fsp = 3;
  EXPECT_EQ(CellToJson(ts, ts_col), "2024-01-02T03:04:05.678Z");

  ColumnInfo e{"e", "enum", "enum('a','b')", false, true, 0, 0, {"a", "b"}};
  ColumnInfo s{"s", "set", "set('x','y')", false, true, 0, 0, {"x", "y"}};
  Cell en;
  en.kind = Cell::Kind::kEnum;
  en.u = 2;
  EXPECT_EQ(CellToJson(en, e), "b");
  Cell st;
  st.kind = Cell::Kind::kSet;
  st.u = 3;
  EXPECT_EQ(CellToJson(st, s), "x,y");
  EXPECT_EQ(ParseEnumMembers("enum('a','it''s')"),
            (std::vector<std::string>{"a", "it's"}));
}

TableSchema Customers() {
  TableSchema t;
  t.db = "inventory";
  t.table = "customers";
  t.columns = {{"id", "int", "int(11)", false, false, 10, 0, {}},
               {"email", "varchar", "varchar(255)", false, true, 0, 0, {}}};
  t.key_columns = {0};
  return t;
}

Row CustomerRow(int id, const std::string& email) {
  Row r(2);
  r[0].kind = Cell::Kind::kInt;
  r[0].width = 4;
  r[0].u = static_cast<uint32_t>(id);
  r[1].kind = Cell::Kind::kBytes;
  r[1].bytes = email;
  return r;
}

DebeziumSettings Settings(bool schemas) {
  DebeziumSettings s;
  s.topic_prefix = "pa";
  s.key_schemas_enable = schemas;
  s.value_schemas_enable = schemas;
  return s;
}

SourceInfo Source() {
  SourceInfo src;
  src.ts_ms = 1000;
  src.db = "inventory";
  src.table = "customers";
  src.server_id = 1;
  src.gtid = "0-1-9";
  src.file = "mysql-bin.000001";
  src.pos = 400;
  return src;
}

TEST(DebeziumEvent, EnvelopeWithoutSchemas) {
  const EventBuilder b(Settings(false));
  RowChange c;
  c.op = RowChange::Op::kInsert;
  c.after = CustomerRow(1001, "a@b");
  const auto recs = b.Change(Customers(), c, Source(), 5000000);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].topic, "pa.inventory.customers");
  EXPECT_EQ(*recs[0].key, R"({"id":1001})");
  const Json v = Json::parse(*recs[0].value);
  EXPECT_EQ(v["after"], Json::parse(R"({"id":1001,"email":"a@b"})"));
  EXPECT_TRUE(v["before"].is_null());
  EXPECT_EQ(v["op"], "c");
  EXPECT_EQ(v["ts_ms"], 5000);
  EXPECT_EQ(v["source"]["gtid"], "0-1-9");
  EXPECT_EQ(v["source"]["pos"], 400);
  EXPECT_EQ(v["source"]["snapshot"], "false");
  EXPECT_EQ(v["source"]["version"], "2.7.3.Final");
}

TEST(DebeziumEvent, DeleteGetsTombstoneAndKeyChangeBecomesDeleteCreate) {
  const EventBuilder b(Settings(false));
  RowChange d;
  d.op = RowChange::Op::kDelete;
  d.before = CustomerRow(1, "x");
  auto recs = b.Change(Customers(), d, Source(), 0);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(Json::parse(*recs[0].value)["op"], "d");
  EXPECT_FALSE(recs[1].value.has_value());
  EXPECT_EQ(recs[1].key, recs[0].key);

  RowChange u;
  u.op = RowChange::Op::kUpdate;
  u.before = CustomerRow(1, "x");
  u.after = CustomerRow(2, "x");
  recs = b.Change(Customers(), u, Source(), 0);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(Json::parse(*recs[0].value)["op"], "d");
  EXPECT_FALSE(recs[1].value.has_value());
  EXPECT_EQ(Json::parse(*recs[2].value)["op"], "c");
  EXPECT_EQ(*recs[2].key, R"({"id":2})");
}

TEST(DebeziumEvent, SchemaAndPayloadWhenSchemasAreEnabled) {
  const EventBuilder b(Settings(true));
  RowChange c;
  c.op = RowChange::Op::kInsert;
  c.after = CustomerRow(7, "e");
  const auto recs = b.Change(Customers(), c, Source(), 0);
  const Json k = Json::parse(*recs[0].key);
  EXPECT_EQ(k["payload"], Json::parse(R"({"id":7})"));
  EXPECT_EQ(k["schema"]["name"], "pa.inventory.customers.Key");
  EXPECT_EQ(k["schema"]["fields"][0]["type"], "int32");
  const Json v = Json::parse(*recs[0].value);
  EXPECT_EQ(v["schema"]["name"], "pa.inventory.customers.Envelope");
  EXPECT_EQ(v["schema"]["fields"][1]["field"], "after");
  EXPECT_EQ(v["schema"]["fields"][1]["fields"][1]["type"], "string");
  EXPECT_EQ(v["schema"]["fields"][2]["name"],
            "io.debezium.connector.mysql.Source");
  EXPECT_EQ(v["payload"]["after"]["id"], 7);

  const auto hb = b.Heartbeat(42);
  EXPECT_EQ(hb.topic, "__debezium-heartbeat.pa");
  EXPECT_EQ(Json::parse(*hb.key)["payload"],
            Json::parse(R"({"serverName":"pa"})"));
  EXPECT_EQ(Json::parse(*hb.value)["payload"], Json::parse(R"({"ts_ms":42})"));
  const EventBuilder plain(Settings(false));
  EXPECT_EQ(*plain.Heartbeat(42).key, R"({"serverName":"pa"})");
  EXPECT_EQ(*plain.Heartbeat(42).value, R"({"ts_ms":42})");
}

TEST(OffsetStore, KeyAndValueLookLikeKafkaConnects) {
  EXPECT_EQ(OffsetStore::Key("aurora-cdc-tls13", "aurora-tls13"),
            R"(["aurora-cdc-tls13",{"server":"aurora-tls13"}])");
  SourceOffset o;
  o.file = "mysql-bin.000003";
  o.pos = 1234;
  o.gtids = "0-1-57";
  o.ts_sec = 1700000000;
  o.event = 2;
  o.row = 1;
  o.server_id = 1;
  EXPECT_EQ(Dump(o.ToJson()),
            R"({"ts_sec":1700000000,"file":"mysql-bin.000003","pos":1234,)"
            R"("gtids":"0-1-57","row":1,"server_id":1,"event":2})");
  const auto back = SourceOffset::FromJson(Json::parse(Dump(o.ToJson())));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->SamePosition(o));
  o.event = 0;
  o.row = 0;
  EXPECT_EQ(o.ToJson().count("event"), 0u);
  EXPECT_EQ(o.ToJson().count("row"), 0u);
}

TEST(ConnectRest, StatusShapeWithFailedTaskTrace) {
  ConnectorStatusView v;
  v.name = "c";
  v.state = State::kRunning;
  v.tasks.push_back({0, State::kFailed, "java.io.EOFException\n\tat x"});
  EXPECT_EQ(
      Json::parse(Dump(StatusJson(v, "w:8083"))),
      Json::parse(
          R"({"name":"c","connector":{"state":"RUNNING","worker_id":"w:8083"},)"
          R"("tasks":[{"id":0,"state":"FAILED","worker_id":"w:8083",)"
          R"("trace":"java.io.EOFException\n\tat x"}],"type":"source"})"));
  EXPECT_EQ(Dump(ErrorJson(404, "Connector x not found")),
            R"({"error_code":404,"message":"Connector x not found"})");
  EXPECT_EQ(
      Json::parse(Dump(ErrorJson(404, "Connector x not found"))),
      Json::parse(R"({"error_code":404,"message":"Connector x not found"})"));
}

TEST(ThreadDump, BlockedReaderLooksLikeTheFieldDumps) {
  DumpEntry e;
  e.connector = "c";
  e.state = "RUNNING/RUNNING";
  e.java_thread_number = 42;
  e.task.endpoint = "127.0.0.1:3306";
  e.task.tid = 1234;
  e.task.connected = true;
  e.task.tls_version = "TLSv1.3";
  e.task.blocked_in_read = true;
  const auto now = std::chrono::system_clock::now();
  e.task.read_since = now - std::chrono::seconds(10);
  e.task.connected_at = now - std::chrono::seconds(223);
  const std::string dump = ThreadDumpEntry(e, now);
  EXPECT_EQ(dump.rfind("\"blc-127.0.0.1:3306\" #42 ", 0), 0u) << dump;
  EXPECT_NE(dump.find("elapsed=223.00s"), std::string::npos);
  EXPECT_NE(
      dump.find("java.lang.Thread.State: RUNNABLE\n\tat sun.nio.ch.Net.poll"),
      std::string::npos);
  EXPECT_NE(dump.find("SSLSocketImpl$AppInputStream.read"), std::string::npos);
  EXPECT_NE(dump.find("ByteArrayInputStream.peek"), std::string::npos);
  EXPECT_NE(dump.find("blocked_in_read=true"), std::string::npos);

  const std::string trace =
      BinlogFailureTrace("127.0.0.1:3306", 4, "reset", 2026);
  EXPECT_EQ(
      trace.rfind("org.apache.kafka.connect.errors.ConnectException: ", 0), 0u);
  EXPECT_NE(trace.find("\nCaused by: java.io.EOFException"), std::string::npos);
}

TEST(SimConfig, MaxEventsPerSecondIsAPerConnectorCap) {
  const auto c = ParseSimConfig(
      Minimal("  - name: a\n    sim: {max_events_per_second: 500}\n"
              "  - name: b\n"));
  EXPECT_EQ(c.connectors[0].max_events_per_second, 500u);
  EXPECT_EQ(c.connectors[1].max_events_per_second, 0u);
  EXPECT_NE(ConfigError(
                Minimal("  - name: a\n    sim: {max_events_per_second: -1}\n"))
                .find("connectors[0].sim.max_events_per_second"),
            std::string::npos);
}

TEST(SimConfig, KafkaSourceAddressMustBeLoopback) {
  const auto c = ParseSimConfig(
      "kafka: {bootstrap_servers: \"127.0.0.1:9092\", source_address: "
      "127.0.0.2}\nconnectors: []\n");
  EXPECT_EQ(c.kafka_source_address, "127.0.0.2");
  EXPECT_NE(ConfigError("kafka: {bootstrap_servers: x, source_address: "
                        "10.0.0.1}\nconnectors: []\n")
                .find("kafka.source_address: must be an IPv4 loopback"),
            std::string::npos);
}

// Elapsed seconds for `n` single-event Acquire() calls.
double TimeToPass(RateLimiter& limiter, int n) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(limiter.Acquire(1, [] { return false; }));
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

TEST(RateLimiter, PacesEventsAtTheConfiguredRate) {
  RateLimiter limiter(200);
  // 101 events at 200/s: ~0.5 s (up to 20 ms of credit at the start).
  const double s = TimeToPass(limiter, 101);
  EXPECT_GE(s, 0.45);
  EXPECT_LT(s, 0.9);
  const auto st = limiter.stats();
  EXPECT_EQ(st.passed, 101u);
  EXPECT_GE(st.throttled, 90u);
  EXPECT_EQ(st.events_per_second, 200u);
}

TEST(RateLimiter, ZeroIsUnlimitedAndARateChangeWakesAWaiter) {
  RateLimiter limiter(0);
  EXPECT_LT(TimeToPass(limiter, 100000), 0.5);
  limiter.SetRate(1);  // one per second
  ASSERT_TRUE(limiter.Acquire(1, [] { return false; }));
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    limiter.Acquire(1, [] { return false; });
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load());  // would wait ~0.9 s more
  limiter.SetRate(0);
  const auto start = std::chrono::steady_clock::now();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(300));
  EXPECT_TRUE(done.load());
}

TEST(RateLimiter, StoppingEndsAWaitWithinFiftyMilliseconds) {
  RateLimiter limiter(1);
  ASSERT_TRUE(limiter.Acquire(1, [] { return false; }));
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(limiter.Acquire(1, [&] { return stop.load(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(400));
  stopper.join();
}

// --- connectors created and deleted at runtime -----------------------------

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string SpecError(const std::string& name, const Pairs& config) {
  try {
    ConnectorSpecFromConnect(name, config);
  } catch (const cdc::sim::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(SimConfig, ConnectConfigSimKeysSetTheKnobsAndAreNotShown) {
  const auto spec =
      ConnectorSpecFromConnect("extra", {{"connector.class", "MySqlConnector"},
                                         {"sim.tls_version", "TLSv1.2"},
                                         {"database.hostname", "127.0.0.1"},
                                         {"name", "extra"},
                                         {"sim.max_events_per_second", "250"},
                                         {"sim.password_file", "/run/pw"},
                                         {"sim.chaos.stall_seconds", "9"},
                                         {"topic.prefix", "ex"}});
  EXPECT_EQ(spec.name, "extra");
  EXPECT_EQ(spec.tls_version, "TLSv1.2");
  EXPECT_EQ(spec.max_events_per_second, 250u);
  EXPECT_EQ(spec.password_file, "/run/pw");
  EXPECT_EQ(spec.chaos.stall_duration, std::chrono::seconds(9));
  EXPECT_FALSE(spec.rest_only);
  // "name" first, then the request's order, without the sim.* keys.
  const Pairs want = {{"name", "extra"},
                      {"connector.class", "MySqlConnector"},
                      {"database.hostname", "127.0.0.1"},
                      {"topic.prefix", "ex"}};
  EXPECT_EQ(spec.config, want);

  EXPECT_EQ(SpecError("x", {{"sim.tls_version", "TLSv1.1"}}),
            "sim.tls_version: must be TLSv1.2 or TLSv1.3");
  EXPECT_NE(SpecError("x", {{"sim.colour", "red"}}).find("sim.colour: unknown"),
            std::string::npos);
  EXPECT_NE(SpecError("x", {{"sim.max_events_per_second", "fast"}})
                .find("sim.max_events_per_second: must be an integer"),
            std::string::npos);
  EXPECT_EQ(SpecError("x", {{"sim.chaos", "1"}}),
            "sim.chaos: must be a mapping");
  EXPECT_EQ(SpecError("x", {{"name", "y"}}),
            "Connector name configuration (y) doesn't match connector name in "
            "the URL (x)");
  EXPECT_EQ(SpecError("a/b", {}), "name: must not contain '/'");
  EXPECT_EQ(SpecError("", {}), "name: must not be empty");
}

// The status and message of the RestError a create request body raises.
std::pair<int, std::string> BodyError(const std::string& body) {
  try {
    ParseCreateRequest(body);
  } catch (const RestError& e) {
    return {e.status(), e.what()};
  }
  return {0, ""};
}

TEST(ConnectRest, CreateRequestBodiesAreCheckedLikeConnects) {
  const auto r = ParseCreateRequest(
      R"({"name":" extra ","config":{"connector.class":)"
      R"("io.debezium.connector.mysql.MySqlConnector","tasks.max":1,)"
      R"("name":"extra","sim.rest_only":"true"}})");
  EXPECT_EQ(r.spec.name, "extra");  // trimmed, as Connect does
  EXPECT_TRUE(r.spec.rest_only);
  EXPECT_EQ(r.initial, TargetState::kStarted);
  ASSERT_NE(r.spec.Get("tasks.max"), nullptr);
  EXPECT_EQ(*r.spec.Get("tasks.max"), "1");  // Jackson's scalar coercion
  EXPECT_EQ(r.spec.Get("sim.rest_only"), nullptr);

  const std::string cls =
      R"("connector.class":"io.debezium.connector.mysql.MySqlConnector")";
  EXPECT_EQ(ParseCreateRequest(R"({"name":"a","config":{)" + cls +
                               R"(},"initial_state":"paused"})")
                .initial,
            TargetState::kPaused);

  EXPECT_EQ(BodyError("{"),
            std::make_pair(400, std::string("Request body is not valid JSON")));
  EXPECT_EQ(BodyError("[]").first, 400);
  EXPECT_EQ(BodyError(R"({"config":{}})"),
            std::make_pair(400, std::string("name: required, a string")));
  EXPECT_EQ(BodyError(R"({"name":7,"config":{}})").first, 400);
  EXPECT_EQ(BodyError(R"({"name":"a"})").second,
            "config: required, a JSON object of string values");
  EXPECT_EQ(BodyError(R"({"name":"a","config":[]})").second,
            "config: must be a JSON object of string values");
  EXPECT_EQ(BodyError(R"({"name":"a","config":{"x":{"y":"z"}}})").second,
            "config.x: must be a string, got object");
  EXPECT_EQ(BodyError(R"({"name":"a","config":{"x":null}})").second,
            "config.x: must be a string, got null");
  EXPECT_EQ(BodyError(R"({"name":"a","config":{"name":"b"}})").second,
            "Connector name configuration (b) doesn't match connector name "
            "in the URL (a)");
  EXPECT_EQ(BodyError(R"({"name":"a","config":{},"tasks":[]})").second,
            "Unrecognized field \"tasks\" (known: name, config, "
            "initial_state)");
  EXPECT_EQ(BodyError(R"({"name":"a","config":{}})").second,
            "Connector config contains no connector type (connector.class)");
  EXPECT_NE(BodyError(R"({"name":"a","config":{"connector.class":"Jdbc"}})")
                .second.find("Failed to find any class"),
            std::string::npos);
  EXPECT_NE(BodyError(R"({"name":"a","config":{)" + cls +
                      R"(,"sim.tls_version":"1.3"}})")
                .second.find("sim.tls_version: must be TLSv1.2 or TLSv1.3"),
            std::string::npos);
  EXPECT_EQ(BodyError(R"({"name":"a","config":{)" + cls +
                      R"(},"initial_state":"GONE"})")
                .second,
            "initial_state: must be RUNNING, PAUSED or STOPPED");

  const auto put = ParsePutConfigRequest("p", "{" + cls + "}");
  EXPECT_EQ(put.spec.name, "p");
  EXPECT_EQ(put.spec.config.front(),
            std::make_pair(std::string("name"), std::string("p")));
  try {
    ParsePutConfigRequest("p", R"({"name":"q",)" + cls + "}");
    FAIL() << "expected RestError";
  } catch (const RestError& e) {
    EXPECT_EQ(e.status(), 400);
  }
}

// A worker with no Kafka and no MariaDB behind it (127.0.0.1:1 refuses):
// enough for REST-only connectors and for tasks that never connect.
struct TestWorld {
  explicit TestWorld(const std::string& connectors_yaml)
      : config(ParseSimConfig(Minimal(connectors_yaml))),
        producer("127.0.0.1:1", log),
        store(producer, "127.0.0.1:1", "connect-offsets", log),
        worker(config, producer, store, log) {}
  ~TestWorld() { worker.Stop(); }

  std::ostringstream log_text;  // read only once the threads are done
  cdc::Logger log{log_text};
  SimConfig config;
  KafkaProducer producer;
  OffsetStore store;
  Worker worker;
};

std::vector<std::string> Names(const Worker& w) {
  std::vector<std::string> out;
  for (const auto& c : w.connectors()) out.push_back(c->name());
  return out;
}

ConnectorSpec RestOnlySpec(const std::string& name) {
  return ConnectorSpecFromConnect(
      name, {{"connector.class", "MySqlConnector"}, {"sim.rest_only", "true"}});
}

// A streaming connector whose MariaDB (127.0.0.1:1) refuses connections.
Pairs UnreachableConfig() {
  return {{"connector.class", "io.debezium.connector.mysql.MySqlConnector"},
          {"database.hostname", "127.0.0.1"},
          {"database.port", "1"},
          {"database.user", "u"},
          {"database.password", "p"},
          {"database.server.id", "5555"},
          {"topic.prefix", "unreachable"},
          {"connect.timeout.ms", "1000"}};
}

TEST(Worker, CreateAndDeleteChangeEveryListing) {
  TestWorld w("  - name: m\n    sim: {rest_only: true}\n");
  w.worker.Start();
  EXPECT_EQ(Names(w.worker), std::vector<std::string>{"m"});

  ConnectorPtr a = w.worker.Create(RestOnlySpec("a"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(w.worker.Create(RestOnlySpec("z")), nullptr);
  EXPECT_EQ(Names(w.worker), (std::vector<std::string>{"a", "m", "z"}));
  EXPECT_EQ(w.worker.Find("a"), a);
  EXPECT_EQ(w.worker.Create(RestOnlySpec("a")), nullptr) << "name taken";
  EXPECT_EQ(w.worker.Create(RestOnlySpec("m")), nullptr) << "configured";

  // A streaming connector's Debezium settings are checked at creation.
  auto bad = ConnectorSpecFromConnect(
      "bad", {{"connector.class", "MySqlConnector"}, {"topic.prefix", "b"}});
  try {
    w.worker.Create(bad);
    FAIL() << "expected ConfigError";
  } catch (const cdc::sim::ConfigError& e) {
    EXPECT_STREQ(e.what(), "connector bad: database.hostname: required");
  }
  EXPECT_EQ(w.worker.Find("bad"), nullptr);

  EXPECT_TRUE(w.worker.Delete("a"));
  EXPECT_FALSE(w.worker.Delete("a"));
  EXPECT_FALSE(w.worker.Delete("nope"));
  EXPECT_EQ(w.worker.Find("a"), nullptr);
  EXPECT_EQ(Names(w.worker), (std::vector<std::string>{"m", "z"}));
  // Whoever held it still may use it.
  EXPECT_TRUE(a->deleted());
  EXPECT_EQ(a->name(), "a");
  EXPECT_EQ(a->Status(Connector::Clock::now()).tasks.size(), 1u);
  // The configured connector can be deleted too, and a name used again.
  EXPECT_TRUE(w.worker.Delete("m"));
  ASSERT_NE(w.worker.Create(RestOnlySpec("a")), nullptr);
  EXPECT_EQ(Names(w.worker), (std::vector<std::string>{"a", "z"}));
  w.worker.Stop();
  const std::string log = w.log_text.str();
  EXPECT_NE(log.find("msg=\"connector created\" connector=a"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("msg=\"connector deleted\" connector=a"),
            std::string::npos)
      << log;
}

// Waits up to `limit` for `pred`.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(Worker, DeleteStopsTheTaskOfAStreamingConnectorOnTheHerder) {
  TestWorld w("  []\n");
  w.worker.Start();
  ConnectorPtr c =
      w.worker.Create(ConnectorSpecFromConnect("live", UnreachableConfig()));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->streaming());
  EXPECT_EQ(StateName(c->Status(Connector::Clock::now()).state),
            std::string("UNASSIGNED"));
  // The herder starts its task; it keeps retrying the refused connect and
  // stays RUNNING, as Debezium's does.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto v = c->Status(Connector::Clock::now());
        return v.state == State::kRunning && v.tasks.size() == 1 &&
               v.tasks[0].state == State::kRunning;
      },
      std::chrono::seconds(5)));
  ASSERT_TRUE(c->TaskSnapshotNow().has_value());

  // Created STOPPED: listed, no task.
  auto stopped_req = ConnectorSpecFromConnect("idle", UnreachableConfig());
  ConnectorPtr idle = w.worker.Create(stopped_req, TargetState::kStopped);
  ASSERT_NE(idle, nullptr);

  // A restart queued just before the delete must not bring the task back.
  w.worker.RestartTask(c, 0);
  ASSERT_TRUE(w.worker.Delete("live"));
  EXPECT_EQ(w.worker.Find("live"), nullptr);
  ASSERT_TRUE(WaitFor([&] { return !c->TaskSnapshotNow().has_value(); },
                      std::chrono::seconds(10)))
      << "the herder did not stop the deleted connector's task";
  // A REST handler that found it before the delete and asks for a restart
  // (or resume) after it: nothing starts for a deleted connector.
  w.worker.RestartTask(c, 0);
  w.worker.Resume(c);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(c->TaskSnapshotNow().has_value());
  EXPECT_FALSE(idle->TaskSnapshotNow().has_value());
  EXPECT_EQ(Names(w.worker), std::vector<std::string>{"idle"});
  w.worker.Stop();
  const std::string log = w.log_text.str();
  EXPECT_NE(log.find("WorkerSourceTask{id=live-0} Stopping task"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("WorkerSourceTask{id=idle-0} Starting task"),
            std::string::npos)
      << log;
}

TEST(ConnectRest, CreateAndDeleteOverHttp) {
  TestWorld w("  - name: m\n    sim: {rest_only: true}\n");
  ConnectRestServer rest(w.worker, w.producer, w.log);
  const int port = rest.Bind("127.0.0.1", 0);
  ASSERT_GT(port, 0);
  w.worker.Start();
  rest.Start();
  httplib::Client http("127.0.0.1", port);
  const std::string cls =
      R"("connector.class":"io.debezium.connector.mysql.MySqlConnector")";
  const std::string body = R"({"name":"extra","config":{)" + cls +
                           R"(,"topic.prefix":"ex","sim.rest_only":"true"}})";

  auto r = http.Post("/connectors", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(r->get_header_value("Location"), "/connectors/extra");
  const Json info = Json::parse(r->body);
  EXPECT_EQ(info["name"], "extra");
  EXPECT_EQ(info["config"], Json::parse(R"({"name":"extra",)" + cls +
                                        R"(,"topic.prefix":"ex"})"))
      << "sim.* keys are not shown";
  EXPECT_EQ(info["type"], "source");
  r = http.Get("/connectors/extra");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json::parse(r->body), info) << "201 body = GET /connectors/{n}";

  r = http.Post("/connectors", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(
      Json::parse(r->body),
      Json::parse(
          R"({"error_code":409,"message":"Connector extra already exists"})"));

  r = http.Post("/connectors", R"({"name":"s","config":{)" + cls + "}}",
                "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("database.hostname: required"), std::string::npos)
      << r->body;
  r = http.Post("/connectors", "not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Json::parse(r->body)["error_code"], 400);

  r = http.Get("/connectors");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json::parse(r->body), Json::parse(R"(["extra","m"])"));
  r = http.Get("/connectors?expand=status&expand=info");
  ASSERT_TRUE(r);
  EXPECT_TRUE(Json::parse(r->body).contains("extra"));

  // PUT .../config creates a missing connector, refuses to change one.
  r = http.Put("/connectors/viaput/config",
               "{" + cls + R"(,"sim.rest_only":"true"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  r = http.Put("/connectors/viaput/config", "{" + cls + "}",
               "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);

  r = http.Delete("/connectors/extra");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_TRUE(r->body.empty());
  for (const char* path : {"/connectors/extra", "/connectors/extra/status",
                           "/connectors/extra/config"}) {
    r = http.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(Json::parse(r->body)["message"], "Connector extra not found");
  }
  r = http.Delete("/connectors/extra");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = http.Get("/connectors");
  ASSERT_TRUE(r);
  EXPECT_EQ(Json::parse(r->body), Json::parse(R"(["m","viaput"])"));
  r = http.Get("/connectors?expand=status&expand=info");
  ASSERT_TRUE(r);
  const Json expanded = Json::parse(r->body);
  EXPECT_FALSE(expanded.contains("extra"));
  EXPECT_TRUE(expanded.contains("viaput"));
  rest.Stop();
}

}  // namespace
}  // namespace cdc::sim
