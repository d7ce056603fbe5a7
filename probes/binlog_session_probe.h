#pragma once

#include <map>
#include <string>
#include <vector>

#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/mysql_session.h"
#include "probes/observations.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"

namespace cdc {

// The server-side view of the connectors of one source: finds each
// connector's replication ("Binlog Dump") session by its binlog_user and
// reports whether it is there, its TLS version as the server negotiated it,
// since when it is connected and how often it was replaced (a new
// connection id). Reads performance_schema (TLS version per session) where
// it is enabled, else the processlist (TLS version unknown).
// Thread-safe (see Probe).
class BinlogSessionProbe final : public Probe {
 public:
  // `connectors`: name -> binlog_user, for the connectors of this source.
  BinlogSessionProbe(const config::Source& source,
                     std::map<std::string, std::string> connectors,
                     ObservationStore& store, Logger& log);

  std::string_view Kind() const override { return "binlog_session"; }
  const std::string& Target() const override { return source_.name; }
  std::chrono::milliseconds Interval() const override {
    return source_.interval;
  }
  std::chrono::milliseconds Timeout() const override { return source_.timeout; }
  bool SameAs(const Probe& other) const override;
  ProbeOutcome Run(const ProbeContext& ctx) override;
  void Cancel() override { session_.Cancel(); }
  void Collect(MetricSink&) const override {}

  // A replication session as found on the server.
  struct Row {
    uint64_t id = 0;
    std::string user;
    std::optional<std::string> ssl_version;  // "TLSv1.3", "" (plain), nullopt
  };
  // "TLSv1.3" -> "1.3", "" -> "none", nullopt -> "unknown".
  static std::string TlsLabel(const std::optional<std::string>& ssl_version);

  static constexpr char kPerformanceSchemaSql[] =
      "SELECT t.PROCESSLIST_ID AS id, t.PROCESSLIST_USER AS user, "
      "s.VARIABLE_VALUE AS ssl_version "
      "FROM performance_schema.threads t "
      "LEFT JOIN performance_schema.status_by_thread s "
      "ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_version' "
      "WHERE t.TYPE = 'FOREGROUND' AND t.PROCESSLIST_COMMAND LIKE 'Binlog "
      "Dump%'";
  static constexpr char kProcesslistSql[] =
      "SELECT ID AS id, USER AS user FROM information_schema.PROCESSLIST "
      "WHERE COMMAND LIKE 'Binlog Dump%'";

 private:
  std::vector<Row> FetchSessions(std::chrono::milliseconds timeout);

  const config::Source source_;
  const std::map<std::string, std::string> connectors_;
  ObservationStore& store_;
  Logger& log_;
  MysqlSession session_;
  // Only touched by Run(). performance_schema off or not granted: the
  // processlist is read instead, and performance_schema is tried again every
  // kPerformanceSchemaRetryRounds rounds (5 min at the default 15 s), so
  // that a grant or a parameter-group change is picked up without a restart.
  static constexpr int kPerformanceSchemaRetryRounds = 20;
  bool use_performance_schema_ = true;
  int rounds_without_performance_schema_ = 0;
  bool performance_schema_reported_ = false;
  std::map<uint64_t, double> first_seen_;  // session id -> Unix seconds
};

// A replication session of one connector, as a round found it.
struct BinlogSession {
  uint64_t id = 0;         // the server's connection id
  std::string tls;         // "1.2", "1.3", "none", "unknown"
  double connected_since;  // Unix seconds
};

// Writes one round's sessions of `connector` into the binlog-session part of
// the store: present or not, the newest one's TLS version and start, and a
// reconnect when the newest is not the one seen before.
void RecordBinlogSessions(ObservationStore& store, const std::string& connector,
                          const std::vector<BinlogSession>& sessions,
                          Logger& log);

// The "binlog_session" kind: one BinlogSessionProbe per source that has
// connectors with a binlog_user; exports cdc_binlog_session_*.
std::unique_ptr<ProbeKind> MakeBinlogSessionKind(const KindEnv& env);

}  // namespace cdc
