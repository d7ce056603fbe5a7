#include "exporter/http_server.h"

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cdc/common/metric_sink.h"
#include "cdc/common/thread_name.h"
#include "config/config.h"
#include "exporter/http_body.h"
#include "exporter/status_page.h"

namespace cdc {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = beast::error_code;

// Threads: two carry every connection's I/O (async: a slow client holds no
// thread); the workers compute answers (scrape rendering, gzip, bcrypt), at
// most one of them in bcrypt at a time (BcryptGate).
constexpr int kIoThreads = 2;
constexpr int kWorkerThreads = 4;
// Requests whose credentials wait for the one bcrypt slot; more get 429, as
// do those that waited longer than kAuthQueueWait (their client may well be
// gone: no bcrypt is spent on it).
constexpr std::size_t kAuthQueue = 8;
constexpr auto kAuthQueueWait = std::chrono::seconds(2);
// A kept-alive connection without a new request is closed after this:
// Prometheus reconnects for its next scrape, back-to-back requests share one.
constexpr auto kIdleTimeout = std::chrono::seconds(1);
// Writing one answer (10 s, as cpp-httplib's write timeout was).
constexpr auto kWriteTimeout = std::chrono::seconds(10);
// Writing a refusal (431, 414, 400) to a client that may not read it.
constexpr auto kRefusalWriteTimeout = std::chrono::seconds(1);
// Request bodies are never read (no endpoint takes one); a request that
// announces more than this is refused with 413, any other body closes the
// connection after the answer.
constexpr std::uint64_t kMaxBodyBytes = 64 * 1024;
// Header fields per request head (within --web.max-header-bytes).
constexpr int kMaxHeaderFields = 100;

constexpr char kRealmHeader[] = "Basic realm=\"cdc-sentinel\"";
// The status page has an inline <style> and a meta refresh, no script, no
// image, no form; nothing may frame any of the pages.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'";

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

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

// What a worker needs of a request: its head, read and kept by HeadParser.
struct Request {
  http::verb method = http::verb::unknown;
  std::string target;
  unsigned version = 11;
  std::string authorization;
  int authorization_fields = 0;
  std::string accept_encoding;
  bool keep_alive = false;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;

  Request() = default;
  Request(Request&&) = default;
  Request& operator=(Request&&) = default;
  ~Request() { std::fill(authorization.begin(), authorization.end(), '\0'); }
  bool head() const { return method == http::verb::head; }
  bool has_body() const {
    return chunked || (content_length && *content_length > 0);
  }
  std::string_view path() const {
    return std::string_view(target).substr(0, target.find('?'));
  }
  std::string_view credentials() const {
    return authorization_fields == 1 ? authorization : std::string_view();
  }
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::string tail;  // sent after body
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after it

