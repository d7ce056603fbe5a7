#include "probes/marker_probe.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

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

bool KeyHoldsId(std::string_view key, std::string_view id) {
  // JSON ({"id":"..."}) or Avro (length-prefixed bytes) keys hold the id
  // as is; it must not go on (".../1m" is in the key of ".../1m30s").
  for (std::size_t at = key.find(id); at != std::string_view::npos;
       at = key.find(id, at + 1)) {
    const std::size_t end = at + id.size();
    if (end == key.size()) return true;
    const char next = key[end];
    if (!std::isalnum(static_cast<unsigned char>(next)) && next != '/' &&
        next != '-' && next != '.' && next != '_') {
      return true;
    }
  }
  return false;  // also a record without a key
}

bool MarkerProbe::IsSetupError(unsigned code) {
  switch (code) {
    case 1036:  // table is read only
    case 1044:  // access denied to the database
    case 1045:  // access denied for the user (wrong password, no account)
    case 1049:  // unknown database
    case 1054:  // unknown column (a canary table of another shape)
    case 1142:  // command denied (no INSERT/UPDATE/CREATE)
    case 1143:  // column access denied
    case 1146:  // no such table (canary.create off)
    case 1227:  // a privilege is missing
    case 1290:  // --read-only (e.g. an Aurora reader endpoint)
    case 1792:  // read-only transaction
      return true;
    default:
      return false;  // the server is unreachable, busy or timed out
  }
}

MarkerProbe::MarkerProbe(const config::Source& source,
                         std::chrono::milliseconds interval,
                         std::vector<std::string> connectors,
                         MarkerLedger& ledger, Logger& log)
    : source_(source),
      interval_(interval),
      connectors_(std::move(connectors)),
      target_(source.name + "/" + FormatDuration(interval)),
      row_id_(RowId(interval)),
      ledger_(ledger),
      log_(log),
      session_(source) {}

bool MarkerProbe::SameAs(const Probe& other) const {
  const auto* o = dynamic_cast<const MarkerProbe*>(&other);
  return o != nullptr && o->source_ == source_ && o->interval_ == interval_ &&
         o->connectors_ == connectors_;
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
  try {
    if (!canary_ready_ && source_.canary.create) {
      session_.Query("CREATE DATABASE IF NOT EXISTS " +
                         QuoteIdentifier(source_.canary.database),
                     ctx.Remaining());
      session_.Query(CreateTableSql(source_.canary), ctx.Remaining());
      canary_ready_ = true;
    }
    const std::string token = MarkerLedger::NewToken();
    // Timed from before the write: the row cannot reach the binlog sooner.
    const auto written_at = WallClock::now();
    session_.Execute(UpsertSql(source_.canary), {row_id_, token},
                     ctx.Remaining());
    ledger_.Expect(token, written_at, connectors_);
    log_.Debug("marker written", {{"source", source_.name}, {"token", token}});
    return ProbeOutcome::Ok();
  } catch (const SqlError& e) {
    canary_ready_ = false;
    const std::string why = "cannot write the marker to " +
                            source_.canary.database + "." +
                            source_.canary.table + ": " + e.what();
    ledger_.WriteFailed(connectors_, IsSetupError(e.code()), why);
    return ProbeOutcome::Fail(why);
  }
}

namespace {

class MarkerKind final : public ProbeKind {
 public:
  explicit MarkerKind(const KindEnv& env)
      : env_(env), ledger_(env.store, env.log) {}
  std::string_view Name() const override { return "marker"; }

  void Build(const config::Config& cfg, KindParts& parts) override {
    std::set<std::string> kafka_clusters;
    for (const auto& src : cfg.sources) {
      // One probe per marker interval of the source's connectors.
      std::map<std::chrono::milliseconds, std::vector<std::string>> by_interval;
      for (const auto& c : cfg.connectors) {
        if (c.source != src.name || !c.marker.enabled) continue;
        by_interval[c.marker.interval].push_back(c.name);
        kafka_clusters.insert(c.kafka);
        KafkaSubscription sub{
            c.kafka, c.MarkerTopic(src.canary), KafkaSubscription::Start::kEnd,
            "marker",
            [this, name = c.name](const KafkaRecord& r) { OnRecord(name, r); }};
        sub.connector = c.name;
        // The exporter's marker row has one key, so Debezium writes it to
        // one partition: the only one read once seen (KafkaWatcher). Read
        // all again after a miss.
        sub.locate_key = RowId(c.marker.interval);
        sub.locates = [row = sub.locate_key](const KafkaRecord& r) {
          return KeyHoldsId(r.key, row);
        };
        sub.waiting = [&store = env_.store, name = c.name] {
          bool waiting = false;
          store.Read(name, [&](const ObservationStore::Entry& e) {
            const double since = e.obs.marker.unanswered_since;
            const auto& r = e.obs.progress.responses;
            const double usual =
                r.empty() ? 0 : *std::max_element(r.begin(), r.end());
            waiting =
                since > 0 && UnixSeconds(WallClock::now()) - since > usual;
          });
          return waiting;
        };
        sub.overdue = [&store = env_.store, name = c.name] {
          bool missed = false;
          store.Read(name, [&](const ObservationStore::Entry& e) {
            missed = e.obs.marker.consecutive_misses > 0;
          });
          return missed;
        };
        sub.on_metadata = [&store = env_.store, name = c.name](int n) {
          store.Update(name, [n](ObservationStore::Entry& e) {
            e.obs.marker.topic_partitions = n;
          });
        };
        parts.subscriptions.push_back(std::move(sub));
      }
      for (const auto& [interval, names] : by_interval) {
        parts.probes.push_back(std::make_shared<MarkerProbe>(
            src, interval, names, ledger_, env_.log));
      }
    }
    // Overdue markers are judged promptly, whatever the traffic.
    for (const auto& kafka : kafka_clusters) {
      parts.tickers.emplace_back(
          kafka, [&ledger = ledger_](WallClock::time_point now) {
            ledger.Expire(now);
          });
    }
    parts.commits.push_back(
        [this, connectors = cfg.connectors] { ledger_.Retain(connectors); });
  }

