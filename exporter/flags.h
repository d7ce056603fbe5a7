#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "cdc/common/log.h"
#include "config/shard.h"

namespace cdc {

inline constexpr char kDefaultListenAddress[] = ":9877";

// What the HTTP server lets clients hold (the --web.* limits; the threat
// model in docs/security.md says why each default).
struct HttpLimits {
  // The whole request head, TLS handshake included, counted from accept (or,
  // on a kept-alive connection, from the next request's first byte).
  std::chrono::milliseconds read_header_timeout{5000};
  // The request head's size, request line included, however it is sent.
  std::size_t max_header_bytes = 64 * 1024;
  // Open connections; more are closed at once.
  int max_connections = 1024;
  // Requests being answered at once; more get 503. 0: no limit.
  int max_requests = 40;
};

struct Flags {
  std::string config_file;
  std::string listen_address = kDefaultListenAddress;
  std::string web_config_file;  // --web.config.file, "" for none
  HttpLimits http_limits;
  config::Shard shard;  // --shard=INDEX/COUNT; 0/1 watches everything
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kLogfmt;
  bool config_check = false;
  bool version = false;
  bool help = false;
};

// Parses `--name=value` and `--name value` flags. Returns false with a
// message naming the flag on an unknown flag, a missing or invalid value.
bool ParseFlags(int argc, const char* const* argv, Flags* out,
                std::string* error);

std::string Usage();

// Splits "HOST:PORT", ":PORT" (all interfaces) or "[V6]:PORT".
bool SplitListenAddress(const std::string& addr, std::string* host, int* port,
                        std::string* error);

}  // namespace cdc
