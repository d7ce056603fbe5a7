#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cdc/common/clock.h"
#include "cdc/common/metric_sink.h"
#include "config/config.h"

namespace cdc {

// A Kafka Connect connector or task state (AbstractStatus.State), typed.
// kOther is a state this version does not know; its text is kept for output.
enum class RunState {
  kUnassigned,
  kRunning,
  kPaused,
  kStopped,
  kFailed,
  kRestarting,
  kOther
};
RunState ParseRunState(std::string_view text);
// "RUNNING", ...; "" for kOther.
std::string_view ToString(RunState s);

// What the REST status probe last saw of one connector.
struct RestObservation {
  enum class Source {
    kNoApi,    // no connect_cluster (MSK Connect): no REST state at all
    kUnknown,  // the last poll failed, or did not list the connector
    kListed,   // listed by the last successful poll
  };
  Source source = Source::kUnknown;
  RunState connector = RunState::kOther;
  std::string connector_text;  // the state as reported (for kOther)
  // A task not RUNNING under a RUNNING connector (the last one listed).
  std::optional<RunState> task;
  std::string task_text;

  // The one text for output: "none", "unknown", "RUNNING", "TASK_FAILED",
  // or an unknown state as reported.
  std::string ToString() const;
  // Whether the connector claims to run (RUNNING with every task RUNNING),
  // or cannot tell (no REST API, or REST unreachable): only such a connector
  // can fail silently.
  bool ClaimsRunning() const;
  // FAILED, or a task not RUNNING under a RUNNING connector.
  bool Failed() const;
  // PAUSED, STOPPED, UNASSIGNED or RESTARTING.
  bool Inactive() const;
};

// Upper bounds of cdc_marker_latency_seconds.
// Late markers are observed too, so the buckets reach an hour.
inline const std::vector<double> kMarkerLatencyBuckets = {
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600};

// What the end-to-end marker rounds of one connector have shown so far
// (written by the MarkerLedger).
struct MarkerObservation {
  std::optional<bool> last_found;  // the last judged round
  double last_latency = 0;         // of the last round found
  int consecutive_misses = 0;
  uint64_t found = 0, not_found = 0, errors = 0;
  double last_success_ts = 0;  // Unix seconds, 0 never
  HistogramData latency{kMarkerLatencyBuckets};
  uint64_t solo = 0, shared = 0;  // cohort failures by kind
  uint64_t late = 0;              // arrived after their timeout
  // Write time (Unix seconds) of the oldest marker not seen yet, 0 none.
  double pending_since = 0;
  // The first marker written since the connector's last output (Unix
  // seconds, 0: every write was answered), and how many writes since.
  double unanswered_since = 0;
  int unanswered_writes = 0;
  // How the last marker write went.
  enum class Write { kNone, kOk, kUnreachable, kSetupError };
  Write last_write = Write::kNone;
  double first_write_at = 0;  // Unix seconds of the first successful write
  std::string write_error;    // of the last failed write
  // When the exporter first received a record on the marker topic (Unix
  // seconds, 0 never): only writes after it teach the stall window (before,
  // the consumer may not be reading that topic yet).
  double topic_seen_at = 0;
  // Partitions of the marker topic at the last metadata look-up: 0 means
  // it does not exist; nullopt not looked up yet.
  std::optional<int> topic_partitions;
  bool ever_arrived() const { return found + late > 0; }
};

// What the connector wrote, as the exporter received it (any record on its
// marker or heartbeat topic).
struct ProgressObservation {
  double last_output = 0;  // Unix seconds it was produced, 0 never
  // Recent response times (seconds from a marker write to the connector's
  // next output), newest last; at most kMaxResponses.
  static constexpr std::size_t kMaxResponses = 32;
  std::vector<double> responses;
};

// Whether the exporter can read the connector's Kafka cluster.
struct KafkaView {
  std::optional<bool> up;   // nullopt: not looked up yet
  double recovered_at = 0;  // Unix seconds it last came back up, 0 never down
  // Unix seconds of the last evidence that the exporter reads the cluster: a
  // metadata request answered or a record received (0: none yet). A stall
  // is judged only on silence that began before it: silence the exporter
  // cannot tell from its own blindness is unknown, not stalled.
  double confirmed_at = 0;

