#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cdc {

// One row of the TLS comparison report: a connector, or a whole TLS version.
struct ReportRow {
  std::string connector;  // "" for a per-TLS-version row
  std::string tls_version;
  double checks = 0;    // markers judged found or not found
  double failures = 0;  // not found
  double solo = 0;
  double shared = 0;
  std::optional<double> p50, p95, p99;  // delivery latency, seconds
  double FailureRate() const { return checks > 0 ? failures / checks : 0; }
};

struct Report {
  std::string range;
  std::vector<ReportRow> by_tls;
  std::vector<ReportRow> by_connector;
};

// The most a Prometheus answer to one of the report's queries may take
// (the series are per connector and TLS version: well under 1 MiB at 1,000
// connectors). Its head may take upstream::kMaxHeadBytes.
inline constexpr std::size_t kReportMaxResponseBytes = 64 * 1024 * 1024;

// Builds the report from Prometheus' HTTP API (instant queries over
// `range`, e.g. "1h"), each query from connect to last byte within
// `timeout_seconds`. Throws std::runtime_error with a reason, e.g. an answer
// over a limit.
Report BuildReport(const std::string& prometheus_url, const std::string& range,
                   int timeout_seconds);

std::string FormatReportTable(const Report& r);
std::string FormatReportJson(const Report& r);

// `cdc-sentinel report --prometheus URL [--range 1h] [--format table|json]`.
int RunReportCommand(int argc, const char* const* argv);

}  // namespace cdc
