#include "config/discovery.h"

#include <fnmatch.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <regex>
#include <set>

#include "cdc/common/duration.h"

namespace cdc::config {
namespace {

constexpr std::array<std::string_view, 17> kKeys = {
    "database.hostname",       "database.port",
    "database.user",           "topic.prefix",
    "database.server.name",  // the topic prefix before Debezium 2.0
    "table.include.list",      "table.exclude.list",
    "database.include.list",   "database.exclude.list",
    "table.whitelist",         "table.blacklist",  // before Debezium 1.3
    "database.whitelist",      "database.blacklist",
    "heartbeat.interval.ms",   "topic.heartbeat.prefix",
    "heartbeat.topics.prefix",  // before Debezium 2.0
    "connector.class"};

const std::string* Get(const std::map<std::string, std::string>& config,
                       std::string_view key) {
  auto it = config.find(std::string(key));
  return it == config.end() || it->second.empty() ? nullptr : &it->second;
}

// The first of `keys` that is set.
const std::string* GetAny(const std::map<std::string, std::string>& config,
                          std::initializer_list<std::string_view> keys,
                          std::string_view* which = nullptr) {
  for (auto k : keys) {
    if (const auto* v = Get(config, k)) {
      if (which) *which = k;
      return v;
    }
  }
  return nullptr;
}

std::string Lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

// Whether `name` matches one of the list's regular expressions (whole
// name, case-insensitive, as Debezium). Throws std::regex_error.
bool MatchesList(const std::string& list, const std::string& name,
                 std::string* matched) {
  for (const auto& pattern : SplitList(list)) {
    const std::regex re(pattern, std::regex::ECMAScript | std::regex::icase);
    if (std::regex_match(name, re)) {
      if (matched) *matched = pattern;
      return true;
    }
  }
  return false;
}

bool NameSelected(const Discovery& d, const std::string& name,
                  std::string* why) {
  auto matches = [&](const std::vector<std::string>& patterns,
                     std::string* which) {
    for (const auto& p : patterns) {
      if (fnmatch(p.c_str(), name.c_str(), 0) == 0) {
        *which = p;
        return true;
      }
    }
    return false;
  };
  std::string which;
  if (!d.include.empty() && !matches(d.include, &which)) {
    *why = "matches no discover.include pattern";
    return false;
  }
  if (matches(d.exclude, &which)) {
    *why = "matches discover.exclude pattern \"" + which + "\"";
    return false;
  }
  return true;
}

bool SameAddress(const std::pair<std::string, int>& a,
                 const std::pair<std::string, int>& b) {
  return a.second == b.second && Lower(a.first) == Lower(b.first);
}

const Source* MatchSource(const Config& cfg,
                          const std::pair<std::string, int>& address) {
  for (const auto& s : cfg.sources) {
    if (SameAddress(address, {s.host, s.port})) return &s;
    for (const auto& alias : s.aliases) {
      auto a = ParseHostPort(alias);
      if (a && SameAddress(address, *a)) return &s;
    }
  }
  return nullptr;
}

std::string KafkaOf(const Config& cfg, const ConnectCluster& cluster) {
  if (!cluster.kafka_cluster.empty()) return cluster.kafka_cluster;
  return cfg.kafka_clusters.size() == 1 ? cfg.kafka_clusters[0].name : "";
}

bool PlainTopicPart(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

}  // namespace

bool IsDiscoveryKey(std::string_view key) {
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

std::string_view DiscoveryResultName(DiscoveryResult r) {
  switch (r) {
    case DiscoveryResult::kMonitored:
      return "monitored";
    case DiscoveryResult::kConfigured:
      return "configured";
    case DiscoveryResult::kExcluded:
      return "excluded";
    case DiscoveryResult::kNotMySql:
      return "not_mysql";
    case DiscoveryResult::kNoSource:
      return "no_source";
    case DiscoveryResult::kCanaryNotCaptured:
      return "canary_not_captured";
    case DiscoveryResult::kIncomplete:
      return "incomplete";
    case DiscoveryResult::kDuplicatePrefix:
      return "duplicate_prefix";
    case DiscoveryResult::kOtherShard:
      return "other_shard";
  }
  return "unknown";
}

std::optional<std::pair<std::string, int>> ParseHostPort(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() ||
        s[close + 1] != ':') {
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  int p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (host.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      p < 1 || p > 65535) {
    return std::nullopt;
  }
  return std::make_pair(std::string(host), p);
}

bool CapturesTable(const std::map<std::string, std::string>& config,
                   const std::string& db, const std::string& table,
                   std::string* why) {
  const std::string full = db + "." + table;
  std::string_view key;
  std::string matched;
  try {
    if (const auto* v = GetAny(
            config, {"database.include.list", "database.whitelist"}, &key)) {
      if (!MatchesList(*v, db, nullptr)) {
        *why = "database " + db + " is not in " + std::string(key) + " (" + *v +
               ")";
        return false;
      }
    }
    if (const auto* v = GetAny(
            config, {"database.exclude.list", "database.blacklist"}, &key)) {
      if (MatchesList(*v, db, &matched)) {
        *why = "database " + db + " is excluded by " + std::string(key) +
               " (\"" + matched + "\")";
        return false;
      }
    }
    if (const auto* v =
            GetAny(config, {"table.include.list", "table.whitelist"}, &key)) {
      if (!MatchesList(*v, full, nullptr)) {
        *why = "table " + full + " is not in " + std::string(key) + " (" + *v +
               ")";
        return false;
      }
    }
    if (const auto* v =
            GetAny(config, {"table.exclude.list", "table.blacklist"}, &key)) {
      if (MatchesList(*v, full, &matched)) {
        *why = "table " + full + " is excluded by " + std::string(key) +
               " (\"" + matched + "\")";
        return false;
      }
    }
  } catch (const std::regex_error&) {
    *why = std::string(key) +
           " is not a list of regular expressions cdc-sentinel can read";
    return false;
  }
  return true;
}

DiscoveryOutcome Discover(const Config& cfg, const ConnectCluster& cluster,
                          const std::vector<ListedConnector>& listed) {
  DiscoveryOutcome out;
  // Without a source nothing can be matched: a REST-only configuration
  // (minimal.yaml) gets no findings, no log lines, no series.
  if (!cluster.discover.enabled || cfg.sources.empty()) return out;
  std::map<std::string, std::string> configured;  // name -> its Connect cluster
  std::set<std::string> prefixes;                 // kafka/prefix already taken
  for (const auto& c : cfg.connectors) {
    configured[c.name] = c.connect_cluster;
    prefixes.insert(c.kafka + "/" + c.topic_prefix);
  }
  std::vector<const ListedConnector*> sorted;
  for (const auto& l : listed) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  for (const ListedConnector* l : sorted) {
    DiscoveryFinding f{l->name, DiscoveryResult::kMonitored, ""};
    auto skip = [&](DiscoveryResult r, std::string why) {
      f.result = r;
      f.reason = std::move(why);
      out.findings.push_back(f);
    };
    if (l->connector_class != kDebeziumMySqlClass) {
      skip(DiscoveryResult::kNotMySql,
           "connector.class is " +
               (l->connector_class.empty() ? std::string("not known")
                                           : l->connector_class) +
               ", not " + std::string(kDebeziumMySqlClass));
      continue;
    }
    std::string why;
    if (!NameSelected(cluster.discover, l->name, &why)) {
      skip(DiscoveryResult::kExcluded, why);
      continue;
    }
    if (auto it = configured.find(l->name); it != configured.end()) {
      if (it->second == cluster.name) {
        skip(DiscoveryResult::kConfigured,
             "a connectors[] entry has this name; it is used instead");
      } else {
        skip(DiscoveryResult::kDuplicatePrefix,
             "its name is taken by a connectors[] entry for " +
                 (it->second.empty() ? std::string("a connector without a "
                                                   "Connect REST API")
                                     : "Connect cluster " + it->second) +
                 "; connector names must be unique within one exporter: "
                 "rename one of the two connectors");
      }
      continue;
    }
    const auto& conf = l->config;
    const std::string* host = Get(conf, "database.hostname");
    const std::string* port_text = Get(conf, "database.port");
    int port = 3306;
    if (port_text) {
      auto hp = ParseHostPort("x:" + *port_text);
      port = hp ? hp->second : -1;
    }
    if (!host || port < 0) {
      skip(DiscoveryResult::kNoSource,
           host ? "database.port \"" + *port_text + "\" is not a port"
                : "its config has no database.hostname");
      continue;
    }
    const std::string address = *host + ":" + std::to_string(port);
    const Source* source = MatchSource(cfg, {*host, port});
    if (!source) {
      skip(DiscoveryResult::kNoSource,
           "database.hostname:database.port " + address +
               " is not the host:port or one of the aliases of any source "
               "(add it to that source's aliases if it reaches one)");
      continue;
    }
    if (!CapturesTable(conf, source->canary.database, source->canary.table,
                       &why)) {
      skip(DiscoveryResult::kCanaryNotCaptured,
           why +
               ": its markers can never arrive; add the canary table to "
               "the connector's table.include.list (docs/quickstart.md)");
      continue;
    }
    std::string_view prefix_key;
    const std::string* prefix =
        GetAny(conf, {"topic.prefix", "database.server.name"}, &prefix_key);
    if (!prefix || !PlainTopicPart(*prefix)) {
      skip(DiscoveryResult::kIncomplete,
           prefix ? std::string(prefix_key) + " \"" + *prefix +
                        "\" is not a plain topic name"
                  : "its config has no topic.prefix");
      continue;
    }
    const std::string kafka = KafkaOf(cfg, cluster);
    if (kafka.empty()) {
      skip(DiscoveryResult::kIncomplete,
           "no Kafka cluster is known for it: set kafka_cluster on "
           "connect_clusters entry " +
               cluster.name);
      continue;
    }
    if (!prefixes.insert(kafka + "/" + *prefix).second) {
      skip(DiscoveryResult::kDuplicatePrefix,
           "topic prefix " + *prefix +
               " is already watched for another connector on Kafka cluster " +
               kafka);
      continue;
    }
    Connector c;
    c.name = l->name;
    c.connect_cluster = cluster.name;
    c.source = source->name;
    c.kafka = kafka;
    c.topic_prefix = *prefix;
    if (const auto* user = Get(conf, "database.user")) c.binlog_user = *user;
    c.ApplySettings(cluster.discover.defaults);
    c.discovered = true;
    // One evidence command for every discovered connector: "${connector}"
    // in an argument becomes its name.
    for (auto& arg : c.evidence.command) {
      for (auto at = arg.find("${connector}"); at != std::string::npos;
           at = arg.find("${connector}", at + c.name.size())) {
        arg.replace(at, std::string_view("${connector}").size(), c.name);
      }
    }
    // Heartbeats: Debezium's are off unless heartbeat.interval.ms > 0.
    const std::string* hb = Get(conf, "heartbeat.interval.ms");
    long long hb_ms = 0;
    if (hb) {
      auto [ptr, ec] =
          std::from_chars(hb->data(), hb->data() + hb->size(), hb_ms);
      if (ec != std::errc() || ptr != hb->data() + hb->size()) hb_ms = 0;
    }
    if (hb_ms <= 0) {
      c.heartbeat.enabled = false;
      f.reason =
          "heartbeat.interval.ms is not set (heartbeats off): judged by "
          "markers alone; with heartbeats on, a lagging connector is told "
          "from a stalled one sooner";
    } else {
      const std::string* hp =
          GetAny(conf, {"topic.heartbeat.prefix", "heartbeat.topics.prefix"});
      c.heartbeat.topic =
          (hp ? *hp : std::string("__debezium-heartbeat")) + "." + *prefix;
      // A heartbeat every N ms is late after 3 N, whatever the default.
      c.heartbeat.max_age = std::max<Duration>(
          c.heartbeat.max_age, std::chrono::milliseconds(3 * hb_ms));
      f.reason = "source " + source->name + " (" + address +
                 "), topic prefix " + *prefix + ", Kafka cluster " + kafka;
    }
    out.findings.push_back(f);
    out.connectors.push_back(std::move(c));
  }
  return out;
}

Config WithDiscovered(const Config& cfg,
                      std::map<std::string, DiscoveryOutcome>* outcomes) {
  Config out = cfg;
  std::set<std::string> names, prefixes;
  for (const auto& c : cfg.connectors) {
    names.insert(c.name);
    prefixes.insert(c.kafka + "/" + c.topic_prefix);
  }
  for (const auto& cluster : cfg.connect_clusters) {
    auto it = outcomes->find(cluster.name);
    if (it == outcomes->end() || !cluster.discover.enabled) continue;
    DiscoveryOutcome& o = it->second;
    std::vector<Connector> kept;
    for (auto& c : o.connectors) {
      std::string why;
      if (names.count(c.name)) {
        why =
            "another Connect cluster has a connector of this name, "
            "already monitored; write connectors[] entries to tell them "
            "apart";
      } else if (prefixes.count(c.kafka + "/" + c.topic_prefix)) {
        why = "topic prefix " + c.topic_prefix +
              " is already watched for a connector of another Connect "
              "cluster on Kafka cluster " +
              c.kafka;
      }
      if (!why.empty()) {
        for (auto& f : o.findings) {
          if (f.connector != c.name) continue;
          f.result = DiscoveryResult::kDuplicatePrefix;
          f.reason = why;
        }
        continue;
      }
      names.insert(c.name);
      prefixes.insert(c.kafka + "/" + c.topic_prefix);
      out.connectors.push_back(c);
      kept.push_back(std::move(c));
    }
    o.connectors = std::move(kept);
  }
  return out;
}

}  // namespace cdc::config
