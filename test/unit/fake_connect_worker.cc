#include "test/unit/fake_connect_worker.h"

#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace cdc::testing {
namespace {

using nlohmann::json;

// How long a stalled response waits for Stop() at most, so that a test that
// forgets to stop cannot hang forever.
constexpr std::chrono::seconds kStallLimit{60};

std::string Base64(const std::string& in) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Connect's error body (ConnectExceptionMapper / ErrorMessage).
void SetError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error_code", status}, {"message", message}}.dump(),
                  "application/json");
}

void SetJson(httplib::Response& res, const json& j) {
  res.status = 200;
  res.set_content(j.dump(), "application/json");
}

const FakeConnector* Find(const std::vector<FakeConnector>& connectors,
                          const std::string& name) {
  for (const auto& c : connectors) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

json ExpandedJson(const std::vector<FakeConnector>& connectors, bool status,
                  bool info) {
  json j = json::object();
  for (const auto& c : connectors) {
    json entry = json::object();
    if (status) entry["status"] = FakeConnectWorker::StatusJson(c);
    if (info) entry["info"] = FakeConnectWorker::InfoJson(c);
    j[c.name] = std::move(entry);
  }
  return j;
}

}  // namespace

FakeConnectWorker::FakeConnectWorker() {
  server_ = std::make_unique<httplib::Server>();
  Start();
}

FakeConnectWorker::FakeConnectWorker(const std::string& cert_file,
                                     const std::string& key_file) {
  auto server =
      std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!server->is_valid()) {
    throw std::runtime_error("cannot load " + cert_file + " / " + key_file);
  }
  server_ = std::move(server);
  tls_ = true;
  Start();
}

FakeConnectWorker::~FakeConnectWorker() { Stop(); }