  static Response Text(unsigned status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

// Parses a request head and keeps only what the server uses; the head's
// size is bounded by header_limit (--web.max-header-bytes) and its field
// count by kMaxHeaderFields, so it holds no more than that whatever is sent.
class HeadParser : public http::basic_parser<true> {
 public:
  explicit HeadParser(std::size_t max_header_bytes) {
    header_limit(static_cast<std::uint32_t>(max_header_bytes));
  }
  Request Take() {
    req_.keep_alive = keep_alive();
    if (const auto n = content_length()) req_.content_length = *n;
    req_.chunked = chunked();
    return std::move(req_);
  }

 private:
  void on_request_impl(http::verb method, beast::string_view,
                       beast::string_view target, int version,
                       ErrorCode&) override {
    req_.method = method;
    req_.target.assign(target.data(), target.size());
    req_.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, beast::string_view, int, ErrorCode& ec) override {
    ec = http::error::bad_version;
  }
  void on_field_impl(http::field name, beast::string_view,
                     beast::string_view value, ErrorCode& ec) override {
    if (++fields_ > kMaxHeaderFields) {
      ec = http::error::header_limit;
      return;
    }
    if (name == http::field::authorization) {
      ++req_.authorization_fields;
      req_.authorization.assign(value.data(), value.size());
    } else if (name == http::field::accept_encoding) {
      if (!req_.accept_encoding.empty()) req_.accept_encoding += ",";
      req_.accept_encoding.append(value.data(), value.size());
    }
  }
  void on_header_impl(ErrorCode&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&,
                         ErrorCode&) override {}
  std::size_t on_body_impl(beast::string_view body, ErrorCode&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view,
                            ErrorCode&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 ErrorCode&) override {
    return body.size();
  }
  void on_finish_impl(ErrorCode&) override {}

  Request req_;
  int fields_ = 0;
};

// Runs bcrypt verifications one at a time on the worker pool, those that
// arrive meanwhile queued up to a bound: a flood of wrong passwords costs at
// most one core, and the workers stay free for scrapes (whose credentials
// the authenticator remembers). Thread-safe.
class BcryptGate {
 public:
  BcryptGate(asio::io_context& workers, std::size_t max_waiting)
      : workers_(workers), max_waiting_(max_waiting) {}
  BcryptGate(const BcryptGate&) = delete;
  BcryptGate& operator=(const BcryptGate&) = delete;

  // Runs `job` when no other runs; false (and `job` dropped) if
  // `max_waiting` jobs already wait.
  bool TryRun(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!busy_) {
      busy_ = true;
      Start(std::move(job));
      return true;
    }
    if (waiting_.size() >= max_waiting_) return false;
    waiting_.push_back(std::move(job));
    return true;
  }

 private:
  void Start(std::function<void()> job) {
    asio::post(workers_, [this, job = std::move(job)] {
      job();
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_.empty()) {
        busy_ = false;
        return;
      }
      Start(std::move(waiting_.front()));
      waiting_.pop_front();
    });
  }

