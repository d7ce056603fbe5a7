#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "probes/connect_status.h"
#include "test/common/pipeline_harness.h"

namespace cdc {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// All times are explicit: a fixed origin plus milliseconds.
const WallClock::time_point kT0{std::chrono::milliseconds(1'700'000'000'000)};

WallClock::time_point At(std::chrono::milliseconds offset) {
  return kT0 + offset;
}

double Seconds(WallClock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// A well-formed token: "cdcs-" and 24 lowercase hex digits.
std::string Token(char digit) { return "cdcs-" + std::string(24, digit); }

// A Debezium JSON change event (JsonConverter, schemas disabled) of the
// canary row, carrying `token` in "after".
std::string JsonEvent(const std::string& token) {
  return R"({"before":null,"after":{"id":"host-10s","token":")" + token +
         R"(","created_at":"2023-11-14T22:13:20.000000Z"},)"
         R"("source":{"connector":"mysql","db":"cdc_canary","table":"markers"},)"
         R"("op":"c","ts_ms":1700000000500})";
}

// An Avro-like value (Confluent wire format: magic 0, schema id, then
// zig-zag lengths and raw bytes) carrying `token` among binary noise.
std::string AvroBlob(const std::string& token) {
  std::string b("\x00\x00\x00\x00\x2a", 5);  // magic byte + schema id 42
  b += '\x02';                               // union branch: after
  b += '\x10';                               // length of "host-10s"
  b += "host-10s";
  b += static_cast<char>(token.size() * 2);  // zig-zag length
  b += token;
  b.append("\x00\xff\x80\x01\x00", 5);
  return b;
}

config::Connector MakeConnector(const std::string& name,
                                const std::string& source = "src1") {
  config::Connector c;
  c.name = name;
  c.connect_cluster = "connect1";
  c.source = source;
  c.kafka = "kafka1";
  c.topic_prefix = "prefix_" + name;
  c.binlog_user = "cdc_" + name;
  return c;
}

connect::ConnectorStatus Status(const std::string& name,
                                const std::string& state,
                                std::vector<std::string> task_states = {
                                    "RUNNING"}) {
  connect::ConnectorStatus s;
  s.name = name;
  s.state = state;
  s.type = "source";
  int id = 0;
  for (const auto& t : task_states) {
    connect::TaskStatus task;
    task.id = id++;
    task.state = t;
    s.tasks.push_back(task);
  }
  return s;
}

// The families of one scrape, with lookups by name and labels.
class Scrape {
 public:
  explicit Scrape(std::vector<prometheus::MetricFamily> families)
      : families_(std::move(families)) {}

  const prometheus::MetricFamily* Family(std::string_view name) const {
    for (const auto& f : families_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  // The one series of `name` whose labels include all of `want`; nullptr if
  // there is none (a test failure if there are several).
  const prometheus::ClientMetric* Find(std::string_view name,
                                       const MetricLabels& want) const {
    const auto* f = Family(name);
    if (f == nullptr) return nullptr;
    const prometheus::ClientMetric* found = nullptr;
    for (const auto& m : f->metric) {
      bool match = true;
      for (const auto& [k, v] : want) {
        bool has = false;
        for (const auto& l : m.label)
          has = has || (l.name == k && l.value == v);
        match = match && has;
      }
      if (!match) continue;
      if (found != nullptr) {
        ADD_FAILURE() << "several series of " << name << " match";
      }
      found = &m;
    }
    return found;
  }

  // The value of a gauge or counter series; nullopt if it is not exported.
  std::optional<double> Value(std::string_view name,
                              const MetricLabels& want) const {
    const auto* m = Find(name, want);
    if (m == nullptr) return std::nullopt;
    return Family(name)->type == prometheus::MetricType::Counter
               ? m->counter.value
               : m->gauge.value;
  }

  // Whether any series of any family has the label connector=`name`.
  bool HasConnector(const std::string& name) const {
    for (const auto& f : families_) {
      for (const auto& m : f.metric) {
        for (const auto& l : m.label) {
          if (l.name == "connector" && l.value == name) return true;
        }
      }
    }
    return false;
  }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

class ProbeKindsTest : public ::testing::Test {
 protected:
  ProbeKindsTest() { state_.SetConnectors({MakeConnector("a")}); }

  Scrape Collect(WallClock::time_point now) {
    MetricSink sink;
    state_.Collect(sink, now);
    return Scrape(sink.Take());
  }

  std::optional<double> Probes(const Scrape& s, const std::string& connector,
                               const std::string& result) {
    return s.Value("cdc_marker_probes_total",
                   {{"connector", connector}, {"result", result}});
  }

  std::optional<double> Cohort(const Scrape& s, const std::string& connector,
                               const std::string& kind) {
    return s.Value("cdc_cohort_failures_total",
                   {{"connector", connector}, {"kind", kind}});
  }

  int Misses(const std::string& connector, WallClock::time_point now) {
    auto v = Collect(now).Value("cdc_marker_consecutive_misses",
                                {{"connector", connector}});
    return v ? static_cast<int>(*v) : -1;
  }

  // One marker round for `connectors`, written at `written`, that nobody
  // delivers; judged by an Expire at `expire`.
  void MissedRound(char digit, WallClock::time_point written,
                   WallClock::time_point expire,
                   const std::vector<std::string>& connectors = {"a"}) {
    state_.ExpectMarker(Token(digit), written, connectors);
    state_.Expire(expire);
  }

  void FoundRound(char digit, WallClock::time_point written,
                  WallClock::time_point seen, const std::string& connector) {
    state_.ExpectMarker(Token(digit), written, {connector});
    state_.OnMarkerRecord(connector, JsonEvent(Token(digit)), seen);
  }

  void Rest(std::vector<connect::ConnectorStatus> statuses) {
    state_.OnRestPoll("connect1", true, statuses);
  }

  std::ostringstream log_text_;
  Logger log_{log_text_, LogLevel::kDebug};
  PipelineHarness state_{log_};
};

// ---- Marker rounds ------------------------------------------------------

TEST(MarkerLedgerTokenTest, NewTokensArePrefixedHexAndUnique) {
  const std::string a = MarkerLedger::NewToken();
  const std::string b = MarkerLedger::NewToken();
  EXPECT_NE(a, b);
  for (const auto& t : {a, b}) {
    ASSERT_EQ(t.size(), 5u + 24u) << t;
    EXPECT_EQ(t.substr(0, 5), "cdcs-");
    for (char c : t.substr(5)) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << t;
    }
  }
}

TEST_F(ProbeKindsTest, TokenInJsonAfterIsFoundWithItsLatency) {
  const std::string token = MarkerLedger::NewToken();
  state_.ExpectMarker(token, At(0ms), {"a"});
  EXPECT_TRUE(state_.AwaitingMarker("a"));

  state_.OnMarkerRecord("a", JsonEvent(token), At(1500ms));

  EXPECT_FALSE(state_.AwaitingMarker("a"));
  const Scrape s = Collect(At(2s));
  EXPECT_EQ(Probes(s, "a", "found"), 1);
  EXPECT_EQ(Probes(s, "a", "not_found"), 0);
  EXPECT_EQ(Probes(s, "a", "error"), 0);
  EXPECT_EQ(s.Value("cdc_marker_success", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_marker_last_latency_seconds", {{"connector", "a"}}),
            1.5);
  EXPECT_EQ(s.Value("cdc_marker_consecutive_misses", {{"connector", "a"}}), 0);
  const auto* ts =
      s.Find("cdc_marker_last_success_timestamp_seconds", {{"connector", "a"}});
  ASSERT_NE(ts, nullptr);
  EXPECT_NEAR(ts->gauge.value, Seconds(At(1500ms)), 1e-3);

  const auto* h = s.Find("cdc_marker_latency_seconds", {{"connector", "a"}});
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(h->histogram.sample_sum, 1.5);
  for (const auto& b : h->histogram.bucket) {
    // Cumulative: 1.5 s is in le=2 and above, not in le=1 and below.
    EXPECT_EQ(b.cumulative_count, b.upper_bound >= 1.5 ? 1u : 0u)
        << "le=" << b.upper_bound;
  }
}

TEST_F(ProbeKindsTest, TokenInAvroBinaryBlobIsFound) {
  state_.ExpectMarker(Token('7'), At(0ms), {"a"});
  const std::string blob = AvroBlob(Token('7'));
  ASSERT_NE(blob.find('\0'), std::string::npos);  // really binary
  state_.OnMarkerRecord("a", blob, At(250ms));
  const Scrape s = Collect(At(1s));
  EXPECT_EQ(Probes(s, "a", "found"), 1);
  EXPECT_EQ(s.Value("cdc_marker_last_latency_seconds", {{"connector", "a"}}),
            0.25);
}

TEST_F(ProbeKindsTest, TokenInKeyIsFound) {
  state_.ExpectMarker(Token('c'), At(0ms), {"a"});
  state_.OnMarkerRecord("a", R"({"id":"x"})", At(1s));  // the value: no token
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  state_.OnMarkerRecord("a", R"({"token":")" + Token('c') + R"("})", At(3s));
  const Scrape s = Collect(At(4s));
  EXPECT_EQ(Probes(s, "a", "found"), 1);
  EXPECT_EQ(s.Value("cdc_marker_last_latency_seconds", {{"connector", "a"}}),
            3.0);
}

TEST_F(ProbeKindsTest, RecordSeenBeforeWriteTimeHasZeroLatency) {
  state_.ExpectMarker(Token('1'), At(10s), {"a"});
  state_.OnMarkerRecord("a", JsonEvent(Token('1')), At(9s));  // clock skew
  EXPECT_EQ(Collect(At(11s)).Value("cdc_marker_last_latency_seconds",
                                   {{"connector", "a"}}),
            0.0);
}

TEST_F(ProbeKindsTest, TokenOnAnotherConnectorDoesNotCount) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});
  state_.OnMarkerRecord("b", JsonEvent(Token('1')), At(1s));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  EXPECT_FALSE(state_.AwaitingMarker("b"));
}

