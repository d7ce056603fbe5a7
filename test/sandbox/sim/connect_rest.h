#pragma once

// The Kafka Connect REST API (Kafka 3.7) of the simulated worker, on
// cpp-httplib: the same paths, JSON shapes and status codes, for what
// monitoring and recovery tools use.

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
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

// A request the REST API refuses: the HTTP status and Connect's message.
class RestError : public std::runtime_error {
 public:
  RestError(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// A connector to create, as a REST request describes it.
struct CreateRequest {
  ConnectorSpec spec;  // sim.* keys applied, not in spec.config
  TargetState initial = TargetState::kStarted;  // KIP-980 initial_state
};

// The body of POST /connectors: {"name": "...", "config": {...}} and
// optionally "initial_state" (RUNNING|PAUSED|STOPPED). Config values are
// strings (numbers and booleans are taken as their text, as Connect's
// Jackson does); a "name" in the config must equal the name; the
// connector.class must be Debezium's MySqlConnector. Throws RestError (400)
// saying what is wrong. Debezium settings are checked by Worker::Create.
CreateRequest ParseCreateRequest(const std::string& body);
// The body of PUT /connectors/{name}/config: the config object itself.
CreateRequest ParsePutConfigRequest(const std::string& name,
                                    const std::string& body);
// Connect's 400 message for a config that fails validation.
std::string InvalidConfigMessage(const std::string& errors);

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
