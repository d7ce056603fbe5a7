// cdc-sim: stands in for Kafka Connect + Debezium MySQL in the sandbox.
//
//   cdc-sim --config FILE
//
// SIGQUIT writes a JVM-like thread dump to the log; SIGTERM/SIGINT shut down
// cleanly (tasks stopped, final offsets committed, threads joined).

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "cdc/common/log.h"
#include "connect_rest.h"
#include "kafka_producer.h"
#include "log_file.h"
#include "offset_store.h"
#include "sim_config.h"
#include "worker.h"

namespace {

constexpr const char* kUsage =
    "usage: cdc-sim --config FILE [--check-config]\n"
    "\n"
    "Simulates a Kafka Connect worker running Debezium MySQL connectors on a\n"
    "real MariaDB binlog stream and a real Kafka broker. See\n"
    "test/sandbox/sim/README.md for the config file.\n";

// Bounds the shutdown: a reader stuck in a TLS handshake through a
// blackholed proxy is only released by the connect timeout.
constexpr auto kShutdownDeadline = std::chrono::seconds(45);

bool WritePortFile(const std::string& path, int port, std::string* error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      *error = "cannot write " + tmp;
      return false;
    }
    out << "rest_port=" << port << "\n";
    if (!out.flush()) {
      *error = "cannot write " + tmp;
      return false;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + tmp + " to " + path;
    return false;
  }
  return true;
}

int Run(const cdc::sim::SimConfig& config, const sigset_t& signals) {
  using cdc::sim::ConnectRestServer;
  using cdc::sim::KafkaProducer;
  using cdc::sim::LogFile;
  using cdc::sim::OffsetStore;
  using cdc::sim::Worker;

  LogFile log_file(config.log_file);
  cdc::LogLevel level = cdc::LogLevel::kInfo;
  cdc::ParseLogLevel(config.log_level, &level);
  cdc::Logger log(log_file.stream(), level);
  size_t streaming = 0;
  for (const auto& c : config.connectors) streaming += c.rest_only ? 0 : 1;
  log.Info("cdc-sim starting",
           {{"worker_id", config.worker_id},
            {"connectors", std::to_string(config.connectors.size())},
            {"streaming", std::to_string(streaming)},
            {"kafka", config.bootstrap_servers},
            {"kafka_source_address", config.kafka_source_address.empty()
                                         ? std::string("any")
                                         : config.kafka_source_address},
            {"offsets_topic", config.offsets_topic}});

  KafkaProducer producer(config.bootstrap_servers, log,
                         config.kafka_source_address);
  OffsetStore store(producer, config.bootstrap_servers, config.offsets_topic,
                    log);
  std::string error;
  if (!store.Load(std::chrono::seconds(15), &error)) {
    log.Warn(
        "could not read stored offsets; connectors start at the end of "
        "the binlog",
        {{"error", error}});
  }
  Worker worker(config, producer, store, log);
  ConnectRestServer rest(worker, producer, log);
  const int port = rest.Bind(config.rest_host, config.rest_port);
  if (port < 0) {
    log.Error("cannot listen", {{"host", config.rest_host},
                                {"port", std::to_string(config.rest_port)}});
    return 1;
  }
  worker.Start();
  rest.Start();
  if (!config.port_file.empty() &&
      !WritePortFile(config.port_file, port, &error)) {
    log.Error("cannot write the port file", {{"error", error}});
    rest.Stop();
    worker.Stop();
    return 1;
  }
  log.Info("Kafka Connect REST API listening",
           {{"url", "http://" + config.rest_host + ":" + std::to_string(port)},
            {"port_file", config.port_file}});

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGQUIT) {
      log_file.WriteRaw(worker.ThreadDump());
      log.Info("thread dump written (SIGQUIT)");
      continue;
    }
    if (sig == SIGHUP) {
      log.Info("SIGHUP ignored (the config is read once at start)");
      continue;
    }
    log.Info("shutting down",
             {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    break;
  }

  // Watchdog: never hang on shutdown.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(done_mu);
    if (!done_cv.wait_for(lock, kShutdownDeadline, [&] { return done; })) {
      log.Error("shutdown did not finish in time; exiting anyway");
      std::_Exit(1);
    }
  });
  rest.Stop();
  worker.Stop();
  if (!config.port_file.empty()) std::remove(config.port_file.c_str());
  {
    std::lock_guard<std::mutex> lock(done_mu);
    done = true;
  }
  done_cv.notify_all();
  watchdog.join();
  log.Info("cdc-sim stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "cdc-sim: unknown argument " << arg << "\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  cdc::sim::SimConfig config;
  try {
    config = cdc::sim::LoadSimConfig(config_path);
    for (const auto& c : config.connectors) {
      if (!c.rest_only) cdc::sim::ParseDebeziumSettings(c);
    }
  } catch (const cdc::sim::ConfigError& e) {
    std::cerr << "cdc-sim: " << e.what() << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "cdc-sim: " << config_path << " is valid ("
              << config.connectors.size() << " connectors)\n";
    return 0;
  }

  // Signals are taken synchronously by the main thread; every other thread
  // inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGQUIT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A write to a socket shut down by a restart must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  try {
    return Run(config, signals);
  } catch (const cdc::sim::ConfigError& e) {
    std::cerr << "cdc-sim: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "cdc-sim: " << e.what() << "\n";
    return 1;
  }
}
