#pragma once

#include <string>

#include "cdc/common/log.h"

namespace cdc {

inline constexpr char kDefaultListenAddress[] = ":9877";

struct Flags {
  std::string config_file;
  std::string listen_address = kDefaultListenAddress;
  std::string web_config_file;  // --web.config.file, "" for none
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
