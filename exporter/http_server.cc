#include "exporter/http_server.h"

#include <httplib.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "exporter/flags.h"
#include "exporter/status_page.h"
#include "exporter/version.h"

namespace cdc {
HttpServer::HttpServer(App& app, Logger& log)
    : app_(app), log_(log), server_(std::make_unique<httplib::Server>()) {
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  server_->set_keep_alive_timeout(30);
  server_->set_payload_max_length(64 * 1024);
  Routes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Routes() {
  auto status_page = [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusHtml(app_), "text/html; charset=utf-8");
  };
  server_->Get("/", status_page);
  server_->Get("/status", status_page);
  server_->Get("/api/v1/status",
               [this](const httplib::Request&, httplib::Response& res) {
                 res.set_content(StatusJson(app_), "application/json");
               });
  server_->Get("/metrics",
               [this](const httplib::Request&, httplib::Response& res) {
                 res.set_content(app_.ScrapeText(),
                                 "text/plain; version=0.0.4; charset=utf-8");
               });
  server_->Get("/-/healthy",
               [](const httplib::Request&, httplib::Response& res) {
                 res.set_content("Healthy.\n", "text/plain");
               });
  server_->Get("/-/ready",
               [this](const httplib::Request&, httplib::Response& res) {
                 if (app_.Ready()) {
                   res.set_content("Ready.\n", "text/plain");
                 } else {
                   res.status = 503;
                   res.set_content("Not ready.\n", "text/plain");
                 }
               });
  // Reload is handled before cpp-httplib reads a request body: it answers
  // 400 to a POST without Content-Length (what `curl -X POST` sends).
  server_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (req.path != "/-/reload" ||
            (req.method != "POST" && req.method != "PUT")) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        std::string error;
        if (app_.Reload(&error)) {
          res.set_content("Configuration reloaded.\n", "text/plain");
        } else {
          res.status = 500;
          res.set_content("Reload failed: " + error + "\n", "text/plain");
        }
        // Any request body was not read: do not reuse the connection.
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      });
  server_->Get("/-/reload",
               [](const httplib::Request&, httplib::Response& res) {
                 res.status = 405;
                 res.set_header("Allow", "POST, PUT");
                 res.set_content("Use POST to reload.\n", "text/plain");
               });
  server_->set_error_handler(
      [](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404 && res.body.empty()) {
          res.set_content("Not found.\n", "text/plain");
        }
      });
  server_->set_exception_handler([this](const httplib::Request& req,
                                        httplib::Response& res,
                                        std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_.Error("HTTP handler failed", {{"path", req.path}, {"err", what}});
    res.status = 500;
    res.set_content("Internal error.\n", "text/plain");
  });
}

bool HttpServer::Bind(const std::string& listen_address, std::string* error) {
  std::string host;
  int port;
  if (!SplitListenAddress(listen_address, &host, &port, error)) return false;
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0) port_ = 0;
  } else {
    port_ = server_->bind_to_port(host, port) ? port : 0;
  }
  if (port_ == 0) {
    *error = "cannot listen on " + listen_address + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void HttpServer::Serve() {
  serving_ = true;
  server_->listen_after_bind();
}

void HttpServer::Stop() {
  if (!serving_) return;
  // Serve() may not have entered its accept loop yet.
  for (int i = 0; i < 1000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
}

}  // namespace cdc
