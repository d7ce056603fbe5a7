#include "probes/marker_probe.h"

#include <unistd.h>

#include "cdc/common/duration.h"

namespace cdc {
namespace {

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string RowId(std::chrono::milliseconds interval) {
  // At most 64 characters (the id column).
  std::string host = Hostname().substr(0, 40);
  return "cdc-sentinel/" + host + "/" + FormatDuration(interval);
}

}  // namespace

MarkerProbe::MarkerProbe(const config::Source& source,
                         std::chrono::milliseconds interval,
                         std::vector<std::string> connectors,
                         PipelineState& state, Logger& log)
    : source_(source),
      interval_(interval),
      connectors_(std::move(connectors)),
      target_(source.name + "/" + FormatDuration(interval)),
      row_id_(RowId(interval)),
      state_(state),
      log_(log),
      session_(source) {}

std::string MarkerProbe::Fingerprint() const {
  std::string f = SourceFingerprint(source_);
  for (const auto& c : connectors_) f += "|" + c;
  return f;
}

std::string MarkerProbe::CreateTableSql(const config::Canary& c) {
  return "CREATE TABLE IF NOT EXISTS " + QuoteIdentifier(c.database) + "." +
         QuoteIdentifier(c.table) +
         " (id VARCHAR(64) NOT NULL PRIMARY KEY,"
         " token VARCHAR(64) NOT NULL,"
         " created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
         " ON UPDATE CURRENT_TIMESTAMP(6))";
}

std::string MarkerProbe::UpsertSql(const config::Canary& c) {
  return "INSERT INTO " + QuoteIdentifier(c.database) + "." +
         QuoteIdentifier(c.table) +
         " (id, token) VALUES (?, ?) ON DUPLICATE KEY UPDATE token = "
         "VALUES(token)";
}

ProbeOutcome MarkerProbe::Run(const ProbeContext& ctx) {
  auto remaining = [&] {
    return std::max(std::chrono::milliseconds(100),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        ctx.deadline - std::chrono::steady_clock::now()));
  };
  try {
    if (!canary_ready_ && source_.canary.create) {
      session_.Query("CREATE DATABASE IF NOT EXISTS " +
                         QuoteIdentifier(source_.canary.database),
                     remaining());
      session_.Query(CreateTableSql(source_.canary), remaining());
      canary_ready_ = true;
    }
    const std::string token = PipelineState::NewToken();
    // Timed from before the write: the row cannot reach the binlog sooner.
    const auto written_at = WallClock::now();
    session_.Execute(UpsertSql(source_.canary), {row_id_, token}, remaining());
    state_.ExpectMarker(token, written_at, connectors_);
    log_.Debug("marker written", {{"source", source_.name}, {"token", token}});
    return ProbeOutcome::Ok();
  } catch (const SqlError& e) {
    canary_ready_ = false;
    state_.MarkerWriteFailed(connectors_);
    return ProbeOutcome::Fail("cannot write the marker to " +
                              source_.canary.database + "." +
                              source_.canary.table + ": " + e.what());
  }
}

}  // namespace cdc
