#include "probes/connect_client.h"

#include <cctype>
#include <utility>

namespace cdc::connect {
namespace {

upstream::HttpEndpoint EndpointOf(const config::ConnectCluster& c) {
  upstream::HttpEndpoint e;
  e.url = c.url;
  e.tls = c.tls;
  e.basic_auth = c.basic_auth;
  return e;
}

upstream::HttpLimits LimitsOf(const config::ConnectCluster& c) {
  upstream::HttpLimits l;
  l.max_body_bytes = c.max_response_bytes;
  l.body_limit_name = "max_response_bytes";
  return l;
}

}  // namespace

std::string EncodePathSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

ConnectClient::ConnectClient(const config::ConnectCluster& cluster)
    : cluster_(cluster), http_(EndpointOf(cluster), LimitsOf(cluster)) {}

ConnectClient::~ConnectClient() = default;

HttpResult ConnectClient::Send(const std::string& method,
                               const std::string& path,
                               std::chrono::steady_clock::time_point deadline) {
  upstream::HttpRequest req;
  req.method = method;
  req.target = path;
  req.headers = {{"Accept", "application/json"}};
  if (method == "POST")
    req.headers.emplace_back("Content-Type", "application/json");
  return http_.Send(req, deadline);
}

HttpResult ConnectClient::Get(const std::string& path,
                              std::chrono::steady_clock::time_point deadline) {
  return Send("GET", path, deadline);
}

HttpResult ConnectClient::Post(const std::string& path,
                               std::chrono::steady_clock::time_point deadline) {
  return Send("POST", path, deadline);
}

void ConnectClient::Cancel() { http_.Cancel(); }

void ConnectClient::Reset() { http_.Reset(); }

}  // namespace cdc::connect
