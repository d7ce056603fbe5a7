// cdc-sentinel: a Prometheus exporter that tells the truth about Debezium
// change-data-capture pipelines.

#include <httplib.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "cdc/common/log.h"
#include "cdc/common/thread_name.h"
#include "config/config.h"
#include "config/url.h"
#include "exporter/app.h"
#include "exporter/flags.h"
#include "exporter/http_server.h"
#include "exporter/report.h"
#include "exporter/version.h"
#include "exporter/web_config.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

// `cdc-sentinel healthcheck [URL] [--tls.cert-file=F --tls.key-file=F]`:
// exit 0 if URL (default the local /-/healthy) answers 200 (or 401: basic
// auth on) within 5 s. For container HEALTHCHECKs, so that the image needs no
// curl. https URLs are not verified. The client certificate (for web configs
// with client_auth_type RequireAndVerifyClientCert) comes from the flags or,
// so that the image's HEALTHCHECK needs no change, from the environment:
// CDC_HEALTHCHECK_CERT_FILE and CDC_HEALTHCHECK_KEY_FILE.
int HealthCheck(int argc, char** argv) {
  auto usage = [](const std::string& why) {
    std::cerr << "cdc-sentinel healthcheck: " << why
              << "\nusage: cdc-sentinel healthcheck [URL] "
                 "[--tls.cert-file=FILE --tls.key-file=FILE]\n";
    return kExitUsage;
  };
  std::string url;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  std::string cert = env("CDC_HEALTHCHECK_CERT_FILE");
  std::string key = env("CDC_HEALTHCHECK_KEY_FILE");
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--tls.cert-file=", 0) == 0) {
      cert = a.substr(a.find('=') + 1);
    } else if (a.rfind("--tls.key-file=", 0) == 0) {
      key = a.substr(a.find('=') + 1);
    } else if (a.rfind("-", 0) == 0 || !url.empty()) {
      return usage("unexpected argument " + a);
    } else {
      url = a;
    }
  }
  if (url.empty()) url = "http://127.0.0.1:9877/-/healthy";
  if (cert.empty() != key.empty()) {
    return usage(
        "a client certificate needs both --tls.cert-file and --tls.key-file "
        "(or CDC_HEALTHCHECK_CERT_FILE and CDC_HEALTHCHECK_KEY_FILE)");
  }
  std::string why;
  auto u = cdc::config::ParseHttpUrl(url, &why);
  if (!u) {
    std::cerr << "cdc-sentinel healthcheck: " << url << ": " << why << "\n";
    return kExitUsage;
  }
  const bool https = u->SchemeHostPort().rfind("https://", 0) == 0;
  if (https && !cert.empty()) {
    for (const std::string& f : {cert, key}) {
      if (std::FILE* fp = std::fopen(f.c_str(), "r")) {
        std::fclose(fp);
      } else {
        std::cerr << "cdc-sentinel healthcheck: cannot read " << f << ": "
                  << std::strerror(errno) << "\n";
        return kExitUsage;
      }
    }
  }
  // A plain http:// URL ignores the certificate: the Dockerfile's HEALTHCHECK
  // tries http first and https second with the same environment.
  httplib::Client cli = https && !cert.empty()
                            ? httplib::Client(u->SchemeHostPort(), cert, key)
                            : httplib::Client(u->SchemeHostPort());
  if (!cli.is_valid()) {
    std::cerr << "cdc-sentinel healthcheck: " << url
              << ": cannot use the client certificate " << cert << " / " << key
              << " (not a PEM certificate and its key?)\n";
    return kExitUsage;
  }
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(5, 0);
  cli.enable_server_certificate_verification(false);
  auto res = cli.Get(u->base_path.empty() ? "/" : u->base_path);
  // 401: basic auth is configured (--web.config.file protects every
  // endpoint); the server answered, which is all a liveness check asks.
  if (!res || (res->status != 200 && res->status != 401)) {
    std::cerr << "cdc-sentinel healthcheck: " << url << ": "
              << (res ? "HTTP " + std::to_string(res->status)
                      : httplib::to_string(res.error()))
              << "\n";
    return kExitRuntime;
  }
  return kExitOk;
}

