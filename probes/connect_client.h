#pragma once

#include <chrono>
#include <string>

#include "config/config.h"
#include "probes/upstream_http.h"

namespace cdc::connect {

using HttpResult = upstream::HttpResult;

// A client for one Kafka Connect REST endpoint. Each request runs under an
// overall deadline (connect, TLS handshake, request and response), a limit
// on the response head (upstream::kMaxHeadBytes) and a limit on the body
// (the cluster's max_response_bytes), so a slow, endless or flooding
// response cannot hold it or grow its memory: it fails with an error that
// names the limit. Thread-safe: Cancel() may be called from any thread while
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
  // An empty JSON POST (the restart endpoint); bounded as Get().
  HttpResult Post(const std::string& path,
                  std::chrono::steady_clock::time_point deadline);

  // Aborts the request in progress, if any, and makes the next ones fail
  // until Reset().
  void Cancel();
  void Reset();

 private:
  HttpResult Send(const std::string& method, const std::string& path,
                  std::chrono::steady_clock::time_point deadline);

  const config::ConnectCluster cluster_;
  upstream::HttpClient http_;
};

// Percent-encodes a path segment (connector names may hold any character).
std::string EncodePathSegment(const std::string& s);

}  // namespace cdc::connect
