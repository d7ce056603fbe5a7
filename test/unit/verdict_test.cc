// The verdict as a table: Judge() is a pure function of the observations,
// the connector's configuration and the time, so each case is one row of
// inputs and the expected verdict; no threads, clocks or I/O.

#include "probes/verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace cdc {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const WallClock::time_point kNow{std::chrono::seconds(1'700'000'000)};
const double kNowS = 1'700'000'000;

config::Connector Connector() {
  config::Connector c;
  c.name = "a";
  c.connect_cluster = "connect1";
  c.source = "src1";
  c.kafka = "kafka1";
  c.topic_prefix = "a";
  return c;  // markers on, heartbeats on (max_age 60 s), 1 miss
}

RestObservation Listed(RunState s, std::optional<RunState> task = {}) {
  RestObservation r;
  r.source = RestObservation::Source::kListed;
  r.connector = s;
  r.connector_text = std::string(ToString(s));
  r.task = task;
  if (task) r.task_text = std::string(ToString(*task));
  return r;
}

RestObservation Source(RestObservation::Source s) {
  RestObservation r;
  r.source = s;
  return r;
}

struct Row {
  std::string name;
  std::function<void(ConnectorObservations&, config::Connector&)> setup;
  VerdictState state;
  VerdictReason reason;
  std::string status_text;
  std::string reason_text;  // a substring of ReasonText()
};

// A connector whose response times were learned (0.3-0.5 s: window 5 s).
void Learned(ConnectorObservations& o) {
  o.progress.responses = {0.3, 0.4, 0.5};
}
// Markers have arrived, the last one in time; output a second ago.
void Delivering(ConnectorObservations& o) {
  o.rest = Listed(RunState::kRunning);
  Learned(o);
  o.marker.last_write = MarkerObservation::Write::kOk;
  o.marker.first_write_at = kNowS - 300;
  o.marker.found = 20;
  o.marker.last_found = true;
  o.progress.last_output = kNowS - 1;
  o.kafka.up = true;
  o.kafka.confirmed_at = kNowS - 0.5;  // a metadata answer
}
// The first marker written since the last output, `ago` seconds ago.
void Unanswered(ConnectorObservations& o, double ago, int writes = 1) {
  o.marker.unanswered_since = kNowS - ago;
  o.marker.unanswered_writes = writes;
  o.marker.pending_since = kNowS - ago;
  o.progress.last_output = kNowS - ago - 1;
}
void Heartbeat(ConnectorObservations& o, double age_s) {
  o.heartbeat.records = 3;
  o.heartbeat.last_received = kNowS - age_s;
}
// Markers written for 90 s, none ever arrived; output a second ago.
void NeverArrived(ConnectorObservations& o) {
  o.rest = Listed(RunState::kRunning);
  Learned(o);
  o.kafka.up = true;
  o.kafka.confirmed_at = kNowS - 0.5;  // a metadata answer
  o.marker.last_write = MarkerObservation::Write::kOk;
  o.marker.first_write_at = kNowS - 90;
  o.marker.pending_since = kNowS - 90;
  o.marker.consecutive_misses = 6;
  o.progress.last_output = kNowS - 1;
}