// --config.check: 0 if the configuration (and the web config, if given)
// loads, 2 with the error otherwise.
int CheckConfig(const cdc::Flags& flags) {
  try {
    cdc::config::Config cfg = cdc::config::LoadConfigFile(flags.config_file);
    std::cout << flags.config_file << ": configuration is valid ("
              << cfg.connect_clusters.size() << " Kafka Connect cluster(s), "
              << cfg.sources.size() << " source(s), "
              << cfg.kafka_clusters.size() << " Kafka cluster(s), "
              << cfg.connectors.size() << " connector(s))\n";
    int discovering = 0;
    for (const auto& cc : cfg.connect_clusters)
      discovering += cc.discover.enabled;
    if (discovering > 0 && !cfg.sources.empty()) {
      std::cout << "connectors of " << discovering
                << " Kafka Connect cluster(s) are discovered at run time "
                   "(connect_clusters[].discover; cdc_discovered_connectors "
                   "and the log say which are monitored)\n";
    }
    for (const auto& w : cfg.warnings) std::cout << "warning: " << w << "\n";
    if (flags.shard.count > 1) {
      cdc::config::ShardSplit split;
      cdc::config::KeepShard(cfg, flags.shard, &split);
      std::cout << "shard " << flags.shard.ToString() << " watches "
                << split.kept_connectors.size() << " connector(s) on "
                << split.kept_sources.size() << " source(s):";
      for (const auto& s : split.kept_sources) std::cout << " " << s;
      std::cout << "\n";
    }
    if (!flags.web_config_file.empty()) {
      cdc::WebConfig web = cdc::LoadWebConfigFile(flags.web_config_file);
      std::cout << flags.web_config_file << ": web configuration is valid ("
                << (web.tls ? "TLS" : "plain HTTP") << ", "
                << web.basic_auth_users.size() << " basic auth user(s))\n";
    }
    return kExitOk;
  } catch (const cdc::config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
}

// Each connection is a file descriptor: raise the soft limit to the hard
// one (as Go programs do since Go 1.19), and keep --web.max-connections
// within it, with room for the probes' own sockets and files.
void FitConnectionsToFileLimit(cdc::Logger& log, cdc::HttpLimits* limits) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  constexpr rlim_t kReserved = 256;
  if (lim.rlim_cur == RLIM_INFINITY ||
      lim.rlim_cur >=
          static_cast<rlim_t>(limits->max_connections) + kReserved) {
    return;
  }
  const int fit = lim.rlim_cur > 2 * kReserved
                      ? static_cast<int>(lim.rlim_cur - kReserved)
                      : static_cast<int>(lim.rlim_cur / 2);
  log.Warn("--web.max-connections lowered to fit the open files limit",
           {{"max_connections", std::to_string(fit)},
            {"nofile", std::to_string(lim.rlim_cur)}});
  limits->max_connections = fit;
}

// Blocks the signals that WaitForSignals() takes; before any thread starts,
// so that every thread inherits the mask.
sigset_t BlockSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

// SIGHUP reloads; returns on SIGTERM or SIGINT.
void WaitForSignals(const sigset_t& signals, cdc::HttpServer& server,
                    cdc::Logger& log) {
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log.Info("SIGHUP received: reloading the configuration");
      std::string reload_error;
      server.Reload(&reload_error);  // the config and the web config
      continue;
    }
    log.Info("shutting down",
             {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    return;
  }
}

// Runs the exporter until SIGTERM or SIGINT.
int Serve(const cdc::Flags& flags) {
  cdc::Logger log(std::cerr, flags.log_level, flags.log_format);

  // glibc gives each thread that allocates its own malloc arena and keeps
  // freed memory there: a multi-MB scrape served by each of the HTTP
  // server's pool threads in turn left RSS at 108 MB for 1,000 connectors
  // (bench/RESULTS.md, P2). Two arenas hold it near 40 MB at no measurable
  // cost. MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  const sigset_t signals = BlockSignals();
  cdc::HttpLimits limits = flags.http_limits;
  FitConnectionsToFileLimit(log, &limits);

  cdc::App app(flags.config_file, log, flags.shard);
  // The web config first: a bad one stops the start before any probe runs.
  std::unique_ptr<cdc::HttpServer> server_owner;
  try {
    server_owner = std::make_unique<cdc::HttpServer>(
        app, log, flags.web_config_file, limits);
    app.Start();
  } catch (const cdc::config::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return kExitUsage;
  }
  cdc::HttpServer& server = *server_owner;
  std::string error;
  if (!server.Bind(flags.listen_address, &error)) {
    log.Error("cannot start the HTTP server", {{"err", error}});
    app.Stop();
    return kExitRuntime;
  }
  std::thread http([&] {
    cdc::NameThisThread("cdc-http");
    server.Serve();
  });
  log.Info("cdc-sentinel started", {{"version", cdc::kVersion},
                                    {"revision", cdc::kRevision},
                                    {"config", flags.config_file},
                                    {"listen", flags.listen_address},
                                    {"port", std::to_string(server.port())},
                                    {"tls", server.tls() ? "on" : "off"}});
  WaitForSignals(signals, server, log);
  server.Stop();
  http.join();
  app.Stop();
  log.Info("stopped");
  return kExitOk;
}

int Run(int argc, char** argv) {
  cdc::Flags flags;
  std::string error;
  if (!cdc::ParseFlags(argc, argv, &flags, &error)) {
    std::cerr << "cdc-sentinel: " << error << "\n"
              << "Run cdc-sentinel --help for usage.\n";
    return kExitUsage;
  }
  if (flags.help) {
    std::cout << cdc::Usage();
    return kExitOk;
  }
  if (flags.version) {
    std::cout << "cdc-sentinel " << cdc::kVersion << " (revision "
              << cdc::kRevision << ")\n";
    return kExitOk;
  }
  if (flags.config_check) return CheckConfig(flags);
  return Serve(flags);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "report") {
    return cdc::RunReportCommand(argc, argv);
  }
  if (argc > 1 && std::string(argv[1]) == "healthcheck") {
    return HealthCheck(argc, argv);
  }
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cdc-sentinel: fatal: " << e.what() << "\n";
    return kExitRuntime;
  }
}