  // The connector's own partitions (of its marker and heartbeat topics), as
  // the kafka probe last found them. A broker can die while the others
  // answer: its partitions cannot be read until their leadership moves.
  // Which cannot be read, and why; empty: all can (or not looked up yet).
  std::string unreadable;
  // Unix seconds they last became readable again, 0 never unreadable.
  double partitions_recovered_at = 0;
  // Whether the brokers that lead them are known (the topics exist).
  bool leaders_known = false;
  // Unix seconds of the last evidence that the exporter reads from every one
  // of those leaders (an answer to a request sent then, or a record it
  // served), 0 none: a stall is judged only on silence that began before.
  double partitions_confirmed_at = 0;
  // Partition learning: -1 when every partition of the connector's own
  // topics is read; else the Unix seconds up to which the partitions not
  // read (parked, or read again since too short a while) are known to hold
  // none of its records. A stall is judged only on silence that began
  // before.
  double parked_settled_at = -1;
};

// The connector's Debezium heartbeats (written by the heartbeat kind).
struct HeartbeatObservation {
  double last_ts = 0;        // ts_ms / 1000 of the newest, 0 unknown
  double last_received = 0;  // Unix seconds
  uint64_t records = 0;
};

// The connector's binlog session on the source (binlog_session kind).
struct SessionObservation {
  bool observed = false;  // at least one round looked for it
  int sessions = 0;
  uint64_t id = 0;  // the server's connection id of the newest, 0 none yet
  double since = 0;
  std::string detected_tls;  // "1.2", "1.3", "none", "unknown"; "" never
  uint64_t reconnects = 0;
};

// A committed binlog position of a Debezium MySQL connector.
struct BinlogPosition {
  std::string file;
  uint64_t pos = 0;
  double ts_sec = 0;  // event time of the position, 0 unknown
};

// The connector's committed position and lag (offset_lag kind).
struct OffsetObservation {
  std::optional<BinlogPosition> committed;
  double changed_at = 0;  // Unix seconds the position last moved
  std::optional<double> lag_bytes;
};

// Everything observed of one connector, typed by the kind that saw it.
struct ConnectorObservations {
  RestObservation rest;
  MarkerObservation marker;
  HeartbeatObservation heartbeat;
  SessionObservation session;
  OffsetObservation offset;
  ProgressObservation progress;
  KafkaView kafka;
};

// Records a record the connector wrote (produced at `produced` by its Kafka
// timestamp, received at `received`): its last output and, if it was
// produced after the first marker written since its previous output (less
// a little clock skew), the response time to that write. Call inside
// ObservationStore::Update.
// A response longer than the connector's stall window at that moment is an
// outage that ended (it was, or would have been, judged stalled), not how the
// connector normally answers: it is not learned.
void RecordOutput(ConnectorObservations& o, const config::Connector& c,
                  WallClock::time_point produced,
                  WallClock::time_point received);

// The `tls_version` label of a connector: configured, or as the server
// negotiated it, or "unknown".
std::string TlsLabel(const config::Connector& c,
                     const ConnectorObservations& o);

// The per-connector observations of every watched connector, and whether
// each Kafka cluster can be read. Each probe kind writes its own part (its
// logic lives in its own file) and emits its series from it; the verdict
// (probes/verdict.h) reads all of them. Thread-safe: every access runs under
// one lock, so callbacks must not call back into the store.
class ObservationStore {
 public:
  // One watched connector: its configuration and observations.
  struct Entry {
    config::Connector config;
    ConnectorObservations obs;
    std::set<int> kafka_leaders;  // of its own partitions (KafkaPath)
  };

