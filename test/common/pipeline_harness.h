#pragma once

// The probe kinds' recording functions, the marker ledger, the verdict and
// the action counters wired together as the exporter wires them, without
// probes, threads of their own or I/O: unit tests feed observations in and
// read series, verdicts and status rows out. Thread-safe as its parts are.

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actions/action_counters.h"
#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "probes/binlog_session_probe.h"
#include "probes/connect_rest_probe.h"
#include "probes/connect_status.h"
#include "probes/heartbeat_probe.h"
#include "probes/marker_ledger.h"
#include "probes/observations.h"
#include "probes/offset_lag_probe.h"
#include "probes/probe_kind.h"
#include "probes/verdicts.h"

namespace cdc {

class PipelineHarness {
 public:
  explicit PipelineHarness(Logger& log) : log_(log), ledger_(store_, log) {
    const KindEnv env{store_, log};
    // Every kind's series; the kafka kind's consumers are not needed.
    for (const auto& e : ProbeKindTable()) {
      if (e.name != "kafka") kinds_.push_back(e.make(env));
    }
  }

  ObservationStore& store() { return store_; }
  ActionCounters& counters() { return counters_; }
  MarkerLedger& ledger() { return ledger_; }

  // Their Kafka clusters count as readable (as after the kafka probe's
  // first metadata look-up) unless a test says otherwise.
  void SetConnectors(const std::vector<config::Connector>& connectors) {
    store_.SetConnectors(connectors);
    for (const auto& c : connectors) {
      kafkas_.insert(c.kafka);
      if (!store_.KafkaUp(c.kafka)) {
        store_.SetKafkaUp(c.kafka, true, WallClock::time_point{});
      }
    }
    ledger_.Retain(connectors);
    counters_.Retain(connectors);
  }

  // ---- what the probe kinds record ----
  void OnRestPoll(const std::string& cluster, bool ok,
                  const std::vector<connect::ConnectorStatus>& connectors) {
    RecordRestPoll(store_, cluster, ok, connectors);
  }
  void ExpectMarker(const std::string& token, WallClock::time_point written,
                    const std::vector<std::string>& connectors) {
    ledger_.Expect(token, written, connectors);
  }
  void MarkerWriteFailed(const std::vector<std::string>& connectors,
                         bool setup = false,
                         const std::string& error = "cannot connect") {
    ledger_.WriteFailed(connectors, setup, error);
  }
  void OnMarkerTopicRecordProducedAt(const std::string& connector,
                                     WallClock::time_point produced,
                                     WallClock::time_point received) {
    store_.Update(connector, [&](ObservationStore::Entry& e) {
      RecordOutput(e.obs, e.config, produced, received);
    });
  }
  // A record on the connector's marker topic, as the marker kind handles
  // it: tokens looked for, and output of the connector.
  void OnMarkerRecord(const std::string& connector, std::string_view bytes,
                      WallClock::time_point seen) {
    ledger_.OnRecord(connector, bytes, seen);
    OnMarkerTopicRecord(connector, seen);
  }
  void Expire(WallClock::time_point now) { ledger_.Expire(now); }
  void SetKafkaUp(const std::string& kafka, bool up,
                  WallClock::time_point now = WallClock::now()) {
    store_.SetKafkaUp(kafka, up, now);
  }
  bool AwaitingMarker(const std::string& connector) const {
    return ledger_.Awaiting(connector);
  }
  void OnHeartbeat(const std::string& connector, std::optional<double> ts,
                   WallClock::time_point received) {
    RecordHeartbeat(store_, connector, ts, received);
  }
  // Any other record on the connector's marker topic (produced when it was
  // received).
  void OnMarkerTopicRecord(const std::string& connector,
                           WallClock::time_point received) {
    store_.Update(connector, [&](ObservationStore::Entry& e) {
      if (e.obs.marker.topic_seen_at == 0) {
        e.obs.marker.topic_seen_at = UnixSeconds(received);
      }
      RecordOutput(e.obs, e.config, received, received);
    });
  }
  void OnBinlogSessions(const std::string& connector,
                        const std::vector<BinlogSession>& sessions) {
    RecordBinlogSessions(store_, connector, sessions, log_);
  }
  void OnCommittedOffset(const std::string& connector,
                         const BinlogPosition& offset,
                         WallClock::time_point now) {
    RecordCommittedOffset(store_, connector, offset, now);
  }
  std::optional<BinlogPosition> CommittedOffset(
      const std::string& connector) const {
    std::optional<BinlogPosition> out;
    store_.Read(connector, [&](const ObservationStore::Entry& e) {
      out = e.obs.offset.committed;
    });
    return out;
  }
  void OnBinlogLag(const std::string& connector, double lag_bytes) {
    store_.Update(connector, [&](ObservationStore::Entry& e) {
      e.obs.offset.lag_bytes = lag_bytes;
    });
  }
  void CountEvidence(const std::string& connector, const std::string& result) {
    counters_.Count(ActionCounters::Action::kEvidence, connector, result);
  }
  void CountRestart(const std::string& connector, const std::string& result) {
    counters_.Count(ActionCounters::Action::kRestart, connector, result);
  }

