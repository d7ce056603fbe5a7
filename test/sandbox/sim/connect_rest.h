#pragma once

// The Kafka Connect REST API (Kafka 3.7) of the simulated worker, on
// cpp-httplib: the same paths, JSON shapes and status codes, for what
// monitoring and recovery tools use.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cdc/common/log.h"
#include "kafka_producer.h"
#include "worker.h"

namespace httplib {
class Server;
}

namespace cdc::sim {

inline constexpr const char* kConnectVersion = "3.7.0";
inline constexpr const char* kConnectCommit = "2ae524ed625438c5";

// JSON shapes, exposed for tests. Pure functions.
nlohmann::ordered_json StatusJson(const ConnectorStatusView& v,
                                  const std::string& worker_id);
nlohmann::ordered_json InfoJson(const Connector& c);
nlohmann::ordered_json ConfigJson(const Connector& c);
nlohmann::ordered_json ErrorJson(int code, const std::string& message);

// Thread-safe: Start() once, Stop() from any thread.
class ConnectRestServer {
 public:
  ConnectRestServer(Worker& worker, KafkaProducer& producer, cdc::Logger& log);
  ~ConnectRestServer();
  ConnectRestServer(const ConnectRestServer&) = delete;
  ConnectRestServer& operator=(const ConnectRestServer&) = delete;

  // Binds and listens; port 0 picks a free port. Returns the port, or -1.
  int Bind(const std::string& host, int port);
  // Serves requests on a background thread.
  void Start();
  void Stop();

 private:
  void AddRoutes();

  Worker& worker_;
  KafkaProducer& producer_;
  cdc::Logger& log_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace cdc::sim
