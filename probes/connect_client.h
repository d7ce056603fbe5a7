#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "config/config.h"

namespace httplib {
class Client;
}

namespace cdc::connect {

struct HttpResult {
  bool ok = false;  // a complete response arrived (any status)
  int status = 0;
  std::string body;
  std::string error;  // why not ok, for the log: "connection refused", ...
};

// A client for one Kafka Connect REST endpoint. Each request runs under an
// overall deadline and a body size limit, so a slow or endless response
// cannot hold it. Thread-safe: Cancel() may be called from any thread while
// another thread is in a request; requests themselves are serialised.
class ConnectClient {
 public:
  explicit ConnectClient(const config::ConnectCluster& cluster);
  ~ConnectClient();
  ConnectClient(const ConnectClient&) = delete;
  ConnectClient& operator=(const ConnectClient&) = delete;

  // `path` is relative to the cluster URL, e.g. "/connectors?expand=status".
  HttpResult Get(const std::string& path,
                 std::chrono::steady_clock::time_point deadline);
  HttpResult Post(const std::string& path,
                  std::chrono::steady_clock::time_point deadline);

  // Aborts the request in progress, if any, and makes the next ones fail
  // until Reset().
  void Cancel();
  void Reset();

 private:
  HttpResult Send(const std::string& method, const std::string& path,
                  std::chrono::steady_clock::time_point deadline);
  std::unique_ptr<httplib::Client> MakeClient(
      std::chrono::steady_clock::duration budget) const;

  class Watchdog;

  const config::ConnectCluster cluster_;
  const std::unique_ptr<Watchdog> watchdog_;
  std::mutex request_mu_;  // one request at a time
  std::mutex active_mu_;   // guards active_ and cancelled_
  httplib::Client* active_ = nullptr;
  bool cancelled_ = false;
};

// Every setting of a Connect cluster, as one string (for Probe::
// Fingerprint). Holds the password: never log or export it.
std::string ConnectClusterFingerprint(const config::ConnectCluster& c);

// Percent-encodes a path segment (connector names may hold any character).
std::string EncodePathSegment(const std::string& s);

}  // namespace cdc::connect