  asio::io_context& workers_;
  const std::size_t max_waiting_;
  std::mutex mu_;  // guards the two below
  bool busy_ = false;
  std::deque<std::function<void()>> waiting_;
};

enum class Refusal {
  kHeadTooLarge,
  kHeadTimeout,
  kTooManyConnections,
  kTooManyRequests,
  kAuthFailed,
};
constexpr std::array<const char*, 5> kRefusalNames = {
    "head_too_large", "head_timeout", "too_many_connections",
    "too_many_requests", "auth_failed"};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(App& app, Logger& log, std::string web_config_file, HttpLimits limits);
  ~Impl() { Stop(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  bool Bind(const std::string& listen_address, std::string* error);
  void Serve();
  void Stop();
  bool Reload(std::string* error);
  bool ReloadWebConfig(std::string* error);

  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  class Session;

  void Accept();
  void OnAccept(const ErrorCode& ec, tcp::socket socket);
  void RefuseConnection(tcp::socket& socket);
  // From a session, on its strand: false if --web.max-requests are running.
  bool BeginRequest();
  // Computes the answer on a worker, then hands it to the session.
  void Dispatch(std::shared_ptr<Session> s, Request req);
  void Authorize(std::shared_ptr<Session> s, Request req);
  void Finish(const std::shared_ptr<Session>& s, Response r);
  // 429: the password checks are saturated.
  void TooBusy(const std::shared_ptr<Session>& s);
  Response Handle(const Request& req);
  Response Route(const Request& req);
  Response ReloadEndpoint(const Request& req);
  Response StatusPage(const Request& req);
  Response StatusApi(const Request& req);
  Response MetricsPage(const Request& req);
  Response Healthy(const Request& req);
  Response ReadyPage(const Request& req);
  static Response LargeBody(const Request& req, std::string body,
                            const std::string& content_type,
                            std::string tail = "");
  static Response Unauthorized();
  void CollectSelf(MetricSink& sink) const;
  void Count(Refusal r);

  static int OnClientHello(SSL* ssl, int* alert, void* self);
  std::shared_ptr<const TlsMaterial> CurrentTls() const;
  std::shared_ptr<BasicAuthenticator> CurrentAuth() const;

  App& app_;
  Logger& log_;
  const std::string web_config_file_;
  const HttpLimits limits_;
  bool tls_ = false;
  int port_ = 0;
  mutable std::mutex web_mu_;  // guards the two below and the reload status
  std::shared_ptr<const TlsMaterial> tls_material_;
  std::shared_ptr<BasicAuthenticator> auth_;  // null: no authentication
  bool web_reload_ok_ = true;

  std::array<std::atomic<std::uint64_t>, kRefusalNames.size()> refused_{};
  std::atomic<int> open_connections_{0};
  std::atomic<int> requests_in_flight_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> last_limit_warning_{0};

  // Destroyed in reverse order: what the sessions use outlives them (they
  // are destroyed with the pending handlers of the contexts).
  std::unique_ptr<asio::ssl::context> ssl_ctx_;
  asio::io_context ioc_{kIoThreads};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_retry_{ioc_};
  asio::io_context workers_{kWorkerThreads};
  BcryptGate bcrypt_{workers_, kAuthQueue};
};

// One client connection. Everything but Answer() runs on the connection's
// strand.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket)
      : server_(server),
        tcp_(std::move(socket)),
        timer_(tcp_.get_executor()),
        buffer_(server.limits_.max_header_bytes),
        head_deadline_(Clock::now() + server.limits_.read_header_timeout) {}
  ~Session() { --server_.open_connections_; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    if (server_.tls_) {
      WaitForClientHello();
    } else {
      tcp_.expires_at(head_deadline_);
      ReadHead();
    }
  }

  // From a worker: writes `r` on the session's strand.
  void Answer(Response r) {
    asio::post(tcp_.get_executor(),
               [self = shared_from_this(), r = std::move(r)]() mutable {
                 self->Write(std::move(r), kWriteTimeout);
               });
  }

 private:
  using SslStream = asio::ssl::stream<beast::tcp_stream&>;

  template <class F>
  void WithStream(F&& f) {
    if (ssl_) {
      f(*ssl_);
    } else {
      f(tcp_);
    }
  }

  // TLS: the TLS state (two 17 KB buffers) is made only once the client
  // sends something; until then a connection holds a socket and this.
  void WaitForClientHello() {
    timer_.expires_at(head_deadline_);
    timer_.async_wait([self = shared_from_this()](const ErrorCode& ec) {
      if (ec) return;  // cancelled: the client spoke
      self->silent_past_deadline_ = true;
      ErrorCode ignored;
      self->tcp_.socket().cancel(ignored);
    });
    tcp_.socket().async_wait(tcp::socket::wait_read,
                             [self = shared_from_this()](const ErrorCode& ec) {
                               self->timer_.cancel();
                               if (ec) return self->Fail(ec);
                               self->Handshake();
                             });
  }

  void Handshake() {
    tcp_.expires_at(head_deadline_);
    ssl_ = std::make_unique<SslStream>(tcp_, *server_.ssl_ctx_);
    ssl_->async_handshake(asio::ssl::stream_base::server,
                          [self = shared_from_this()](const ErrorCode& ec) {
                            if (ec) return self->Fail(ec);
                            self->ReadHead();
                          });
  }

  // Reads a request head within the deadline set on tcp_.
  void ReadHead() {
    parser_.emplace(server_.limits_.max_header_bytes);
    WithStream([&](auto& stream) {
      http::async_read_header(
          stream, buffer_, *parser_,
          beast::bind_front_handler(&Session::OnHead, shared_from_this()));
    });
  }

  void OnHead(const ErrorCode& ec, std::size_t) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return HeadTooLarge();
    }
    if (ec &&
        ec.category() ==
            http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      Response r = Response::Text(400, "Bad request.\n");
      r.close = true;
      return Write(std::move(r), kRefusalWriteTimeout);
    }
    if (ec) return Fail(ec);
    tcp_.expires_never();
    Request req = parser_->Take();
    parser_.reset();
    version_ = req.version;
    keep_alive_ = req.keep_alive && !req.has_body();
    head_ = req.head();
    if (req.content_length && *req.content_length > kMaxBodyBytes) {
      return Write(Response::Text(413, "Request body too large.\n"),
                   kRefusalWriteTimeout);
    }
    if (!server_.BeginRequest()) {
      server_.Count(Refusal::kTooManyRequests);
      Response r = Response::Text(503, "Too many requests.\n");
      r.headers.emplace_back("Retry-After", "1");
      return Write(std::move(r), kRefusalWriteTimeout);
    }
    server_.Dispatch(shared_from_this(), std::move(req));
  }

  // A failed head or handshake: counted if it ran out of time, then closed.
  void Fail(const ErrorCode& ec) {
    if (ec == beast::error::timeout || silent_past_deadline_) {
      server_.Count(Refusal::kHeadTimeout);
    }
    Close();
  }

  void HeadTooLarge() {
    server_.Count(Refusal::kHeadTooLarge);
    const auto data = buffer_.cdata();
    const bool line_ended =
        std::memchr(data.data(), '\n', data.size()) != nullptr;
    Response r = line_ended
                     ? Response::Text(431, "Request header fields too large.\n")
                     : Response::Text(414, "Request line too long.\n");
    r.close = true;
    version_ = 11;
    Write(std::move(r), kRefusalWriteTimeout);
  }

  // Sends `r` in one gathered write: the head, then the body's parts as
  // they are (megabytes are neither copied nor re-framed).
  void Write(Response r, Clock::duration timeout) {
    out_ = std::move(r);
    if (out_.close) keep_alive_ = false;
    std::string& h = out_head_;
    h.clear();
    h += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    h += std::to_string(out_.status);
    h += ' ';
    const auto reason =
        http::obsolete_reason(static_cast<http::status>(out_.status));
    h.append(reason.data(), reason.size());
    h += "\r\nContent-Type: " + out_.content_type +
         "\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY"
         "\r\nContent-Security-Policy: ";
    h += kContentSecurityPolicy;
    h += "\r\n";
    for (const auto& [name, value] : out_.headers) {
      h += name + ": " + value + "\r\n";
    }
    if (!keep_alive_ && version_ >= 11) h += "Connection: close\r\n";
    if (keep_alive_ && version_ < 11) h += "Connection: keep-alive\r\n";
    h += "Content-Length: " +
         std::to_string(out_.body.size() + out_.tail.size()) + "\r\n\r\n";
    if (head_) {
      out_.body.clear();
      out_.tail.clear();
    }
    const std::array<asio::const_buffer, 3> buffers = {asio::buffer(out_head_),
                                                       asio::buffer(out_.body),
                                                       asio::buffer(out_.tail)};
    tcp_.expires_after(timeout);
    WithStream([&](auto& stream) {
      asio::async_write(
          stream, buffers,
          beast::bind_front_handler(&Session::OnWritten, shared_from_this()));
    });
  }

  void OnWritten(const ErrorCode& ec, std::size_t) {
    out_ = {};  // a large body is not kept while the connection idles
    if (ec || !keep_alive_) return Close();
    // Kept alive: the next request must start within kIdleTimeout, then its
    // head is due within --web.read-header-timeout of its first byte.
    if (buffer_.size() > 0) return NextHead();
    tcp_.expires_after(kIdleTimeout);
    WithStream([&](auto& stream) {
      stream.async_read_some(
          buffer_.prepare(512),
          [self = shared_from_this()](const ErrorCode& ec, std::size_t n) {
            if (ec) return self->Close();  // idle: not a refusal
            self->buffer_.commit(n);
            self->NextHead();
          });
    });
  }

  void NextHead() {
    head_deadline_ = Clock::now() + server_.limits_.read_header_timeout;
    tcp_.expires_at(head_deadline_);
    ReadHead();
  }

  void Close() {
    ErrorCode ignored;
    tcp_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_.socket().close(ignored);
  }

  Impl& server_;
  beast::tcp_stream tcp_;
  std::unique_ptr<SslStream> ssl_;  // after tcp_: refers to it
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<HeadParser> parser_;
  Response out_;          // the answer being written
  std::string out_head_;  // its status line and header fields
  Clock::time_point head_deadline_;
  unsigned version_ = 11;
  bool silent_past_deadline_ = false;  // TLS: nothing sent by the deadline
  bool keep_alive_ = false;
  bool head_ = false;
};