void FakeConnectWorker::Start() {
  // A client that gives up mid-response must not kill the test binary with
  // SIGPIPE (OpenSSL writes without MSG_NOSIGNAL); the exporter does the same.
  std::signal(SIGPIPE, SIG_IGN);
  server_->set_write_timeout(2, 0);
  server_->Get(".*", [this](const httplib::Request& req,
                            httplib::Response& res) { Handle(req, res); });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op before the accept loop runs: wait for it.
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() > give_up) {
      throw std::runtime_error("fake Connect worker did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void FakeConnectWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeConnectWorker::Url() const {
  return std::string(tls_ ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(port_);
}

void FakeConnectWorker::SetConnectors(std::vector<FakeConnector> connectors) {
  std::lock_guard<std::mutex> lock(mu_);
  connectors_ = std::move(connectors);
}

void FakeConnectWorker::SetMode(FakeMode mode) {
  std::lock_guard<std::mutex> lock(mu_);
  mode_ = mode;
}

void FakeConnectWorker::SetDeletedAfterListing(std::vector<std::string> names) {
  std::lock_guard<std::mutex> lock(mu_);
  deleted_after_listing_ = std::move(names);
}

void FakeConnectWorker::SetErrorMessage(std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  error_message_ = std::move(message);
}

void FakeConnectWorker::SetRawResponse(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  raw_status_ = status;
  raw_body_ = std::move(body);
}

void FakeConnectWorker::RequireBasicAuth(std::string username,
                                         std::string password) {
  std::lock_guard<std::mutex> lock(mu_);
  expected_authorization_ = "Basic " + Base64(username + ":" + password);
}

std::vector<std::string> FakeConnectWorker::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::size_t FakeConnectWorker::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

bool FakeConnectWorker::WaitForRequests(
    std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

bool FakeConnectWorker::WaitStopping(std::chrono::milliseconds d) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [&] { return stopping_; });
}

json FakeConnectWorker::StatusJson(const FakeConnector& c) {
  json connector = {{"state", c.state}, {"worker_id", c.worker_id}};
  if (!c.trace.empty()) connector["trace"] = c.trace;
  json tasks = json::array();
  for (const auto& t : c.tasks) {
    json task = {{"id", t.id}, {"state", t.state}, {"worker_id", t.worker_id}};
    if (!t.trace.empty()) task["trace"] = t.trace;
    tasks.push_back(std::move(task));
  }
  return {{"name", c.name},
          {"connector", std::move(connector)},
          {"tasks", std::move(tasks)},
          {"type", c.type}};
}

json FakeConnectWorker::InfoJson(const FakeConnector& c) {
  json tasks = json::array();
  for (const auto& t : c.tasks) {
    tasks.push_back({{"connector", c.name}, {"task", t.id}});
  }
  json config = {{"connector.class", c.connector_class},
                 {"name", c.name},
                 {"tasks.max", std::to_string(c.tasks.size())}};
  for (const auto& [k, v] : c.config) config[k] = v;
  return {{"name", c.name},
          {"config", std::move(config)},
          {"tasks", std::move(tasks)},
          {"type", c.type}};
}

void FakeConnectWorker::Handle(const httplib::Request& req,
                               httplib::Response& res) {
  FakeMode mode;
  std::vector<FakeConnector> connectors;
  std::vector<std::string> deleted;
  std::string error_message;
  int raw_status;
  std::string raw_body;
  std::optional<std::string> authorization;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(req.method + " " + req.target);
    mode = mode_;
    connectors = connectors_;
    deleted = deleted_after_listing_;
    error_message = error_message_;
    raw_status = raw_status_;
    raw_body = raw_body_;
    authorization = expected_authorization_;
  }
  cv_.notify_all();

  if (authorization &&
      req.get_header_value("Authorization") != *authorization) {
    res.set_header("WWW-Authenticate", "Basic realm=\"connect\"");
    SetError(res, 401, "User cannot access the resource.");
    return;
  }

  switch (mode) {
    case FakeMode::kNormal:
    case FakeMode::kNoExpand:
      break;
    case FakeMode::kNotFound:
      SetError(res, 404, "HTTP 404 Not Found");
      return;
    case FakeMode::kServerError:
      SetError(res, 500, error_message);
      return;
    case FakeMode::kMalformedJson:
      res.status = 200;
      res.set_content(R"({"inventory": {"status": {"name": "inventory", )",
                      "application/json");
      return;
    case FakeMode::kRaw:
      res.status = raw_status;
      res.set_content(raw_body, "application/json");
      return;
    case FakeMode::kNeverComplete:
      res.status = 200;
      res.set_chunked_content_provider(
          "application/json",
          [this](std::size_t offset, httplib::DataSink& sink) {
            if (offset == 0) {
              static const std::string kPart =
                  R"({"inventory": {"status": {"name": "inventory", )";
              return sink.write(kPart.data(), kPart.size());
            }
            WaitStopping(kStallLimit);
            return false;  // drops the connection
          });
      return;
    case FakeMode::kHugeBody: {
      std::string body = R"({"padding": ")";
      body.append(kHugeBodyBytes - body.size() - 2, 'x');
      body += "\"}";
      res.status = 200;
      res.set_content(std::move(body), "application/json");
      return;
    }
    case FakeMode::kHugeBodyChunked: {
      res.status = 200;
      res.set_chunked_content_provider(
          "application/json",
          [this](std::size_t offset, httplib::DataSink& sink) {
            if (offset >= kHugeBodyBytes) {
              sink.done();
              return true;
            }
            if (WaitStopping(std::chrono::milliseconds(0))) return false;
            static const std::string kChunk(64 * 1024, ' ');
            const std::size_t n =
                std::min(kChunk.size(), kHugeBodyBytes - offset);
            return sink.write(kChunk.data(), n);
          });
      return;
    }
    case FakeMode::kSlowLoris: {
      auto body = std::make_shared<const std::string>(
          ExpandedJson(connectors, true, true).dump());
      res.status = 200;
      res.set_chunked_content_provider(
          "application/json",
          [this, body](std::size_t offset, httplib::DataSink& sink) {
            if (offset >= body->size()) {
              sink.done();
              return true;
            }
            if (offset > 0 && WaitStopping(kSlowLorisInterval)) return false;
            return sink.write(body->data() + offset, 1);
          });
      return;
    }
  }

  // kNormal / kNoExpand: the REST API.
  static const std::string kPrefix = "/connectors/";
  const std::string& path = req.path;  // percent-decoded by httplib
  if (path == "/connectors") {
    bool status = false, info = false;
    if (mode == FakeMode::kNormal) {
      const auto [begin, end] = req.params.equal_range("expand");
      for (auto it = begin; it != end; ++it) {
        status = status || it->second == "status";
        info = info || it->second == "info";
      }
    }
    if (status || info) {
      SetJson(res, ExpandedJson(connectors, status, info));
      return;
    }
    json names = json::array();
    for (const auto& c : connectors) names.push_back(c.name);
    for (const auto& n : deleted) names.push_back(n);
    SetJson(res, names);
    return;
  }
  if (path.rfind(kPrefix, 0) == 0) {
    std::string rest = path.substr(kPrefix.size());
    static const std::string kStatus = "/status";
    const bool want_status = rest.size() > kStatus.size() &&
                             rest.compare(rest.size() - kStatus.size(),
                                          kStatus.size(), kStatus) == 0;
    if (want_status) rest.resize(rest.size() - kStatus.size());
    if (rest.find('/') == std::string::npos) {
      const FakeConnector* c = Find(connectors, rest);
      if (c == nullptr) {
        SetError(res, 404,
                 want_status ? "No status found for connector " + rest
                             : "Connector " + rest + " not found");
      } else {
        SetJson(res, want_status ? StatusJson(*c) : InfoJson(*c));
      }
      return;
    }
  }
  SetError(res, 404, "HTTP 404 Not Found");
}

