#include "probes/offset_lag_probe.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace cdc {

std::optional<double> BinlogLagBytes(const BinlogFiles& logs,
                                     const std::string& server_file,
                                     uint64_t server_pos,
                                     const std::string& file, uint64_t pos) {
  if (file == server_file) {
    return server_pos >= pos ? static_cast<double>(server_pos - pos) : 0.0;
  }
  std::size_t i = 0;
  while (i < logs.size() && logs[i].first != file) ++i;
  if (i == logs.size()) return std::nullopt;
  double lag =
      logs[i].second >= pos ? static_cast<double>(logs[i].second - pos) : 0;
  for (++i; i < logs.size() && logs[i].first != server_file; ++i) {
    lag += static_cast<double>(logs[i].second);
  }
  if (i == logs.size()) return std::nullopt;  // server file not listed
  return lag + static_cast<double>(server_pos);
}

std::optional<PipelineState::Offset> ParseRestOffsets(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto list = j.find("offsets");
  if (list == j.end() || !list->is_array()) return std::nullopt;
  for (const auto& e : *list) {
    if (!e.is_object()) continue;
    auto off = e.find("offset");
    if (off == e.end() || !off->is_object()) continue;
    auto file = off->find("file");
    auto pos = off->find("pos");
    if (file == off->end() || !file->is_string() || pos == off->end() ||
        !pos->is_number_unsigned()) {
      continue;
    }
    PipelineState::Offset o;
    o.file = file->get<std::string>();
    o.pos = pos->get<uint64_t>();
    if (auto ts = off->find("ts_sec"); ts != off->end() && ts->is_number()) {
      o.ts_sec = ts->get<double>();
    }
    return o;
  }
  return std::nullopt;
}

OffsetLagProbe::OffsetLagProbe(const config::Source& source,
                               const std::vector<config::Connector>& connectors,
                               const config::Config& config,
                               PipelineState& state, Logger& log)
    : source_(source), state_(state), log_(log), session_(source) {
  fingerprint_ = SourceFingerprint(source);
  for (const auto& c : connectors) {
    items_.push_back({c.name, c.connect_cluster});
    fingerprint_ += "|" + c.name + "@" + c.connect_cluster;
    if (c.connect_cluster.empty() || clients_.count(c.connect_cluster))
      continue;
    const config::ConnectCluster* cc =
        config.FindConnectCluster(c.connect_cluster);
    if (cc == nullptr) continue;
    clients_[c.connect_cluster] = std::make_unique<connect::ConnectClient>(*cc);
    fingerprint_ += "|" + connect::ConnectClusterFingerprint(*cc);
  }
}

void OffsetLagProbe::Cancel() {
  session_.Cancel();
  for (auto& [name, c] : clients_) c->Cancel();
}

std::optional<PipelineState::Offset> OffsetLagProbe::RestOffset(
    const Item& item, std::chrono::steady_clock::time_point deadline,
    std::set<std::string>& failed_clusters) {
  if (item.cluster.empty() || rest_offsets_unsupported_[item.cluster] ||
      failed_clusters.count(item.cluster)) {
    return std::nullopt;
  }
  auto& client = clients_.at(item.cluster);
  const std::string path =
      "/connectors/" + connect::EncodePathSegment(item.connector) + "/offsets";
  connect::HttpResult r = client->Get(path, deadline);
  if (!r.ok) {
    // REST trouble shows in cdc_connect_up; do not wait on this cluster
    // again this round: the offsets topic still gives the lag.
    failed_clusters.insert(item.cluster);
    return std::nullopt;
  }
  if (r.status == 200) return ParseRestOffsets(r.body);
  if (r.status == 404 || r.status == 405) {
    // Workers before Kafka 3.6 have no such endpoint. (A missing connector
    // is also 404; then the topic has no offsets for it either.)
    if (r.body.find("not found") == std::string::npos ||
        r.body.find(item.connector) == std::string::npos) {
      rest_offsets_unsupported_[item.cluster] = true;
      log_.Info(
          "Connect REST API has no /offsets (Kafka < 3.6); reading "
          "committed offsets from the offsets topic",
          {{"cluster", item.cluster}});
    }
  }
  return std::nullopt;
}

ProbeOutcome OffsetLagProbe::Run(const ProbeContext& ctx) {
  for (auto& [name, c] : clients_) c->Reset();
  auto remaining = [&] {
    return std::max(std::chrono::milliseconds(100),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        ctx.deadline - std::chrono::steady_clock::now()));
  };
  std::string server_file;
  uint64_t server_pos = 0;
  BinlogFiles logs;
  try {
    SqlResult status;
    if (!binary_log_status_syntax_) {
      try {
        status = session_.Query("SHOW MASTER STATUS", remaining());
      } catch (const SqlError& e) {
        if (e.code() != 1064) throw;  // syntax error: MySQL 8.4+
        binary_log_status_syntax_ = true;
      }
    }
    if (binary_log_status_syntax_) {
      status = session_.Query("SHOW BINARY LOG STATUS", remaining());
    }
    if (status.rows.empty()) {
      return ProbeOutcome::Fail(
          "the source has no binary log (log_bin is off?) or the monitoring "
          "user lacks BINLOG MONITOR / REPLICATION CLIENT");
    }
    server_file = status.Get(0, "File").value_or("");
    server_pos = std::stoull(status.Get(0, "Position").value_or("0"));
    SqlResult files = session_.Query("SHOW BINARY LOGS", remaining());
    for (std::size_t i = 0; i < files.rows.size(); ++i) {
      logs.emplace_back(files.Get(i, "Log_name").value_or(""),
                        std::stoull(files.Get(i, "File_size").value_or("0")));
    }
  } catch (const SqlError& e) {
    return ProbeOutcome::Fail(std::string("cannot read the binlog position: ") +
                              e.what());
  } catch (const std::exception& e) {
    return ProbeOutcome::Fail(std::string("bad binlog status row: ") +
                              e.what());
  }
  const auto now = WallClock::now();
  // Connect REST gets at most half of what is left: a hung worker must not
  // use up the round (the lag then comes from the offsets topic, which the
  // Kafka watcher reads anyway). docs/reliability.md.
  const auto start = std::chrono::steady_clock::now();
  const auto rest_deadline =
      start + (std::max(ctx.deadline, start) - start) / 2;
  std::set<std::string> failed_clusters;
  for (const auto& item : items_) {
    if (auto rest = RestOffset(item, rest_deadline, failed_clusters)) {
      state_.OnCommittedOffset(item.connector, *rest, now);
    }
    auto offset = state_.CommittedOffset(item.connector);
    if (!offset) continue;
    auto lag = BinlogLagBytes(logs, server_file, server_pos, offset->file,
                              offset->pos);
    if (lag) state_.OnBinlogLag(item.connector, *lag);
  }
  return ProbeOutcome::Ok();
}

}  // namespace cdc
