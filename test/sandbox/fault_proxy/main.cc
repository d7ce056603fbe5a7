// cdc-fault-proxy: a TCP proxy for the sandbox whose behaviour (pass,
// blackhole, reset, delay) is switched at run time over a small HTTP API.
// See test/sandbox/README.md for the control endpoints.

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cdc/common/log.h"
#include "fault_proxy.h"

namespace {

using cdc::Logger;
using cdc::sandbox::FaultProxy;
using cdc::sandbox::HostPort;
using cdc::sandbox::ModeSetting;
using cdc::sandbox::ProxyMode;
using nlohmann::json;

constexpr std::chrono::milliseconds kApplyTimeout{5000};
constexpr int64_t kMaxDelayMs = 3'600'000;

constexpr char kUsage[] =
    R"(usage: cdc-fault-proxy --upstream HOST:PORT [options]

A TCP proxy (one listener -> one upstream) whose behaviour is switched at run
time: pass, blackhole (forward nothing, close nothing), reset (RST everything),
delay MS (forward every chunk MS later, in order).

options:
  --upstream HOST:PORT   where to forward connections (required)
  --listen HOST:PORT     where clients connect (default 127.0.0.1:0, loopback only)
  --control HOST:PORT    HTTP control endpoint (default 127.0.0.1:0, loopback only)
  --name NAME            name used in logs and /stats (default "proxy")
  --port-file FILE       write "listen_port=N", "control_port=N" and "pid=N" here once ready
  --mode MODE            initial mode: pass|blackhole|reset|delay (default pass)
  --delay-ms MS          delay for --mode delay
  --log-level LEVEL      debug|info|warn|error (default info)

control API (HTTP):
  GET  /healthz                          "ok"
  GET  /mode                             {"mode":"pass","delay_ms":0,...}
  PUT|POST /mode?mode=MODE[&ms=N]        switch mode (delay needs ms); returns /mode
  POST /connections/reset                RST every open connection once, keep mode
  GET  /stats                            connection and byte counters (JSON)
)";

struct Options {
  HostPort listen{"127.0.0.1", 0};
  HostPort control{"127.0.0.1", 0};
  std::optional<HostPort> upstream;
  std::string name = "proxy";
  std::string port_file;
  ModeSetting initial;
  cdc::LogLevel log_level = cdc::LogLevel::kInfo;
};

bool ParseMillis(std::string_view text, int64_t* out) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < 0 ||
      v > kMaxDelayMs) {
    return false;
  }
  *out = v;
  return true;
}

// Throws std::invalid_argument with a message for the user.
Options ParseArgs(int argc, char** argv) {
  Options o;
  std::optional<std::string> mode_text;
  std::optional<std::string> delay_text;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    std::string value;
    if (auto eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::invalid_argument("missing value for " + arg);
    }
    if (arg == "--listen") {
      o.listen = cdc::sandbox::ParseHostPort(value);
    } else if (arg == "--upstream") {
      o.upstream = cdc::sandbox::ParseHostPort(value);
    } else if (arg == "--control") {
      o.control = cdc::sandbox::ParseHostPort(value);
    } else if (arg == "--name") {
      o.name = value;
    } else if (arg == "--port-file") {
      o.port_file = value;
    } else if (arg == "--mode") {
      mode_text = value;
    } else if (arg == "--delay-ms") {
      delay_text = value;
    } else if (arg == "--log-level") {
      if (!cdc::ParseLogLevel(value, &o.log_level)) {
        throw std::invalid_argument("bad --log-level '" + value + "'");
      }
    } else {
      throw std::invalid_argument("unknown flag " + arg);
    }
  }
  if (!o.upstream) throw std::invalid_argument("--upstream is required");
  if (!cdc::sandbox::IsLoopbackHost(o.control.host)) {
    throw std::invalid_argument("--control must be a loopback address, got '" +
                                o.control.host + "'");
  }
  if (mode_text) {
    auto m = cdc::sandbox::ParseMode(*mode_text);
    if (!m) throw std::invalid_argument("bad --mode '" + *mode_text + "'");
    o.initial.mode = *m;
  }
  if (delay_text) {
    int64_t ms = 0;
    if (!ParseMillis(*delay_text, &ms)) {
      throw std::invalid_argument("bad --delay-ms '" + *delay_text + "'");
    }
    o.initial.delay = std::chrono::milliseconds(ms);
  }
  return o;
}

json ModeJson(const FaultProxy& proxy) {
  ModeSetting m = proxy.mode();
  return {{"name", proxy.name()},
          {"mode", std::string(cdc::sandbox::ModeName(m.mode))},
          {"delay_ms", m.mode == ProxyMode::kDelay ? m.delay.count() : 0}};
}

