#include "exporter/flags.h"

#include <charconv>
#include <functional>
#include <map>
#include <string_view>

#include "cdc/common/duration.h"

namespace cdc {

std::string Usage() {
  const HttpLimits d;
  return "usage: cdc-sentinel --config.file=PATH [flags]\n"
         "       cdc-sentinel report --prometheus URL [--range 1h] [--format "
         "table|json]\n"
         "       cdc-sentinel healthcheck [URL] [--tls.cert-file=F "
         "--tls.key-file=F]\n"
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
         "  --web.read-header-timeout=D time allowed for a request's head, "
         "TLS\n"
         "                              handshake included (default " +
         FormatDuration(d.read_header_timeout) +
         ")\n"
         "  --web.max-header-bytes=N    largest request head accepted "
         "(default " +
         std::to_string(d.max_header_bytes) +
         ")\n"
         "  --web.max-connections=N     open connections allowed (default " +
         std::to_string(d.max_connections) +
         ")\n"
         "  --web.max-requests=N        requests answered at once, more get "
         "503;\n"
         "                              0 for no limit (default " +
         std::to_string(d.max_requests) +
         ")\n"
         "  --shard=INDEX/COUNT         watch only the sources (with their "
         "connectors)\n"
         "                              whose stable hash falls to INDEX of "
         "COUNT\n"
         "                              replicas sharing this configuration "
         "(default 0/1)\n"
         "  --log.level=LEVEL           debug, info, warn or error (default "
         "info)\n"
         "  --log.format=FORMAT         logfmt or json (default logfmt)\n"
         "  --version                   print the version and exit\n"
         "  -h, --help                  print this help and exit\n";
}

namespace {

// One flag's value parser: stores `value` in *out or says why it cannot.
using FlagSetter =
    std::function<bool(const std::string& value, Flags* out, std::string* why)>;

bool NonEmpty(const std::string& value, std::string* target, std::string* why) {
  if (value.empty()) {
    *why = "must not be empty";
    return false;
  }
  *target = value;
  return true;
}

bool IntInRange(const std::string& value, long long min, long long max,
                long long* target, std::string* why) {
  long long v = 0;
  auto [ptr, ec] =
      std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc() ||
      ptr != value.data() + value.size() || v < min || v > max) {
    *why = "\"" + value + "\" is not an integer from " + std::to_string(min) +
           " to " + std::to_string(max);
    return false;
  }
  *target = v;
  return true;
}

// Flags that take a value.
const std::map<std::string, FlagSetter, std::less<>>& ValueFlags() {
  static const std::map<std::string, FlagSetter, std::less<>> flags{
      {"config.file",
       [](const std::string& v, Flags* f, std::string* why) {
         return NonEmpty(v, &f->config_file, why);
       }},
      {"web.config.file",
       [](const std::string& v, Flags* f, std::string* why) {
         return NonEmpty(v, &f->web_config_file, why);
       }},
      {"web.listen-address",
       [](const std::string& v, Flags* f, std::string* why) {
         std::string host;
         int port;
         if (!SplitListenAddress(v, &host, &port, why)) return false;
         f->listen_address = v;
         return true;
       }},
      {"web.read-header-timeout",
       [](const std::string& v, Flags* f, std::string* why) {
         auto d = ParseDuration(v);
         if (!d || *d < std::chrono::milliseconds(100) ||
             *d > std::chrono::minutes(10)) {
           *why = "\"" + v + "\" is not a duration from 100ms to 10m";
           return false;
         }
         f->http_limits.read_header_timeout = *d;
         return true;
       }},
      {"web.max-header-bytes",
       [](const std::string& v, Flags* f, std::string* why) {
         long long n;
         if (!IntInRange(v, 1024, 16 << 20, &n, why)) return false;
         f->http_limits.max_header_bytes = static_cast<std::size_t>(n);
         return true;
       }},
      {"web.max-connections",
       [](const std::string& v, Flags* f, std::string* why) {
         long long n;
         if (!IntInRange(v, 1, 1 << 20, &n, why)) return false;
         f->http_limits.max_connections = static_cast<int>(n);
         return true;
       }},
      {"web.max-requests",
       [](const std::string& v, Flags* f, std::string* why) {
         long long n;
         if (!IntInRange(v, 0, 1 << 20, &n, why)) return false;
         f->http_limits.max_requests = static_cast<int>(n);
         return true;
       }},
      {"shard",
       [](const std::string& v, Flags* f, std::string* why) {
         return config::ParseShard(v, &f->shard, why);
       }},
      {"log.level",
       [](const std::string& v, Flags* f, std::string* why) {
         if (ParseLogLevel(v, &f->log_level)) return true;
         *why = "\"" + v + "\" is not one of debug, info, warn, error";
         return false;
       }},
      {"log.format",
       [](const std::string& v, Flags* f, std::string* why) {
         if (ParseLogFormat(v, &f->log_format)) return true;
         *why = "\"" + v + "\" is not one of logfmt, json";
         return false;
       }},
  };
  return flags;
}

// Boolean flags: --name, --name=true, --name=false.
bool* BoolFlag(std::string_view name, Flags* out) {
  if (name == "config.check") return &out->config_check;
  if (name == "version") return &out->version;
  return nullptr;
}

}  // namespace

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
    std::string name(arg.substr(2));
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (bool* target = BoolFlag(name, out)) {
      if (has_value && value != "true" && value != "false") {
        *error = "flag --" + name + " takes no value or true/false";
        return false;
      }
      *target = !has_value || value == "true";
      continue;
    }
    const auto setter = ValueFlags().find(name);
    if (setter == ValueFlags().end()) {
      *error = "unknown flag --" + name;
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        *error = "flag --" + name + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    std::string why;
    if (!setter->second(value, out, &why)) {
      *error =
          "flag --" + name + (why == "must not be empty" ? " " : ": ") + why;
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
