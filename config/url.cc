#include "config/url.h"

#include <cctype>

namespace cdc::config {

std::string HttpUrl::SchemeHostPort() const {
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

namespace {

// Splits `authority` (host, [v6 host], with an optional :port) into the host
// and the port text. False, with *why, on a malformed IPv6 literal.
bool SplitAuthority(std::string_view authority, std::string* host,
                    std::optional<std::string_view>* port_text,
                    std::string* why) {
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      *why = "has an unterminated IPv6 address";
      return false;
    }
    *host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        *why = "has garbage after the IPv6 address";
        return false;
      }
      *port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    *host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      *port_text = authority.substr(colon + 1);
    }
  }
  return true;
}

// False, with *why, if `host` has a character a host name (or, for `v6`, an
// IPv6 address with an optional zone) cannot have.
bool ValidHost(const std::string& host, bool v6, std::string* why) {
  for (char c : host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                    (v6 ? c == ':' || c == '%' : c == '-' || c == '_');
    if (!ok) {
      *why = v6 || c != ':' ? "has an invalid host"
                            : "has an invalid host (put IPv6 addresses in [])";
      return false;
    }
  }
  return true;
}

// The port 1 to 65535 in `text` (digits only); nullopt, with *why, if not.
std::optional<int> ParsePort(std::string_view text, std::string* why) {
  int p = 0;
  for (char c : text) {
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
  return p;
}

}  // namespace

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
  std::optional<std::string_view> port_text;
  if (!SplitAuthority(authority, &u.host, &port_text, why)) return std::nullopt;
  if (u.host.empty()) {
    *why = "has no host";
    return std::nullopt;
  }
  const bool v6 = !authority.empty() && authority.front() == '[';
  if (!ValidHost(u.host, v6, why)) return std::nullopt;
  if (!port_text) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    const std::optional<int> port = ParsePort(*port_text, why);
    if (!port) return std::nullopt;
    u.port = *port;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path = std::string(path);
  return u;
}

}  // namespace cdc::config