  // Sets the watched connectors. A connector that stays keeps its
  // observations and counters (with its new configuration); a removed one
  // loses them.
  void SetConnectors(const std::vector<config::Connector>& connectors);

  // Runs fn(Entry&) on the connector's entry under the lock. False if the
  // connector is not watched.
  template <typename Fn>
  bool Update(const std::string& connector, Fn&& fn) {
    return Visit(*this, connector, fn);
  }
  // Runs fn(const Entry&) on the connector's entry under the lock. False if
  // the connector is not watched.
  template <typename Fn>
  bool Read(const std::string& connector, Fn&& fn) const {
    return Visit(*this, connector, fn);
  }
  // Runs fn(const std::string& name, Entry&) on every entry, by name.
  template <typename Fn>
  void UpdateAll(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, e] : entries_) fn(name, e);
  }
  // Runs fn(const std::string& name, const Entry&) on every entry, by name.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, e] : entries_) fn(name, e);
  }
  // A copy of one entry.
  std::optional<Entry> Get(const std::string& connector) const;

  // Whether the exporter can read the Kafka cluster (the kafka probe's last
  // metadata request); nullopt before the first one. Copied into the
  // KafkaView of each of its connectors; when it goes down, their
  // unanswered marker writes are forgotten (nothing can be seen meanwhile,
  // and the time it takes must not teach their stall windows).
  // `asked`: when the metadata request that found it up was sent, which is
  // how far the answer confirms the exporter reads the cluster (default
  // `now`).
  void SetKafkaUp(const std::string& kafka, bool up,
                  WallClock::time_point now = WallClock::now(),
                  std::optional<WallClock::time_point> asked = std::nullopt);
  std::optional<bool> KafkaUp(const std::string& kafka) const;
  // Evidence that the exporter reads `kafka` up to `at` (a record produced
  // then and received): moves its KafkaView's confirmed_at forward, never
  // back. The watcher calls it at most every 100 ms, so a busy topic takes
  // no lock per record.
  void ConfirmKafka(const std::string& kafka,
                    WallClock::time_point at = WallClock::now());

  // Where a connector's own partitions are read from (the kafka probe, each
  // run): the brokers that lead them and which of them cannot be read.
  struct KafkaPath {
    std::set<int> leaders;
    std::string unreadable;         // empty: all can be read
    double parked_settled_at = -1;  // KafkaView::parked_settled_at
    bool operator==(const KafkaPath&) const = default;
  };
  // Sets the paths of the connectors of `kafka` (a connector not named has
  // none). One that becomes unreadable forgets its unanswered marker writes,
  // as when the whole cluster goes down.
  void SetKafkaPaths(const std::string& kafka,
                     const std::map<std::string, KafkaPath>& by_connector,
                     WallClock::time_point now = WallClock::now());
  // Evidence that the exporter reads from these brokers of `kafka` up to
  // these times (Unix seconds; a broker's time only moves forward).
  void ConfirmKafkaBrokers(const std::string& kafka,
                           const std::map<int, double>& confirmed);

 private:
  // Update and Read: `self` is const for Read.
  template <typename Self, typename Fn>
  static bool Visit(Self& self, const std::string& connector, Fn& fn) {
    std::lock_guard<std::mutex> lock(self.mu_);
    auto it = self.entries_.find(connector);
    if (it == self.entries_.end()) return false;
    fn(it->second);
    return true;
  }

  // The cluster-wide part of `v` into a connector's view (its own
  // partitions' part stays).
  static void CopyClusterView(const KafkaView& v, KafkaView& into);
  // Recomputes e's partitions_confirmed_at from its leaders' evidence.
  void ConfirmPartitions(Entry& e, const std::map<int, double>& brokers);

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, KafkaView> kafka_;
  // Kafka cluster -> broker id -> Unix seconds it was last read from.
  std::map<std::string, std::map<int, double>> broker_confirmed_;
};

}  // namespace cdc
