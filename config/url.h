#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cdc::config {

// An http(s) URL split into the parts an HTTP client needs.
struct HttpUrl {
  std::string scheme;     // "http" or "https"
  std::string host;       // without brackets for IPv6
  int port = 0;           // explicit or the scheme's default
  std::string base_path;  // "" or "/prefix" without a trailing slash

  // "scheme://host:port" as cpp-httplib's Client expects it.
  std::string SchemeHostPort() const;

  bool operator==(const HttpUrl&) const = default;
};

// Parses an http or https URL with an optional path prefix and no query,
// fragment or user info. Returns nullopt and sets *why otherwise.
std::optional<HttpUrl> ParseHttpUrl(std::string_view text, std::string* why);

}  // namespace cdc::config
