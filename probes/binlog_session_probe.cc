#include "probes/binlog_session_probe.h"

#include <set>

namespace cdc {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(WallClock::now().time_since_epoch())
      .count();
}

}  // namespace

BinlogSessionProbe::BinlogSessionProbe(
    const config::Source& source, std::map<std::string, std::string> connectors,
    PipelineState& state, Logger& log)
    : source_(source),
      connectors_(std::move(connectors)),
      state_(state),
      log_(log),
      session_(source) {}

std::string BinlogSessionProbe::Fingerprint() const {
  std::string f = SourceFingerprint(source_);
  for (const auto& [c, u] : connectors_) f += "|" + c + "=" + u;
  return f;
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
          log_.Info(
              "performance_schema is off on the source; TLS versions of "
              "binlog sessions will be unknown",
              {{"source", source_.name}});
        }
      }
    } catch (const SqlError& e) {
      // 1142/1044: no SELECT on performance_schema; 1146: no such table.
      if (e.code() != 1142 && e.code() != 1044 && e.code() != 1146) throw;
      use_performance_schema_ = false;
      log_.Warn(
          "cannot read performance_schema; falling back to the "
          "processlist (TLS versions unknown). Grant SELECT ON "
          "performance_schema.* to the monitoring user.",
          {{"source", source_.name}, {"err", e.what()}});
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
    rows = FetchSessions(
        std::max(std::chrono::milliseconds(100),
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     ctx.deadline - std::chrono::steady_clock::now())));
  } catch (const SqlError& e) {
    return ProbeOutcome::Fail(std::string("cannot list binlog sessions: ") +
                              e.what());
  } catch (const std::exception& e) {
    return ProbeOutcome::Fail(std::string("bad binlog session row: ") +
                              e.what());
  }
  const double now = NowSeconds();
  std::set<uint64_t> present;
  for (const auto& r : rows) {
    present.insert(r.id);
    first_seen_.emplace(r.id, now);
  }
  for (auto it = first_seen_.begin(); it != first_seen_.end();) {
    it = present.count(it->first) ? std::next(it) : first_seen_.erase(it);
  }
  for (const auto& [connector, user] : connectors_) {
    std::vector<PipelineState::Session> mine;
    for (const auto& r : rows) {
      if (r.user != user) continue;
      mine.push_back({r.id, TlsLabel(r.ssl_version), first_seen_[r.id]});
    }
    state_.OnBinlogSessions(connector, mine);
  }
  return ProbeOutcome::Ok();
}

}  // namespace cdc
