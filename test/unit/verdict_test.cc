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
  bool silent;
  VerdictReason reason;
  VerdictStatus status;
  std::string reason_text;  // a substring of ReasonText()
  std::string status_text;
};

void Missed(ConnectorObservations& o, int n) {
  o.marker.last_found = false;
  o.marker.consecutive_misses = n;
}
void Found(ConnectorObservations& o) {
  o.marker.last_found = true;
  o.marker.consecutive_misses = 0;
}
void Heartbeat(ConnectorObservations& o, double age_s) {
  o.heartbeat.records = 3;
  o.heartbeat.last_received = kNowS - age_s;
}

const std::vector<Row>& Rows() {
  using R = VerdictReason;
  using S = VerdictStatus;
  using Src = RestObservation::Source;
  static const std::vector<Row> rows = {
      {"nothing observed yet",
       [](auto& o, auto&) { o.rest = Listed(RunState::kRunning); }, false,
       R::kNoResultYet, S::kWaiting, "no end-to-end result yet", "WAITING"},
      {"running and delivering",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Found(o);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"heartbeats alone count as a result",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 5);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"running with a miss is silent",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Missed(o, 1);
       },
       true, R::kMarkersMissed, S::kSilentFailure,
       "REST state RUNNING but 1 consecutive marker(s) not delivered",
       "SILENT FAILURE"},
      {"two misses needed when configured: one is not silent",
       [](auto& o, auto& c) {
         c.silent_failure.consecutive_misses = 2;
         o.rest = Listed(RunState::kRunning);
         Missed(o, 1);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"two misses needed when configured: two are",
       [](auto& o, auto& c) {
         c.silent_failure.consecutive_misses = 2;
         o.rest = Listed(RunState::kRunning);
         Missed(o, 2);
       },
       true, R::kMarkersMissed, S::kSilentFailure, "2 consecutive marker(s)",
       "SILENT FAILURE"},
      {"misses of a connector with markers off do not count",
       [](auto& o, auto& c) {
         c.marker.enabled = false;
         o.rest = Listed(RunState::kRunning);
         Missed(o, 5);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"stale heartbeat is silent",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 61);
       },
       true, R::kHeartbeatStale, S::kSilentFailure,
       "REST state RUNNING but no heartbeat for 61s", "SILENT FAILURE"},
      {"heartbeat at exactly max_age is not stale",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 60);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"heartbeats off: an old one is never stale",
       [](auto& o, auto& c) {
         c.heartbeat.enabled = false;
         o.rest = Listed(RunState::kRunning);
         Heartbeat(o, 3600);
       },
       false, R::kDelivering, S::kOk, "delivering", "OK"},
      {"misses and a stale heartbeat are both named",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning);
         Missed(o, 3);
         Heartbeat(o, 90);
       },
       true, R::kMarkersAndHeartbeat, S::kSilentFailure,
       "3 consecutive marker(s) not delivered and no heartbeat for 90s",
       "SILENT FAILURE"},
      {"no REST API (MSK Connect) is judged",
       [](auto& o, auto& c) {
         c.connect_cluster.clear();
         o.rest = Source(Src::kNoApi);
         Missed(o, 1);
       },
       true, R::kMarkersMissed, S::kSilentFailure, "REST state none but",
       "SILENT FAILURE"},
      {"REST unreachable is judged",
       [](auto& o, auto&) {
         o.rest = Source(Src::kUnknown);
         Missed(o, 1);
       },
       true, R::kMarkersMissed, S::kSilentFailure, "REST state unknown but",
       "SILENT FAILURE"},
      {"FAILED is loud, not silent",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kFailed);
         Missed(o, 4);
         Heartbeat(o, 600);
       },
       false, R::kNotRunning, S::kFailed,
       "REST state FAILED (not a silent failure)", "FAILED"},
      {"a failed task under a RUNNING connector is loud",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kRunning, RunState::kFailed);
         Missed(o, 1);
       },
       false, R::kNotRunning, S::kFailed, "REST state TASK_FAILED", "FAILED"},
      {"PAUSED is inactive, not silent",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kPaused);
         Missed(o, 2);
       },
       false, R::kNotRunning, S::kInactive, "REST state PAUSED", "PAUSED"},
      {"STOPPED is inactive",
       [](auto& o, auto&) { o.rest = Listed(RunState::kStopped); }, false,
       R::kNotRunning, S::kInactive, "(not a silent failure)", "STOPPED"},
      {"UNASSIGNED is inactive",
       [](auto& o, auto&) { o.rest = Listed(RunState::kUnassigned); }, false,
       R::kNotRunning, S::kInactive, "(not a silent failure)", "UNASSIGNED"},
      {"RESTARTING is inactive",
       [](auto& o, auto&) { o.rest = Listed(RunState::kRestarting); }, false,
       R::kNotRunning, S::kInactive, "(not a silent failure)", "RESTARTING"},
      {"a state this version does not know is not silent",
       [](auto& o, auto&) {
         o.rest = Listed(RunState::kOther);
         o.rest.connector_text = "DEGRADED";
         Found(o);
       },
       false, R::kNotRunning, S::kOk, "REST state DEGRADED", "OK"},
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
  EXPECT_EQ(v.silent_failure, row.silent);
  EXPECT_EQ(v.reason, row.reason);
  EXPECT_EQ(v.status, row.status);
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
  obs.rest = Listed(RunState::kRunning);
  Missed(obs, 2);
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