SlowHeadersServer::SlowHeadersServer(std::chrono::milliseconds interval)
    : interval_(interval) {
  std::signal(SIGPIPE, SIG_IGN);
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listen_fd_, 8) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listen_fd_ >= 0) close(listen_fd_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

SlowHeadersServer::~SlowHeadersServer() { Stop(); }

std::string SlowHeadersServer::Url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::size_t SlowHeadersServer::BytesSent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_sent_;
}

void SlowHeadersServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

bool SlowHeadersServer::WaitStopping(std::chrono::milliseconds d) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [&] { return stopping_; });
}

void SlowHeadersServer::Serve() {
  while (!WaitStopping(std::chrono::milliseconds(0))) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Trickle(fd);
    close(fd);
  }
}

void SlowHeadersServer::Trickle(int fd) {
  // Read the request head (bounded), then answer very slowly.
  std::string request;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (request.find("\r\n\r\n") == std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    char buf[1024];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
      std::string("X-Padding: ") + std::string(4096, 'a');
  for (char c : head) {
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++bytes_sent_;
    }
    if (WaitStopping(interval_)) return;
  }
}

namespace {

// A block of `unit` repeated up to about 64 KiB, so that the flood is sent in
// large writes.
std::string Block(const std::string& unit) {
  std::string b;
  if (unit.empty()) return b;
  while (b.size() + unit.size() <= 64 * 1024 || b.empty()) b += unit;
  return b;
}

}  // namespace

HostileUpstream::HostileUpstream(std::string prefix, std::string repeat)
    : prefix_(std::move(prefix)), repeat_(Block(repeat)) {
  std::signal(SIGPIPE, SIG_IGN);
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 ||
      bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listen_fd_, 8) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listen_fd_ >= 0) close(listen_fd_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HostileUpstream::~HostileUpstream() { Stop(); }

std::string HostileUpstream::Url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::vector<std::string> HostileUpstream::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::size_t HostileUpstream::BytesSent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_sent_;
}

void HostileUpstream::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

bool HostileUpstream::Stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

void HostileUpstream::Serve() {
  while (!Stopping()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Flood(fd);
    close(fd);
  }
}

void HostileUpstream::Flood(int fd) {
  // Read the request head (bounded), then send until the client hangs up.
  std::string request;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.size() < 64 * 1024 &&
         std::chrono::steady_clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request.substr(0, request.find(" HTTP/")));
  }
  std::string_view out = prefix_;
  while (!Stopping()) {
    if (out.empty()) out = repeat_;
    if (out.empty()) {  // nothing more to send: wait for the client to go
      pollfd p{fd, POLLIN, 0};
      char c;
      if (poll(&p, 1, 10) > 0 && recv(fd, &c, 1, 0) <= 0) return;
      continue;
    }
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    const ssize_t n = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the client hung up
    out.remove_prefix(static_cast<std::size_t>(n));
    std::lock_guard<std::mutex> lock(mu_);
    bytes_sent_ += static_cast<std::size_t>(n);
  }
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessHead() {
  return std::make_unique<HostileUpstream>(
      "HTTP/1.1 200 OK\r\n", "X-a: " + std::string(93, 'b') + "\r\n");
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessHeaderLine() {
  return std::make_unique<HostileUpstream>(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-a: ",
      std::string(1024, 'b'));
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessStatusLine() {
  return std::make_unique<HostileUpstream>("HTTP/1.1 200 ",
                                           std::string(1024, 'O'));
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessChunkedBody() {
  return std::make_unique<HostileUpstream>(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n",
      "400\r\n" + std::string(1024, ' ') + "\r\n");
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessBody() {
  return std::make_unique<HostileUpstream>(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Connection: close\r\n\r\n[",
      std::string(1024, ' '));
}

std::unique_ptr<HostileUpstream> HostileUpstream::EndlessTrailers() {
  return std::make_unique<HostileUpstream>(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n",
      "X-t: " + std::string(93, 'b') + "\r\n");
}

}  // namespace cdc::testing
