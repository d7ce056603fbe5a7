#include "probes/binlog_session_probe.h"

#include <set>
#include <string>

#include "cdc/common/clock.h"

namespace cdc {

BinlogSessionProbe::BinlogSessionProbe(
    const config::Source& source, std::map<std::string, std::string> connectors,
    ObservationStore& store, Logger& log)
    : source_(source),
      connectors_(std::move(connectors)),
      store_(store),
      log_(log),
      session_(source) {}

bool BinlogSessionProbe::SameAs(const Probe& other) const {
  const auto* o = dynamic_cast<const BinlogSessionProbe*>(&other);
  return o != nullptr && o->source_ == source_ && o->connectors_ == connectors_;
}

std::string BinlogSessionProbe::TlsLabel(
    const std::optional<std::string>& ssl_version) {
  if (!ssl_version) return "unknown";
  if (ssl_version->empty()) return "none";
  if (ssl_version->rfind("TLSv", 0) == 0) return ssl_version->substr(4);
  return *ssl_version;
}

std::vector<BinlogSessionProbe::Row> BinlogSessionProbe::FetchSessions(
    std::chrono::milliseconds timeout) {
  SqlResult res;
  if (!use_performance_schema_ &&
      ++rounds_without_performance_schema_ >= kPerformanceSchemaRetryRounds) {
    use_performance_schema_ = true;  // try again
  }
  if (use_performance_schema_) {
    try {
      res = session_.Query(kPerformanceSchemaSql, timeout);
      // performance_schema=OFF: the tables exist but stay empty, and our
      // own session would be missing from them too.
      if (res.rows.empty()) {
        auto self = session_.Query(
            "SELECT COUNT(*) AS n FROM performance_schema.threads WHERE "
            "PROCESSLIST_ID = CONNECTION_ID()",
            timeout);
        if (self.Get(0, "n").value_or("0") == "0") {
          use_performance_schema_ = false;
          rounds_without_performance_schema_ = 0;
          if (!performance_schema_reported_) {
            log_.Info(
                "performance_schema is off on the source; TLS versions of "
                "binlog sessions will be unknown (tried again every " +
                    std::to_string(kPerformanceSchemaRetryRounds) + " rounds)",
                {{"source", source_.name}});
          }
          performance_schema_reported_ = true;
        }
      }
    } catch (const SqlError& e) {
      // 1142/1044: no SELECT on performance_schema; 1146: no such table.
      if (e.code() != 1142 && e.code() != 1044 && e.code() != 1146) throw;
      use_performance_schema_ = false;
      rounds_without_performance_schema_ = 0;
      if (!performance_schema_reported_) {
        log_.Warn(
            "cannot read performance_schema; falling back to the "
            "processlist (TLS versions unknown; tried again every " +
                std::to_string(kPerformanceSchemaRetryRounds) +
                " rounds). Grant SELECT ON performance_schema.* to the "
                "monitoring user.",
            {{"source", source_.name}, {"err", e.what()}});
      }
      performance_schema_reported_ = true;
    }
    if (use_performance_schema_ && performance_schema_reported_) {
      performance_schema_reported_ = false;
      log_.Info(
          "performance_schema is readable again; TLS versions of binlog "
          "sessions are known",
          {{"source", source_.name}});
    }
  }
  const bool with_tls = use_performance_schema_;
  if (!with_tls) res = session_.Query(kProcesslistSql, timeout);
  std::vector<Row> rows;
  for (std::size_t i = 0; i < res.rows.size(); ++i) {
    Row r;
    r.id = std::stoull(res.Get(i, "id").value_or("0"));
    r.user = res.Get(i, "user").value_or("");
    if (with_tls) r.ssl_version = res.Get(i, "ssl_version");
    rows.push_back(std::move(r));
  }
  return rows;
}

ProbeOutcome BinlogSessionProbe::Run(const ProbeContext& ctx) {
  std::vector<Row> rows;
  try {
    rows = FetchSessions(ctx.Remaining());
  } catch (const SqlError& e) {
    return ProbeOutcome::Fail(std::string("cannot list binlog sessions: ") +
                              e.what());
  } catch (const std::exception& e) {
    return ProbeOutcome::Fail(std::string("bad binlog session row: ") +
                              e.what());
  }
  const double now = WallSeconds();
  std::set<uint64_t> present;
  for (const auto& r : rows) {
    present.insert(r.id);
    first_seen_.emplace(r.id, now);
  }
  for (auto it = first_seen_.begin(); it != first_seen_.end();) {
    it = present.count(it->first) ? std::next(it) : first_seen_.erase(it);
  }
  for (const auto& [connector, user] : connectors_) {
    std::vector<BinlogSession> mine;
    for (const auto& r : rows) {
      if (r.user != user) continue;
      mine.push_back({r.id, TlsLabel(r.ssl_version), first_seen_[r.id]});
    }
    RecordBinlogSessions(store_, connector, mine, log_);
  }
  return ProbeOutcome::Ok();
}

void RecordBinlogSessions(ObservationStore& store, const std::string& connector,
                          const std::vector<BinlogSession>& sessions,
                          Logger& log) {
  store.Update(connector, [&](ObservationStore::Entry& e) {
    SessionObservation& c = e.obs.session;
    const int before = c.sessions;
    c.sessions = static_cast<int>(sessions.size());
    c.observed = true;
    if (sessions.empty()) {
      if (before > 0) {
        log.Warn(
            "binlog session gone from the source",
            {{"connector", connector}, {"session_id", std::to_string(c.id)}});
      }
      return;  // id keeps the last session seen
    }
    // With several (a shared binlog_user), follow the newest.
    const BinlogSession* s = &sessions[0];
    for (const auto& x : sessions) {
      if (x.connected_since > s->connected_since) s = &x;
    }
    // A reconnect replaces a session seen before (ids start at 1); the first
    // session ever seen is not one, even after rounds that found none.
    if (c.id != 0 && s->id != c.id) {
      ++c.reconnects;
      log.Info("binlog session re-established",
               {{"connector", connector},
                {"old_session_id", std::to_string(c.id)},
                {"new_session_id", std::to_string(s->id)},
                {"tls", s->tls}});
    }
    c.id = s->id;
    c.since = s->connected_since;
    c.detected_tls = s->tls;
  });
}

namespace {

class BinlogSessionKind final : public ProbeKind {
 public:
  explicit BinlogSessionKind(const KindEnv& env) : env_(env) {}
  std::string_view Name() const override { return "binlog_session"; }