TEST_F(ProbeKindsTest, NotFoundByTheDeadlineIsAMiss) {
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});  // timeout 30 s (default)
  state_.Expire(At(29999ms));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  EXPECT_EQ(Probes(Collect(At(29999ms)), "a", "not_found"), 0);

  state_.Expire(At(30s));
  // Judged, but still looked for: a late arrival is observed.
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  EXPECT_EQ(Collect(At(30s)).Value("cdc_marker_pending_age_seconds",
                                   {{"connector", "a"}}),
            30);
  state_.OnMarkerRecord("a", JsonEvent(Token('1')), At(31s));
  EXPECT_FALSE(state_.AwaitingMarker("a"));
  const Scrape s = Collect(At(32s));
  EXPECT_EQ(Probes(s, "a", "not_found"), 1);
  EXPECT_EQ(Probes(s, "a", "found"), 0);
  EXPECT_EQ(s.Value("cdc_marker_late_total", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_marker_pending_age_seconds", {{"connector", "a"}}), 0);
  const auto* h = s.Find("cdc_marker_latency_seconds", {{"connector", "a"}});
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->histogram.sample_count, 1u);  // the late one, 31 s
  EXPECT_DOUBLE_EQ(h->histogram.sample_sum, 31);
  EXPECT_EQ(s.Value("cdc_marker_success", {{"connector", "a"}}), 0);
  EXPECT_EQ(s.Value("cdc_marker_consecutive_misses", {{"connector", "a"}}), 1);
  EXPECT_EQ(
      s.Find("cdc_marker_last_success_timestamp_seconds", {{"connector", "a"}}),
      nullptr);
  EXPECT_THAT(log_text_.str(), HasSubstr("marker not delivered"));
}

TEST_F(ProbeKindsTest, ConfiguredTimeoutSetsTheDeadline) {
  auto c = MakeConnector("a");
  c.marker.timeout = 5s;
  state_.SetConnectors({c});
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});
  state_.Expire(At(4999ms));
  EXPECT_EQ(Probes(Collect(At(4999ms)), "a", "not_found"), 0);
  state_.Expire(At(5s));
  EXPECT_EQ(Probes(Collect(At(5s)), "a", "not_found"), 1);
}

TEST_F(ProbeKindsTest, CollectJudgesOverdueMarkers) {
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});
  EXPECT_EQ(Probes(Collect(At(31s)), "a", "not_found"), 1);
}

TEST_F(ProbeKindsTest, ConsecutiveMissesCountUpAndResetOnFound) {
  MissedRound('1', At(0s), At(30s));
  EXPECT_EQ(Misses("a", At(30s)), 1);
  // Two rounds overdue at one expiry: both counted, oldest first.
  state_.ExpectMarker(Token('f'), At(10s), {"a"});
  state_.ExpectMarker(Token('0'), At(20s), {"a"});
  state_.Expire(At(55s));
  EXPECT_EQ(Misses("a", At(55s)), 3);
  const std::string log = log_text_.str();
  const auto m1 = log.find("consecutive_misses=1");
  const auto m2 = log.find("consecutive_misses=2");
  const auto m3 = log.find("consecutive_misses=3");
  ASSERT_NE(m3, std::string::npos) << log;
  EXPECT_LT(m1, m2);
  EXPECT_LT(m2, m3);

  FoundRound('2', At(60s), At(61s), "a");
  EXPECT_EQ(Misses("a", At(62s)), 0);
  MissedRound('3', At(70s), At(100s));
  EXPECT_EQ(Misses("a", At(100s)), 1);
  const Scrape s = Collect(At(100s));
  EXPECT_EQ(Probes(s, "a", "not_found"), 4);
  EXPECT_EQ(Probes(s, "a", "found"), 1);
}

TEST_F(ProbeKindsTest, NonHexTokenIsIgnored) {
  const std::string bad = "cdcs-" + std::string(24, 'g');
  state_.ExpectMarker(bad, At(0ms), {"a"});
  state_.OnMarkerRecord("a", JsonEvent(bad), At(1s));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  EXPECT_EQ(Probes(Collect(At(2s)), "a", "found"), 0);
}

TEST_F(ProbeKindsTest, UppercaseTokenIsNotHex) {
  const std::string upper = "cdcs-" + std::string(24, 'A');
  state_.ExpectMarker(upper, At(0ms), {"a"});
  state_.OnMarkerRecord("a", JsonEvent(upper), At(1s));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
}

TEST_F(ProbeKindsTest, TruncatedTokenIsIgnored) {
  // A registered token shorter than a full one never matches a truncated
  // tail of a record.
  const std::string short_token = "cdcs-abcdef";
  state_.ExpectMarker(short_token, At(0ms), {"a"});
  state_.OnMarkerRecord("a", "xx" + short_token, At(1s));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  // Nor a full token cut short by the end of the record.
  state_.ExpectMarker(Token('b'), At(0ms), {"a"});
  state_.OnMarkerRecord("a", "xx" + Token('b').substr(0, 28), At(1s));
  EXPECT_EQ(Probes(Collect(At(2s)), "a", "found"), 0);
}

TEST_F(ProbeKindsTest, ScanContinuesPastGarbageAndFindsSeveralTokens) {
  state_.SetConnectors({MakeConnector("a")});
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});
  state_.ExpectMarker(Token('2'), At(5s), {"a"});
  // A prefix without hex, a prefix glued to a token, then both tokens.
  const std::string bytes = "cdcs-zz cdcs-" + Token('1') + " " + Token('2');
  state_.OnMarkerRecord("a", bytes, At(6s));
  EXPECT_FALSE(state_.AwaitingMarker("a"));
  EXPECT_EQ(Probes(Collect(At(7s)), "a", "found"), 2);
}

TEST_F(ProbeKindsTest, UnknownTokenIsIgnored) {
  state_.ExpectMarker(Token('1'), At(0ms), {"a"});
  state_.OnMarkerRecord("a", JsonEvent(Token('2')), At(1s));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  const Scrape s = Collect(At(31s));
  EXPECT_EQ(Probes(s, "a", "found"), 0);
  EXPECT_EQ(Probes(s, "a", "not_found"), 1);
}

