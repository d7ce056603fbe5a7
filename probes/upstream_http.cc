#include "probes/upstream_http.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <exception>
#include <limits>

namespace cdc::upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// The read buffer holds a whole head (the parser needs it contiguous) and
// then only what the parser has not consumed: body bytes are moved to the
// body as they arrive. Its cap, a head at its limit plus one read, also
// bounds what the head limit does not cover: chunk-size lines, chunk
// extensions and trailer fields.
constexpr std::size_t kReadSlack = 64 * 1024;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()),
                      static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

bool IsIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string HostPort(const config::HttpUrl& url) {
  const bool v6 = url.host.find(':') != std::string::npos;
  return (v6 ? "[" + url.host + "]" : url.host) + ":" +
         std::to_string(url.port);
}

http::request<http::string_body> MakeRequest(const HttpEndpoint& ep,
                                             const HttpRequest& r) {
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(r.method);
  req.target(ep.url.base_path + r.target);
  req.set(http::field::host, HostPort(ep.url));
  req.set(http::field::user_agent, "cdc-sentinel");
  req.set(http::field::connection, "close");
  if (ep.basic_auth) {
    req.set(http::field::authorization,
            "Basic " + Base64(ep.basic_auth->username + ":" +
                              ep.basic_auth->password.value));
  }
  for (const auto& [name, value] : r.headers) req.set(name, value);
  req.body() = r.body;
  req.prepare_payload();  // Content-Length, also 0 for a POST
  return req;
}

// One request and its response on one connection, driven by the caller's
// io_context: Start(), run the io_context (until the deadline), Finish().
// Not thread-safe; handlers run on the thread that runs the io_context.
class Exchange {
 public:
  Exchange(asio::io_context& ioc, const HttpEndpoint& ep,
           const HttpLimits& limits, std::string origin,
           http::request<http::string_body> req)
      : ioc_(ioc),
        ep_(ep),
        limits_(limits),
        origin_(std::move(origin)),
        resolver_(ioc),
        socket_(ioc),
        req_(std::move(req)),
        buffer_(limits.max_head_bytes + kReadSlack) {
    parser_.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        limits.max_head_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_.body_limit(limits.max_body_bytes);
  }
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  void Start();
  // After the io_context returned: the response, or why there is none.
  HttpResult Finish(bool cancelled);

 private:
  enum class Phase { kResolve, kConnect, kHandshake, kWrite, kRead, kDone };

  bool SetUpTls();
  void Connect(std::vector<tcp::endpoint> endpoints);
  void OnConnect(const error_code& ec);
  void OnHandshake(const error_code& ec);
  void Write();
  void OnWrite(const error_code& ec);
  void OnHead(const error_code& ec);
  void OnRead(const error_code& ec);
  std::string ReadError(const error_code& ec) const;
  std::string TimeoutError() const;
  void Fail(std::string why);

  tcp::socket& Socket() { return tls_ ? tls_->next_layer() : socket_; }
  // Calls f with the stream the HTTP messages go over.
  template <typename F>
  void WithStream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(socket_);
    }
  }

  asio::io_context& ioc_;
  const HttpEndpoint& ep_;
  const HttpLimits& limits_;
  const std::string origin_;
  tcp::resolver resolver_;
  tcp::socket socket_;  // plain HTTP; under TLS, tls_ has its own
  std::optional<ssl::context> ssl_ctx_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  std::vector<tcp::endpoint> endpoints_;
  http::request<http::string_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  Phase phase_ = Phase::kResolve;
  HttpResult result_;
};

void Exchange::Start() {
  if (ep_.url.scheme == "https" && !SetUpTls()) return;
  const std::string& host = ep_.url.host;
  const auto port = static_cast<unsigned short>(ep_.url.port);
  if (IsIpLiteral(host)) {
    Connect({tcp::endpoint(asio::ip::make_address(host), port)});
    return;
  }
  resolver_.async_resolve(
      host, std::to_string(port),
      [this](const error_code& ec, const tcp::resolver::results_type& r) {
        if (ec) {
          Fail("cannot resolve " + ep_.url.host + ": " + ec.message());
          return;
        }
        Connect({r.begin(), r.end()});
      });
}