  void Build(const config::Config& cfg, KindParts& parts) override {
    for (const auto& src : cfg.sources) {
      std::map<std::string, std::string> users;  // connector -> binlog_user
      for (const auto& c : cfg.connectors) {
        if (c.source == src.name && !c.binlog_user.empty()) {
          users[c.name] = c.binlog_user;
        }
      }
      if (users.empty()) continue;
      parts.probes.push_back(std::make_shared<BinlogSessionProbe>(
          src, std::move(users), env_.store, env_.log));
    }
  }

  void Collect(MetricSink& sink, WallClock::time_point) override {
    env_.store.ForEach([&](const std::string& name,
                           const ObservationStore::Entry& e) {
      const SessionObservation& s = e.obs.session;
      if (e.config.binlog_user.empty() || !s.observed) return;
      const MetricLabels l = ConnectorLabels(name, e);
      sink.Gauge("cdc_binlog_session_up",
                 "1 if the source shows a binlog (replication) session of the "
                 "connector's binlog_user.",
                 l, s.sessions > 0 ? 1 : 0);
      sink.Gauge("cdc_binlog_sessions",
                 "Binlog sessions of the connector's binlog_user on the "
                 "source (more than 1: the user is shared).",
                 l, s.sessions);
      if (s.sessions > 0) {
        sink.Gauge("cdc_binlog_session_start_timestamp_seconds",
                   "When the current binlog session connected.", l, s.since);
      }
      sink.Counter("cdc_binlog_session_reconnects_total",
                   "Times the connector's binlog session was replaced by a "
                   "new one (a new connection id).",
                   l, static_cast<double>(s.reconnects));
    });
  }

 private:
  KindEnv env_;
};

}  // namespace

std::unique_ptr<ProbeKind> MakeBinlogSessionKind(const KindEnv& env) {
  return std::make_unique<BinlogSessionKind>(env);
}

}  // namespace cdc