// ------------------------------------------------------------------ server

HttpServer::Impl::Impl(App& app, Logger& log, std::string web_config_file,
                       HttpLimits limits)
    : app_(app),
      log_(log),
      web_config_file_(std::move(web_config_file)),
      limits_(limits) {
  if (!web_config_file_.empty()) {
    WebConfig wc = LoadWebConfigFile(web_config_file_);  // throws ConfigError
    tls_ = wc.tls.has_value();
    tls_material_ = wc.tls_material;
    if (!wc.basic_auth_users.empty()) {
      auth_ = std::make_shared<BasicAuthenticator>(wc.basic_auth_users);
    }
  }
  if (tls_) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx || !SetUpTlsContext(*ctx, this, &Impl::OnClientHello)) {
      throw std::runtime_error("cannot set up the TLS server context");
    }
    ssl_ctx_ = std::make_unique<asio::ssl::context>(ctx.release());  // owns it
  }
}

int HttpServer::Impl::OnClientHello(SSL* ssl, int* alert, void* self) {
  auto material = static_cast<Impl*>(self)->CurrentTls();
  if (!material || !material->ApplyTo(ssl)) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

std::shared_ptr<const TlsMaterial> HttpServer::Impl::CurrentTls() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return tls_material_;
}

std::shared_ptr<BasicAuthenticator> HttpServer::Impl::CurrentAuth() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return auth_;
}

