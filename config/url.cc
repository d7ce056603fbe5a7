#include "config/url.h"

#include <cctype>

namespace cdc::config {

std::string HttpUrl::SchemeHostPort() const {
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

std::optional<HttpUrl> ParseHttpUrl(std::string_view text, std::string* why) {
  HttpUrl u;
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      *why = "must not contain spaces or control characters";
      return std::nullopt;
    }
  }
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    *why = "must be an http or https URL";
    return std::nullopt;
  }
  u.scheme = std::string(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    *why = "must be an http or https URL";
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    *why = "must not contain a query or fragment";
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    *why = "must not contain credentials; use basic_auth";
    return std::nullopt;
  }
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      *why = "has an unterminated IPv6 address";
      return std::nullopt;
    }
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *why = "has garbage after the IPv6 address";
        return std::nullopt;
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (u.host.empty()) {
    *why = "has no host";
    return std::nullopt;
  }
  const bool v6 = !authority.empty() && authority.front() == '[';
  for (char c : u.host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                    (v6 ? c == ':' || c == '%' : c == '-' || c == '_');
    if (!ok) {
      *why = v6 || c != ':' ? "has an invalid host"
                            : "has an invalid host (put IPv6 addresses in [])";
      return std::nullopt;
    }
  }
  if (!has_port) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    int p = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || p > 65535) {
        *why = "has an invalid port";
        return std::nullopt;
      }
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) {
      *why = "has an invalid port";
      return std::nullopt;
    }
    u.port = p;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path = std::string(path);
  return u;
}

}  // namespace cdc::config
