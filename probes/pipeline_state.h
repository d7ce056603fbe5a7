#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/connect_status.h"
#include "probes/metric_sink.h"

namespace cdc {

using WallClock = std::chrono::system_clock;

// What cdc-sentinel knows about each configured connector, from every side:
// REST state, end-to-end markers, heartbeats, the binlog session on the
// server and the committed offset; and the verdict drawn from them.
// Probes write their observations here; scrapes, the status page and the
// remediation read it. Thread-safe.
class PipelineState {
 public:
  explicit PipelineState(Logger& log);

  // Sets the watched connectors. A connector that stays keeps its state and
  // counters; a removed one loses its series.
  void SetConnectors(const std::vector<config::Connector>& connectors);

  // ---- REST status (ConnectRestProbe) ----------------------------------
  void OnRestPoll(const std::string& cluster, bool ok,
                  const std::vector<connect::ConnectorStatus>& connectors);

  // ---- End-to-end markers (MarkerProbe, KafkaWatcher) -------------------
  // A new unique token for a marker row.
  static std::string NewToken();
  // `token` was written to the source at `written_at`; each of `connectors`
  // must deliver it within its marker timeout.
  void ExpectMarker(const std::string& token, WallClock::time_point written_at,
                    const std::vector<std::string>& connectors);
  // The marker could not be written: a round with result "error".
  void MarkerWriteFailed(const std::vector<std::string>& connectors);
  // A record arrived on `connector`'s marker topic; finds tokens in its raw
  // bytes (key and value), whatever the converter.
  void OnMarkerRecord(const std::string& connector, std::string_view bytes,
                      WallClock::time_point seen);
  // Judges markers past their deadline as not found.
  void Expire(WallClock::time_point now);
  // Whether the exporter can read the Kafka cluster now: while it cannot,
  // overdue markers count as "error", not as connector misses.
  void SetKafkaUp(const std::string& kafka, bool up);
  // True if any marker is awaited on `connector` (the consumer skips
  // scanning records otherwise).
  bool AwaitingMarker(const std::string& connector) const;

  // ---- Heartbeats (KafkaWatcher) ---------------------------------------
  // `ts_seconds` is the record's ts_ms / 1000 when it had a sane one.
  void OnHeartbeat(const std::string& connector,
                   std::optional<double> ts_seconds,
                   WallClock::time_point received);

  // ---- Binlog session on the server (BinlogSessionProbe) -----------------
  struct Session {
    uint64_t id = 0;         // the server's connection id
    std::string tls;         // "1.2", "1.3", "none"
    double connected_since;  // Unix seconds
  };
  // `sessions` are the connector's replication sessions found this round.
  void OnBinlogSessions(const std::string& connector,
                        const std::vector<Session>& sessions);

  // ---- Offsets (OffsetLagProbe, KafkaWatcher) ----------------------------
  struct Offset {
    std::string file;
    uint64_t pos = 0;
    double ts_sec = 0;  // event time of the committed position, 0 unknown
  };
  void OnCommittedOffset(const std::string& connector, const Offset& offset,
                         WallClock::time_point now);
  std::optional<Offset> CommittedOffset(const std::string& connector) const;
  void OnBinlogLag(const std::string& connector, double lag_bytes);

  // ---- Verdict ---------------------------------------------------------
  struct Verdict {
    bool silent_failure = false;
    std::string reason;      // for logs and the status page
    std::string rest_state;  // "RUNNING", ..., "none" (no REST), "unknown"
    std::string tls_version;
  };
  Verdict GetVerdict(const std::string& connector,
                     WallClock::time_point now) const;
  // The `tls_version` label value of a connector.
  std::string TlsLabel(const std::string& connector) const;

  // Solo cohort failures counted so far (grows when the connector missed a
  // marker that another connector of its source got).
  uint64_t SoloFailures(const std::string& connector) const;

  void CountEvidence(const std::string& connector, const std::string& result);
  void CountRestart(const std::string& connector, const std::string& result);

  // Every per-connector series. Judges overdue markers first.
  void Collect(MetricSink& sink, WallClock::time_point now);

  // A JSON-friendly snapshot of one connector for the status page.
  struct Snapshot {
    std::string connector, cohort, tls_version, rest_state;
    std::optional<bool> marker_found;
    double marker_latency = 0;
    int consecutive_misses = 0;
    double heartbeat_age = -1;  // seconds since received, -1 never
    bool heartbeat_stale = false;
    std::optional<bool> session_up;
    double lag_bytes = -1;
    Verdict verdict;
  };
  std::vector<Snapshot> Snapshots(WallClock::time_point now) const;

 private:
  struct Round {
    WallClock::time_point written_at;
    std::string cohort;
    // connector -> 0 pending, 1 found, 2 not found, 3 error (no verdict)
    std::map<std::string, int> outcome;
    std::map<std::string, WallClock::time_point> deadline;
  };
  struct Conn {
    config::Connector cfg;
    // REST
    std::string rest_state = "unknown";
    // markers
    std::optional<bool> marker_found;  // last judged round
    double marker_latency = 0;
    int consecutive_misses = 0;
    uint64_t found = 0, not_found = 0, errors = 0;
    double last_success_ts = 0;
    HistogramData latency;
    uint64_t solo = 0, shared = 0;
    // heartbeat
    double hb_ts = 0, hb_received = 0;
    uint64_t hb_records = 0;
    // binlog session
    bool session_observed = false;
    int sessions = 0;
    uint64_t session_id = 0;
    double session_since = 0;
    std::string detected_tls;
    uint64_t reconnects = 0;
    // offsets
    std::optional<Offset> offset;
    double offset_changed_at = 0;
    std::optional<double> lag_bytes;
    // actions
    std::map<std::string, uint64_t> evidence, restarts;
  };

  void Judge(Round& round, const std::string& connector, int outcome,
             WallClock::time_point at);
  void FinishRoundIfDone(std::map<std::string, Round>::iterator it);
  std::string TlsLabelLocked(const Conn& c) const;
  Verdict VerdictLocked(const Conn& c, WallClock::time_point now) const;
  bool HeartbeatStaleLocked(const Conn& c, WallClock::time_point now) const;

  Logger& log_;
  mutable std::mutex mu_;
  std::map<std::string, Conn> conns_;
  std::map<std::string, Round> rounds_;  // by token
  std::map<std::string, bool> kafka_up_;
};

}  // namespace cdc
