#include "exporter/http_server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "cdc/common/thread_name.h"
#include "config/config.h"
#include "exporter/flags.h"
#include "exporter/http_body.h"
#include "exporter/status_page.h"
#include "exporter/version.h"
#include "probes/metric_sink.h"

namespace cdc {
namespace {

// cpp-httplib's pool threads are not ours to start: each names itself on its
// first request.
void NameHttpWorker() {
  thread_local const bool named = (NameThisThread("cdc-http-worker"), true);
  (void)named;
}

// The context every connection starts from; the certificate, key, minimum
// version and client verification are set per connection from the current
// web config (OnClientHello), so that a reload applies to new connections.
bool SetUpTlsContext(SSL_CTX& ctx, void* server,
                     SSL_client_hello_cb_fn on_hello) {
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_NO_TICKET |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No resumption: a resumed session would skip a client certificate check
  // that a reload turned on.
  SSL_CTX_set_session_cache_mode(&ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(&ctx, 0);
  // TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all AEAD).
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    return false;
  }
  SSL_CTX_set_client_hello_cb(&ctx, on_hello, server);
  return true;
}

constexpr char kRealmHeader[] = "Basic realm=\"cdc-sentinel\"";

}  // namespace

HttpServer::HttpServer(App& app, Logger& log, std::string web_config_file)
    : app_(app), log_(log), web_config_file_(std::move(web_config_file)) {
  if (!web_config_file_.empty()) {
    WebConfig wc = LoadWebConfigFile(web_config_file_);  // throws ConfigError
    tls_ = wc.tls.has_value();
    tls_material_ = wc.tls_material;
    if (!wc.basic_auth_users.empty()) {
      auth_ = std::make_shared<BasicAuthenticator>(wc.basic_auth_users);
    }
  }
  if (tls_) {
    server_ = std::make_unique<httplib::SSLServer>([this](SSL_CTX& ctx) {
      return SetUpTlsContext(ctx, this, &HttpServer::OnClientHello);
    });
    if (!server_->is_valid()) {
      throw std::runtime_error("cannot set up the TLS server context");
    }
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  // cpp-httplib waits for the next request on a kept-alive connection by
  // polling it about 180 times a second (3 ms of CPU per second, measured):
  // with Prometheus's connection kept across 15 s scrapes that was as much
  // CPU as all the probes. An idle connection is closed after 1 s instead;
  // back-to-back requests still share one, and Prometheus reconnects.
  server_->set_keep_alive_timeout(1);
  server_->set_payload_max_length(64 * 1024);
  Routes();
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::OnClientHello(SSL* ssl, int* alert, void* self) {
  auto material = static_cast<HttpServer*>(self)->CurrentTls();
  if (!material || !material->ApplyTo(ssl)) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

std::shared_ptr<const TlsMaterial> HttpServer::CurrentTls() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return tls_material_;
}

std::shared_ptr<BasicAuthenticator> HttpServer::CurrentAuth() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return auth_;
}

bool HttpServer::ReloadWebConfig(std::string* error) {
  if (web_config_file_.empty()) return true;
  try {
    WebConfig wc = LoadWebConfigFile(web_config_file_);
    if (wc.tls.has_value() != tls_) {
      throw config::ConfigError(
          web_config_file_ + ": tls_server_config: TLS was " +
          (tls_ ? "on" : "off") +
          " at start; turning it on or off needs a restart");
    }
    std::shared_ptr<BasicAuthenticator> auth;
    if (!wc.basic_auth_users.empty()) {
      auth = std::make_shared<BasicAuthenticator>(wc.basic_auth_users);
    }
    {
      std::lock_guard<std::mutex> lock(web_mu_);
      tls_material_ = wc.tls_material;
      auth_ = std::move(auth);
      web_reload_ok_ = true;
    }
    log_.Info(
        "web configuration reloaded",
        {{"file", web_config_file_},
         {"tls", tls_ ? "on" : "off"},
         {"basic_auth_users", std::to_string(wc.basic_auth_users.size())}});
    return true;
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(web_mu_);
      web_reload_ok_ = false;
    }
    *error = e.what();
    log_.Error("web configuration reload failed; keeping the running one",
               {{"err", *error}});
    return false;
  }
}

bool HttpServer::Reload(std::string* error) {
  std::string app_error, web_error;
  const bool app_ok = app_.Reload(&app_error);
  const bool web_ok = ReloadWebConfig(&web_error);
  error->clear();
  if (!app_ok) *error = app_error;
  if (!web_ok) *error += (error->empty() ? "" : "; ") + web_error;
  return app_ok && web_ok;
}

void HttpServer::Routes() {
  auto status_page = [this](const httplib::Request& req,
                            httplib::Response& res) {
    SetLargeBody(req, res, StatusHtml(app_), "text/html; charset=utf-8");
  };
  server_->Get("/", status_page);
  server_->Get("/status", status_page);
  server_->Get("/api/v1/status",
               [this](const httplib::Request& req, httplib::Response& res) {
                 SetLargeBody(req, res, StatusJson(app_), "application/json");
               });
  server_->Get("/metrics", [this](const httplib::Request& req,
                                  httplib::Response& res) {
    std::string text = app_.ScrapeText();
    if (!web_config_file_.empty()) {
      MetricSink sink;
      bool ok;
      {
        std::lock_guard<std::mutex> lock(web_mu_);
        ok = web_reload_ok_;
      }
      sink.Gauge("cdc_web_config_last_reload_successful",
                 "1 if the last load of --web.config.file succeeded, 0 if it "
                 "was rejected (the previous one is still in use).",
                 {}, ok ? 1 : 0);
      text += sink.Render();
    }
    // Moved, not copied: the body is megabytes at a thousand connectors.
    SetLargeBody(req, res, std::move(text),
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
  // Runs before cpp-httplib reads a request body: authentication first (as
  // Prometheus' exporter-toolkit, every endpoint is protected when users are
  // configured, /-/healthy included), then reload, which cpp-httplib would
  // answer 400 for a POST without Content-Length (what `curl -X POST`
  // sends).
  server_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        NameHttpWorker();
        if (auto auth = CurrentAuth();
            auth && !auth->Check(req.get_header_value("Authorization"))) {
          res.status = 401;
          res.set_header("WWW-Authenticate", kRealmHeader);
          res.set_content("Unauthorized.\n", "text/plain");
          // A body, if any, was not read: do not reuse the connection.
          if (req.method != "GET" && req.method != "HEAD") {
            res.set_header("Connection", "close");
          }
          return httplib::Server::HandlerResponse::Handled;
        }
        if (req.path != "/-/reload" ||
            (req.method != "POST" && req.method != "PUT")) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        std::string error;
        if (Reload(&error)) {
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