TEST_F(ProbeKindsTest, RecordWithNoRoundsIsHarmless) {
  state_.OnMarkerRecord("a", JsonEvent(Token('1')), At(1s));
  state_.OnMarkerRecord("a", std::string_view(), At(1s));
  EXPECT_EQ(Probes(Collect(At(2s)), "a", "found"), 0);
}

TEST_F(ProbeKindsTest, KafkaDownAtExpiryIsAnErrorNotAMiss) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  state_.ExpectMarker(Token('1'), At(0ms), {"a", "b"});
  state_.SetKafkaUp("kafka1", false, At(1s));
  state_.Expire(At(30s));

  // Not judged, still looked for (it may arrive once Kafka can be read).
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  Scrape s = Collect(At(31s));
  for (const std::string c : {"a", "b"}) {
    EXPECT_EQ(Probes(s, c, "error"), 1) << c;
    EXPECT_EQ(Probes(s, c, "not_found"), 0) << c;
    EXPECT_EQ(s.Value("cdc_marker_consecutive_misses", {{"connector", c}}), 0);
    EXPECT_EQ(Cohort(s, c, "solo"), 0) << c;
    EXPECT_EQ(Cohort(s, c, "shared"), 0) << c;
    EXPECT_EQ(s.Find("cdc_marker_success", {{"connector", c}}), nullptr);
    EXPECT_FALSE(state_.GetVerdict(c, At(31s)).silent_failure) << c;
  }
  EXPECT_THAT(log_text_.str(), HasSubstr("Kafka cluster cannot be read"));

  // Back up: the next overdue marker is a miss again.
  state_.SetKafkaUp("kafka1", true, At(35s));
  MissedRound('2', At(40s), At(70s), {"a", "b"});
  s = Collect(At(70s));
  EXPECT_EQ(Probes(s, "a", "not_found"), 1);
  EXPECT_EQ(Cohort(s, "a", "shared"), 1);
}

TEST_F(ProbeKindsTest, OnlyTheConnectorsOfTheDownKafkaGetErrors) {
  auto b = MakeConnector("b");
  b.kafka = "kafka2";
  state_.SetConnectors({MakeConnector("a"), b});
  state_.SetKafkaUp("kafka2", false, At(1s));
  MissedRound('1', At(0s), At(30s), {"a", "b"});
  const Scrape s = Collect(At(30s));
  EXPECT_EQ(Probes(s, "a", "not_found"), 1);
  EXPECT_EQ(Probes(s, "a", "error"), 0);
  EXPECT_EQ(Probes(s, "b", "not_found"), 0);
  EXPECT_EQ(Probes(s, "b", "error"), 1);
}

TEST_F(ProbeKindsTest, MarkerWriteFailedIsAnError) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  state_.MarkerWriteFailed({"a", "b", "not-configured"});
  const Scrape s = Collect(At(1s));
  for (const std::string c : {"a", "b"}) {
    EXPECT_EQ(Probes(s, c, "error"), 1) << c;
    EXPECT_EQ(Probes(s, c, "not_found"), 0) << c;
    EXPECT_EQ(s.Value("cdc_marker_consecutive_misses", {{"connector", c}}), 0);
    EXPECT_FALSE(state_.AwaitingMarker(c));
  }
  EXPECT_FALSE(s.HasConnector("not-configured"));
}

TEST_F(ProbeKindsTest, UnknownConnectorsAreNotAwaited) {
  state_.ExpectMarker(Token('1'), At(0ms), {"ghost"});
  EXPECT_FALSE(state_.AwaitingMarker("ghost"));
  state_.OnMarkerRecord("ghost", JsonEvent(Token('1')), At(1s));
  EXPECT_FALSE(Collect(At(40s)).HasConnector("ghost"));
}

// ---- Cohorts -----------------------------------------------------------

TEST_F(ProbeKindsTest, OneFindsOneMissesIsSoloForTheMisser) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  state_.ExpectMarker(Token('1'), At(0ms), {"a", "b"});
  state_.OnMarkerRecord("a", JsonEvent(Token('1')), At(1s));
  state_.Expire(At(30s));
  const Scrape s = Collect(At(30s));
  EXPECT_EQ(Cohort(s, "b", "solo"), 1);
  EXPECT_EQ(Cohort(s, "b", "shared"), 0);
  EXPECT_EQ(Cohort(s, "a", "solo"), 0);
  EXPECT_EQ(Cohort(s, "a", "shared"), 0);
  EXPECT_EQ(state_.SoloFailures("b"), 1u);
  EXPECT_EQ(state_.SoloFailures("a"), 0u);
}

TEST_F(ProbeKindsTest, CohortIsJudgedWhenTheLastMemberIsDone) {
  auto a = MakeConnector("a");
  a.marker.timeout = 10s;
  state_.SetConnectors({a, MakeConnector("b")});
  state_.ExpectMarker(Token('1'), At(0ms), {"a", "b"});
  state_.Expire(At(10s));  // a missed; b still has time
  EXPECT_EQ(state_.SoloFailures("a"), 0u);
  EXPECT_EQ(Cohort(Collect(At(10s)), "a", "shared"), 0);
  state_.OnMarkerRecord("b", JsonEvent(Token('1')), At(20s));
  EXPECT_EQ(state_.SoloFailures("a"), 1u);
}

TEST_F(ProbeKindsTest, AllMissIsSharedForAll) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  MissedRound('1', At(0s), At(30s), {"a", "b"});
  const Scrape s = Collect(At(30s));
  for (const std::string c : {"a", "b"}) {
    EXPECT_EQ(Cohort(s, c, "shared"), 1) << c;
    EXPECT_EQ(Cohort(s, c, "solo"), 0) << c;
  }
}

TEST_F(ProbeKindsTest, SingleMemberCohortMissIsShared) {
  // Documented: with one member, every miss is shared.
  MissedRound('1', At(0s), At(30s));
  const Scrape s = Collect(At(30s));
  EXPECT_EQ(Cohort(s, "a", "shared"), 1);
  EXPECT_EQ(Cohort(s, "a", "solo"), 0);
}

TEST_F(ProbeKindsTest, CohortCountersCarryTheirLabelsAndBothKinds) {
  auto a = MakeConnector("a", "orders-db");
  a.tls_version = "1.3";
  state_.SetConnectors({a});
  const Scrape s = Collect(At(0s));  // no round yet: both kinds, at 0
  const auto* f = s.Family("cdc_cohort_failures_total");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->type, prometheus::MetricType::Counter);
  ASSERT_EQ(f->metric.size(), 2u);
  std::vector<std::string> kinds;
  for (const auto& m : f->metric) {
    std::vector<std::string> names;
    for (const auto& l : m.label) {
      names.push_back(l.name + "=" + l.value);
      if (l.name == "kind") kinds.push_back(l.value);
    }
    EXPECT_THAT(names, UnorderedElementsAre("cohort=orders-db", "connector=a",
                                            "tls_version=1.3",
                                            ::testing::StartsWith("kind=")));
    EXPECT_EQ(m.counter.value, 0);
  }
  EXPECT_THAT(kinds, UnorderedElementsAre("solo", "shared"));
}

TEST_F(ProbeKindsTest, MarkerSeriesAbsentWhenMarkersDisabled) {
  auto a = MakeConnector("a");
  a.marker.enabled = false;
  state_.SetConnectors({a});
  const Scrape s = Collect(At(0s));
  EXPECT_EQ(s.Family("cdc_cohort_failures_total"), nullptr);
  EXPECT_EQ(s.Family("cdc_marker_probes_total"), nullptr);
  EXPECT_EQ(s.Value("cdc_silent_failure", {{"connector", "a"}}), 0);
}

// ---- Verdict -----------------------------------------------------------