bool HttpServer::Impl::ReloadWebConfig(std::string* error) {
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

bool HttpServer::Impl::Reload(std::string* error) {
  std::string app_error, web_error;
  const bool app_ok = app_.Reload(&app_error);
  const bool web_ok = ReloadWebConfig(&web_error);
  error->clear();
  if (!app_ok) *error = app_error;
  if (!web_ok) *error += (error->empty() ? "" : "; ") + web_error;
  return app_ok && web_ok;
}

bool HttpServer::Impl::Bind(const std::string& listen_address,
                            std::string* error) {
  std::string host;
  int port;
  if (!SplitListenAddress(listen_address, &host, &port, error)) return false;
  ErrorCode ec;
  tcp::endpoint endpoint;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, static_cast<unsigned short>(port));
  } else {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (!ec && !results.empty()) endpoint = *results.begin();
  }
  if (!ec) acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor_.local_endpoint(ec).port();
  if (ec) {
    *error = "cannot listen on " + listen_address + ": " + ec.message();
    ErrorCode ignored;
    acceptor_.close(ignored);
    return false;
  }
  return true;
}

void HttpServer::Impl::Serve() {
  auto keep_workers = asio::make_work_guard(workers_);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkerThreads; ++i) {
    threads.emplace_back([this] {
      NameThisThread("cdc-http-worker");
      workers_.run();
    });
  }
  Accept();
  for (int i = 1; i < kIoThreads; ++i) {
    threads.emplace_back([this] {
      NameThisThread("cdc-http");
      ioc_.run();
    });
  }
  ioc_.run();
  Stop();
  for (auto& t : threads) t.join();
}

void HttpServer::Impl::Stop() {
  stopped_ = true;
  ioc_.stop();
  workers_.stop();
}

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_),
                         [this](const ErrorCode& ec, tcp::socket socket) {
                           OnAccept(ec, std::move(socket));
                         });
}

void HttpServer::Impl::OnAccept(const ErrorCode& ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors (EMFILE) or memory: retry shortly rather than
    // spin. The connections already open keep being served.
    log_.Warn("cannot accept a connection", {{"err", ec.message()}});
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](const ErrorCode& e) {
      if (!e) Accept();
    });
    return;
  }
  if (open_connections_.load() >= limits_.max_connections) {
    Count(Refusal::kTooManyConnections);
    RefuseConnection(socket);
  } else {
    ++open_connections_;
    ErrorCode ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(*this, std::move(socket))->Start();
  }
  Accept();
}

void HttpServer::Impl::RefuseConnection(tcp::socket& socket) {
  ErrorCode ignored;
  if (!tls_) {
    // Best effort, never waiting: a 503 fits in any socket buffer.
    static const std::string kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        "Content-Length: 22\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        "Too many connections.\n";
    socket.non_blocking(true, ignored);
    socket.send(asio::buffer(kBusy), 0, ignored);
  }
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void HttpServer::Impl::Count(Refusal r) {
  ++refused_[static_cast<std::size_t>(r)];
  if (r != Refusal::kTooManyConnections && r != Refusal::kTooManyRequests) {
    return;
  }
  // Hitting a limit is worth a warning, once a minute at most.
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          Clock::now().time_since_epoch())
                          .count();
  int64_t last = last_limit_warning_.load();
  if (now - last < 60 ||
      !last_limit_warning_.compare_exchange_strong(last, now)) {
    return;
  }
  log_.Warn("HTTP server at a limit: refusing clients",
            {{"reason", kRefusalNames[static_cast<std::size_t>(r)]},
             {"max_connections", std::to_string(limits_.max_connections)},
             {"max_requests", std::to_string(limits_.max_requests)}});
}

