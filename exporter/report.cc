#include "exporter/report.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "cdc/common/duration.h"
#include "config/url.h"
#include "probes/connect_client.h"
#include "probes/upstream_http.h"

namespace cdc {
namespace {

using nlohmann::json;

// Runs an instant query, bounded as every upstream request (head, body and
// the whole exchange within `timeout`); returns (labels, value) per series.
std::vector<std::pair<std::map<std::string, std::string>, double>> Query(
    upstream::HttpClient& cli, std::chrono::seconds timeout,
    const std::string& promql) {
  upstream::HttpRequest req;
  req.method = "POST";
  req.target = "/api/v1/query";
  req.headers = {{"Accept", "application/json"},
                 {"Content-Type", "application/x-www-form-urlencoded"}};
  // Percent-encoding every reserved byte is valid form encoding.
  req.body = "query=" + connect::EncodePathSegment(promql);
  const upstream::HttpResult res =
      cli.Send(req, std::chrono::steady_clock::now() + timeout);
  if (!res.ok) {
    throw std::runtime_error("cannot query Prometheus at " + cli.Origin() +
                             ": " + res.error);
  }
  auto j = json::parse(res.body, nullptr, false);
  if (res.status != 200 || !j.is_object() ||
      j.value("status", "") != "success") {
    std::string why = j.is_object() ? j.value("error", "") : "";
    throw std::runtime_error("Prometheus answered HTTP " +
                             std::to_string(res.status) + " to " + promql +
                             (why.empty() ? "" : ": " + why));
  }
  std::vector<std::pair<std::map<std::string, std::string>, double>> out;
  for (const auto& r : j["data"]["result"]) {
    std::map<std::string, std::string> labels;
    for (const auto& [k, v] : r["metric"].items())
      labels[k] = v.get<std::string>();
    const std::string v = r["value"][1].get<std::string>();
    out.emplace_back(std::move(labels), std::strtod(v.c_str(), nullptr));
  }
  return out;
}

std::string Pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %%", x * 100);
  return buf;
}

std::string Num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f", x);
  return buf;
}