TEST_F(ProbeKindsTest, NothingSinceAMarkerWriteIsStalled) {
  Rest({Status("a", "RUNNING")});
  // No response learned yet: the stall window is window_max (30 s).
  MissedRound('1', At(0s), At(30s));
  EXPECT_FALSE(state_.GetVerdict("a", At(30s)).silent_failure);
  const auto v = state_.GetVerdict("a", At(31s));
  EXPECT_TRUE(v.silent_failure);
  EXPECT_EQ(v.state, VerdictState::kStalled);
  EXPECT_EQ(v.rest_state, "RUNNING");
  EXPECT_THAT(v.reason, HasSubstr("RUNNING"));
  EXPECT_THAT(v.reason, HasSubstr("nothing produced for 31s since a marker"));
  const Scrape s = Collect(At(31s));
  EXPECT_EQ(s.Value("cdc_silent_failure", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_connector_verdict",
                    {{"connector", "a"}, {"verdict", "stalled"}}),
            1);
  EXPECT_EQ(
      s.Value("cdc_connector_verdict", {{"connector", "a"}, {"verdict", "ok"}}),
      0);
  EXPECT_EQ(s.Value("cdc_stall_window_seconds", {{"connector", "a"}}), 30);
  EXPECT_THAT(log_text_.str(), HasSubstr("connector verdict changed"));
}

// A verdict change is logged when it happens (App notes the verdicts every
// second), not only when somebody scrapes; once, however often it is noted
// or scraped; and a judgement older than the last one logged (a scrape that
// raced the note) does not log a change back.
TEST_F(ProbeKindsTest, VerdictChangeIsLoggedWithoutAScrape) {
  Rest({Status("a", "RUNNING")});
  MissedRound('1', At(0s), At(30s));
  auto changes = [&] {
    const std::string text = log_text_.str();
    int n = 0;
    for (auto p = text.find("connector verdict changed");
         p != std::string::npos;
         p = text.find("connector verdict changed", p + 1)) {
      ++n;
    }
    return n;
  };
  state_.NoteVerdicts(At(30s));  // the marker is late: lagging
  const int before = changes();
  EXPECT_THAT(log_text_.str(), Not(HasSubstr("verdict=stalled")));
  state_.NoteVerdicts(At(31s));  // the stall window has passed
  EXPECT_EQ(changes(), before + 1) << log_text_.str();
  EXPECT_THAT(log_text_.str(), HasSubstr("from=lagging verdict=stalled"));
  state_.NoteVerdicts(At(32s));
  Collect(At(33s));
  EXPECT_EQ(changes(), before + 1) << log_text_.str();
  Collect(At(20s));  // older than the last judgement: not news
  EXPECT_EQ(changes(), before + 1) << log_text_.str();
}

// Each connector's own marker and heartbeat settings are exported, so that
// rules compare against them (CdcMarkerLatencyHigh, dashboards); a probe that
// is off exports none.
TEST_F(ProbeKindsTest, EachConnectorsOwnSettingsAreExported) {
  auto fast = MakeConnector("fast");
  fast.marker.interval = std::chrono::seconds(5);
  fast.marker.timeout = std::chrono::seconds(12);
  fast.heartbeat.max_age = std::chrono::seconds(45);
  auto quiet = MakeConnector("quiet");
  quiet.marker.enabled = false;
  quiet.heartbeat.enabled = false;
  state_.SetConnectors({MakeConnector("a"), fast, quiet});
  const Scrape s = Collect(At(0s));
  EXPECT_EQ(s.Value("cdc_marker_interval_seconds", {{"connector", "a"}}), 10);
  EXPECT_EQ(s.Value("cdc_marker_timeout_seconds", {{"connector", "a"}}), 30);
  EXPECT_EQ(s.Value("cdc_heartbeat_max_age_seconds", {{"connector", "a"}}), 60);
  EXPECT_EQ(s.Value("cdc_marker_interval_seconds", {{"connector", "fast"}}), 5);
  EXPECT_EQ(s.Value("cdc_marker_timeout_seconds", {{"connector", "fast"}}), 12);
  EXPECT_EQ(s.Value("cdc_heartbeat_max_age_seconds", {{"connector", "fast"}}),
            45);
  EXPECT_FALSE(s.Value("cdc_marker_timeout_seconds", {{"connector", "quiet"}}));
  EXPECT_FALSE(
      s.Value("cdc_marker_interval_seconds", {{"connector", "quiet"}}));
  EXPECT_FALSE(
      s.Value("cdc_heartbeat_max_age_seconds", {{"connector", "quiet"}}));
}

TEST_F(ProbeKindsTest, LearnedWindowDetectsFasterAndOutputAnswersAWrite) {
  Rest({Status("a", "RUNNING")});
  // A write before the exporter has read anything from the marker topic
  // teaches nothing (the consumer may not be reading it yet): still 30 s.
  FoundRound('0', At(-10s), At(-9s), "a");
  EXPECT_EQ(
      Collect(At(-8s)).Value("cdc_stall_window_seconds", {{"connector", "a"}}),
      30);
  // Three rounds answered within 0.5 s: the window is learned (5 s).
  for (int i = 0; i < 3; ++i) {
    const auto w = At(std::chrono::seconds(10 * i));
    FoundRound(static_cast<char>('1' + i), w, w + 500ms, "a");
  }
  EXPECT_EQ(
      Collect(At(25s)).Value("cdc_stall_window_seconds", {{"connector", "a"}}),
      5);
  // A heartbeat answers the next write: producing, not stalled.
  state_.ExpectMarker(Token('4'), At(30s), {"a"});
  state_.OnHeartbeat("a", std::nullopt, At(31s));
  EXPECT_EQ(state_.GetVerdict("a", At(37s)).state, VerdictState::kOk);
  // Nothing after the following one: stalled 5 s after it.
  state_.ExpectMarker(Token('5'), At(40s), {"a"});
  EXPECT_FALSE(state_.GetVerdict("a", At(45s)).silent_failure);
  EXPECT_TRUE(state_.GetVerdict("a", At(45100ms)).silent_failure);
  // A record produced before the write (in flight) does not answer it...
  state_.OnMarkerTopicRecordProducedAt("a", At(30s), At(46s));
  EXPECT_TRUE(state_.GetVerdict("a", At(46s)).silent_failure);
  // ...one produced after it does.
  state_.OnMarkerTopicRecordProducedAt("a", At(46s), At(46s));
  EXPECT_FALSE(state_.GetVerdict("a", At(46s)).silent_failure);
  // That 6 s answer ended a stall: it does not widen the window.
  EXPECT_EQ(
      Collect(At(47s)).Value("cdc_stall_window_seconds", {{"connector", "a"}}),
      5);
}

TEST_F(ProbeKindsTest, LateMarkersWhileProducingAreLaggingNotStalled) {
  Rest({Status("a", "RUNNING")});
  FoundRound('1', At(0s), At(300ms), "a");
  // A 40 s delay: each round is judged not found at 30 s, arrives at 40 s,
  // and heartbeats keep coming.
  for (int i = 1; i <= 6; ++i) {
    const auto w = At(std::chrono::seconds(10 * i));
    state_.ExpectMarker(Token(static_cast<char>('1' + i)), w, {"a"});
    state_.OnHeartbeat("a", std::nullopt, w + 1s);
    state_.Expire(w);
    if (i >= 4) {  // the round of 30 s earlier arrives, 40 s late
      state_.OnMarkerRecord(
          "a", JsonEvent(Token(static_cast<char>('1' + i - 4 + 1))), w + 500ms);
    }
  }
  const auto v = state_.GetVerdict("a", At(62s));
  EXPECT_EQ(v.state, VerdictState::kLagging) << v.reason;
  EXPECT_FALSE(v.silent_failure);
  EXPECT_THAT(v.reason, HasSubstr("keeps producing"));
  const Scrape s = Collect(At(62s));
  EXPECT_GE(s.Value("cdc_marker_late_total", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_connector_verdict",
                    {{"connector", "a"}, {"verdict", "lagging"}}),
            1);
}