bool HttpServer::Impl::BeginRequest() {
  const int n = ++requests_in_flight_;
  if (limits_.max_requests > 0 && n > limits_.max_requests) {
    --requests_in_flight_;
    return false;
  }
  return true;
}

void HttpServer::Impl::Dispatch(std::shared_ptr<Session> s, Request req) {
  asio::post(workers_,
             [this, s = std::move(s), req = std::move(req)]() mutable {
               Authorize(std::move(s), std::move(req));
             });
}

// On a worker. As Prometheus' exporter-toolkit, every endpoint is protected
// when users are configured, /-/healthy included.
void HttpServer::Impl::Authorize(std::shared_ptr<Session> s, Request req) {
  auto auth = CurrentAuth();
  if (!auth) return Finish(s, Handle(req));
  auto pending = std::make_shared<BasicAuthenticator::Pending>();
  switch (auth->Lookup(req.credentials(), pending.get())) {
    case BasicAuthenticator::Cached::kAllowed:
      return Finish(s, Handle(req));
    case BasicAuthenticator::Cached::kDenied:
      Count(Refusal::kAuthFailed);
      return Finish(s, Unauthorized());
    case BasicAuthenticator::Cached::kUnknown:
      break;
  }
  auto shared_req = std::make_shared<Request>(std::move(req));
  const auto queued_at = Clock::now();
  const bool queued =
      bcrypt_.TryRun([this, s, shared_req, auth, pending, queued_at] {
        if (Clock::now() - queued_at > kAuthQueueWait) return TooBusy(s);
        if (auth->Verify(*pending)) return Finish(s, Handle(*shared_req));
        Count(Refusal::kAuthFailed);
        Finish(s, Unauthorized());
      });
  if (!queued) TooBusy(s);
}

void HttpServer::Impl::TooBusy(const std::shared_ptr<Session>& s) {
  Count(Refusal::kTooManyRequests);
  Response r =
      Response::Text(429, "Too many authentication attempts; retry later.\n");
  r.headers.emplace_back("Retry-After", "1");
  Finish(s, std::move(r));
}

void HttpServer::Impl::Finish(const std::shared_ptr<Session>& s, Response r) {
  --requests_in_flight_;
  s->Answer(std::move(r));
}

Response HttpServer::Impl::Unauthorized() {
  Response r = Response::Text(401, "Unauthorized.\n");
  r.headers.emplace_back("WWW-Authenticate", kRealmHeader);
  return r;
}

Response HttpServer::Impl::Handle(const Request& req) {
  try {
    return Route(req);
  } catch (const std::exception& e) {
    log_.Error("HTTP handler failed",
               {{"path", std::string(req.path())}, {"err", e.what()}});
  } catch (...) {
    log_.Error("HTTP handler failed",
               {{"path", std::string(req.path())}, {"err", "unknown error"}});
  }
  return Response::Text(500, "Internal error.\n");
}

