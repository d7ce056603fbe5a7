#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "cdc/common/log.h"
#include "exporter/app.h"
#include "exporter/web_config.h"

namespace httplib {
class Server;
}
struct ssl_st;

namespace cdc {

// The exporter's HTTP endpoints: / (landing page), /metrics, /-/healthy,
// /-/ready and POST /-/reload; over TLS and behind basic authentication when
// a web config file (--web.config.file) says so. Thread-safe; Serve() blocks
// until Stop().
class HttpServer {
 public:
  // `web_config_file` empty: plain HTTP, no authentication. Otherwise it is
  // loaded now; throws config::ConfigError if it is invalid.
  HttpServer(App& app, Logger& log, std::string web_config_file = "");
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address ("HOST:PORT", ":PORT"; port 0 picks one).
  bool Bind(const std::string& listen_address, std::string* error);
  int port() const { return port_; }
  bool tls() const { return tls_; }
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
  void Routes();
  // Applies the current TLS material to a connection (ClientHello callback).
  static int OnClientHello(ssl_st* ssl, int* alert, void* self);
  std::shared_ptr<const TlsMaterial> CurrentTls() const;
  std::shared_ptr<BasicAuthenticator> CurrentAuth() const;

  App& app_;
  Logger& log_;
  const std::string web_config_file_;
  bool tls_ = false;
  mutable std::mutex web_mu_;  // guards the two below and the reload status
  std::shared_ptr<const TlsMaterial> tls_material_;
  std::shared_ptr<BasicAuthenticator> auth_;  // null: no authentication
  bool web_reload_ok_ = true;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::atomic<bool> serving_{false};
};

}  // namespace cdc