bool Exchange::SetUpTls() {
  const auto& tls = ep_.tls;
  ssl_ctx_.emplace(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ssl_ctx_->native_handle(), TLS1_2_VERSION);
  error_code ec;
  std::string what;
  if (tls && !tls->ca_file.empty()) {
    what = tls->ca_file;
    ssl_ctx_->load_verify_file(tls->ca_file, ec);
  } else {
    what = "the system trust store";
    ssl_ctx_->set_default_verify_paths(ec);
  }
  if (!ec && tls && !tls->cert_file.empty()) {
    what = tls->cert_file + " / " + tls->key_file;
    ssl_ctx_->use_certificate_chain_file(tls->cert_file, ec);
    if (!ec)
      ssl_ctx_->use_private_key_file(tls->key_file, ssl::context::pem, ec);
  }
  if (ec) {
    Fail("cannot load TLS certificates (" + what + "): " + ec.message());
    return false;
  }
  const bool verify = !(tls && tls->insecure_skip_verify);
  ssl_ctx_->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  tls_.emplace(ioc_, *ssl_ctx_);
  SSL* s = tls_->native_handle();
  const std::string& host = ep_.url.host;
  const bool ip = IsIpLiteral(host);
  if (!ip) SSL_set_tlsext_host_name(s, host.c_str());  // SNI: names only
  if (verify) {
    // OpenSSL checks the name (or address) against the certificate as part
    // of verification, and names a mismatch in the verify result.
    const int set =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), host.c_str())
           : SSL_set1_host(s, host.c_str());
    if (set != 1) {
      Fail("cannot check the TLS server name " + host);
      return false;
    }
  }
  return true;
}

void Exchange::Connect(std::vector<tcp::endpoint> endpoints) {
  phase_ = Phase::kConnect;
  endpoints_ = std::move(endpoints);
  asio::async_connect(
      Socket(), endpoints_,
      [this](const error_code& ec, const tcp::endpoint&) { OnConnect(ec); });
}

void Exchange::OnConnect(const error_code& ec) {
  if (ec) {
    Fail("cannot connect to " + HostPort(ep_.url) + ": " + ec.message());
    return;
  }
  if (!tls_) {
    Write();
    return;
  }
  phase_ = Phase::kHandshake;
  tls_->async_handshake(ssl::stream_base::client,
                        [this](const error_code& e) { OnHandshake(e); });
}

void Exchange::OnHandshake(const error_code& ec) {
  if (!ec) {
    Write();
    return;
  }
  const long verify = SSL_get_verify_result(tls_->native_handle());
  if (ec.category() == asio::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
          SSL_R_CERTIFICATE_VERIFY_FAILED) {
    Fail(std::string("TLS server certificate verification failed: ") +
         X509_verify_cert_error_string(verify));
  } else {
    Fail("TLS handshake failed: " + ec.message());
  }
}

void Exchange::Write() {
  phase_ = Phase::kWrite;
  WithStream([this](auto& stream) {
    http::async_write(stream, req_, [this](const error_code& ec, std::size_t) {
      OnWrite(ec);
    });
  });
}

void Exchange::OnWrite(const error_code& ec) {
  if (ec) {
    Fail("cannot send the request: " + ec.message());
    return;
  }
  phase_ = Phase::kRead;
  // The head first, on its own: Boost 1.74's parser drops its body_limit
  // error for a Content-Length over the limit when body bytes arrive in the
  // same read as the head (the eager parse goes on into the body), so the
  // length is checked here before any of the body is read.
  WithStream([this](auto& stream) {
    http::async_read_header(
        stream, buffer_, parser_,
        [this](const error_code& e, std::size_t) { OnHead(e); });
  });
}

void Exchange::OnHead(const error_code& ec) {
  if (ec) {
    Fail(ReadError(ec));
    return;
  }
  const auto length = parser_.content_length();
  if (length && *length > limits_.max_body_bytes) {
    Fail(ReadError(http::error::body_limit));
    return;
  }
  WithStream([this](auto& stream) {
    http::async_read(stream, buffer_, parser_,
                     [this](const error_code& e, std::size_t) { OnRead(e); });
  });
}

void Exchange::OnRead(const error_code& ec) {
  if (ec) {
    Fail(ReadError(ec));
    return;
  }
  auto& res = parser_.get();
  result_.ok = true;
  result_.status = static_cast<int>(res.result_int());
  result_.body = std::move(res.body());
  phase_ = Phase::kDone;
  error_code ignored;
  Socket().close(ignored);
}

