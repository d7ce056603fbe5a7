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

std::optional<BinlogPosition> ParseRestOffsets(const std::string& body) {
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
    BinlogPosition o;
    o.file = file->get<std::string>();
    o.pos = pos->get<uint64_t>();
    if (auto ts = off->find("ts_sec"); ts != off->end() && ts->is_number()) {
      o.ts_sec = ts->get<double>();
    }
    return o;
  }
  return std::nullopt;
}

bool ParseOffsetRecord(std::string_view key, std::string_view value,
                       std::string* connector, BinlogPosition* offset) {
  // Offset records are tiny; a huge one is not ours.
  constexpr std::size_t kMaxParsedValue = 1 << 20;
  if (key.empty() || key.size() > kMaxParsedValue || value.empty() ||
      value.size() > kMaxParsedValue) {
    return false;
  }
  auto k = nlohmann::json::parse(key, nullptr, false);
  if (!k.is_array() || k.size() != 2 || !k[0].is_string()) return false;
  auto v = nlohmann::json::parse(value, nullptr, false);
  if (!v.is_object()) return false;
  auto file = v.find("file");
  auto pos = v.find("pos");
  if (file == v.end() || !file->is_string() || pos == v.end() ||
      !pos->is_number_unsigned()) {
    return false;
  }
  *connector = k[0].get<std::string>();
  offset->file = file->get<std::string>();
  offset->pos = pos->get<uint64_t>();
  offset->ts_sec = 0;
  if (auto ts = v.find("ts_sec"); ts != v.end() && ts->is_number()) {
    offset->ts_sec = ts->get<double>();
  }
  return true;
}

void RecordCommittedOffset(ObservationStore& store,
                           const std::string& connector,
                           const BinlogPosition& offset,
                           WallClock::time_point now) {
  store.Update(connector, [&](ObservationStore::Entry& e) {
    OffsetObservation& o = e.obs.offset;
    if (!o.committed || o.committed->file != offset.file ||
        o.committed->pos != offset.pos) {
      o.changed_at = UnixSeconds(now);
    }
    o.committed = offset;
  });
}

OffsetLagProbe::OffsetLagProbe(const config::Source& source,
                               const std::vector<config::Connector>& connectors,
                               const config::Config& config,
                               ObservationStore& store, Logger& log)
    : source_(source), store_(store), log_(log), session_(source) {
  for (const auto& c : connectors) {
    items_.push_back({c.name, c.connect_cluster});
    if (c.connect_cluster.empty() || clients_.count(c.connect_cluster))
      continue;
    const config::ConnectCluster* cc =
        config.FindConnectCluster(c.connect_cluster);
    if (cc == nullptr) continue;
    clients_[c.connect_cluster] = std::make_unique<connect::ConnectClient>(*cc);
    clusters_.emplace(cc->name, *cc);
  }
}

bool OffsetLagProbe::SameAs(const Probe& other) const {
  const auto* o = dynamic_cast<const OffsetLagProbe*>(&other);
  return o != nullptr && o->source_ == source_ && o->items_ == items_ &&
         o->clusters_ == clusters_;
}

void OffsetLagProbe::Cancel() {
  session_.Cancel();
  for (auto& [name, c] : clients_) c->Cancel();
}

std::optional<BinlogPosition> OffsetLagProbe::RestOffset(
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
          {{"connect_cluster", item.cluster}});
    }
  }
  return std::nullopt;
}

