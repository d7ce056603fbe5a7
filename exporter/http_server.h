#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "cdc/common/log.h"
#include "exporter/app.h"

namespace httplib {
class Server;
}

namespace cdc {

// The exporter's HTTP endpoints: / (landing page), /metrics, /-/healthy,
// /-/ready and POST /-/reload. Thread-safe; Serve() blocks until Stop().
class HttpServer {
 public:
  HttpServer(App& app, Logger& log);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address ("HOST:PORT", ":PORT"; port 0 picks one).
  bool Bind(const std::string& listen_address, std::string* error);
  int port() const { return port_; }
  void Serve();
  void Stop();

 private:
  void Routes();

  App& app_;
  Logger& log_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::atomic<bool> serving_{false};
};

}  // namespace cdc