std::string Exchange::ReadError(const error_code& ec) const {
  const bool head_done = parser_.is_header_done();
  if (ec == http::error::header_limit ||
      (ec == http::error::buffer_overflow && !head_done)) {
    return "response head over " + FormatBytes(limits_.max_head_bytes) +
           " from " + origin_ + ": the status line and header fields may " +
           "take at most " + std::to_string(limits_.max_head_bytes) + " bytes";
  }
  if (ec == http::error::body_limit) {
    return "response body exceeds " +
           (limits_.body_limit_name.empty()
                ? FormatBytes(limits_.max_body_bytes)
                : limits_.body_limit_name + " (" +
                      std::to_string(limits_.max_body_bytes) + ")") +
           " from " + origin_;
  }
  if (ec == http::error::buffer_overflow) {
    return "response chunk framing (sizes, extensions, trailers) over " +
           FormatBytes(buffer_.max_size()) + " from " + origin_;
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == asio::error::eof || ec == asio::error::connection_reset) {
    return std::string("connection closed before the response ") +
           (head_done ? "body ended" : "head ended") + " (" + ec.message() +
           ")";
  }
  if (ec.category() ==
      http::make_error_code(http::error::bad_version).category()) {
    return "malformed HTTP response from " + origin_ + ": " + ec.message();
  }
  return "cannot read the response: " + ec.message();
}

std::string Exchange::TimeoutError() const {
  switch (phase_) {
    case Phase::kResolve:
      return "cannot resolve " + ep_.url.host + " within the timeout";
    case Phase::kConnect:
      return "cannot connect to " + HostPort(ep_.url) +
             ": connection timed out";
    case Phase::kHandshake:
      return "TLS handshake not complete within the timeout";
    case Phase::kWrite:
      return "request not sent within the timeout";
    default:
      return "response not complete within the timeout (" +
             std::string(parser_.is_header_done() ? "in the body"
                                                  : "in the head") +
             ")";
  }
}

void Exchange::Fail(std::string why) {
  result_.ok = false;
  result_.error = std::move(why);
  phase_ = Phase::kDone;
  error_code ignored;
  resolver_.cancel();
  Socket().close(ignored);
}

HttpResult Exchange::Finish(bool cancelled) {
  if (phase_ != Phase::kDone) {
    result_.ok = false;
    result_.error = cancelled ? "cancelled" : TimeoutError();
  }
  return std::move(result_);
}

}  // namespace

std::string FormatBytes(std::size_t n) {
  constexpr std::size_t kKiB = 1024, kMiB = 1024 * 1024;
  if (n >= kMiB && n % kMiB == 0) return std::to_string(n / kMiB) + " MiB";
  if (n >= kKiB && n % kKiB == 0) return std::to_string(n / kKiB) + " KiB";
  return std::to_string(n) + " bytes";
}

HttpClient::HttpClient(HttpEndpoint endpoint, HttpLimits limits)
    : endpoint_(std::move(endpoint)), limits_(std::move(limits)) {}

HttpClient::~HttpClient() = default;

std::string HttpClient::Origin() const {
  return endpoint_.url.scheme + "://" + HostPort(endpoint_.url);
}

HttpResult HttpClient::Send(const HttpRequest& request,
                            std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> request_lock(request_mu_);
  HttpResult r;
  if (deadline <= std::chrono::steady_clock::now()) {
    r.error = "deadline exceeded before the request";
    return r;
  }
  // Declared before the exchange: its sockets must go first.
  asio::io_context ioc(1);
  Exchange exchange(ioc, endpoint_, limits_, Origin(),
                    MakeRequest(endpoint_, request));
  {
    std::lock_guard<std::mutex> lock(active_mu_);
    if (cancelled_) {
      r.error = "cancelled";
      return r;
    }
    active_ = &ioc;
  }
  exchange.Start();
  // Every operation of the exchange is asynchronous on `ioc`: running it
  // until the deadline bounds the whole exchange, however the upstream
  // trickles or floods. Cancel() stops it early.
  std::string thrown;
  try {
    ioc.run_until(deadline);
  } catch (const std::exception& e) {  // e.g. std::bad_alloc from a handler
    thrown = e.what();
  }
  bool cancelled;
  {
    std::lock_guard<std::mutex> lock(active_mu_);
    active_ = nullptr;
    cancelled = cancelled_;
  }
  r = exchange.Finish(cancelled);
  if (!thrown.empty()) {
    r.ok = false;
    r.error = "failed reading the response: " + thrown;
  }
  return r;
}

void HttpClient::Cancel() {
  std::lock_guard<std::mutex> lock(active_mu_);
  cancelled_ = true;
  if (active_ != nullptr) active_->stop();  // thread-safe
}

void HttpClient::Reset() {
  std::lock_guard<std::mutex> lock(active_mu_);
  cancelled_ = false;
}

}  // namespace cdc::upstream
