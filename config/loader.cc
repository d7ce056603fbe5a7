#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>

#include "cdc/common/duration.h"
#include "cdc/common/secret.h"
#include "config/config.h"
#include "config/pipeline_loader.h"
#include "config/yaml_reader.h"

namespace cdc::config {

// ---------------------------------------------------------------- YamlReader

std::string YamlReader::Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string YamlReader::Index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string YamlReader::Message(const YAML::Node& at, const std::string& path,
                                const std::string& reason) const {
  int line = 1, col = 1;
  if (at.IsDefined() && at.Mark().line >= 0) {
    line = at.Mark().line + 1;
    col = at.Mark().column + 1;
  }
  return file_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " +
         (path.empty() ? "" : path + ": ") + reason;
}

void YamlReader::Fail(const YAML::Node& at, const std::string& path,
                      const std::string& reason) const {
  throw ConfigError(Message(at, path, reason));
}

YAML::Node YamlReader::KeyNode(const YAML::Node& map, std::string_view key) {
  if (map.IsMap()) {
    for (const auto& kv : map) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.first;
    }
  }
  return map;
}

YAML::Node YamlReader::At(const YAML::Node& map, std::string_view key) {
  const YAML::Node v = map[std::string(key)];
  if (v.IsDefined() && !v.IsNull()) return v;
  return KeyNode(map, key);
}

void YamlReader::ExpectMap(
    const YAML::Node& n, const std::string& path,
    std::initializer_list<std::string_view> allowed) const {
  if (!n.IsMap()) Fail(n, path, "must be a mapping");
  std::set<std::string> seen;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) Fail(kv.first, path, "keys must be strings");
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto a : allowed)
        known += (known.empty() ? "" : ", ") + std::string(a);
      Fail(kv.first, Join(path, key),
           "unknown key (known keys: " + known + ")");
    }
    if (!seen.insert(key).second) {
      Fail(kv.first, Join(path, key), "duplicate key");
    }
  }
}

void YamlReader::ExpectList(const YAML::Node& n,
                            const std::string& path) const {
  if (!n.IsSequence()) Fail(n, path, "must be a list");
}

std::optional<std::string> YamlReader::String(const YAML::Node& map,
                                              const std::string& path,
                                              std::string_view key) const {
  const YAML::Node n = map[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) Fail(n, Join(path, key), "must be a string");
  return n.Scalar();
}

std::string YamlReader::RequiredString(const YAML::Node& map,
                                       const std::string& path,
                                       std::string_view key) const {
  auto s = String(map, path, key);
  if (!s) {
    Fail(At(map, key), Join(path, key),
         map[std::string(key)].IsDefined() ? "must not be empty"
                                           : "is required");
  }
  if (s->empty()) Fail(At(map, key), Join(path, key), "must not be empty");
  return *s;
}

std::optional<Duration> YamlReader::DurationValue(const YAML::Node& map,
                                                  const std::string& path,
                                                  std::string_view key) const {
  auto s = String(map, path, key);
  if (!s) return std::nullopt;
  auto d = ParseDuration(*s);
  if (!d) {
    Fail(At(map, key), Join(path, key),
         "\"" + *s + "\" is not a duration (use e.g. 500ms, 15s, 2m, 1h)");
  }
  return *d;
}

std::optional<bool> YamlReader::Bool(const YAML::Node& map,
                                     const std::string& path,
                                     std::string_view key) const {
  auto s = String(map, path, key);
  if (!s) return std::nullopt;
  if (*s == "true") return true;
  if (*s == "false") return false;
  Fail(At(map, key), Join(path, key), "must be true or false");
}

std::optional<int64_t> YamlReader::Int(const YAML::Node& map,
                                       const std::string& path,
                                       std::string_view key, int64_t min,
                                       int64_t max) const {
  auto s = String(map, path, key);
  if (!s) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || ptr != s->data() + s->size() || v < min || v > max) {
    Fail(At(map, key), Join(path, key),
         "must be a whole number from " + std::to_string(min) + " to " +
             std::to_string(max));
  }
  return v;
}

std::string YamlReader::ResolvePath(const std::string& p) const {
  if (p.empty() || p.front() == '/') return p;
  const auto slash = file_.rfind('/');
  if (slash == std::string::npos) return p;
  return file_.substr(0, slash + 1) + p;
}

