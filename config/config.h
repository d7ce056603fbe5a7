#pragma once

// The configuration model of cdc-sentinel. Plain values: copyable, not
// synchronised; the exporter swaps whole Config objects on reload.

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/url.h"

namespace cdc::config {

using Duration = std::chrono::milliseconds;

// A password, read from a file or an environment variable when the config is
// loaded. `source` says where it came from ("file /run/secrets/x", "env
// CONNECT_PW") for messages; the value itself is never logged.
struct Secret {
  std::string value;
  std::string source;
  bool operator==(const Secret&) const = default;
};

struct BasicAuth {
  std::string username;
  Secret password;
  bool operator==(const BasicAuth&) const = default;
};

// TLS settings of an outgoing HTTPS connection.
struct ClientTls {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate (mutual TLS), with key_file
  std::string key_file;
  bool insecure_skip_verify = false;
  bool operator==(const ClientTls&) const = default;
};

struct ConnectCluster {
  std::string name;
  std::string url_text;
  HttpUrl url;
  Duration interval{std::chrono::seconds(15)};
  Duration timeout{std::chrono::seconds(5)};
  std::optional<BasicAuth> basic_auth;
  std::optional<ClientTls> tls;
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  bool operator==(const ConnectCluster&) const = default;
};

struct Global {
  // Threads that run probes. A probe that hangs holds one until its own
  // I/O timeouts release it; the others keep running on the rest.
  int probe_workers = 4;
  bool operator==(const Global&) const = default;
};

struct Config {
  std::string file;  // where it was loaded from, for messages
  Global global;
  std::vector<ConnectCluster> connect_clusters;
};

// A configuration error. what() is the full message a user sees:
// "config.yaml:12:5: connect_clusters[0].url: must be an http or https URL".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Loads and validates a config file. Throws ConfigError.
Config LoadConfigFile(const std::string& path);

// Same, from text; `file` is only used in messages.
Config LoadConfigString(const std::string& text, const std::string& file);

}  // namespace cdc::config
