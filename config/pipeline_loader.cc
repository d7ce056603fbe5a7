#include "config/pipeline_loader.h"

#include <librdkafka/rdkafka.h>

#include <cctype>
#include <memory>
#include <optional>
#include <set>

#include "cdc/common/duration.h"
#include "cdc/common/kafka_handles.h"
#include "cdc/common/secret.h"
#include "config/discovery.h"

namespace cdc::config {
namespace {

using J = YamlReader;

// The mapping under `key`, or an undefined node if the key is absent. An
// empty value is an error rather than "all defaults".
YAML::Node Section(const YamlReader& r, const YAML::Node& map,
                   const std::string& path, const char* key) {
  YAML::Node n = map[key];
  if (n.IsDefined() && n.IsNull()) {
    r.Fail(J::At(map, key), J::Join(path, key),
           "has no value (leave the key out to use the defaults)");
  }
  return n;
}

// Asks librdkafka whether it accepts `key: value` (unknown property, bad
// value); nullopt if it does. Nothing connects.
std::optional<std::string> CheckKafkaProperty(const std::string& key,
                                              const std::string& value) {
  KafkaConf conf(rd_kafka_conf_new());
  char err[512] = {0};
  if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), err,
                        sizeof(err)) != RD_KAFKA_CONF_OK) {
    return std::string("librdkafka: ") + err;
  }
  return std::nullopt;
}

bool PlainName(const std::string& s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.') {
      return false;
    }
  }
  return !s.empty();
}

// SQL identifiers are interpolated into statements (they cannot be bound as
// parameters), so only the plainest ones are accepted.
bool SqlIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string RequiredName(const YamlReader& r, const YAML::Node& n,
                         const std::string& path) {
  std::string name = r.RequiredString(n, path, "name");
  if (!PlainName(name)) {
    r.Fail(J::At(n, "name"), J::Join(path, "name"),
           "may contain only letters, digits, '-', '_' and '.'");
  }
  return name;
}

// Durations end up added to clock time points: keep them far from overflow.
// Nothing here needs more than a day.
constexpr Duration kMaxDuration = std::chrono::hours(24);

// The duration under `key` (nullopt if absent or empty), from `min` to 24h.
std::optional<Duration> DurationIn(const YamlReader& r, const YAML::Node& map,
                                   const std::string& path, const char* key,
                                   Duration min) {
  auto d = r.DurationValue(map, path, key);
  if (d && *d < min) {
    r.Fail(J::At(map, key), J::Join(path, key),
           "must be at least " + FormatDuration(min));
  }
  if (d && *d > kMaxDuration) {
    r.Fail(J::At(map, key), J::Join(path, key),
           "must be at most " + FormatDuration(kMaxDuration));
  }
  return d;
}

// `interval` (at least 1s) and `timeout` (at least 100ms, at most the
// interval) of a probe, into the defaults given. As Prometheus does with
// scrape_timeout: a timeout left out follows an interval shorter than its
// default; one written out longer than the interval is an error.
void IntervalAndTimeout(const YamlReader& r, const YAML::Node& n,
                        const std::string& path, Duration* interval,
                        Duration* timeout) {
  const auto i = DurationIn(r, n, path, "interval", std::chrono::seconds(1));
  const auto t =
      DurationIn(r, n, path, "timeout", std::chrono::milliseconds(100));
  if (i) *interval = *i;
  if (t) *timeout = *t;
  if (*timeout <= *interval) return;
  if (t) {
    r.Fail(J::At(n, "timeout"), J::Join(path, "timeout"),
           "must not exceed interval (" + FormatDuration(*interval) + ")");
  } else {
    *timeout = *interval;
  }
}

// A Kafka topic name under `key` (nullopt if absent or empty).
std::optional<std::string> TopicName(const YamlReader& r, const YAML::Node& map,
                                     const std::string& path, const char* key) {
  auto t = r.String(map, path, key);
  if (t && !PlainName(*t)) {
    r.Fail(J::At(map, key), J::Join(path, key),
           t->empty() ? "must not be empty (leave the key out to use the "
                        "default)"
                      : "may contain only letters, digits, '-', '_' and '.' "
                        "(as Kafka topic names)");
  }
  return t;
}