TEST_F(ProbeKindsTest, KafkaUnreadableIsUnknownThenGraceThenJudged) {
  Rest({Status("a", "RUNNING")});
  state_.ExpectMarker(Token('1'), At(0s), {"a"});
  state_.SetKafkaUp("kafka1", false, At(1s));
  // Nothing arrives while the exporter cannot read Kafka: not the
  // connector's fault, and the write is forgotten.
  EXPECT_EQ(state_.GetVerdict("a", At(60s)).state, VerdictState::kUnknown);
  state_.ExpectMarker(Token('2'), At(10s), {"a"});  // not armed while down
  state_.SetKafkaUp("kafka1", true, At(61s));
  EXPECT_EQ(state_.GetVerdict("a", At(62s)).state, VerdictState::kUnknown);
  EXPECT_THAT(state_.GetVerdict("a", At(62s)).reason, HasSubstr("came back"));
  EXPECT_FALSE(state_.GetVerdict("a", At(200s)).silent_failure);
  // A write after the recovery that nothing answers is a stall again.
  state_.ExpectMarker(Token('3'), At(100s), {"a"});
  EXPECT_TRUE(state_.GetVerdict("a", At(131s)).silent_failure);
}

TEST_F(ProbeKindsTest, SilenceWithNothingReadFromKafkaWaitsForEvidence) {
  Rest({Status("a", "RUNNING")});
  state_.KafkaAnswers(At(-1s));
  // The cluster dies unnoticed (cdc_kafka_up still 1: the next metadata
  // request is seconds away) just before a write: the silence that follows
  // is the exporter's own blindness as much as the connector's.
  state_.StopKafkaAnswers();
  state_.ExpectMarker(Token('1'), At(0s), {"a"});
  const auto blind = state_.GetVerdict("a", At(31s));
  EXPECT_EQ(blind.state, VerdictState::kUnknown) << blind.reason;
  EXPECT_FALSE(blind.silent_failure);
  EXPECT_THAT(blind.reason, HasSubstr("read nothing from the Kafka cluster"));
  EXPECT_EQ(Collect(At(31s)).Value("cdc_silent_failure", {{"connector", "a"}}),
            0);
  // A metadata answer after the write: the exporter reads the cluster, the
  // silence is the connector's.
  state_.SetKafkaUp("kafka1", true, At(32s));
  EXPECT_TRUE(state_.GetVerdict("a", At(32s)).silent_failure);
}

// The exporter's own path to Kafka cut (iptables DROP on its uid): the
// paging test found both connectors judged stalled, because a fetch and a
// metadata request in flight when the path broke were answered after the
// marker write. What arrives late proves only what was produced (or asked)
// before: evidence counts from when a record was produced or a request sent.
TEST_F(ProbeKindsTest, AnswersInFlightWhenThePathBreaksAreNoEvidence) {
  Rest({Status("a", "RUNNING")});
  state_.KafkaAnswers(At(-2s));
  state_.StopKafkaAnswers();
  state_.ExpectMarker(Token('1'), At(0s), {"a"});
  // A record produced at -1 s arrives at 3 s; a metadata request sent at
  // -0.5 s is answered at 4 s.
  KafkaRecord late;
  late.produced = At(-1s);
  late.received = At(3s);
  state_.store().ConfirmKafka("kafka1", late.EvidenceOfReading());
  state_.store().SetKafkaUp("kafka1", true, At(4s), At(-500ms));
  const auto v = state_.GetVerdict("a", At(31s));
  EXPECT_EQ(v.state, VerdictState::kUnknown) << v.reason;
  EXPECT_FALSE(v.silent_failure);
  // Older evidence never moves the confirmation back.
  state_.store().ConfirmKafka("kafka1", At(1s));
  state_.store().ConfirmKafka("kafka1", At(-5s));
  EXPECT_TRUE(state_.GetVerdict("a", At(32s)).silent_failure)
      << state_.GetVerdict("a", At(32s)).reason;
}

// A record's evidence is its production time, never later than its arrival
// (a producer clock running ahead of ours proves nothing more).
TEST(KafkaRecordTest, EvidenceOfReadingIsTheEarlierOfProducedAndReceived) {
  KafkaRecord r;
  r.received = WallClock::time_point(std::chrono::seconds(100));
  r.produced = WallClock::time_point(std::chrono::seconds(97));
  EXPECT_EQ(r.EvidenceOfReading(), r.produced);
  r.produced = WallClock::time_point(std::chrono::seconds(130));
  EXPECT_EQ(r.EvidenceOfReading(), r.received);
}

TEST_F(ProbeKindsTest, MarkerWriteFailuresAreUnknownOrMisconfigured) {
  Rest({Status("a", "RUNNING")});
  state_.ExpectMarker(Token('1'), At(0s), {"a"});
  state_.MarkerWriteFailed({"a"}, false, "Can't connect to server");
  auto v = state_.GetVerdict("a", At(60s));
  EXPECT_EQ(v.state, VerdictState::kUnknown);
  EXPECT_THAT(v.reason, HasSubstr("Can't connect to server"));
  state_.MarkerWriteFailed({"a"}, true, "INSERT command denied");
  v = state_.GetVerdict("a", At(60s));
  EXPECT_EQ(v.state, VerdictState::kMisconfigured);
  EXPECT_THAT(v.reason, HasSubstr("INSERT command denied"));
  EXPECT_FALSE(v.silent_failure);
}

TEST_F(ProbeKindsTest, RunningAndDeliveringIsNotASilentFailure) {
  Rest({Status("a", "RUNNING")});
  EXPECT_EQ(state_.GetVerdict("a", At(0s)).reason, "no end-to-end result yet");
  FoundRound('1', At(0s), At(1s), "a");
  const auto v = state_.GetVerdict("a", At(2s));
  EXPECT_FALSE(v.silent_failure);
  EXPECT_EQ(v.reason, "delivering");
}

TEST_F(ProbeKindsTest, LoudStatesAreNotSilentFailures) {
  MissedRound('1', At(0s), At(30s));
  for (const std::string st : {"PAUSED", "FAILED", "STOPPED", "UNASSIGNED"}) {
    Rest({Status("a", st)});
    const auto v = state_.GetVerdict("a", At(31s));
    EXPECT_FALSE(v.silent_failure) << st;
    EXPECT_EQ(v.rest_state, st);
    EXPECT_THAT(v.reason, HasSubstr("not a silent failure")) << st;
    EXPECT_EQ(
        Collect(At(31s)).Value("cdc_silent_failure", {{"connector", "a"}}), 0)
        << st;
  }
  Rest({Status("a", "RUNNING")});  // the same misses, now claimed running
  EXPECT_TRUE(state_.GetVerdict("a", At(31s)).silent_failure);
}

TEST_F(ProbeKindsTest, FailedTaskUnderRunningConnectorIsLoud) {
  MissedRound('1', At(0s), At(30s));
  Rest({Status("a", "RUNNING", {"RUNNING", "FAILED"})});
  const auto v = state_.GetVerdict("a", At(31s));
  EXPECT_FALSE(v.silent_failure);
  EXPECT_EQ(v.rest_state, "TASK_FAILED");
}

TEST_F(ProbeKindsTest, NoConnectClusterIsJudgedWithRestStateNone) {
  auto a = MakeConnector("a");
  a.connect_cluster = "";  // MSK Connect
  state_.SetConnectors({a});
  Rest({Status("a", "PAUSED")});  // another cluster's "a": not ours
  MissedRound('1', At(0s), At(30s));
  const auto v = state_.GetVerdict("a", At(31s));
  EXPECT_TRUE(v.silent_failure);
  EXPECT_EQ(v.rest_state, "none");
  EXPECT_THAT(v.reason, HasSubstr("none"));
}

TEST_F(ProbeKindsTest, FailedRestPollIsUnknownAndStillJudged) {
  Rest({Status("a", "PAUSED")});
  state_.OnRestPoll("connect1", false, {});
  MissedRound('1', At(0s), At(30s));
  const auto v = state_.GetVerdict("a", At(31s));
  EXPECT_EQ(v.rest_state, "unknown");
  EXPECT_TRUE(v.silent_failure);
}