  // ---- what the exporter reads ----
  // The verdict with its texts, as the log and the status page show them.
  struct VerdictText {
    bool silent_failure = false;
    std::string reason, rest_state, tls_version;
    VerdictState state = VerdictState::kUnknown;
  };
  VerdictText GetVerdict(const std::string& connector,
                         WallClock::time_point now) {
    KafkaAnswers(now);
    const std::optional<Verdict> v = CurrentVerdict(store_, connector, now);
    if (!v) return {};
    return {v->silent_failure, v->ReasonText(), v->RestState(), v->tls_version,
            v->state};
  }
  std::string TlsLabel(const std::string& connector) const {
    std::string label = "unknown";
    store_.Read(connector, [&](const ObservationStore::Entry& e) {
      label = cdc::TlsLabel(e.config, e.obs);
    });
    return label;
  }
  uint64_t SoloFailures(const std::string& connector) const {
    uint64_t n = 0;
    store_.Read(connector, [&](const ObservationStore::Entry& e) {
      n = e.obs.marker.solo;
    });
    return n;
  }
  // Every per-connector series, as App::ScrapeText adds them.
  // What App's cdc-verdicts thread does every second.
  void NoteVerdicts(WallClock::time_point now) {
    KafkaAnswers(now);
    ledger_.Expire(now);
    verdicts_.Note(store_, now);
  }

  void Collect(MetricSink& sink, WallClock::time_point now) {
    KafkaAnswers(now);
    ledger_.Expire(now);
    verdicts_.Collect(store_, sink, now);
    for (const auto& k : kinds_) k->Collect(sink, now);
    counters_.Collect(sink);
  }

  // One connector's row of the status page.
  struct Snapshot {
    std::string connector, cohort, tls_version, rest_state;
    std::optional<bool> marker_found;
    double marker_latency = 0;
    int consecutive_misses = 0;
    double heartbeat_age = -1;
    bool heartbeat_stale = false;
    std::optional<bool> session_up;
    double lag_bytes = -1;
    VerdictText verdict;
  };
  std::vector<Snapshot> Snapshots(WallClock::time_point now) {
    KafkaAnswers(now);
    std::vector<Snapshot> out;
    for (const auto& c : ConnectorViews(store_, now)) {
      Snapshot s;
      s.connector = c.name;
      s.cohort = c.config.source;
      s.verdict = {c.verdict.silent_failure, c.verdict.ReasonText(),
                   c.verdict.RestState(), c.verdict.tls_version,
                   c.verdict.state};
      s.tls_version = c.verdict.tls_version;
      s.rest_state = c.verdict.RestState();
      s.marker_found = c.obs.marker.last_found;
      s.marker_latency = c.obs.marker.last_latency;
      s.consecutive_misses = c.obs.marker.consecutive_misses;
      if (c.obs.heartbeat.records > 0) {
        s.heartbeat_age =
            std::chrono::duration<double>(now.time_since_epoch()).count() -
            c.obs.heartbeat.last_received;
      }
      s.heartbeat_stale = HeartbeatStale(c.config, c.obs.heartbeat, now);
      if (!c.config.binlog_user.empty() && c.obs.session.observed) {
        s.session_up = c.obs.session.sessions > 0;
      }
      if (c.obs.offset.lag_bytes) s.lag_bytes = *c.obs.offset.lag_bytes;
      out.push_back(std::move(s));
    }
    return out;
  }

  // The kafka kind's metadata answers, which confirm that the exporter reads
  // each readable cluster (KafkaView::confirmed_at), are simulated as
  // arriving just before every judgement, unless a test stops them to see
  // what a broken view does (verdict_test has the rule itself).
  void StopKafkaAnswers() { kafka_answers_ = false; }
  // One such answer at `now` (what every judgement here does first).
  void KafkaAnswers(WallClock::time_point now) {
    if (!kafka_answers_) return;
    for (const auto& k : kafkas_) {
      if (store_.KafkaUp(k).value_or(false)) store_.ConfirmKafka(k, now);
    }
  }

 private:
  bool kafka_answers_ = true;
  std::set<std::string> kafkas_;
  Logger& log_;
  ObservationStore store_;
  VerdictBoard verdicts_{log_};
  MarkerLedger ledger_;
  ActionCounters counters_;
  std::vector<std::unique_ptr<ProbeKind>> kinds_;
};

}  // namespace cdc