template <typename T, typename F>
std::vector<T> LoadList(const YamlReader& r, const YAML::Node& root,
                        const char* key, F load) {
  std::vector<T> out;
  const YAML::Node list = root[key];
  if (!list.IsDefined() || list.IsNull()) return out;
  r.ExpectList(list, key);
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = J::Index(key, i);
    T item = load(list[i], path);
    if (!names.insert(item.name).second) {
      r.Fail(J::At(list[i], "name"), J::Join(path, "name"),
             "duplicate name \"" + item.name + "\"");
    }
    out.push_back(std::move(item));
  }
  return out;
}

Source LoadSource(const YamlReader& r, const YAML::Node& n,
                  const std::string& path) {
  r.ExpectMap(
      n, path,
      {"name", "host", "port", "user", "password", "password_file",
       "password_env", "tls", "canary", "aliases", "interval", "timeout"});
  Source s;
  s.name = RequiredName(r, n, path);
  s.host = r.RequiredString(n, path, "host");
  if (auto p = r.Int(n, path, "port", 1, 65535)) s.port = static_cast<int>(*p);
  s.user = r.RequiredString(n, path, "user");
  s.password = r.Password(n, path);
  if (auto t = Section(r, n, path, "tls"); t.IsDefined()) {
    const std::string tp = J::Join(path, "tls");
    r.ExpectMap(t, tp, {"mode", "ca_file", "cert_file", "key_file"});
    if (auto m = r.String(t, tp, "mode")) {
      if (*m != "disabled" && *m != "required" && *m != "verify_ca" &&
          *m != "verify_identity") {
        r.Fail(J::At(t, "mode"), J::Join(tp, "mode"),
               "must be one of disabled, required, verify_ca, "
               "verify_identity");
      }
      s.tls.mode = *m;
    }
    s.tls.ca_file = r.File(t, tp, "ca_file").value_or("");
    s.tls.cert_file = r.File(t, tp, "cert_file").value_or("");
    s.tls.key_file = r.File(t, tp, "key_file").value_or("");
    if (s.tls.cert_file.empty() != s.tls.key_file.empty()) {
      r.Fail(t, tp, "cert_file and key_file must be given together");
    }
    if ((s.tls.mode == "verify_ca" || s.tls.mode == "verify_identity") &&
        s.tls.ca_file.empty()) {
      r.Fail(t, J::Join(tp, "ca_file"),
             "is required when mode is " + s.tls.mode);
    }
  }
  if (auto c = Section(r, n, path, "canary"); c.IsDefined()) {
    const std::string cp = J::Join(path, "canary");
    r.ExpectMap(c, cp, {"database", "table", "create"});
    for (const char* key : {"database", "table"}) {
      if (auto v = r.String(c, cp, key)) {
        if (!SqlIdentifier(*v)) {
          r.Fail(J::At(c, key), J::Join(cp, key),
                 "must be 1 to 64 letters, digits or '_'");
        }
        (std::string_view(key) == "database" ? s.canary.database
                                             : s.canary.table) = *v;
      }
    }
    s.canary.create = r.Bool(c, cp, "create").value_or(true);
  }
  if (auto a = n["aliases"]; a.IsDefined() && !a.IsNull()) {
    const std::string ap = J::Join(path, "aliases");
    if (!a.IsSequence()) r.Fail(a, ap, "must be a list of \"host:port\"");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string at = J::Index(ap, i);
      if (!a[i].IsScalar() || !ParseHostPort(a[i].Scalar())) {
        r.Fail(a[i], at,
               "must be \"host:port\" (the database.hostname and "
               "database.port a connector uses to reach this server)");
      }
      s.aliases.push_back(a[i].Scalar());
    }
  }
  IntervalAndTimeout(r, n, path, &s.interval, &s.timeout);
  return s;
}

bool SecretProperty(const std::string& key) {
  return key.find("password") != std::string::npos ||
         key.find("secret") != std::string::npos ||
         key.find("sasl.jaas.config") != std::string::npos;
}

bool ReservedProperty(const std::string& key) {
  return key == "bootstrap.servers" || key == "group.id" ||
         key == "enable.auto.commit";
}

