#include "exporter/flags.h"

#include <charconv>
#include <string_view>

namespace cdc {

std::string Usage() {
  return "usage: cdc-sentinel --config.file=PATH [flags]\n"
         "       cdc-sentinel report --prometheus URL [--range 1h] [--format "
         "table|json]\n"
         "       cdc-sentinel healthcheck [URL]\n"
         "\n"
         "Watches Debezium CDC pipelines end to end and serves the verdict on "
         "/metrics.\n"
         "\n"
         "flags:\n"
         "  --config.file=PATH          configuration file (YAML), required\n"
         "  --config.check              validate the configuration and exit\n"
         "  --web.listen-address=ADDR   where to serve HTTP (default " +
         std::string(kDefaultListenAddress) +
         ")\n"
         "  --web.config.file=PATH      TLS and basic auth for the HTTP "
         "endpoints\n"
         "                              (exporter-toolkit format; see "
         "docs/security.md)\n"
         "  --log.level=LEVEL           debug, info, warn or error (default "
         "info)\n"
         "  --log.format=FORMAT         logfmt or json (default logfmt)\n"
         "  --version                   print the version and exit\n"
         "  -h, --help                  print this help and exit\n";
}

bool ParseFlags(int argc, const char* const* argv, Flags* out,
                std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      out->help = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      *error = "unexpected argument \"" + std::string(arg) + "\"";
      return false;
    }
    std::string_view name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
      has_value = true;
    }
    auto take_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        *error = "flag --" + std::string(name) + " needs a value";
        return false;
      }
      value = argv[++i];
      return true;
    };
    auto boolean = [&](bool* target) -> bool {
      if (!has_value || value == "true") {
        *target = true;
        return true;
      }
      if (value == "false") {
        *target = false;
        return true;
      }
      *error = "flag --" + std::string(name) + " takes no value or true/false";
      return false;
    };
    if (name == "config.file") {
      if (!take_value()) return false;
      if (value.empty()) {
        *error = "flag --config.file must not be empty";
        return false;
      }
      out->config_file = value;
    } else if (name == "web.listen-address") {
      if (!take_value()) return false;
      std::string host;
      int port;
      if (!SplitListenAddress(value, &host, &port, error)) {
        *error = "flag --web.listen-address: " + *error;
        return false;
      }
      out->listen_address = value;
    } else if (name == "web.config.file") {
      if (!take_value()) return false;
      if (value.empty()) {
        *error = "flag --web.config.file must not be empty";
        return false;
      }
      out->web_config_file = value;
    } else if (name == "log.level") {
      if (!take_value()) return false;
      if (!ParseLogLevel(value, &out->log_level)) {
        *error = "flag --log.level: \"" + value +
                 "\" is not one of debug, info, warn, error";
        return false;
      }
    } else if (name == "log.format") {
      if (!take_value()) return false;
      if (!ParseLogFormat(value, &out->log_format)) {
        *error =
            "flag --log.format: \"" + value + "\" is not one of logfmt, json";
        return false;
      }
    } else if (name == "config.check") {
      if (!boolean(&out->config_check)) return false;
    } else if (name == "version") {
      if (!boolean(&out->version)) return false;
    } else {
      *error = "unknown flag --" + std::string(name);
      return false;
    }
  }
  if (out->config_file.empty() && !out->version && !out->help) {
    *error = "flag --config.file is required";
    return false;
  }
  return true;
}

bool SplitListenAddress(const std::string& addr, std::string* host, int* port,
                        std::string* error) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) {
    *error = "\"" + addr + "\" is not HOST:PORT";
    return false;
  }
  *host = addr.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  const std::string p = addr.substr(colon + 1);
  int v = -1;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || v < 0 ||
      v > 65535) {
    *error = "\"" + addr + "\" has an invalid port";
    return false;
  }
  *port = v;
  return true;
}

}  // namespace cdc