json StatsJson(const FaultProxy& proxy) {
  json j = ModeJson(proxy);
  auto s = proxy.stats();
  j["listen_port"] = proxy.listen_port();
  j["upstream"] =
      proxy.upstream().host + ":" + std::to_string(proxy.upstream().port);
  j["connections_accepted"] = s.connections_accepted;
  j["connections_active"] = s.connections_active;
  j["connections_reset"] = s.connections_reset;
  j["connections_failed"] = s.connections_failed;
  j["upstream_connect_failures"] = s.upstream_connect_failures;
  j["bytes_client_to_upstream"] = s.bytes_client_to_upstream;
  j["bytes_upstream_to_client"] = s.bytes_upstream_to_client;
  j["bytes_buffered"] = s.bytes_buffered;
  return j;
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void HandleSetMode(FaultProxy& proxy, Logger& log, const httplib::Request& req,
                   httplib::Response& res) {
  if (!req.has_param("mode")) {
    Reply(res, 400,
          {{"error",
            "missing parameter 'mode' "
            "(pass|blackhole|reset|delay)"}});
    return;
  }
  const std::string mode_text = req.get_param_value("mode");
  auto mode = cdc::sandbox::ParseMode(mode_text);
  if (!mode) {
    Reply(res, 400,
          {{"error",
            "unknown mode '" + mode_text + "' (pass|blackhole|reset|delay)"}});
    return;
  }
  ModeSetting setting{*mode, std::chrono::milliseconds(0)};
  if (*mode == ProxyMode::kDelay) {
    int64_t ms = 0;
    if (!req.has_param("ms") || !ParseMillis(req.get_param_value("ms"), &ms)) {
      Reply(res, 400,
            {{"error", "mode delay needs ms=N (0.." +
                           std::to_string(kMaxDelayMs) + ")"}});
      return;
    }
    setting.delay = std::chrono::milliseconds(ms);
  }
  if (!proxy.SetMode(setting, kApplyTimeout)) {
    log.Error("mode change not applied in time", {{"proxy", proxy.name()}});
    Reply(res, 503, {{"error", "event loop did not apply the mode in time"}});
    return;
  }
  Reply(res, 200, ModeJson(proxy));
}

void WritePortFile(const std::string& path, uint16_t listen_port,
                   int control_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "listen_port=" << listen_port << "\n"
        << "control_port=" << control_port << "\n"
        << "pid=" << getpid() << "\n";
    if (!out) throw std::runtime_error("cannot write port file " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

int Main(int argc, char** argv) {
  Options opts;
  try {
    opts = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cdc-fault-proxy: " << e.what() << "\n\n" << kUsage;
    return 2;
  }
  Logger log(std::cerr, opts.log_level);

  // SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<FaultProxy> proxy;
  try {
    proxy = std::make_unique<FaultProxy>(opts.name, opts.listen, *opts.upstream,
                                         log);
  } catch (const std::exception& e) {
    log.Error("cannot start", {{"proxy", opts.name}, {"error", e.what()}});
    return 1;
  }

  httplib::Server http;
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kUsage, "text/plain");
  });
  http.Get("/mode", [&](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, ModeJson(*proxy));
  });
  auto set_mode = [&](const httplib::Request& req, httplib::Response& res) {
    HandleSetMode(*proxy, log, req, res);
  };
  http.Put("/mode", set_mode);
  http.Post("/mode", set_mode);
  http.Post("/connections/reset",
            [&](const httplib::Request&, httplib::Response& res) {
              if (!proxy->ResetConnections(kApplyTimeout)) {
                Reply(res, 503, {{"error", "event loop did not respond"}});
                return;
              }
              Reply(res, 200, StatsJson(*proxy));
            });
  http.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, StatsJson(*proxy));
  });

  int control_port = opts.control.port;
  if (control_port == 0) {
    control_port = http.bind_to_any_port(opts.control.host);
  } else if (!http.bind_to_port(opts.control.host, control_port)) {
    control_port = -1;
  }
  if (control_port <= 0) {
    log.Error("cannot bind control endpoint",
              {{"proxy", opts.name},
               {"address",
                opts.control.host + ":" + std::to_string(opts.control.port)}});
    return 1;
  }
  std::thread http_thread([&] { http.listen_after_bind(); });
  std::thread loop_thread([&] { proxy->Run(); });
  auto shutdown = [&] {
    proxy->Stop();
    http.stop();
    loop_thread.join();
    http_thread.join();
  };
  // stop() is a no-op until the server runs, so wait for it before going on.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!http.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!http.is_running() || !proxy->SetMode(opts.initial, kApplyTimeout)) {
    log.Error("control endpoint or event loop did not start",
              {{"proxy", opts.name}});
    shutdown();
    return 1;
  }
  if (!opts.port_file.empty()) {
    try {
      WritePortFile(opts.port_file, proxy->listen_port(), control_port);
    } catch (const std::exception& e) {
      log.Error("cannot write port file",
                {{"proxy", opts.name}, {"error", e.what()}});
      shutdown();
      return 1;
    }
  }
  log.Info("fault proxy ready",
           {{"proxy", opts.name},
            {"listen",
             opts.listen.host + ":" + std::to_string(proxy->listen_port())},
            {"upstream",
             opts.upstream->host + ":" + std::to_string(opts.upstream->port)},
            {"control", "http://" + opts.control.host + ":" +
                            std::to_string(control_port)},
            {"mode", std::string(cdc::sandbox::ModeName(opts.initial.mode))}});

  int sig = 0;
  sigwait(&signals, &sig);
  log.Info("stopping", {{"proxy", opts.name}, {"signal", strsignal(sig)}});
  shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