KafkaCluster LoadKafka(const YamlReader& r, const YAML::Node& n,
                       const std::string& path) {
  r.ExpectMap(
      n, path,
      {"name", "bootstrap_servers", "properties", "secret_properties_files",
       "offsets_topic", "topics_per_consumer", "interval", "timeout"});
  KafkaCluster k;
  k.name = RequiredName(r, n, path);
  k.bootstrap_servers = r.RequiredString(n, path, "bootstrap_servers");
  IntervalAndTimeout(r, n, path, &k.interval, &k.timeout);
  if (auto p = n["properties"]; p.IsDefined() && !p.IsNull()) {
    const std::string pp = J::Join(path, "properties");
    if (!p.IsMap()) r.Fail(p, pp, "must be a mapping of librdkafka properties");
    for (const auto& kv : p) {
      const std::string key = kv.first.Scalar();
      const std::string kp = J::Join(pp, key);
      // An empty value's position is the next token: point at the key.
      if (kv.second.IsNull()) r.Fail(kv.first, kp, "has no value");
      if (!kv.second.IsScalar()) r.Fail(kv.second, kp, "must be a string");
      if (SecretProperty(key)) {
        r.Fail(kv.first, kp,
               "looks like a secret; put it in secret_properties_files "
               "instead");
      }
      if (ReservedProperty(key)) {
        r.Fail(kv.first, kp, "is set by cdc-sentinel and cannot be changed");
      }
      if (auto why = CheckKafkaProperty(key, kv.second.Scalar())) {
        r.Fail(kv.first, kp, *why);
      }
      k.properties.emplace_back(key, kv.second.Scalar());
    }
  }
  if (auto p = n["secret_properties_files"]; p.IsDefined() && !p.IsNull()) {
    const std::string pp = J::Join(path, "secret_properties_files");
    if (!p.IsMap()) r.Fail(p, pp, "must be a mapping of property: file");
    for (const auto& kv : p) {
      const std::string key = kv.first.Scalar();
      if (ReservedProperty(key)) {
        r.Fail(kv.first, J::Join(pp, key),
               "is set by cdc-sentinel and cannot be changed");
      }
      const auto file_opt = r.File(p, pp, key);
      if (!file_opt) {
        r.Fail(J::At(p, key), J::Join(pp, key), "must be a file path");
      }
      const std::string file = *file_opt;
      Secret secret;
      try {
        secret.value = ReadSecretFile(file);
      } catch (const std::exception& e) {
        r.Fail(kv.second, J::Join(pp, key), e.what());
      }
      if (secret.value.empty()) {
        r.Fail(kv.second, J::Join(pp, key), "file " + file + " is empty");
      }
      secret.source = "file " + file;
      // The message names the property, never the value.
      if (CheckKafkaProperty(key, secret.value)) {
        r.Fail(kv.first, J::Join(pp, key),
               "librdkafka rejects this property or the value in " + file);
      }
      k.secret_properties.emplace_back(key, std::move(secret));
    }
  }
  if (auto t = TopicName(r, n, path, "offsets_topic")) k.offsets_topic = *t;
  if (auto v = r.Int(n, path, "topics_per_consumer", 1, 100000)) {
    k.topics_per_consumer = static_cast<int>(*v);
  }
  return k;
}

void LoadMarker(const YamlReader& r, const YAML::Node& m, const std::string& mp,
                MarkerSettings* marker) {
  r.ExpectMap(m, mp, {"enabled", "interval", "timeout"});
  marker->enabled = r.Bool(m, mp, "enabled").value_or(true);
  if (auto d = DurationIn(r, m, mp, "interval", std::chrono::seconds(1))) {
    marker->interval = *d;
  }
  if (auto d = DurationIn(r, m, mp, "timeout", std::chrono::seconds(1))) {
    marker->timeout = *d;
  }
}

void LoadHeartbeat(const YamlReader& r, const YAML::Node& h,
                   const std::string& hp, HeartbeatSettings* heartbeat) {
  r.ExpectMap(h, hp, {"enabled", "max_age", "topic"});
  heartbeat->enabled = r.Bool(h, hp, "enabled").value_or(true);
  if (auto d = DurationIn(r, h, hp, "max_age", std::chrono::seconds(1))) {
    heartbeat->max_age = *d;
  }
  heartbeat->topic = TopicName(r, h, hp, "topic").value_or("");
}