const std::vector<Row>& Rows() {
  using R = VerdictReason;
  using V = VerdictState;
  using Src = RestObservation::Source;
  static const std::vector<Row> rows = {
      {"nothing observed yet",
       [](auto& o, auto&) { o.rest = Listed(RunState::kRunning); }, V::kUnknown,
       R::kNoResultYet, "WAITING", "no end-to-end result yet"},
      {"delivering", [](auto& o, auto&) { Delivering(o); }, V::kOk,
       R::kDelivering, "OK", "delivering"},
      {"nothing since a marker write for longer than the window is stalled",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 6);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE",
       "REST state RUNNING but nothing produced for 6s since a marker was "
       "written (stall window 5s)"},
      {"within the window is not stalled",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 4.5);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"a 3 s stop-the-world pause is never a stall at the defaults",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 3.5);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"a pause seen before widens the learned window",
       [](auto& o, auto&) {
         Delivering(o);
         o.progress.responses = {0.3, 3.4, 0.4};  // window 2*3.4+2 = 8.8 s
         Unanswered(o, 8);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"before the window is learned it is window_max",
       [](auto& o, auto&) {
         Delivering(o);
         o.progress.responses = {0.3};
         Unanswered(o, 29);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"window_max passed while learning is a stall",
       [](auto& o, auto&) {
         Delivering(o);
         o.progress.responses = {};
         Unanswered(o, 31);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "stall window 30s"},
      {"a fixed window",
       [](auto& o, auto& c) {
         Delivering(o);
         c.silent_failure.window = std::chrono::seconds(20);
         Unanswered(o, 19);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"a fixed window passed",
       [](auto& o, auto& c) {
         Delivering(o);
         c.silent_failure.window = std::chrono::seconds(20);
         Unanswered(o, 21);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "stall window 20s"},
      {"two unanswered writes needed when configured: one is not a stall",
       [](auto& o, auto& c) {
         Delivering(o);
         c.silent_failure.consecutive_misses = 2;
         Unanswered(o, 8, 1);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"two unanswered writes needed when configured: two are",
       [](auto& o, auto& c) {
         Delivering(o);
         c.silent_failure.consecutive_misses = 2;
         Unanswered(o, 12, 2);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"late markers while output flows is lagging (the 12 s delay)",
       [](auto& o, auto&) {
         Delivering(o);
         o.marker.consecutive_misses = 3;
         o.marker.late = 2;
         o.marker.pending_since = kNowS - 14;
       },
       V::kLagging, R::kMarkersLate, "LAGGING",
       "lagging: markers late (oldest unseen 14s, 3 consecutive marker(s) "
       "not delivered in time) but the connector keeps producing"},
      {"an old unseen marker while output flows is lagging (a backlog)",
       [](auto& o, auto&) {
         Delivering(o);
         o.marker.pending_since = kNowS - 75;
       },
       V::kLagging, R::kMarkersLate, "LAGGING", "oldest unseen 75s"},
      {"late and silent, but not yet for the stall window: lagging, and says "
       "so (a marker timeout shorter than the window)",
       [](auto& o, auto& c) {
         Delivering(o);
         c.marker.timeout = std::chrono::seconds(3);
         Unanswered(o, 4);
       },
       V::kLagging, R::kLateAndSilent, "LAGGING",
       "lagging: markers late (oldest unseen 4s) and nothing produced for 4s "
       "since a marker was written; stalled if the silence outlasts the "
       "stall window (5s)"},
      {"late and silent, and nothing read from Kafka since: not lagging but "
       "the exporter's possible blindness",
       [](auto& o, auto& c) {
         Delivering(o);
         c.marker.timeout = std::chrono::seconds(3);
         Unanswered(o, 4);
         o.kafka.confirmed_at = kNowS - 4.5;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"stalled wins over lagging",
       [](auto& o, auto&) {
         Delivering(o);
         o.marker.consecutive_misses = 3;
         Unanswered(o, 40);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"a backlog that began before the exporter started is lagging",
       [](auto& o, auto&) {
         NeverArrived(o);
         o.offset.committed = BinlogPosition{"bin.000001", 4, kNowS - 600};
       },
       V::kLagging, R::kBacklog, "LAGGING", "a backlog"},
      {"no offsets known: a backlog, not a setup error",
       [](auto& o, auto&) { NeverArrived(o); }, V::kLagging, R::kBacklog,
       "LAGGING", "no marker has arrived yet"},
      {"canary table not captured: committed past the markers",
       [](auto& o, auto&) {
         NeverArrived(o);
         o.offset.committed = BinlogPosition{"bin.000001", 4, kNowS - 10};
       },
       V::kMisconfigured, R::kCanaryNotCaptured, "MISCONFIGURED",
       "table.include.list"},
      {"never arrived and not yet past the timeout: no result yet",
       [](auto& o, auto&) {
         NeverArrived(o);
         o.marker.pending_since = kNowS - 20;
         o.marker.consecutive_misses = 0;
       },
       V::kUnknown, R::kNoResultYet, "WAITING", "no end-to-end result"},
      {"marker topic missing",
       [](auto& o, auto&) {
         NeverArrived(o);
         o.marker.topic_partitions = 0;
       },
       V::kMisconfigured, R::kMarkerTopicMissing, "MISCONFIGURED",
       "the marker topic does not exist"},
      {"marker topic missing right after the first write: not yet",
       [](auto& o, auto&) {
         NeverArrived(o);
         o.marker.first_write_at = kNowS - 3;
         o.marker.pending_since = kNowS - 3;
         o.marker.consecutive_misses = 0;
         o.marker.topic_partitions = 0;
       },
       V::kUnknown, R::kNoResultYet, "WAITING", "no end-to-end result"},
      {"canary table cannot be written",
       [](auto& o, auto&) {
         Delivering(o);
         o.marker.last_write = MarkerObservation::Write::kSetupError;
         o.marker.write_error = "INSERT command denied";
         Unanswered(o, 60);
       },
       V::kMisconfigured, R::kCanaryNotWritable, "MISCONFIGURED",
       "cannot be written (INSERT command denied)"},
      {"source unreachable: the marker could not be written",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 60);
         o.marker.last_write = MarkerObservation::Write::kUnreachable;
         o.marker.write_error = "Can't connect";
       },
       V::kUnknown, R::kMarkerWriteFailed, "UNKNOWN",
       "not judged: the marker could not be written (Can't connect)"},
      {"the exporter cannot read Kafka: unknown, whatever else",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 60);
         Heartbeat(o, 120);
         o.kafka.up = false;
       },
       V::kUnknown, R::kKafkaUnreadable, "UNKNOWN", "cdc_kafka_up 0"},
      {"silent since a marker write, but nothing read from Kafka since: "
       "unknown (a broker down before the next metadata request)",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.confirmed_at = kNowS - 13;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"... and stalled once a metadata answer or a record follows the write",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.confirmed_at = kNowS - 11;
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"one broker dead, the others answer: the connector's own partitions "
       "cannot be read, so a would-be stall is unknown, never stalled",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 40);
         o.kafka.unreadable =
             "partition 0 of t.cdc_canary.markers (its leader, broker 3, does "
             "not answer)";
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 0.5;
       },
       V::kUnknown, R::kKafkaPartitionsUnreadable, "UNKNOWN",
       "cannot read partition 0 of t.cdc_canary.markers (its leader, broker "
       "3"},
      {"silent, the cluster answers, but the leaders of the connector's own "
       "partitions not heard from since: unknown (a broker just died)",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 13;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"... also when heard from after the write but before the marker "
       "would normally have arrived (0.5 s, its slowest response): that "
       "broker may have died before the marker reached it",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 12 + 0.3;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"... and stalled once they are heard from after the write",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 11;
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"silent, but the partitions the exporter does not read (parked by "
       "partition learning) were last seen empty of its records before the "
       "silence began: unknown (its markers may go there now)",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 1;
         o.kafka.parked_settled_at = kNowS - 13;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"... and stalled once they are seen unchanged after the marker would "
       "have arrived",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 12);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 1;
         o.kafka.parked_settled_at = kNowS - 2;
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"grace after the connector's partitions became readable again",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 8);
         o.kafka.leaders_known = true;
         o.kafka.partitions_confirmed_at = kNowS - 1;
         o.kafka.partitions_recovered_at = kNowS - 10;
       },
       V::kUnknown, R::kKafkaRecovering, "UNKNOWN", "less than 30s ago"},
      {"markers off: a stale heartbeat with nothing read from Kafka since it "
       "became overdue is unknown",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 65);
         o.kafka.confirmed_at = kNowS - 6;
       },
       V::kUnknown, R::kKafkaUnconfirmed, "UNKNOWN", "own blindness"},
      {"grace after the exporter's Kafka view recovers",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 60);
         o.kafka.recovered_at = kNowS - 2;
       },
       V::kUnknown, R::kKafkaRecovering, "UNKNOWN", "came back"},
      {"a learned 5 s window does not shorten the grace: the connectors' "
       "producers reconnect on their own schedule after a Kafka outage",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 8);
         o.kafka.recovered_at = kNowS - 10;
       },
       V::kUnknown, R::kKafkaRecovering, "UNKNOWN", "less than 30s ago"},
      {"after the grace it is judged again",
       [](auto& o, auto&) {
         Delivering(o);
         Unanswered(o, 8);
         o.kafka.recovered_at = kNowS - 31;
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"REST unreachable: judged from the markers",
       [](auto& o, auto&) {
         Delivering(o);
         o.rest = Source(Src::kUnknown);
         Unanswered(o, 6);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "REST state unknown but"},
      {"REST unreachable and delivering is ok",
       [](auto& o, auto&) {
         Delivering(o);
         o.rest = Source(Src::kUnknown);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"no REST API (MSK Connect) is judged",
       [](auto& o, auto& c) {
         Delivering(o);
         c.connect_cluster.clear();
         o.rest = Source(Src::kNoApi);
         Unanswered(o, 6);
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "REST state none but"},
      {"exporter restarted during a stall: only old output was read",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         o.kafka.up = true;
         o.kafka.confirmed_at = kNowS - 0.5;
         o.marker.last_write = MarkerObservation::Write::kOk;
         o.marker.first_write_at = kNowS - 40;
         Unanswered(o, 40, 4);
         o.progress.last_output = kNowS - 3600;  // the heartbeat's tail
       },
       V::kStalled, R::kNoOutput, "SILENT FAILURE", "nothing produced"},
      {"heartbeats stale but markers delivering is ok",
       [](auto& o, auto&) {
         Delivering(o);
         Heartbeat(o, 120);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"FAILED is loud, not silent",
       [](auto& o, auto&) {
         Delivering(o);
         o.rest = Listed(RunState::kFailed);
         Unanswered(o, 60);
       },
       V::kNotRunning, R::kNotRunning, "FAILED",
       "REST state FAILED (not a silent failure)"},
      {"a failed task under a RUNNING connector is loud",
       [](auto& o, auto&) {
         Delivering(o);
         o.rest = Listed(RunState::kRunning, RunState::kFailed);
         Unanswered(o, 60);
       },
       V::kNotRunning, R::kNotRunning, "FAILED", "REST state TASK_FAILED"},
      {"PAUSED is not running",
       [](auto& o, auto&) { o.rest = Listed(RunState::kPaused); },
       V::kNotRunning, R::kNotRunning, "PAUSED", "REST state PAUSED"},
      {"STOPPED", [](auto& o, auto&) { o.rest = Listed(RunState::kStopped); },
       V::kNotRunning, R::kNotRunning, "STOPPED", "(not a silent failure)"},
      {"UNASSIGNED",
       [](auto& o, auto&) { o.rest = Listed(RunState::kUnassigned); },
       V::kNotRunning, R::kNotRunning, "UNASSIGNED", "(not a silent failure)"},
      {"RESTARTING",
       [](auto& o, auto&) { o.rest = Listed(RunState::kRestarting); },
       V::kNotRunning, R::kNotRunning, "RESTARTING", "(not a silent failure)"},
      {"a state this version does not know is not judged silent",
       [](auto& o, auto&) {
         Delivering(o);
         o.rest = Listed(RunState::kOther);
         o.rest.connector_text = "DEGRADED";
       },
       V::kNotRunning, R::kNotRunning, "DEGRADED", "REST state DEGRADED"},
      {"markers off: fresh heartbeats are ok",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.kafka.confirmed_at = kNowS - 0.5;
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 5);
       },
       V::kOk, R::kDelivering, "OK", "delivering"},
      {"markers off: a stale heartbeat is a stall",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.kafka.confirmed_at = kNowS - 0.5;
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 61);
       },
       V::kStalled, R::kHeartbeatStale, "SILENT FAILURE",
       "REST state RUNNING but no heartbeat for 61s"},
      {"markers off: a stale heartbeat while Kafka is unreadable is unknown",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.kafka.confirmed_at = kNowS - 0.5;
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 61);
         o.kafka.up = false;
       },
       V::kUnknown, R::kKafkaUnreadable, "UNKNOWN", "cannot read the Kafka"},
      {"markers and heartbeats off: nothing to judge",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.kafka.confirmed_at = kNowS - 0.5;
         c.heartbeat.enabled = false;
         o.rest = Listed(RunState::kRunning);
       },
       V::kUnknown, R::kNoResultYet, "WAITING", "no end-to-end result"},
  };
  return rows;
}

