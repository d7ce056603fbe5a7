#include "exporter/status_page.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cdc/common/clock.h"
#include "config/discovery.h"
#include "exporter/version.h"

namespace cdc {
namespace {

using nlohmann::json;

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// "ok", "bad", "warn" or "idle": the colour of a verdict's cell.
std::string VerdictClass(const Verdict& v) {
  switch (v.status) {
    case VerdictStatus::kSilentFailure:
    case VerdictStatus::kFailed:
      return "bad";
    case VerdictStatus::kInactive:
    case VerdictStatus::kLagging:
    case VerdictStatus::kMisconfigured:
      return "warn";
    case VerdictStatus::kWaiting:
    case VerdictStatus::kUnknown:
      return "idle";
    case VerdictStatus::kOk:
      break;
  }
  return "ok";
}

// Seconds since the last heartbeat was received, -1 if none ever was.
double HeartbeatAge(const ConnectorView& c, WallClock::time_point now) {
  if (c.obs.heartbeat.records == 0) return -1;
  return UnixSeconds(now) - c.obs.heartbeat.last_received;
}

// Whether the binlog session is up; nullopt if it is not watched or not
// looked for yet.
std::optional<bool> SessionUp(const ConnectorView& c) {
  if (c.config.binlog_user.empty() || !c.obs.session.observed) {
    return std::nullopt;
  }
  return c.obs.session.sessions > 0;
}

std::string Bytes(double b) {
  if (b < 0) return "–";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  std::ostringstream ss;
  ss.precision(u == 0 ? 0 : 1);
  ss << std::fixed << b << " " << units[u];
  return ss.str();
}

std::string Secs(double s) {
  std::ostringstream ss;
  ss.precision(s < 10 ? 2 : 0);
  ss << std::fixed << s << " s";
  return ss.str();
}

json ConnectorJson(const ConnectorView& c, WallClock::time_point now) {
  const MarkerObservation& m = c.obs.marker;
  const double hb_age = HeartbeatAge(c, now);
  const std::optional<bool> session = SessionUp(c);
  json j;
  j["connector"] = c.name;
  j["cohort"] = c.config.source;
  j["tls_version"] = c.verdict.tls_version;
  j["rest_state"] = c.verdict.RestState();
  j["marker_found"] = m.last_found ? json(*m.last_found) : json(nullptr);
  j["marker_latency_seconds"] =
      m.last_found && *m.last_found ? json(m.last_latency) : json(nullptr);
  j["marker_consecutive_misses"] = m.consecutive_misses;
  j["heartbeat_age_seconds"] = hb_age >= 0 ? json(hb_age) : json(nullptr);
  j["heartbeat_stale"] = HeartbeatStale(c.config, c.obs.heartbeat, now);
  j["binlog_session_up"] = session ? json(*session) : json(nullptr);
  j["binlog_lag_bytes"] =
      c.obs.offset.lag_bytes ? json(*c.obs.offset.lag_bytes) : json(nullptr);
  j["silent_failure"] = c.verdict.silent_failure;
  j["verdict"] = c.verdict.StatusText();
  j["verdict_state"] = std::string(ToString(c.verdict.state));
  j["reason"] = c.verdict.ReasonText();
  j["stall_window_seconds"] = c.verdict.window_s;
  j["marker_pending_age_seconds"] = c.verdict.pending_age_s;
  j["marker_late_total"] = m.late;
  j["last_output_timestamp_seconds"] = c.obs.progress.last_output > 0
                                           ? json(c.obs.progress.last_output)
                                           : json(nullptr);
  return j;
}

}  // namespace

std::string StatusJson(App& app) {
  const auto now = WallClock::now();
  json j;
  j["generated_at"] = UnixSeconds(now);
  j["version"] = kVersion;
  j["connectors"] = json::array();
  for (const auto& c : app.Connectors(now)) {
    j["connectors"].push_back(ConnectorJson(c, now));
  }
  j["discovery"] = json::array();
  for (const auto& [cluster, outcome] : app.Discovery()) {
    for (const auto& f : outcome.findings) {
      j["discovery"].push_back(
          {{"connect_cluster", cluster},
           {"connector", f.connector},
           {"result", std::string(config::DiscoveryResultName(f.result))},
           {"reason", f.reason}});
    }
  }
  j["probes"] = json::array();
  for (const auto& p : app.ProbeStatuses()) {
    j["probes"].push_back(
        {{"probe", p.kind},
         {"target", p.target},
         {"success", p.has_result ? json(p.success) : json(nullptr)},
         {"error", p.success ? "" : p.last_error},
         {"last_run_timestamp_seconds", p.last_run_ts}});
  }
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

namespace {

void WriteHead(std::ostringstream& h, int silent, int refresh_seconds) {
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta http-equiv=\"refresh\" content=\"" << refresh_seconds << "\">"
    << "<meta name=\"viewport\" content=\"width=device-width\">"
    << "<title>" << (silent ? "(" + std::to_string(silent) + " SILENT) " : "")
    << "cdc-sentinel</title><style>\n"
    << "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    << "h1{font-size:1.4em;margin:0 0 .2em}nav a{margin-right:1em}"
    << "table{border-collapse:collapse;margin:1em 0;font-size:.95em}"
    << "th,td{border:1px solid #ccc;padding:.35em .6em;text-align:left}"
    << "th{background:#f3f3f3}td.num{text-align:right}"
    << ".ok{background:#d9f2d9}.bad{background:#f8c9c9;font-weight:bold}"
    << ".warn{background:#fbe7b5}.idle{background:#eee;color:#666}"
    << ".reason{color:#555;font-size:.85em}footer{color:#777;font-size:.85em}"
    << "\n</style></head><body>\n"
    << "<h1>cdc-sentinel</h1>\n<nav><a href=\"metrics\">Metrics</a>"
    << "<a href=\"api/v1/status\">Status as JSON</a>"
    << "<a href=\"-/healthy\">Health</a><a "
       "href=\"-/ready\">Readiness</a></nav>\n";
}

void WriteConnectorRow(std::ostringstream& h, const ConnectorView& c,
                       WallClock::time_point now) {
  const Verdict& v = c.verdict;
  const MarkerObservation& m = c.obs.marker;
  std::string marker = "–", mclass = "idle";
  if (m.last_found) {
    marker = *m.last_found ? "found in " + Secs(m.last_latency) : "NOT FOUND";
    mclass = *m.last_found ? "ok" : "bad";
  }
  const bool listed = v.rest.source == RestObservation::Source::kListed;
  const std::string rclass = !listed                  ? "idle"
                             : v.rest.ClaimsRunning() ? "ok"
                                                      : "warn";
  std::string session = "–", sclass = "idle";
  if (const std::optional<bool> up = SessionUp(c)) {
    session = *up ? "up" : "DOWN";
    sclass = *up ? "ok" : "bad";
  }
  const double hb_age = HeartbeatAge(c, now);
  const std::string hclass = hb_age < 0 ? "idle"
                             : HeartbeatStale(c.config, c.obs.heartbeat, now)
                                 ? "bad"
                                 : "ok";
  const bool no_api = v.rest.source == RestObservation::Source::kNoApi;
  h << "<tr data-connector=\"" << Esc(c.name) << "\" data-verdict=\""
    << Esc(v.StatusText()) << "\"><td>" << Esc(c.name)
    << (c.config.discovered ? " <span class=\"reason\">(discovered)</span>"
                            : "")
    << "</td><td>" << Esc(c.config.source) << "</td><td>" << Esc(v.tls_version)
    << "</td><td class=\"" << rclass << "\">"
    << Esc(no_api ? "no REST API" : v.RestState()) << "</td><td class=\""
    << mclass << "\">" << marker << "</td><td class=\"num\">"
    << m.consecutive_misses << "</td><td class=\"num " << hclass << "\">"
    << (hb_age >= 0 ? Secs(hb_age) : "–") << "</td><td class=\"" << sclass
    << "\">" << session << "</td><td class=\"num\">"
    << Bytes(c.obs.offset.lag_bytes.value_or(-1)) << "</td><td class=\"verdict "
    << VerdictClass(v) << "\">" << v.StatusText() << "<div class=\"reason\">"
    << Esc(v.ReasonText()) << "</div></td></tr>\n";
}

bool BlindSpot(config::DiscoveryResult r) {
  using R = config::DiscoveryResult;
  return r == R::kCanaryNotCaptured || r == R::kIncomplete ||
         r == R::kDuplicatePrefix;
}

// Per discovering Connect cluster: the count of each result, and a row for
// every Debezium MySQL connector that cannot be watched, with the reason
// (CdcConnectorNotMonitored). All findings are in /api/v1/status.
void WriteDiscovery(
    std::ostringstream& h,
    const std::map<std::string, config::DiscoveryOutcome>& discovery) {
  if (discovery.empty()) return;
  h << "<h2>Discovery</h2>\n";
  bool any_blind = false;
  for (const auto& [cluster, outcome] : discovery) {
    std::map<config::DiscoveryResult, int> n;
    for (const auto& f : outcome.findings) {
      ++n[f.result];
      any_blind = any_blind || BlindSpot(f.result);
    }
    h << "<p>Kafka Connect cluster <b>" << Esc(cluster) << "</b> lists "
      << outcome.findings.size() << " connector(s):";
    for (auto r : config::kAllDiscoveryResults) {
      if (n[r] > 0)
        h << " " << n[r] << " " << config::DiscoveryResultName(r) << ";";
    }
    h << "</p>\n";
  }
  if (!any_blind) return;
  h << "<table id=\"discovery\"><thead><tr><th>Connect cluster</th>"
       "<th>Connector</th><th>Not watched because</th></tr></thead><tbody>\n";
  for (const auto& [cluster, outcome] : discovery) {
    for (const auto& f : outcome.findings) {
      if (!BlindSpot(f.result)) continue;
      h << "<tr data-connector=\"" << Esc(f.connector) << "\"><td>"
        << Esc(cluster) << "</td><td>" << Esc(f.connector)
        << "</td><td class=\"warn\">" << config::DiscoveryResultName(f.result)
        << "<div class=\"reason\">" << Esc(f.reason) << "</div></td></tr>\n";
    }
  }
  h << "</tbody></table>\n";
}

void WriteProbeTable(std::ostringstream& h,
                     const std::vector<Scheduler::Status>& probes) {
  h << "<h2>Probes</h2>\n<table id=\"probes\"><thead><tr><th>Probe</th>"
       "<th>Target</th><th>Last run</th><th>Error</th></tr></thead><tbody>\n";
  for (const auto& p : probes) {
    const std::string cls = !p.has_result ? "idle" : p.success ? "ok" : "bad";
    h << "<tr><td>" << Esc(p.kind) << "</td><td>" << Esc(p.target)
      << "</td><td class=\"" << cls << "\">"
      << (!p.has_result ? "pending"
          : p.success   ? "ok"
                        : "failed")
      << "</td><td>" << Esc(p.success ? "" : p.last_error) << "</td></tr>\n";
  }
  h << "</tbody></table>\n";
}

}  // namespace

std::string StatusHtml(App& app, int refresh_seconds) {
  const auto now = WallClock::now();
  const auto connectors = app.Connectors(now);
  int silent = 0;
  for (const auto& c : connectors) silent += c.verdict.silent_failure ? 1 : 0;
  std::ostringstream h;
  WriteHead(h, silent, refresh_seconds);
  h << "<h2>Connectors</h2>\n";
  if (connectors.empty()) {
    h << "<p>No connectors configured (only the Kafka Connect REST status is "
         "watched; see the metrics).</p>\n";
  } else {
    h << "<table id=\"connectors\"><thead><tr><th>Connector</th><th>Source "
         "(cohort)</th><th>TLS</th><th>REST state</th><th>Last marker</th>"
         "<th>Misses in a row</th><th>Heartbeat age</th><th>Binlog session</th>"
         "<th>Binlog lag</th><th>Verdict</th></tr></thead><tbody>\n";
    for (const auto& c : connectors) WriteConnectorRow(h, c, now);
    h << "</tbody></table>\n";
  }
  WriteDiscovery(h, app.Discovery());
  WriteProbeTable(h, app.ProbeStatuses());
  h << "<footer>cdc-sentinel " << kVersion << " (" << kRevision
    << "). This page reloads every " << refresh_seconds
    << " s. How the verdict is reached: docs/verdict.md.</footer>\n"
    << "</body></html>\n";
  return h.str();
}

}  // namespace cdc
