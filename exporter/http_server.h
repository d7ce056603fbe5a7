#pragma once

#include <memory>
#include <string>

#include "cdc/common/log.h"
#include "exporter/app.h"
#include "exporter/flags.h"
#include "exporter/web_config.h"

namespace cdc {

// The exporter's HTTP endpoints: / (landing page), /metrics, /-/healthy,
// /-/ready and POST /-/reload; over TLS and behind basic authentication when
// a web config file (--web.config.file) says so.
//
// Served with Boost.Beast on Asio: two I/O threads ("cdc-http") carry every
// connection asynchronously, so a slow or silent client holds no thread;
// answers (scrape rendering, gzip, bcrypt) are computed on a small worker
// pool ("cdc-http-worker"). What a client may hold is bounded by HttpLimits
// (docs/security.md, "Threat model"). Thread-safe; Serve() blocks until
// Stop().
class HttpServer {
 public:
  // `web_config_file` empty: plain HTTP, no authentication. Otherwise it is
  // loaded now; throws config::ConfigError if it is invalid.
  HttpServer(App& app, Logger& log, std::string web_config_file = "",
             HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address ("HOST:PORT", ":PORT"; port 0 picks one).
  bool Bind(const std::string& listen_address, std::string* error);
  int port() const;
  bool tls() const;
  void Serve();
  void Stop();

  // Reloads the exporter's configuration (App::Reload) and the web config
  // file; what POST /-/reload and SIGHUP do. Each part that fails keeps its
  // running version; *error says what failed.
  bool Reload(std::string* error);
  // Re-reads the web config file: users, certificate, key, client CAs,
  // client_auth_type and min_version take effect for new connections.
  // Turning TLS on or off needs a restart (refused here).
  bool ReloadWebConfig(std::string* error);

 private:
  class Impl;  // Beast and Asio stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace cdc
