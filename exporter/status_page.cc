#include "exporter/status_page.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

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

// "ok", "bad", "warn" or "idle": the colour of a cell.
std::string VerdictClass(const PipelineState::Snapshot& s) {
  if (s.verdict.silent_failure) return "bad";
  if (s.rest_state == "FAILED" || s.rest_state.rfind("TASK_", 0) == 0) {
    return "bad";
  }
  if (s.rest_state == "PAUSED" || s.rest_state == "STOPPED" ||
      s.rest_state == "UNASSIGNED" || s.rest_state == "RESTARTING") {
    return "warn";
  }
  if (!s.marker_found.has_value() && s.heartbeat_age < 0) return "idle";
  return "ok";
}

std::string VerdictText(const PipelineState::Snapshot& s) {
  const std::string cls = VerdictClass(s);
  if (s.verdict.silent_failure) return "SILENT FAILURE";
  if (cls == "bad") return "FAILED";
  if (cls == "warn") return s.rest_state;
  if (cls == "idle") return "WAITING";
  return "OK";
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

json ConnectorJson(const PipelineState::Snapshot& s) {
  json j;
  j["connector"] = s.connector;
  j["cohort"] = s.cohort;
  j["tls_version"] = s.tls_version;
  j["rest_state"] = s.rest_state;
  j["marker_found"] = s.marker_found ? json(*s.marker_found) : json(nullptr);
  j["marker_latency_seconds"] = s.marker_found && *s.marker_found
                                    ? json(s.marker_latency)
                                    : json(nullptr);
  j["marker_consecutive_misses"] = s.consecutive_misses;
  j["heartbeat_age_seconds"] =
      s.heartbeat_age >= 0 ? json(s.heartbeat_age) : json(nullptr);
  j["heartbeat_stale"] = s.heartbeat_stale;
  j["binlog_session_up"] = s.session_up ? json(*s.session_up) : json(nullptr);
  j["binlog_lag_bytes"] = s.lag_bytes >= 0 ? json(s.lag_bytes) : json(nullptr);
  j["silent_failure"] = s.verdict.silent_failure;
  j["verdict"] = VerdictText(s);
  j["reason"] = s.verdict.reason;
  return j;
}

}  // namespace

std::string StatusJson(App& app) {
  const auto now = WallClock::now();
  json j;
  j["generated_at"] =
      std::chrono::duration<double>(now.time_since_epoch()).count();
  j["version"] = kVersion;
  j["connectors"] = json::array();
  for (const auto& s : app.pipeline().Snapshots(now)) {
    j["connectors"].push_back(ConnectorJson(s));
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

std::string StatusHtml(App& app, int refresh_seconds) {
  const auto now = WallClock::now();
  const auto snaps = app.pipeline().Snapshots(now);
  int silent = 0;
  for (const auto& s : snaps) silent += s.verdict.silent_failure ? 1 : 0;
  std::ostringstream h;
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
  h << "<h2>Connectors</h2>\n";
  if (snaps.empty()) {
    h << "<p>No connectors configured (only the Kafka Connect REST status is "
         "watched; see the metrics).</p>\n";
  } else {
    h << "<table id=\"connectors\"><thead><tr><th>Connector</th><th>Source "
         "(cohort)</th><th>TLS</th><th>REST state</th><th>Last marker</th>"
         "<th>Misses in a row</th><th>Heartbeat age</th><th>Binlog session</th>"
         "<th>Binlog lag</th><th>Verdict</th></tr></thead><tbody>\n";
    for (const auto& s : snaps) {
      const std::string vc = VerdictClass(s);
      std::string marker = "–", mclass = "idle";
      if (s.marker_found) {
        marker = *s.marker_found ? "found in " + Secs(s.marker_latency)
                                 : "NOT FOUND";
        mclass = *s.marker_found ? "ok" : "bad";
      }
      std::string rclass = s.rest_state == "RUNNING" ? "ok"
                           : s.rest_state == "none" || s.rest_state == "unknown"
                               ? "idle"
                               : "warn";
      std::string session = "–", sclass = "idle";
      if (s.session_up) {
        session = *s.session_up ? "up" : "DOWN";
        sclass = *s.session_up ? "ok" : "bad";
      }
      h << "<tr data-connector=\"" << Esc(s.connector) << "\" data-verdict=\""
        << Esc(VerdictText(s)) << "\"><td>" << Esc(s.connector) << "</td><td>"
        << Esc(s.cohort) << "</td><td>" << Esc(s.tls_version)
        << "</td><td class=\"" << rclass << "\">"
        << Esc(s.rest_state == "none" ? "no REST API" : s.rest_state)
        << "</td><td class=\"" << mclass << "\">" << marker
        << "</td><td class=\"num\">" << s.consecutive_misses
        << "</td><td class=\"num "
        << (s.heartbeat_age < 0 ? "idle"
            : s.heartbeat_stale ? "bad"
                                : "ok")
        << "\">" << (s.heartbeat_age >= 0 ? Secs(s.heartbeat_age) : "–")
        << "</td><td class=\"" << sclass << "\">" << session
        << "</td><td class=\"num\">" << Bytes(s.lag_bytes)
        << "</td><td class=\"verdict " << vc << "\">" << VerdictText(s)
        << "<div class=\"reason\">" << Esc(s.verdict.reason)
        << "</div></td></tr>\n";
    }
    h << "</tbody></table>\n";
  }
  h << "<h2>Probes</h2>\n<table id=\"probes\"><thead><tr><th>Probe</th>"
       "<th>Target</th><th>Last run</th><th>Error</th></tr></thead><tbody>\n";
  for (const auto& p : app.ProbeStatuses()) {
    const std::string cls = !p.has_result ? "idle" : p.success ? "ok" : "bad";
    h << "<tr><td>" << Esc(p.kind) << "</td><td>" << Esc(p.target)
      << "</td><td class=\"" << cls << "\">"
      << (!p.has_result ? "pending"
          : p.success   ? "ok"
                        : "failed")
      << "</td><td>" << Esc(p.success ? "" : p.last_error) << "</td></tr>\n";
  }
  h << "</tbody></table>\n<footer>cdc-sentinel " << kVersion << " ("
    << kRevision << "). This page reloads every " << refresh_seconds
    << " s. How the verdict is reached: docs/verdict.md.</footer>\n"
    << "</body></html>\n";
  return h.str();
}

}  // namespace cdc