TEST_F(ProbeKindsTest, ConnectorMissingFromRestListingIsUnknown) {
  Rest({Status("a", "RUNNING")});
  Rest({Status("other", "RUNNING")});
  EXPECT_EQ(state_.GetVerdict("a", At(0s)).rest_state, "unknown");
}

TEST_F(ProbeKindsTest, RestPollOfAnotherClusterLeavesStateAlone) {
  Rest({Status("a", "RUNNING")});
  state_.OnRestPoll("connect2", false, {});
  EXPECT_EQ(state_.GetVerdict("a", At(0s)).rest_state, "RUNNING");
}

TEST_F(ProbeKindsTest, SameNameOnAnotherClusterIsNotOurs) {
  Rest({Status("a", "RUNNING")});
  state_.OnRestPoll("connect2", true, {Status("a", "FAILED")});
  EXPECT_EQ(state_.GetVerdict("a", At(0s)).rest_state, "RUNNING");
}

TEST_F(ProbeKindsTest, TwoConsecutiveMissesNeededWhenConfigured) {
  auto a = MakeConnector("a");
  a.silent_failure.consecutive_misses = 2;
  state_.SetConnectors({a});
  Rest({Status("a", "RUNNING")});
  MissedRound('1', At(0s), At(30s));
  EXPECT_FALSE(state_.GetVerdict("a", At(31s)).silent_failure);
  MissedRound('2', At(10s), At(40s));
  const auto v = state_.GetVerdict("a", At(40s));
  EXPECT_TRUE(v.silent_failure);
  EXPECT_THAT(v.reason, HasSubstr("nothing produced for 40s"));
}

TEST_F(ProbeKindsTest, FoundMarkerRecovers) {
  Rest({Status("a", "RUNNING")});
  MissedRound('1', At(0s), At(30s));
  ASSERT_TRUE(state_.GetVerdict("a", At(31s)).silent_failure);
  FoundRound('2', At(40s), At(41s), "a");
  EXPECT_FALSE(state_.GetVerdict("a", At(42s)).silent_failure);
  const Scrape s = Collect(At(42s));
  EXPECT_EQ(s.Value("cdc_silent_failure", {{"connector", "a"}}), 0);
  EXPECT_EQ(s.Value("cdc_marker_success", {{"connector", "a"}}), 1);
}

TEST_F(ProbeKindsTest, NeverSeenHeartbeatIsNotStale) {
  auto a = MakeConnector("a");
  a.marker.enabled = false;
  state_.SetConnectors({a});
  Rest({Status("a", "RUNNING")});
  const auto v = state_.GetVerdict("a", At(24h));
  EXPECT_FALSE(v.silent_failure);
  const Scrape s = Collect(At(24h));
  EXPECT_EQ(s.Family("cdc_heartbeat_stale"), nullptr);
  EXPECT_EQ(s.Family("cdc_heartbeat_last_received_timestamp_seconds"), nullptr);
}