std::string Lat(const std::optional<double>& x) {
  if (!x || std::isnan(*x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f s", *x);
  return buf;
}

json RowJson(const ReportRow& r) {
  json j;
  if (!r.connector.empty()) j["connector"] = r.connector;
  j["tls_version"] = r.tls_version;
  // increase() extrapolates to the range's edges: counts are rounded.
  j["checks"] = std::llround(r.checks);
  j["failures"] = std::llround(r.failures);
  j["failure_rate"] = r.FailureRate();
  j["solo_failures"] = std::llround(r.solo);
  j["shared_failures"] = std::llround(r.shared);
  auto opt = [](const std::optional<double>& x) {
    return x && !std::isnan(*x) ? json(*x) : json(nullptr);
  };
  j["latency_seconds"] = {
      {"p50", opt(r.p50)}, {"p95", opt(r.p95)}, {"p99", opt(r.p99)}};
  return j;
}

}  // namespace

Report BuildReport(const std::string& prometheus_url, const std::string& range,
                   int timeout_seconds) {
  std::string why;
  auto url = config::ParseHttpUrl(prometheus_url, &why);
  if (!url)
    throw std::runtime_error("--prometheus " + prometheus_url + ": " + why);
  if (!ParseDuration(range)) {
    throw std::runtime_error("--range " + range + ": not a duration (e.g. 1h)");
  }
  upstream::HttpEndpoint endpoint;
  endpoint.url = *url;  // https: verified against the system trust store
  upstream::HttpLimits limits;
  limits.max_body_bytes = kReportMaxResponseBytes;
  upstream::HttpClient cli(endpoint, limits);
  const std::chrono::seconds timeout(timeout_seconds);
  Report report;
  report.range = range;
  const std::string probes =
      "increase(cdc_marker_probes_total{result=~\"found|not_found\"}[" + range +
      "])";
  const std::string misses =
      "increase(cdc_marker_probes_total{result=\"not_found\"}[" + range + "])";
  const std::string buckets =
      "increase(cdc_marker_latency_seconds_bucket[" + range + "])";

  for (const bool per_connector : {false, true}) {
    const std::string by =
        per_connector ? "connector, tls_version" : "tls_version";
    std::map<std::pair<std::string, std::string>, ReportRow> rows;
    auto row = [&](const std::map<std::string, std::string>& l) -> ReportRow& {
      const std::string c =
          per_connector && l.count("connector") ? l.at("connector") : "";
      const std::string t =
          l.count("tls_version") ? l.at("tls_version") : "unknown";
      ReportRow& r = rows[{t, c}];
      r.connector = c;
      r.tls_version = t;
      return r;
    };
    for (auto& [l, v] :
         Query(cli, timeout, "sum by (" + by + ") (" + probes + ")"))
      row(l).checks = v;
    for (auto& [l, v] :
         Query(cli, timeout, "sum by (" + by + ") (" + misses + ")"))
      row(l).failures = v;
    for (auto& [l, v] :
         Query(cli, timeout,
               "sum by (" + by +
                   ") (increase(cdc_cohort_failures_total{kind=\"solo\"}[" +
                   range + "]))"))
      row(l).solo = v;
    for (auto& [l, v] :
         Query(cli, timeout,
               "sum by (" + by +
                   ") (increase(cdc_cohort_failures_total{kind=\"shared\"}[" +
                   range + "]))"))
      row(l).shared = v;
    for (const auto& [q, field] :
         {std::pair<const char*, int>{"0.5", 0}, {"0.95", 1}, {"0.99", 2}}) {
      for (auto& [l, v] :
           Query(cli, timeout,
                 "histogram_quantile(" + std::string(q) + ", sum by (" + by +
                     ", le) (" + buckets + "))")) {
        ReportRow& r = row(l);
        (field == 0 ? r.p50 : field == 1 ? r.p95 : r.p99) = v;
      }
    }
    for (auto& [k, r] : rows)
      (per_connector ? report.by_connector : report.by_tls).push_back(r);
  }
  return report;
}

std::string FormatReportTable(const Report& r) {
  std::ostringstream out;
  auto table = [&](const std::vector<ReportRow>& rows, bool per_connector) {
    char line[512];
    std::snprintf(line, sizeof(line),
                  "%-28s %-5s %7s %8s %9s %5s %7s %8s %8s %8s\n",
                  per_connector ? "CONNECTOR" : "", "TLS", "CHECKS", "FAILURES",
                  "RATE", "SOLO", "SHARED", "P50", "P95", "P99");
    out << line;
    for (const auto& x : rows) {
      std::snprintf(line, sizeof(line),
                    "%-28s %-5s %7s %8s %9s %5s %7s %8s %8s %8s\n",
                    per_connector ? x.connector.c_str() : "(all)",
                    x.tls_version.c_str(), Num(x.checks).c_str(),
                    Num(x.failures).c_str(), Pct(x.FailureRate()).c_str(),
                    Num(x.solo).c_str(), Num(x.shared).c_str(),
                    Lat(x.p50).c_str(), Lat(x.p95).c_str(), Lat(x.p99).c_str());
      out << line;
    }
  };
  out << "End-to-end marker checks over the last " << r.range
      << "\n\nBy TLS version\n";
  table(r.by_tls, false);
  out << "\nBy connector\n";
  table(r.by_connector, true);
  out << "\nSOLO: missed while another connector of the same source got the "
         "marker; "
         "SHARED: all missed.\n";
  return out.str();
}

std::string FormatReportJson(const Report& r) {
  json j;
  j["range"] = r.range;
  j["by_tls_version"] = json::array();
  for (const auto& x : r.by_tls) j["by_tls_version"].push_back(RowJson(x));
  j["by_connector"] = json::array();
  for (const auto& x : r.by_connector) j["by_connector"].push_back(RowJson(x));
  return j.dump(2) + "\n";
}

int RunReportCommand(int argc, const char* const* argv) {
  std::string prometheus, range = "1h", format = "table";
  int timeout = 30;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i], v;
    const auto eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "-h" && a != "--help") {
      if (i + 1 >= argc) {
        std::cerr << "cdc-sentinel report: flag " << a << " needs a value\n";
        return 2;
      }
      v = argv[++i];
    }
    if (a == "-h" || a == "--help") {
      std::cout
          << "usage: cdc-sentinel report --prometheus URL [--range 1h] "
             "[--format table|json] [--timeout 30]\n\nPrints marker checks, "
             "failures, failure rate, solo and shared failures and delivery "
             "latency percentiles per TLS version and per connector, from the "
             "Prometheus that scrapes cdc-sentinel. --timeout: seconds each "
             "query may take, from connect to last byte.\n";
      return 0;
    } else if (a == "--prometheus") {
      prometheus = v;
    } else if (a == "--range") {
      range = v;
    } else if (a == "--format") {
      format = v;
    } else if (a == "--timeout") {
      timeout = std::atoi(v.c_str());
    } else {
      std::cerr << "cdc-sentinel report: unknown flag " << a << "\n";
      return 2;
    }
  }
  if (prometheus.empty()) {
    std::cerr << "cdc-sentinel report: --prometheus URL is required\n";
    return 2;
  }
  if (format != "table" && format != "json") {
    std::cerr << "cdc-sentinel report: --format must be table or json\n";
    return 2;
  }
  try {
    Report r = BuildReport(prometheus, range, timeout > 0 ? timeout : 30);
    std::cout << (format == "json" ? FormatReportJson(r)
                                   : FormatReportTable(r));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cdc-sentinel report: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace cdc