Response HttpServer::Impl::Route(const Request& req) {
  using Handler = Response (Impl::*)(const Request&);
  static const std::map<std::string_view, Handler> kPages = {
      {"/", &Impl::StatusPage},
      {"/status", &Impl::StatusPage},
      {"/api/v1/status", &Impl::StatusApi},
      {"/metrics", &Impl::MetricsPage},
      {"/-/healthy", &Impl::Healthy},
      {"/-/ready", &Impl::ReadyPage},
      {"/-/reload", &Impl::ReloadEndpoint}};
  const auto page = kPages.find(req.path());
  if (page == kPages.end()) return Response::Text(404, "Not found.\n");
  if (page->second != &Impl::ReloadEndpoint && req.method != http::verb::get &&
      !req.head()) {
    Response r = Response::Text(405, "Method not allowed.\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  return (this->*page->second)(req);
}

Response HttpServer::Impl::ReloadEndpoint(const Request& req) {
  if (req.method != http::verb::post && req.method != http::verb::put) {
    Response r = Response::Text(405, "Use POST to reload.\n");
    r.headers.emplace_back("Allow", "POST, PUT");
    return r;
  }
  std::string error;
  Response r = Reload(&error)
                   ? Response::Text(200, "Configuration reloaded.\n")
                   : Response::Text(500, "Reload failed: " + error + "\n");
  r.close = true;  // as before: a reload ends its connection
  return r;
}

Response HttpServer::Impl::LargeBody(const Request& req, std::string body,
                                     const std::string& content_type,
                                     std::string tail) {
  EncodedBody e =
      EncodeLargeBody(std::move(body), req.accept_encoding, std::move(tail));
  Response r;
  r.content_type = content_type;
  r.body = std::move(e.body);
  r.tail = std::move(e.tail);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (e.gzip) r.headers.emplace_back("Content-Encoding", "gzip");
  return r;
}

Response HttpServer::Impl::StatusPage(const Request& req) {
  return LargeBody(req, StatusHtml(app_), "text/html; charset=utf-8");
}

Response HttpServer::Impl::StatusApi(const Request& req) {
  return LargeBody(req, StatusJson(app_), "application/json");
}

Response HttpServer::Impl::MetricsPage(const Request& req) {
  MetricSink sink;
  CollectSelf(sink);
  // Moved, not copied: the body is megabytes at a thousand connectors; the
  // server's own families follow it as a second part.
  return LargeBody(req, app_.ScrapeText(),
                   "text/plain; version=0.0.4; charset=utf-8", sink.Render());
}

Response HttpServer::Impl::Healthy(const Request&) {
  return Response::Text(200, "Healthy.\n");
}

Response HttpServer::Impl::ReadyPage(const Request&) {
  return app_.Ready() ? Response::Text(200, "Ready.\n")
                      : Response::Text(503, "Not ready.\n");
}

void HttpServer::Impl::CollectSelf(MetricSink& sink) const {
  if (!web_config_file_.empty()) {
    bool ok;
    {
      std::lock_guard<std::mutex> lock(web_mu_);
      ok = web_reload_ok_;
    }
    sink.Gauge("cdc_web_config_last_reload_successful",
               "1 if the last load of --web.config.file succeeded, 0 if it "
               "was rejected (the previous one is still in use).",
               {}, ok ? 1 : 0);
  }
  sink.Gauge("cdc_http_open_connections",
             "Connections to the exporter's HTTP server open now (at most "
             "--web.max-connections).",
             {}, open_connections_.load());
  for (std::size_t i = 0; i < kRefusalNames.size(); ++i) {
    sink.Counter(
        "cdc_http_requests_refused_total",
        "Connections and requests the HTTP server refused, by reason: "
        "head_too_large (431/414, --web.max-header-bytes), head_timeout "
        "(--web.read-header-timeout), too_many_connections "
        "(--web.max-connections), too_many_requests (503 beyond "
        "--web.max-requests, 429 while password checks are saturated), "
        "auth_failed (401).",
        {{"reason", kRefusalNames[i]}}, static_cast<double>(refused_[i]));
  }
}

// ------------------------------------------------------------------ facade

HttpServer::HttpServer(App& app, Logger& log, std::string web_config_file,
                       HttpLimits limits)
    : impl_(std::make_unique<Impl>(app, log, std::move(web_config_file),
                                   limits)) {}
HttpServer::~HttpServer() = default;
bool HttpServer::Bind(const std::string& listen_address, std::string* error) {
  return impl_->Bind(listen_address, error);
}
int HttpServer::port() const { return impl_->port(); }
bool HttpServer::tls() const { return impl_->tls(); }
void HttpServer::Serve() { impl_->Serve(); }
void HttpServer::Stop() { impl_->Stop(); }
bool HttpServer::Reload(std::string* error) { return impl_->Reload(error); }
bool HttpServer::ReloadWebConfig(std::string* error) {
  return impl_->ReloadWebConfig(error);
}

}  // namespace cdc