TEST_F(ProbeKindsTest, HeartbeatGoesStaleAfterMaxAge) {
  auto a = MakeConnector("a");
  a.marker.enabled = false;
  a.heartbeat.max_age = 60s;
  state_.SetConnectors({a});
  Rest({Status("a", "RUNNING")});
  state_.OnHeartbeat("a", 1699999999.5, At(0s));

  EXPECT_FALSE(state_.GetVerdict("a", At(60s)).silent_failure);
  Scrape s = Collect(At(60s));
  EXPECT_EQ(s.Value("cdc_heartbeat_stale", {{"connector", "a"}}), 0);
  EXPECT_EQ(
      s.Value("cdc_heartbeat_last_timestamp_seconds", {{"connector", "a"}}),
      1699999999.5);
  EXPECT_EQ(s.Value("cdc_heartbeat_last_received_timestamp_seconds",
                    {{"connector", "a"}}),
            Seconds(At(0s)));

  const auto v = state_.GetVerdict("a", At(61s));
  EXPECT_TRUE(v.silent_failure);
  EXPECT_THAT(v.reason, HasSubstr("no heartbeat for 61s"));
  EXPECT_THAT(v.reason, Not(HasSubstr("marker")));
  s = Collect(At(61s));
  EXPECT_EQ(s.Value("cdc_heartbeat_stale", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_silent_failure", {{"connector", "a"}}), 1);

  // A heartbeat without a usable ts_ms still counts as received.
  state_.OnHeartbeat("a", std::nullopt, At(70s));
  EXPECT_FALSE(state_.GetVerdict("a", At(71s)).silent_failure);
  EXPECT_EQ(Collect(At(71s)).Value("cdc_heartbeat_last_timestamp_seconds",
                                   {{"connector", "a"}}),
            1699999999.5);
}

TEST_F(ProbeKindsTest, StaleHeartbeatAndNoOutputIsStalled) {
  Rest({Status("a", "RUNNING")});
  state_.OnHeartbeat("a", std::nullopt, At(0s));
  MissedRound('1', At(0s), At(30s));
  const auto v = state_.GetVerdict("a", At(90s));
  EXPECT_TRUE(v.silent_failure);
  EXPECT_THAT(v.reason, HasSubstr("nothing produced for 90s"));
}

TEST_F(ProbeKindsTest, StaleHeartbeatOfALoudConnectorIsNotSilent) {
  state_.OnHeartbeat("a", std::nullopt, At(0s));
  Rest({Status("a", "PAUSED")});
  EXPECT_FALSE(state_.GetVerdict("a", At(1h)).silent_failure);
}

TEST_F(ProbeKindsTest, DisabledHeartbeatNeverStale) {
  auto a = MakeConnector("a");
  a.heartbeat.enabled = false;
  state_.SetConnectors({a});
  Rest({Status("a", "RUNNING")});
  state_.OnHeartbeat("a", 1699999999.0, At(0s));
  EXPECT_FALSE(state_.GetVerdict("a", At(1h)).silent_failure);
  EXPECT_EQ(Collect(At(1h)).Family("cdc_heartbeat_stale"), nullptr);
}

// ---- TLS label ---------------------------------------------------------

TEST_F(ProbeKindsTest, ConfiguredTlsVersionWins) {
  auto a = MakeConnector("a");
  a.tls_version = "1.2";
  state_.SetConnectors({a});
  state_.OnBinlogSessions("a", {{.id = 7, .tls = "1.3", .connected_since = 1}});
  EXPECT_EQ(state_.TlsLabel("a"), "1.2");
  EXPECT_EQ(state_.GetVerdict("a", At(0s)).tls_version, "1.2");
  EXPECT_NE(Collect(At(0s)).Find("cdc_silent_failure",
                                 {{"connector", "a"}, {"tls_version", "1.2"}}),
            nullptr);
}

TEST_F(ProbeKindsTest, AutoTlsVersionIsDetectedAndSticky) {
  EXPECT_EQ(state_.TlsLabel("a"), "unknown");
  EXPECT_NE(
      Collect(At(0s)).Find("cdc_silent_failure",
                           {{"connector", "a"}, {"tls_version", "unknown"}}),
      nullptr);
  state_.OnBinlogSessions("a", {{.id = 7, .tls = "1.3", .connected_since = 1}});
  EXPECT_EQ(state_.TlsLabel("a"), "1.3");
  EXPECT_NE(
      Collect(At(1s)).Find(
          "cdc_marker_probes_total",
          {{"connector", "a"}, {"tls_version", "1.3"}, {"result", "found"}}),
      nullptr);
  state_.OnBinlogSessions("a", {});  // the session is gone: keep the label
  EXPECT_EQ(state_.TlsLabel("a"), "1.3");
  EXPECT_EQ(state_.GetVerdict("a", At(2s)).tls_version, "1.3");
  EXPECT_EQ(state_.TlsLabel("not-configured"), "unknown");
}

// ---- Binlog sessions ---------------------------------------------------

TEST_F(ProbeKindsTest, NewSessionIdIsAReconnect) {
  state_.OnBinlogSessions("a",
                          {{.id = 10, .tls = "1.3", .connected_since = 1000}});
  Scrape s = Collect(At(0s));
  EXPECT_EQ(
      s.Value("cdc_binlog_session_reconnects_total", {{"connector", "a"}}), 0);
  EXPECT_EQ(s.Value("cdc_binlog_session_up", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_binlog_sessions", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_binlog_session_start_timestamp_seconds",
                    {{"connector", "a"}}),
            1000);

  // Same session again: nothing changes.
  state_.OnBinlogSessions("a",
                          {{.id = 10, .tls = "1.3", .connected_since = 1000}});
  EXPECT_EQ(Collect(At(1s)).Value("cdc_binlog_session_reconnects_total",
                                  {{"connector", "a"}}),
            0);

  state_.OnBinlogSessions("a",
                          {{.id = 11, .tls = "1.3", .connected_since = 2000}});
  s = Collect(At(2s));
  EXPECT_EQ(
      s.Value("cdc_binlog_session_reconnects_total", {{"connector", "a"}}), 1);
  EXPECT_EQ(s.Value("cdc_binlog_session_start_timestamp_seconds",
                    {{"connector", "a"}}),
            2000);
  EXPECT_THAT(log_text_.str(), HasSubstr("binlog session re-established"));
}

TEST_F(ProbeKindsTest, NoSessionIsSessionDown) {
  state_.OnBinlogSessions("a",
                          {{.id = 10, .tls = "1.3", .connected_since = 1000}});
  state_.OnBinlogSessions("a", {});
  const Scrape s = Collect(At(0s));
  EXPECT_EQ(s.Value("cdc_binlog_session_up", {{"connector", "a"}}), 0);
  EXPECT_EQ(s.Value("cdc_binlog_sessions", {{"connector", "a"}}), 0);
  EXPECT_EQ(s.Family("cdc_binlog_session_start_timestamp_seconds"), nullptr);
  EXPECT_THAT(log_text_.str(), HasSubstr("binlog session gone"));
}

TEST_F(ProbeKindsTest, SessionReplacedAfterAGapIsAReconnect) {
  state_.OnBinlogSessions("a",
                          {{.id = 10, .tls = "1.3", .connected_since = 1}});
  state_.OnBinlogSessions("a", {});
  state_.OnBinlogSessions("a", {});
  state_.OnBinlogSessions("a",
                          {{.id = 11, .tls = "1.3", .connected_since = 9}});
  EXPECT_EQ(Collect(At(0s)).Value("cdc_binlog_session_reconnects_total",
                                  {{"connector", "a"}}),
            1);
  // "gone" is logged once per disappearance, not every round.
  const std::string log = log_text_.str();
  const auto first = log.find("binlog session gone");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(log.find("binlog session gone", first + 1), std::string::npos);
}

TEST_F(ProbeKindsTest, FirstSessionAfterNoneIsNotAReconnect) {
  // The exporter started before the connector connected.
  state_.OnBinlogSessions("a", {});
  EXPECT_EQ(
      Collect(At(0s)).Value("cdc_binlog_session_up", {{"connector", "a"}}), 0);
  state_.OnBinlogSessions("a",
                          {{.id = 10, .tls = "1.3", .connected_since = 1}});
  const Scrape s = Collect(At(1s));
  EXPECT_EQ(s.Value("cdc_binlog_session_up", {{"connector", "a"}}), 1);
  EXPECT_EQ(
      s.Value("cdc_binlog_session_reconnects_total", {{"connector", "a"}}), 0);
}

TEST_F(ProbeKindsTest, SeveralSessionsFollowTheNewest) {
  state_.OnBinlogSessions("a",
                          {{.id = 5, .tls = "1.2", .connected_since = 100},
                           {.id = 7, .tls = "1.3", .connected_since = 200},
                           {.id = 6, .tls = "1.2", .connected_since = 150}});
  Scrape s = Collect(At(0s));
  EXPECT_EQ(s.Value("cdc_binlog_sessions", {{"connector", "a"}}), 3);
  EXPECT_EQ(s.Value("cdc_binlog_session_start_timestamp_seconds",
                    {{"connector", "a"}}),
            200);
  EXPECT_EQ(state_.TlsLabel("a"), "1.3");

  // Listed in another order, minus one: still the same newest session.
  state_.OnBinlogSessions("a",
                          {{.id = 7, .tls = "1.3", .connected_since = 200},
                           {.id = 5, .tls = "1.2", .connected_since = 100}});
  s = Collect(At(1s));
  EXPECT_EQ(s.Value("cdc_binlog_sessions", {{"connector", "a"}}), 2);
  EXPECT_EQ(s.Value("cdc_binlog_session_up", {{"connector", "a"}}), 1);
  EXPECT_EQ(
      s.Value("cdc_binlog_session_reconnects_total", {{"connector", "a"}}), 0);
}

TEST_F(ProbeKindsTest, NoBinlogSeriesWithoutBinlogUserOrObservation) {
  EXPECT_EQ(Collect(At(0s)).Family("cdc_binlog_session_up"), nullptr);
  auto a = MakeConnector("a");
  a.binlog_user = "";
  state_.SetConnectors({a});
  state_.OnBinlogSessions("a", {{.id = 1, .tls = "1.3", .connected_since = 1}});
  EXPECT_EQ(Collect(At(0s)).Family("cdc_binlog_session_up"), nullptr);
}

// ---- SetConnectors -----------------------------------------------------

TEST_F(ProbeKindsTest, KeptConnectorKeepsItsCountersRemovedLosesAll) {
  state_.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  FoundRound('1', At(0s), At(1s), "a");
  MissedRound('2', At(0s), At(30s), {"a", "b"});
  state_.OnHeartbeat("b", 1700000000.0, At(30s));
  state_.OnBinlogSessions("b", {{.id = 3, .tls = "1.3", .connected_since = 1}});
  state_.OnCommittedOffset("b", {"bin.000001", 4, 0}, At(30s));
  state_.OnBinlogLag("b", 10);
  state_.CountEvidence("b", "ok");
  state_.CountRestart("b", "ok");
  state_.ExpectMarker(Token('3'), At(40s), {"a", "b"});
  ASSERT_TRUE(Collect(At(41s)).HasConnector("b"));

  auto a = MakeConnector("a");
  a.tls_version = "1.2";  // changed settings apply to the kept state
  state_.SetConnectors({a, MakeConnector("c")});
  EXPECT_EQ(state_.TlsLabel("a"), "1.2");

  EXPECT_FALSE(state_.AwaitingMarker("b"));
  EXPECT_TRUE(state_.AwaitingMarker("a"));
  Scrape s = Collect(At(41s));
  EXPECT_FALSE(s.HasConnector("b"));
  EXPECT_TRUE(s.HasConnector("c"));
  EXPECT_EQ(Probes(s, "a", "found"), 1);
  EXPECT_EQ(Probes(s, "a", "not_found"), 1);
  EXPECT_EQ(Cohort(s, "a", "shared"), 1);
  EXPECT_EQ(s.Find("cdc_marker_latency_seconds", {{"connector", "a"}})
                ->histogram.sample_count,
            1u);

  // b, added back, starts from nothing: its old pending marker is gone.
  state_.SetConnectors({a, MakeConnector("b")});
  s = Collect(At(5min));
  EXPECT_EQ(Probes(s, "b", "not_found"), 0);
  EXPECT_EQ(Probes(s, "b", "found"), 0);
  EXPECT_EQ(s.Find("cdc_binlog_session_up", {{"connector", "b"}}), nullptr);
  EXPECT_EQ(s.Find("cdc_source_binlog_lag_bytes", {{"connector", "b"}}),
            nullptr);
  EXPECT_EQ(state_.CommittedOffset("b"), std::nullopt);
  // a's pending marker of the same round was still judged.
  EXPECT_EQ(Probes(s, "a", "not_found"), 2);
}

TEST_F(ProbeKindsTest, EvidenceAndRestartCounters) {
  state_.CountEvidence("a", "ok");
  state_.CountEvidence("a", "ok");
  state_.CountRestart("a", "failed");
  const Scrape s = Collect(At(0s));
  EXPECT_EQ(s.Value("cdc_evidence_captures_total",
                    {{"connector", "a"}, {"result", "ok"}}),
            2);
  EXPECT_EQ(s.Value("cdc_remediation_restarts_total",
                    {{"connector", "a"}, {"result", "failed"}}),
            1);
}

// ---- Offsets -----------------------------------------------------------

TEST_F(ProbeKindsTest, OffsetChangeTimestampMovesOnlyWithThePosition) {
  const auto last_change = [&](WallClock::time_point now) {
    return Collect(now).Value("cdc_source_offset_last_change_timestamp_seconds",
                              {{"connector", "a"}});
  };
  EXPECT_EQ(last_change(At(0s)), std::nullopt);
  EXPECT_EQ(state_.CommittedOffset("a"), std::nullopt);

  state_.OnCommittedOffset("a", {"bin.000001", 100, 1700000000}, At(1s));
  EXPECT_EQ(last_change(At(1s)), Seconds(At(1s)));
  // Same position, newer event time: not a move.
  state_.OnCommittedOffset("a", {"bin.000001", 100, 1700000005}, At(2s));
  EXPECT_EQ(last_change(At(2s)), Seconds(At(1s)));
  EXPECT_EQ(Collect(At(2s)).Value("cdc_source_offset_timestamp_seconds",
                                  {{"connector", "a"}}),
            1700000005);
  state_.OnCommittedOffset("a", {"bin.000001", 200, 0}, At(3s));
  EXPECT_EQ(last_change(At(3s)), Seconds(At(3s)));
  // ts_sec 0 (unknown): no event-time series.
  EXPECT_EQ(Collect(At(3s)).Find("cdc_source_offset_timestamp_seconds",
                                 {{"connector", "a"}}),
            nullptr);
  state_.OnCommittedOffset("a", {"bin.000002", 200, 0}, At(4s));
  EXPECT_EQ(last_change(At(4s)), Seconds(At(4s)));

  const auto o = state_.CommittedOffset("a");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->file, "bin.000002");
  EXPECT_EQ(o->pos, 200u);
}

TEST_F(ProbeKindsTest, BinlogLagIsExported) {
  EXPECT_EQ(Collect(At(0s)).Family("cdc_source_binlog_lag_bytes"), nullptr);
  state_.OnBinlogLag("a", 4096);
  EXPECT_EQ(Collect(At(0s)).Value("cdc_source_binlog_lag_bytes",
                                  {{"connector", "a"}}),
            4096);
  state_.OnBinlogLag("a", 0);
  EXPECT_EQ(Collect(At(0s)).Value("cdc_source_binlog_lag_bytes",
                                  {{"connector", "a"}}),
            0);
}

// ---- Snapshots ---------------------------------------------------------

TEST_F(ProbeKindsTest, SnapshotMirrorsTheState) {
  Rest({Status("a", "RUNNING")});
  MissedRound('1', At(0s), At(30s));
  state_.OnHeartbeat("a", std::nullopt, At(25s));
  state_.OnBinlogSessions("a", {});
  const auto snaps = state_.Snapshots(At(30s));
  ASSERT_EQ(snaps.size(), 1u);
  const auto& s = snaps[0];
  EXPECT_EQ(s.connector, "a");
  EXPECT_EQ(s.cohort, "src1");
  EXPECT_EQ(s.rest_state, "RUNNING");
  EXPECT_EQ(s.marker_found, false);
  EXPECT_EQ(s.consecutive_misses, 1);
  EXPECT_DOUBLE_EQ(s.heartbeat_age, 5.0);
  EXPECT_EQ(s.session_up, false);
  EXPECT_EQ(s.lag_bytes, -1);
  // The heartbeat at 25 s answered the write: late, not stalled.
  EXPECT_FALSE(s.verdict.silent_failure);
  EXPECT_EQ(s.verdict.state, VerdictState::kLagging);
}

// The state is shared by the Kafka consumer thread (records, heartbeats,
// offsets, Expire), the probe workers (markers, REST, sessions, lag) and the
// HTTP threads (scrapes, the status page). Run them all at once: the counts
// must come out exact, and under ThreadSanitizer (-DCDC_TSAN=ON) this is
// what covers the consumer thread's side, since librdkafka itself cannot run
// under TSan (test/sanitizers.md).
TEST(ProbeKindsConcurrencyTest, ConsumerProbesAndScrapesAtOnce) {
  std::ostringstream log_text;
  Logger log{log_text, LogLevel::kDebug};
  PipelineHarness state{log};
  state.SetConnectors({MakeConnector("a"), MakeConnector("b")});
  constexpr int kRounds = 300;

  std::mutex mu;
  std::vector<std::string> written;  // tokens, in order
  std::atomic<bool> writer_done{false}, done{false};

  std::thread marker_probe([&] {
    for (int i = 0; i < kRounds; ++i) {
      const std::string token = MarkerLedger::NewToken();
      state.ExpectMarker(token, At(std::chrono::milliseconds(i * 10)),
                         {"a", "b"});
      std::lock_guard<std::mutex> lock(mu);
      written.push_back(token);
    }
    writer_done = true;
  });
  // The consumer: "a" gets every marker, "b" every other one.
  std::thread consumer([&] {
    std::size_t next = 0;
    while (true) {
      std::string token;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next < written.size()) token = written[next];
      }
      if (token.empty()) {
        if (writer_done && [&] {
              std::lock_guard<std::mutex> lock(mu);
              return next == written.size();
            }()) {
          break;
        }
        std::this_thread::yield();
        continue;
      }
      const auto seen = At(std::chrono::milliseconds(next * 10 + 5));
      if (state.AwaitingMarker("a")) {
        state.OnMarkerRecord("a", JsonEvent(token), seen);
      }
      if (next % 2 == 0) state.OnMarkerRecord("b", JsonEvent(token), seen);
      state.OnHeartbeat("a", Seconds(seen), seen);
      state.OnCommittedOffset("b", {"bin.000001", next, 0}, seen);
      state.Expire(At(std::chrono::milliseconds(next * 10)));
      ++next;
    }
  });
  std::thread other_probes([&] {
    for (uint64_t i = 0; !done; ++i) {
      state.OnRestPoll("connect1", true,
                       {Status("a", "RUNNING"), Status("b", "RUNNING")});
      state.OnBinlogSessions("a", {{100 + i % 3, "1.3", 1.7e9}});
      state.OnBinlogLag("b", static_cast<double>(i));
      state.SetKafkaUp("kafka1", true);
      std::this_thread::yield();
    }
  });
  std::thread scraper([&] {
    while (!done) {
      MetricSink sink;
      state.Collect(sink, At(0ms));
      auto families = sink.Take();
      EXPECT_FALSE(families.empty());
      EXPECT_EQ(state.Snapshots(At(0ms)).size(), 2u);
      state.GetVerdict("b", At(0ms));
      state.CommittedOffset("b");
    }
  });
  marker_probe.join();
  consumer.join();
  done = true;
  other_probes.join();
  scraper.join();

  // Every round judged: "b"'s undelivered markers expire.
  state.Expire(At(1h));
  MetricSink sink;
  state.Collect(sink, At(1h));
  Scrape scrape(sink.Take());
  auto count = [&](const std::string& c, const std::string& result) {
    return scrape
        .Value("cdc_marker_probes_total",
               {{"connector", c}, {"result", result}})
        .value_or(-1);
  };
  EXPECT_EQ(count("a", "found"), kRounds);
  EXPECT_EQ(count("a", "not_found"), 0);
  EXPECT_EQ(count("b", "found"), kRounds / 2);
  EXPECT_EQ(count("b", "not_found"), kRounds / 2);
  EXPECT_EQ(state.CommittedOffset("b")->pos, uint64_t{kRounds - 1});
}

}  // namespace
}  // namespace cdc
