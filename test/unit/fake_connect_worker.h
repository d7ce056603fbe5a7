#pragma once

// An in-process fake Kafka Connect worker for tests: a real HTTP(S) listener
// on 127.0.0.1 and an ephemeral port, serving the REST API's documented
// payload shapes, with switchable failure modes. Thread-safe: the setters may
// be called while the server thread serves requests.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace cdc::testing {

struct FakeTask {
  int id = 0;
  std::string state = "RUNNING";
  std::string worker_id = "10.0.0.1:8083";
  std::string trace;  // sent only when not empty
};

struct FakeConnector {
  std::string name;
  std::string state = "RUNNING";
  std::string worker_id = "10.0.0.1:8083";
  std::string trace;  // sent only when not empty
  std::string type = "source";
  std::string connector_class = "io.debezium.connector.mysql.MySqlConnector";
  std::vector<FakeTask> tasks;
  // More keys of the connector's config (database.hostname, topic.prefix).
  std::vector<std::pair<std::string, std::string>> config;
};

enum class FakeMode {
  kNormal,           // Kafka >= 2.3: honours ?expand=status&expand=info
  kNoExpand,         // Kafka < 2.3: GET /connectors always lists names
  kNotFound,         // every request: HTTP 404
  kServerError,      // every request: HTTP 500 with Connect's error body
  kMalformedJson,    // every request: HTTP 200, truncated JSON
  kNeverComplete,    // headers and part of the body, then silence
  kHugeBody,         // a 20 MB body with Content-Length
  kHugeBodyChunked,  // a 20 MB body, chunked (no Content-Length)
  kSlowLoris,        // a valid body, one byte every 200 ms
  kRaw,              // every request: the response set by SetRawResponse()
};

class FakeConnectWorker {
 public:
  static constexpr std::size_t kHugeBodyBytes = 20 * 1024 * 1024;
  static constexpr std::chrono::milliseconds kSlowLorisInterval{200};

  // Plain HTTP.
  FakeConnectWorker();
  // HTTPS with the given PEM certificate chain and key.
  FakeConnectWorker(const std::string& cert_file, const std::string& key_file);
  ~FakeConnectWorker();
  FakeConnectWorker(const FakeConnectWorker&) = delete;
  FakeConnectWorker& operator=(const FakeConnectWorker&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>" or "https://...".
  std::string Url() const;

  void SetConnectors(std::vector<FakeConnector> connectors);
  void SetMode(FakeMode mode);
  // Names GET /connectors lists (in kNoExpand mode) whose status and info
  // are 404, as for a connector deleted between two requests.
  void SetDeletedAfterListing(std::vector<std::string> names);
  // The "message" of Connect's error body in kServerError mode.
  void SetErrorMessage(std::string message);
  // What kRaw mode serves.
  void SetRawResponse(int status, std::string body);
  // From now on, requests without these credentials get HTTP 401.
  void RequireBasicAuth(std::string username, std::string password);

  // "GET /connectors?expand=status&expand=info", in arrival order (the
  // request target as sent, still percent-encoded).
  std::vector<std::string> Requests() const;
  std::size_t RequestCount() const;
  // Waits until at least n requests arrived; false on timeout.
  bool WaitForRequests(std::size_t n, std::chrono::milliseconds timeout) const;

  // Stops the listener and ends stalled responses. Idempotent; the
  // destructor calls it.
  void Stop();

  // The documented payloads.
  static nlohmann::json StatusJson(const FakeConnector& c);
  static nlohmann::json InfoJson(const FakeConnector& c);

 private:
  void Start();
  void Handle(const httplib::Request& req, httplib::Response& res);
  // Sleeps up to d; true if the worker is stopping.
  bool WaitStopping(std::chrono::milliseconds d) const;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;

  mutable std::mutex mu_;  // guards the fields below
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  FakeMode mode_ = FakeMode::kNormal;
  std::vector<FakeConnector> connectors_;
  std::vector<std::string> deleted_after_listing_;
  std::string error_message_ = "Request timed out";
  int raw_status_ = 200;
  std::string raw_body_;
  std::optional<std::string> expected_authorization_;
  std::vector<std::string> requests_;
};

// A raw TCP listener on 127.0.0.1 that reads each request and then sends a
// response's status line and headers one byte per `interval`, never
// finishing them: the slow-loris case httplib::Server cannot produce. Serves
// one connection at a time. Thread-safe.
class SlowHeadersServer {
 public:
  explicit SlowHeadersServer(
      std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  ~SlowHeadersServer();
  SlowHeadersServer(const SlowHeadersServer&) = delete;
  SlowHeadersServer& operator=(const SlowHeadersServer&) = delete;

  std::string Url() const;
  // Bytes sent so far, over all connections.
  std::size_t BytesSent() const;
  // Ends the connection in progress and the listener. Idempotent.
  void Stop();

 private:
  void Serve();
  void Trickle(int fd);
  bool WaitStopping(std::chrono::milliseconds d) const;

  const std::chrono::milliseconds interval_;
  int listen_fd_ = -1;
  int port_ = 0;
  mutable std::mutex mu_;  // guards the fields below
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  std::size_t bytes_sent_ = 0;
  std::thread thread_;
};

// A raw TCP listener on 127.0.0.1 that plays a hostile upstream: it reads
// each request head (bounded), then sends `prefix` and `repeat` over and over,
// as fast as the client reads, until the client hangs up or Stop(): a
// response head, status line, chunk framing or body that never ends. Serves
// one connection at a time. Thread-safe.
class HostileUpstream {
 public:
  HostileUpstream(std::string prefix, std::string repeat);
  ~HostileUpstream();
  HostileUpstream(const HostileUpstream&) = delete;
  HostileUpstream& operator=(const HostileUpstream&) = delete;

  std::string Url() const;
  // "POST /connectors/x/restart?..." per request, in arrival order.
  std::vector<std::string> Requests() const;
  // Bytes sent so far, over all connections.
  std::size_t BytesSent() const;
  // Ends the connection in progress and the listener. Idempotent.
  void Stop();

  // "HTTP/1.1 200 OK\r\n" then header lines ("X-a: bbb...\r\n") forever.
  static std::unique_ptr<HostileUpstream> EndlessHead();
  // A header field whose value never ends (no line end at all).
  static std::unique_ptr<HostileUpstream> EndlessHeaderLine();
  // A status line that never ends.
  static std::unique_ptr<HostileUpstream> EndlessStatusLine();
  // A complete head (chunked), then body chunks forever.
  static std::unique_ptr<HostileUpstream> EndlessChunkedBody();
  // A complete head without a length (read to the end), then body forever.
  static std::unique_ptr<HostileUpstream> EndlessBody();
  // A complete chunked head and last chunk, then trailer fields forever.
  static std::unique_ptr<HostileUpstream> EndlessTrailers();

 private:
  void Serve();
  void Flood(int fd);
  bool Stopping() const;

  const std::string prefix_;
  const std::string repeat_;
  int listen_fd_ = -1;
  int port_ = 0;
  mutable std::mutex mu_;  // guards the fields below
  bool stopping_ = false;
  std::size_t bytes_sent_ = 0;
  std::vector<std::string> requests_;
  std::thread thread_;
};

}  // namespace cdc::testing
