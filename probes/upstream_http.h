#pragma once

// A bounded HTTP/1.1 client for the upstreams cdc-sentinel queries (Kafka
// Connect's REST API, Prometheus' HTTP API for `report`). Everything an
// upstream sends is bounded: the response head (status line and header
// fields), the body, the chunked framing, and the time of the whole exchange.
// An answer over a limit is an error naming the limit, never memory.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace boost::asio {
class io_context;
}

namespace cdc::upstream {

// The most a response's status line and header fields may take. Kafka
// Connect and Prometheus send well under 1 KiB.
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;

struct HttpResult {
  bool ok = false;  // a complete response arrived (any status)
  int status = 0;
  std::string body;
  std::string error;  // why not ok, for the log: "cannot connect: ...", ...
};

// Where requests go and how to authenticate.
struct HttpEndpoint {
  config::HttpUrl url;                          // scheme, host, port, base path
  std::optional<config::ClientTls> tls;         // used for https only
  std::optional<config::BasicAuth> basic_auth;  // sent with every request
};

struct HttpLimits {
  std::size_t max_head_bytes = kMaxHeadBytes;
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  // The setting that holds max_body_bytes, named in the error, e.g.
  // "max_response_bytes"; empty: the size alone.
  std::string body_limit_name;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, encoded; appended to the base path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length (also when empty, for POST)
};

// Sends requests to one HTTP(S) origin, each on a connection of its own
// ("Connection: close", redirects not followed), and bounds each: connect,
// TLS handshake, request and response all end by the request's deadline; the
// response head may take HttpLimits::max_head_bytes and the body
// max_body_bytes, beyond which the connection is dropped and the result is
// an error naming the limit. Name resolution runs under the deadline too, but
// a resolver that hangs past it delays the return until it gives up (as
// getaddrinfo() cannot be interrupted).
// Thread-safe: Cancel() and Reset() may be called from any thread while
// another thread is in Send(); Send() calls are serialised.
class HttpClient {
 public:
  HttpClient(HttpEndpoint endpoint, HttpLimits limits);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult Send(const HttpRequest& request,
                  std::chrono::steady_clock::time_point deadline);

  // Aborts the request in progress, if any, and makes the next ones fail
  // until Reset().
  void Cancel();
  void Reset();

  // "http://host:port", as named in errors.
  std::string Origin() const;

 private:
  const HttpEndpoint endpoint_;
  const HttpLimits limits_;
  std::mutex request_mu_;  // one request at a time
  std::mutex active_mu_;   // guards active_ and cancelled_
  boost::asio::io_context* active_ = nullptr;
  bool cancelled_ = false;
};

// "64 KiB", "16 MiB", "1000 bytes": a size as a user would write it.
std::string FormatBytes(std::size_t n);

}  // namespace cdc::upstream
