#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/marker_ledger.h"
#include "probes/mysql_session.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"

namespace cdc {

// Whether a Kafka record key holds the canary row id `id` whole (not as the
// start of a longer id); false for an empty key. It tells the partition that
// an exporter's markers go to (KafkaSubscription::locates).
bool KeyHoldsId(std::string_view key, std::string_view id);

// The end-to-end marker probe for one source and marker interval: each round
// writes a new unique token into the source's canary table (one upserted row
// per exporter and interval, so the table stays bounded) and tells the
// MarkerLedger to expect it in the marker topic of every connector of that
// source; the Kafka consumer and the expiry of the deadline judge it.
// Thread-safe (see Probe).
class MarkerProbe final : public Probe {
 public:
  MarkerProbe(const config::Source& source, std::chrono::milliseconds interval,
              std::vector<std::string> connectors, MarkerLedger& ledger,
              Logger& log);

  std::string_view Kind() const override { return "marker"; }
  const std::string& Target() const override { return target_; }
  std::chrono::milliseconds Interval() const override { return interval_; }
  std::chrono::milliseconds Timeout() const override { return source_.timeout; }
  bool SameAs(const Probe& other) const override;
  ProbeOutcome Run(const ProbeContext& ctx) override;
  void Cancel() override { session_.Cancel(); }
  void Collect(MetricSink&) const override {}

  // The canary table's row for this exporter and interval.
  const std::string& row_id() const { return row_id_; }
  // Whether a failed write's MySQL error code is the setup's fault (no
  // table, no privilege, a read-only server): the verdict is then
  // "misconfigured"; any other failure leaves it "unknown".
  static bool IsSetupError(unsigned code);
  // The statements, for the docs and tests.
  static std::string CreateTableSql(const config::Canary& c);
  static std::string UpsertSql(const config::Canary& c);

 private:
  const config::Source source_;
  const std::chrono::milliseconds interval_;
  const std::vector<std::string> connectors_;
  const std::string target_;
  const std::string row_id_;
  MarkerLedger& ledger_;
  Logger& log_;
  MysqlSession session_;
  bool canary_ready_ = false;  // only touched by Run()
};

// The "marker" kind: one MarkerProbe per source and marker interval, each
// connector's marker topic read from its end, the MarkerLedger that judges
// the rounds, and the marker and cohort series.
std::unique_ptr<ProbeKind> MakeMarkerKind(const KindEnv& env);

}  // namespace cdc