void LoadSilentFailure(const YamlReader& r, const YAML::Node& s,
                       const std::string& sp,
                       SilentFailureSettings* silent_failure) {
  r.ExpectMap(s, sp, {"consecutive_misses", "window", "window_max"});
  if (auto v = r.Int(s, sp, "consecutive_misses", 1, 100)) {
    silent_failure->consecutive_misses = static_cast<int>(*v);
  }
  const YAML::Node w = s["window"];
  if (w.IsDefined() && !(w.IsScalar() && w.Scalar() == "auto")) {
    if (!w.IsScalar() || !ParseDuration(w.Scalar())) {
      r.Fail(J::At(s, "window"), J::Join(sp, "window"),
             "must be auto or a duration such as 10s");
    }
    silent_failure->window =
        DurationIn(r, s, sp, "window", std::chrono::seconds(1));
  }
  if (auto d = DurationIn(r, s, sp, "window_max", std::chrono::seconds(5))) {
    silent_failure->window_max = *d;
  }
}

void LoadEvidence(const YamlReader& r, const YAML::Node& e,
                  const std::string& ep, EvidenceSettings* evidence) {
  r.ExpectMap(e, ep, {"command", "directory", "timeout", "min_interval"});
  const YAML::Node cmd = e["command"];
  if (!cmd.IsDefined()) {
    r.Fail(J::At(e, "command"), J::Join(ep, "command"), "is required");
  }
  if (!cmd.IsSequence() || cmd.size() == 0) {
    r.Fail(cmd.IsNull() ? J::At(e, "command") : cmd, J::Join(ep, "command"),
           "must be a non-empty list of arguments (no shell is used)");
  }
  for (std::size_t i = 0; i < cmd.size(); ++i) {
    if (!cmd[i].IsScalar() || cmd[i].Scalar().empty()) {
      // An empty element's position is the next token, often the next
      // key: point at the list instead.
      r.Fail(cmd[i].IsNull() ? cmd : cmd[i],
             J::Index(J::Join(ep, "command"), i), "must be a non-empty string");
    }
    evidence->command.push_back(cmd[i].Scalar());
  }
  evidence->directory = r.ResolvePath(r.RequiredString(e, ep, "directory"));
  if (auto d = DurationIn(r, e, ep, "timeout", std::chrono::seconds(1))) {
    evidence->timeout = *d;
  }
  if (auto d = DurationIn(r, e, ep, "min_interval", Duration(0))) {
    evidence->min_interval = *d;
  }
}

void LoadAutoRestart(const YamlReader& r, const YAML::Node& a,
                     const std::string& ap, AutoRestartSettings* auto_restart) {
  r.ExpectMap(a, ap, {"enabled", "after", "max_per_hour"});
  auto_restart->enabled = r.Bool(a, ap, "enabled").value_or(false);
  if (auto v = r.Int(a, ap, "after", 1, 1000)) {
    auto_restart->after = static_cast<int>(*v);
  }
  if (auto v = r.Int(a, ap, "max_per_hour", 1, 60)) {
    auto_restart->max_per_hour = static_cast<int>(*v);
  }
}

// The sections marker, heartbeat, silent_failure, evidence and auto_restart
// of `n` (a connectors[] entry or connect_clusters[].discover).
void LoadSettings(const YamlReader& r, const YAML::Node& n,
                  const std::string& path, ConnectorSettings* s) {
  if (auto m = Section(r, n, path, "marker"); m.IsDefined()) {
    LoadMarker(r, m, J::Join(path, "marker"), &s->marker);
  }
  if (auto h = Section(r, n, path, "heartbeat"); h.IsDefined()) {
    LoadHeartbeat(r, h, J::Join(path, "heartbeat"), &s->heartbeat);
  }
  if (auto sf = Section(r, n, path, "silent_failure"); sf.IsDefined()) {
    LoadSilentFailure(r, sf, J::Join(path, "silent_failure"),
                      &s->silent_failure);
  }
  if (auto e = Section(r, n, path, "evidence"); e.IsDefined()) {
    LoadEvidence(r, e, J::Join(path, "evidence"), &s->evidence);
  }
  if (auto a = Section(r, n, path, "auto_restart"); a.IsDefined()) {
    LoadAutoRestart(r, a, J::Join(path, "auto_restart"), &s->auto_restart);
  }
}