  void Collect(MetricSink& sink, WallClock::time_point now) override {
    ledger_.Expire(now);
    env_.store.ForEach(
        [&](const std::string& name, const ObservationStore::Entry& e) {
          if (e.config.marker.enabled) CollectConnector(sink, name, e, now);
        });
  }

 private:
  // Any record on the marker topic is output of the connector; the ledger
  // looks for tokens in it while one of its markers has not arrived.
  void OnRecord(const std::string& name, const KafkaRecord& r) {
    if (ledger_.Awaiting(name)) {
      ledger_.OnRecord(name, r.value, r.received);
      ledger_.OnRecord(name, r.key, r.received);
    }
    env_.store.Update(name, [&](ObservationStore::Entry& e) {
      if (e.obs.marker.topic_seen_at == 0) {
        e.obs.marker.topic_seen_at = UnixSeconds(r.received);
      }
      RecordOutput(e.obs, e.config, r.produced, r.received);
    });
  }

  static void CollectConnector(MetricSink& sink, const std::string& name,
                               const ObservationStore::Entry& e,
                               WallClock::time_point now) {
    const MarkerObservation& m = e.obs.marker;
    const MetricLabels l = ConnectorLabels(name, e);
    const double now_s = UnixSeconds(now);
    sink.Counter("cdc_marker_late_total",
                 "Markers that arrived after their timeout (still observed in "
                 "cdc_marker_latency_seconds).",
                 l, static_cast<double>(m.late));
    sink.Gauge(
        "cdc_marker_pending_age_seconds",
        "Age of the oldest marker written to the source and not yet "
        "seen in the connector's topic (0: none pending).",
        l, m.pending_since > 0 ? std::max(0.0, now_s - m.pending_since) : 0.0);
    if (m.last_found) {
      sink.Gauge("cdc_marker_success",
                 "1 if the last marker written to the source arrived in the "
                 "connector's topic within the timeout, 0 if not.",
                 l, *m.last_found ? 1 : 0);
      sink.Gauge("cdc_marker_last_latency_seconds",
                 "Time from writing the last delivered marker to seeing it "
                 "in Kafka.",
                 l, m.last_latency);
    }
    sink.Gauge("cdc_marker_consecutive_misses",
               "Markers in a row not delivered within the timeout.", l,
               m.consecutive_misses);
    sink.Histogram("cdc_marker_latency_seconds",
                   "Time from writing a marker to the source to seeing it "
                   "in the connector's Kafka topic.",
                   l, m.latency);
    const std::pair<const char*, uint64_t> results[] = {
        {"found", m.found}, {"not_found", m.not_found}, {"error", m.errors}};
    for (const auto& [result, n] : results) {
      MetricLabels rl = l;
      rl.emplace_back("result", result);
      sink.Counter("cdc_marker_probes_total",
                   "Marker rounds by result: found (in time), not_found "
                   "(not within the timeout), error (could not write it).",
                   rl, static_cast<double>(n));
    }
    if (m.last_success_ts > 0) {
      sink.Gauge("cdc_marker_last_success_timestamp_seconds",
                 "When a marker last arrived within its timeout.", l,
                 m.last_success_ts);
    }
    const std::pair<const char*, uint64_t> cohort[] = {{"solo", m.solo},
                                                       {"shared", m.shared}};
    for (const auto& [kind, n] : cohort) {
      MetricLabels cl = {{"cohort", e.config.source}};
      cl.insert(cl.end(), l.begin(), l.end());
      cl.emplace_back("kind", kind);
      sink.Counter("cdc_cohort_failures_total",
                   "Missed markers by kind: solo (another connector of the "
                   "same source got the same marker) or shared (all "
                   "missed it).",
                   cl, static_cast<double>(n));
    }
  }

  KindEnv env_;
  MarkerLedger ledger_;
};

}  // namespace

std::unique_ptr<ProbeKind> MakeMarkerKind(const KindEnv& env) {
  return std::make_unique<MarkerKind>(env);
}

}  // namespace cdc