std::optional<std::string> YamlReader::File(const YAML::Node& map,
                                            const std::string& path,
                                            std::string_view key) const {
  auto s = String(map, path, key);
  if (!s) return std::nullopt;
  if (s->empty()) Fail(At(map, key), Join(path, key), "must not be empty");
  std::string resolved = ResolvePath(*s);
  if (access(resolved.c_str(), R_OK) != 0) {
    Fail(At(map, key), Join(path, key),
         "cannot read file " + resolved + ": " + std::strerror(errno));
  }
  struct stat st;
  if (stat(resolved.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    // A FIFO or a device such as /dev/zero would block or never end.
    Fail(
        At(map, key), Join(path, key),
        "cannot read file " + resolved + ": " +
            (S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file"));
  }
  return resolved;
}

Secret YamlReader::Password(const YAML::Node& map,
                            const std::string& path) const {
  if (map["password"].IsDefined()) {
    Fail(At(map, "password"), Join(path, "password"),
         "inline passwords are not accepted; use password_file or "
         "password_env");
  }
  const bool has_file = map["password_file"].IsDefined();
  const bool has_env = map["password_env"].IsDefined();
  if (has_file && has_env) {
    Fail(At(map, "password_env"), Join(path, "password_env"),
         "cannot be used together with password_file; set only one");
  }
  if (!has_file && !has_env) {
    Fail(map, path, "needs password_file or password_env");
  }
  Secret s;
  if (has_file) {
    const std::string key = "password_file";
    if (map[key].IsNull())
      Fail(At(map, key), Join(path, key), "must not be empty");
    const std::string f = *File(map, path, key);
    try {
      s.value = ReadSecretFile(f);
    } catch (const std::exception& e) {
      Fail(At(map, key), Join(path, key), e.what());
    }
    if (s.value.empty()) {
      Fail(At(map, key), Join(path, key), "file " + f + " is empty");
    }
    s.source = "file " + f;
  } else {
    const std::string key = "password_env";
    const std::string env = RequiredString(map, path, key);
    // Never echo a value that is not a variable name: it may be the
    // password itself, pasted into the wrong key.
    const bool valid_name =
        !std::isdigit(static_cast<unsigned char>(env.front())) &&
        std::all_of(env.begin(), env.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        });
    if (!valid_name) {
      Fail(At(map, key), Join(path, key),
           "must be the name of an environment variable (letters, digits "
           "and '_', not starting with a digit)");
    }
    try {
      s.value = ReadSecretEnv(env);
    } catch (const std::exception& e) {
      Fail(At(map, key), Join(path, key), e.what());
    }
    s.source = "env " + env;
  }
  return s;
}

// -------------------------------------------------------------------- loader

namespace {

// Names become label values and appear in file names: keep them plain.
void CheckName(const YamlReader& r, const YAML::Node& map,
               const std::string& path, const std::string& name) {
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.') {
      r.Fail(r.At(map, "name"), YamlReader::Join(path, "name"),
             "may contain only letters, digits, '-', '_' and '.'");
    }
  }
}

Global LoadGlobal(const YamlReader& r, const YAML::Node& n) {
  Global g;
  if (!n.IsDefined() || n.IsNull()) return g;
  r.ExpectMap(n, "global", {"probe_workers"});
  if (auto w = r.Int(n, "global", "probe_workers", 1, 256))
    g.probe_workers = *w;
  return g;
}

ClientTls LoadClientTls(const YamlReader& r, const YAML::Node& n,
                        const std::string& path) {
  r.ExpectMap(n, path,
              {"ca_file", "cert_file", "key_file", "insecure_skip_verify"});
  ClientTls t;
  t.ca_file = r.File(n, path, "ca_file").value_or("");
  t.cert_file = r.File(n, path, "cert_file").value_or("");
  t.key_file = r.File(n, path, "key_file").value_or("");
  if (t.cert_file.empty() != t.key_file.empty()) {
    r.Fail(n, path, "cert_file and key_file must be given together");
  }
  t.insecure_skip_verify =
      r.Bool(n, path, "insecure_skip_verify").value_or(false);
  return t;
}

ConnectCluster LoadConnectCluster(const YamlReader& r, const YAML::Node& n,
                                  const std::string& path) {
  r.ExpectMap(
      n, path,
      {"name", "url", "interval", "timeout", "basic_auth", "tls",
       "max_response_bytes", "kafka_cluster", "offsets_topic", "discover"});
  ConnectCluster c;
  c.name = r.RequiredString(n, path, "name");
  CheckName(r, n, path, c.name);
  c.url_text = r.RequiredString(n, path, "url");
  std::string why;
  auto url = ParseHttpUrl(c.url_text, &why);
  if (!url) r.Fail(n["url"], YamlReader::Join(path, "url"), why);
  c.url = *url;
  if (auto d = r.DurationValue(n, path, "interval")) c.interval = *d;
  if (auto d = r.DurationValue(n, path, "timeout")) c.timeout = *d;
  const std::string ip = YamlReader::Join(path, "interval");
  const std::string tp = YamlReader::Join(path, "timeout");
  if (c.interval < std::chrono::seconds(1)) {
    r.Fail(r.At(n, "interval"), ip, "must be at least 1s");
  }
  // The scheduler adds it to steady_clock time points: keep it far from
  // overflow. Nobody watches a pipeline less often than daily.
  if (c.interval > std::chrono::hours(24)) {
    r.Fail(r.At(n, "interval"), ip, "must be at most 24h");
  }
  if (c.timeout < std::chrono::milliseconds(100)) {
    r.Fail(r.At(n, "timeout"), tp, "must be at least 100ms");
  }
  // As Prometheus' scrape_timeout: a timeout left out follows a shorter
  // interval; one written out longer than the interval is an error.
  if (c.timeout > c.interval) {
    if (n["timeout"].IsDefined() && !n["timeout"].IsNull()) {
      r.Fail(r.At(n, "timeout"), tp,
             "must not exceed interval (" + FormatDuration(c.interval) + ")");
    } else {
      c.timeout = c.interval;
    }
  }
  if (auto b = n["basic_auth"]; b.IsDefined()) {
    const std::string bp = YamlReader::Join(path, "basic_auth");
    if (!b.IsMap()) r.Fail(r.At(n, "basic_auth"), bp, "must be a mapping");
    r.ExpectMap(b, bp,
                {"username", "password", "password_file", "password_env"});
    BasicAuth auth;
    auth.username = r.RequiredString(b, bp, "username");
    auth.password = r.Password(b, bp);
    c.basic_auth = auth;
  }
  if (auto t = n["tls"]; t.IsDefined()) {
    if (c.url.scheme != "https") {
      r.Fail(r.KeyNode(n, "tls"), YamlReader::Join(path, "tls"),
             "is set but url is not https");
    }
    if (!t.IsMap()) {
      r.Fail(r.At(n, "tls"), YamlReader::Join(path, "tls"),
             "must be a mapping");
    }
    c.tls = LoadClientTls(r, t, YamlReader::Join(path, "tls"));
  }
  if (auto m = r.Int(n, path, "max_response_bytes", 1024, int64_t{1} << 32)) {
    c.max_response_bytes = static_cast<std::size_t>(*m);
  }
  return c;
}

}  // namespace