// The connector's own keys (name, cluster, source, topics, TLS), not its
// sections.
void LoadConnectorKeys(const YamlReader& r, const YAML::Node& n,
                       const std::string& path, Connector* c) {
  c->name = r.RequiredString(n, path, "name");
  if (n["connect_cluster"].IsDefined()) {
    // An empty value would silently mean "no REST API" (MSK Connect mode).
    c->connect_cluster = r.String(n, path, "connect_cluster").value_or("");
    if (c->connect_cluster.empty()) {
      r.Fail(J::At(n, "connect_cluster"), J::Join(path, "connect_cluster"),
             "has no value (leave the key out for a connector without a "
             "Kafka Connect REST API, such as AWS MSK Connect)");
    }
  }
  c->source = r.RequiredString(n, path, "source");
  // Checked, or taken from the Connect cluster, in LoadPipeline.
  c->kafka = r.String(n, path, "kafka").value_or("");
  c->topic_prefix = r.RequiredString(n, path, "topic_prefix");
  if (!PlainName(c->topic_prefix)) {
    r.Fail(J::At(n, "topic_prefix"), J::Join(path, "topic_prefix"),
           "may contain only letters, digits, '-', '_' and '.' (as Kafka "
           "topic names)");
  }
  c->binlog_user = r.String(n, path, "binlog_user").value_or("");
  if (auto v = r.String(n, path, "tls_version")) {
    if (*v != "auto" && *v != "1.2" && *v != "1.3") {
      r.Fail(J::At(n, "tls_version"), J::Join(path, "tls_version"),
             "must be auto, \"1.2\" or \"1.3\"");
    }
    c->tls_version = *v;
  }
}

Connector LoadConnector(const YamlReader& r, const YAML::Node& n,
                        const std::string& path) {
  r.ExpectMap(n, path,
              {"name", "connect_cluster", "source", "kafka", "topic_prefix",
               "binlog_user", "tls_version", "marker", "heartbeat",
               "silent_failure", "evidence", "auto_restart"});
  Connector c;
  LoadConnectorKeys(r, n, path, &c);
  ConnectorSettings settings;
  LoadSettings(r, n, path, &settings);
  c.ApplySettings(settings);
  return c;
}

std::vector<std::string> Patterns(const YamlReader& r, const YAML::Node& map,
                                  const std::string& path, const char* key) {
  std::vector<std::string> out;
  const YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return out;
  const std::string p = J::Join(path, key);
  if (!n.IsSequence()) {
    r.Fail(n, p,
           "must be a list of connector name patterns (e.g. \"orders-*\")");
  }
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar() || n[i].Scalar().empty()) {
      r.Fail(n[i].IsNull() ? n : n[i], J::Index(p, i),
             "must be a non-empty name pattern");
    }
    out.push_back(n[i].Scalar());
  }
  return out;
}

// connect_clusters[].discover: `false`, `true`, or a mapping.
void LoadDiscovery(const YamlReader& r, const YAML::Node& cluster,
                   const std::string& path, Discovery* d) {
  const YAML::Node n = Section(r, cluster, path, "discover");
  if (!n.IsDefined()) return;
  const std::string dp = J::Join(path, "discover");
  if (n.IsScalar()) {
    d->enabled = r.Bool(cluster, path, "discover").value_or(true);
    return;
  }
  r.ExpectMap(n, dp,
              {"enabled", "include", "exclude", "marker", "heartbeat",
               "silent_failure", "evidence", "auto_restart"});
  d->enabled = r.Bool(n, dp, "enabled").value_or(true);
  d->include = Patterns(r, n, dp, "include");
  d->exclude = Patterns(r, n, dp, "exclude");
  LoadSettings(r, n, dp, &d->defaults);
  if (!d->defaults.heartbeat.topic.empty()) {
    const YAML::Node h = n["heartbeat"];
    r.Fail(J::At(h, "topic"), J::Join(J::Join(dp, "heartbeat"), "topic"),
           "is taken from each connector's own config "
           "(topic.heartbeat.prefix); write a connectors[] entry to set it "
           "by hand");
  }
}

// The keys of connect_clusters[] that refer to the pipeline:
// kafka_cluster, offsets_topic, discover.
void LoadConnectClusterPipeline(const YamlReader& r, const YAML::Node& root,
                                Config* cfg) {
  const YAML::Node list = root["connect_clusters"];
  for (std::size_t i = 0; i < cfg->connect_clusters.size(); ++i) {
    ConnectCluster& cc = cfg->connect_clusters[i];
    const YAML::Node n = list[i];
    const std::string path = J::Index("connect_clusters", i);
    if (auto k = r.String(n, path, "kafka_cluster")) {
      if (!cfg->FindKafka(*k)) {
        r.Fail(J::At(n, "kafka_cluster"), J::Join(path, "kafka_cluster"),
               "no entry of kafka_clusters is named \"" + *k + "\"");
      }
      cc.kafka_cluster = *k;
    }
    if (auto t = TopicName(r, n, path, "offsets_topic")) cc.offsets_topic = *t;
    LoadDiscovery(r, n, path, &cc.discover);
  }
}