ProbeOutcome OffsetLagProbe::Run(const ProbeContext& ctx) {
  for (auto& [name, c] : clients_) c->Reset();
  std::string server_file;
  uint64_t server_pos = 0;
  BinlogFiles logs;
  try {
    SqlResult status;
    if (!binary_log_status_syntax_) {
      try {
        status = session_.Query("SHOW MASTER STATUS", ctx.Remaining());
      } catch (const SqlError& e) {
        if (e.code() != 1064) throw;  // syntax error: MySQL 8.4+
        binary_log_status_syntax_ = true;
      }
    }
    if (binary_log_status_syntax_) {
      status = session_.Query("SHOW BINARY LOG STATUS", ctx.Remaining());
    }
    if (status.rows.empty()) {
      return ProbeOutcome::Fail(
          "the source has no binary log (log_bin is off?) or the monitoring "
          "user lacks BINLOG MONITOR / REPLICATION CLIENT");
    }
    server_file = status.Get(0, "File").value_or("");
    server_pos = std::stoull(status.Get(0, "Position").value_or("0"));
    SqlResult files = session_.Query("SHOW BINARY LOGS", ctx.Remaining());
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
      RecordCommittedOffset(store_, item.connector, *rest, now);
    }
    store_.Update(item.connector, [&](ObservationStore::Entry& e) {
      const auto& offset = e.obs.offset.committed;
      if (!offset) return;
      auto lag = BinlogLagBytes(logs, server_file, server_pos, offset->file,
                                offset->pos);
      if (lag) e.obs.offset.lag_bytes = *lag;
    });
  }
  return ProbeOutcome::Ok();
}

namespace {

class OffsetLagKind final : public ProbeKind {
 public:
  explicit OffsetLagKind(const KindEnv& env) : env_(env) {}
  std::string_view Name() const override { return "offset_lag"; }

  void Build(const config::Config& cfg, KindParts& parts) override {
    for (const auto& src : cfg.sources) {
      std::vector<config::Connector> mine;
      for (const auto& c : cfg.connectors) {
        if (c.source == src.name) mine.push_back(c);
      }
      if (mine.empty()) continue;
      parts.probes.push_back(std::make_shared<OffsetLagProbe>(
          src, mine, cfg, env_.store, env_.log));
    }
    // The offsets topic of each Kafka cluster, for the positions of its
    // connectors (one subscription per topic: records name their connector).
    std::map<std::pair<std::string, std::string>, std::set<std::string>> topics;
    for (const auto& c : cfg.connectors) {
      topics[{c.kafka, cfg.OffsetsTopicOf(c)}].insert(c.name);
    }
    for (auto& [where, names] : topics) {
      auto wanted = std::make_shared<const std::set<std::string>>(names);
      parts.subscriptions.push_back(
          {where.first, where.second, KafkaSubscription::Start::kBeginning,
           "offsets", [&store = env_.store, wanted](const KafkaRecord& r) {
             std::string connector;
             BinlogPosition offset;
             if (ParseOffsetRecord(r.key, r.value, &connector, &offset) &&
                 wanted->count(connector) != 0) {
               RecordCommittedOffset(store, connector, offset, r.received);
             }
           }});
    }
  }

  void Collect(MetricSink& sink, WallClock::time_point) override {
    env_.store.ForEach([&](const std::string& name,
                           const ObservationStore::Entry& e) {
      const OffsetObservation& o = e.obs.offset;
      if (!o.committed && !o.lag_bytes) return;
      const MetricLabels l = ConnectorLabels(name, e);
      if (o.committed) {
        if (o.committed->ts_sec > 0) {
          sink.Gauge("cdc_source_offset_timestamp_seconds",
                     "Event time of the connector's committed binlog position.",
                     l, o.committed->ts_sec);
        }
        sink.Gauge("cdc_source_offset_last_change_timestamp_seconds",
                   "When cdc-sentinel last saw the committed position move.", l,
                   o.changed_at);
      }
      if (o.lag_bytes) {
        sink.Gauge("cdc_source_binlog_lag_bytes",
                   "Binlog bytes between the connector's committed position "
                   "and the source's current position.",
                   l, *o.lag_bytes);
      }
    });
  }

 private:
  KindEnv env_;
};

}  // namespace

std::unique_ptr<ProbeKind> MakeOffsetLagKind(const KindEnv& env) {
  return std::make_unique<OffsetLagKind>(env);
}

}  // namespace cdc