class JudgeTable : public ::testing::TestWithParam<Row> {};

TEST_P(JudgeTable, Row) {
  const Row& row = GetParam();
  ConnectorObservations obs;
  config::Connector c = Connector();
  row.setup(obs, c);
  const Verdict v = Judge(obs, c, kNow);
  EXPECT_EQ(ToString(v.state), ToString(row.state));
  EXPECT_EQ(static_cast<int>(v.reason), static_cast<int>(row.reason));
  EXPECT_EQ(v.silent_failure, row.state == VerdictState::kStalled);
  EXPECT_THAT(v.ReasonText(), HasSubstr(row.reason_text));
  EXPECT_EQ(v.StatusText(), row.status_text);
}

INSTANTIATE_TEST_SUITE_P(
    Verdict, JudgeTable, ::testing::ValuesIn(Rows()),
    [](const ::testing::TestParamInfo<Row>& info) {
      std::string n;
      for (char ch : info.param.name) {
        n.push_back(std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
      }
      return n;
    });

TEST(StallWindowTest, LearnedBetweenTheFloorAndTheMax) {
  ConnectorObservations o;
  config::Connector c = Connector();
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(30));  // not learned
  o.progress.responses = {0.1, 0.2, 0.1};
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(5));  // the floor
  o.progress.responses = {0.1, 6.0, 0.1};
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(14));  // 2 * 6 + 2
  o.progress.responses = {0.1, 60.0, 0.1};
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(30));  // the max
  c.silent_failure.window_max = std::chrono::seconds(10);
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(10));
  c.silent_failure.window = std::chrono::seconds(7);
  EXPECT_EQ(StallWindow(o, c), std::chrono::seconds(7));  // fixed
}