// The Kafka cluster of a connector that names none: its Connect cluster's,
// else the only one configured ("" if neither).
std::string DefaultKafka(const Config& cfg, const Connector& c) {
  if (const auto* cc = cfg.FindConnectCluster(c.connect_cluster);
      cc && !cc->kafka_cluster.empty()) {
    return cc->kafka_cluster;
  }
  return cfg.kafka_clusters.size() == 1 ? cfg.kafka_clusters[0].name : "";
}

}  // namespace

void LoadPipeline(const YamlReader& r, const YAML::Node& root, Config* cfg) {
  cfg->sources = LoadList<Source>(
      r, root, "sources", [&](const YAML::Node& n, const std::string& p) {
        return LoadSource(r, n, p);
      });
  cfg->kafka_clusters =
      LoadList<KafkaCluster>(r, root, "kafka_clusters",
                             [&](const YAML::Node& n, const std::string& p) {
                               return LoadKafka(r, n, p);
                             });
  LoadConnectClusterPipeline(r, root, cfg);
  const YAML::Node kafka_list = root["kafka_clusters"];
  for (std::size_t i = 0; i < cfg->kafka_clusters.size(); ++i) {
    const YAML::Node n = kafka_list[i];
    if (!n["offsets_topic"].IsDefined()) continue;
    for (const auto& cc : cfg->connect_clusters) {
      if (!cc.offsets_topic.empty()) continue;
      cfg->warnings.push_back(r.Message(
          J::KeyNode(n, "offsets_topic"),
          J::Join(J::Index("kafka_clusters", i), "offsets_topic"),
          "deprecated for connectors of a Kafka Connect cluster: set "
          "connect_clusters[].offsets_topic (two Connect clusters on one "
          "Kafka cluster have two offsets topics); here it stays the offsets "
          "topic of connectors without a REST API (MSK Connect)"));
      break;
    }
  }
  cfg->connectors = LoadList<Connector>(
      r, root, "connectors", [&](const YAML::Node& n, const std::string& p) {
        return LoadConnector(r, n, p);
      });
  const YAML::Node list = root["connectors"];
  std::set<std::string> prefixes;
  for (std::size_t i = 0; i < cfg->connectors.size(); ++i) {
    const Connector& c = cfg->connectors[i];
    const YAML::Node n = list[i];
    const std::string path = J::Index("connectors", i);
    if (!c.connect_cluster.empty() &&
        !cfg->FindConnectCluster(c.connect_cluster)) {
      r.Fail(J::At(n, "connect_cluster"), J::Join(path, "connect_cluster"),
             "no entry of connect_clusters is named \"" + c.connect_cluster +
                 "\"");
    }
    if (!cfg->FindSource(c.source)) {
      r.Fail(J::At(n, "source"), J::Join(path, "source"),
             "no entry of sources is named \"" + c.source + "\"");
    }
    if (c.kafka.empty()) {
      cfg->connectors[i].kafka = DefaultKafka(*cfg, c);
      if (c.kafka.empty()) {
        r.Fail(J::At(n, "kafka"), J::Join(path, "kafka"),
               "is required (or set kafka_cluster on its connect_clusters "
               "entry)");
      }
    } else if (!cfg->FindKafka(c.kafka)) {
      r.Fail(J::At(n, "kafka"), J::Join(path, "kafka"),
             "no entry of kafka_clusters is named \"" + c.kafka + "\"");
    }
    if (c.auto_restart.enabled && c.connect_cluster.empty()) {
      r.Fail(J::At(n["auto_restart"], "enabled"),
             J::Join(J::Join(path, "auto_restart"), "enabled"),
             "needs connect_cluster: restarts go through the Kafka Connect "
             "REST API (MSK Connect has none)");
    }
    if (!prefixes.insert(c.kafka + "/" + c.topic_prefix).second) {
      r.Fail(J::At(n, "topic_prefix"), J::Join(path, "topic_prefix"),
             "\"" + c.topic_prefix +
                 "\" is used by another connector on the same Kafka cluster");
    }
  }
}

}  // namespace cdc::config