Config LoadConfigString(const std::string& text, const std::string& file) {
  YamlReader r(file);
  // Not YAML::LoadAll: it loops forever on some invalid input.
  YAML::Node root = LoadYamlDocument(text, file);
  if (!root.IsDefined() || root.IsNull()) {
    throw ConfigError(file + ":1:1: the file is empty");
  }
  if (!root.IsMap()) {
    r.Fail(root, "",
           "the top level must be a mapping (key: value lines), not a list "
           "or a single value");
  }
  r.ExpectMap(root, "",
              {"global", "connect_clusters", "sources", "kafka_clusters",
               "connectors"});

  Config cfg;
  cfg.file = file;
  cfg.global = LoadGlobal(r, root["global"]);

  const YAML::Node clusters = root["connect_clusters"];
  if (clusters.IsDefined() && !clusters.IsNull()) {
    r.ExpectList(clusters, "connect_clusters");
    std::set<std::string> names;
    for (std::size_t i = 0; i < clusters.size(); ++i) {
      const std::string path = YamlReader::Index("connect_clusters", i);
      ConnectCluster c = LoadConnectCluster(r, clusters[i], path);
      if (!names.insert(c.name).second) {
        r.Fail(r.At(clusters[i], "name"), YamlReader::Join(path, "name"),
               "duplicate name \"" + c.name + "\"");
      }
      cfg.connect_clusters.push_back(std::move(c));
    }
  }
  LoadPipeline(r, root, &cfg);
  if (cfg.connect_clusters.empty() && cfg.connectors.empty()) {
    const YAML::Node at = !clusters.IsDefined() ? root
                          : clusters.IsNull()   ? r.At(root, "connect_clusters")
                                                : clusters;
    r.Fail(at, "connect_clusters",
           "nothing to monitor: configure connect_clusters (Kafka Connect "
           "REST status) and/or connectors (end-to-end probes)");
  }
  return cfg;
}

}  // namespace cdc::config