TEST(JudgeTest, TlsLabelIsConfiguredOrDetected) {
  ConnectorObservations obs;
  config::Connector c = Connector();
  EXPECT_EQ(Judge(obs, c, kNow).tls_version, "unknown");
  obs.session.detected_tls = "1.3";
  EXPECT_EQ(Judge(obs, c, kNow).tls_version, "1.3");
  c.tls_version = "1.2";
  EXPECT_EQ(Judge(obs, c, kNow).tls_version, "1.2");
}

TEST(JudgeTest, SameInputsSameVerdict) {
  ConnectorObservations obs;
  Delivering(obs);
  Unanswered(obs, 7);
  const config::Connector c = Connector();
  const Verdict a = Judge(obs, c, kNow);
  const Verdict b = Judge(obs, c, kNow);
  EXPECT_EQ(a.ReasonText(), b.ReasonText());
  EXPECT_EQ(a.silent_failure, b.silent_failure);
}

TEST(RunStateTest, ParsesEveryConnectStateAndKeepsUnknownText) {
  for (const char* s :
       {"UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING"}) {
    EXPECT_EQ(ToString(ParseRunState(s)), s);
  }
  EXPECT_EQ(ParseRunState("running"), RunState::kOther);
  RestObservation r = Listed(RunState::kRunning);
  r.task = RunState::kOther;
  r.task_text = "DESTROYED";
  EXPECT_EQ(r.ToString(), "TASK_DESTROYED");
  EXPECT_TRUE(r.Failed());
  EXPECT_FALSE(r.ClaimsRunning());
}

}  // namespace
}  // namespace cdc
