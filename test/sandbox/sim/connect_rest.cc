#include "connect_rest.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>

#include "thread_dump.h"

namespace cdc::sim {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    default:
      return "Internal Server Error";
  }
}

void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void NotFound(httplib::Response& res, const std::string& name) {
  Reply(res, 404, ErrorJson(404, "Connector " + name + " not found"));
}

// Jersey reads a boolean query parameter with Boolean.valueOf.
bool BoolParam(const httplib::Request& req, const char* key) {
  if (!req.has_param(key)) return false;
  std::string v = req.get_param_value(key);
  for (auto& c : v) c = static_cast<char>(std::tolower(c));
  return v == "true";
}

Json TaskStatusJson(const TaskStatusView& t, const std::string& worker_id) {
  Json j;
  j["id"] = t.id;
  j["state"] = StateName(t.state);
  j["worker_id"] = worker_id;
  if (t.state == State::kFailed && !t.trace.empty()) j["trace"] = t.trace;
  return j;
}

Json ThrottleJson(const Connector& c) {
  const auto s = c.throttle().stats();
  Json j;
  j["events_per_second"] = s.events_per_second;
  j["passed"] = s.passed;
  j["throttled"] = s.throttled;
  j["waited_ms"] = s.waited_ms;
  j["waiting"] = s.waiting;
  return j;
}

Json SnapshotJson(const Connector& c) {
  Json j;
  j["name"] = c.name();
  j["streaming"] = c.streaming();
  j["rest_only"] = c.spec().rest_only;
  j["tls_version_pinned"] = c.spec().tls_version;
  j["on_reset"] = c.spec().on_reset == OnReset::kFail ? "fail" : "reconnect";
  j["chaos"] = c.spec().chaos.enabled();
  j["throttle"] = ThrottleJson(c);
  if (auto committed = c.committed()) {
    j["committed_offset"] = committed->ToJson();
  } else {
    j["committed_offset"] = nullptr;
  }
  auto snap = c.TaskSnapshotNow();
  if (!snap) {
    j["task"] = nullptr;
    return j;
  }
  Json t;
  t["connected"] = snap->connected;
  t["endpoint"] = snap->endpoint;
  t["tls_version"] = snap->tls_version;
  t["cipher"] = snap->cipher;
  t["server_connection_id"] = snap->connection_id;
  t["paused"] = snap->paused;
  t["blocked_in_read"] = snap->blocked_in_read;
  t["chaos_stall"] = snap->chaos_stall;
  t["read_since"] = (snap->blocked_in_read || snap->chaos_stall)
                        ? Json(FormatTime(snap->read_since))
                        : Json(nullptr);
  t["last_event_at"] = snap->last_event_at
                           ? Json(FormatTime(*snap->last_event_at))
                           : Json(nullptr);
  t["binlog_events"] = snap->binlog_events;
  t["records"] = snap->records;
  t["heartbeats"] = snap->heartbeats;
  t["connects"] = snap->connects;
  t["reconnects"] = snap->reconnects;
  t["failed"] = snap->failed;
  t["last_error"] = snap->last_error;
  if (snap->opened_at) {
    t["opened_at"] = {{"file", snap->opened_at->file},
                      {"pos", snap->opened_at->pos}};
  } else {
    t["opened_at"] = nullptr;
  }
  t["offset"] = snap->offset ? snap->offset->ToJson() : Json(nullptr);
  j["task"] = std::move(t);
  return j;
}

constexpr const char* kMySqlConnectorClass =
    "io.debezium.connector.mysql.MySqlConnector";

// The config object of a request, in its order, values as strings.
std::vector<std::pair<std::string, std::string>> ConfigPairs(
    const Json& config) {
  if (!config.is_object()) {
    throw RestError(400, "config: must be a JSON object of string values");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : config.items()) {
    if (value.is_string()) {
      out.emplace_back(key, value.get<std::string>());
    } else if (value.is_number() || value.is_boolean()) {
      out.emplace_back(key, value.dump());
    } else {
      throw RestError(400, "config." + key + ": must be a string, got " +
                               std::string(value.type_name()));
    }
  }
  return out;
}

Json ParseBody(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throw RestError(400, "Request body is not valid JSON");
  }
  return j;
}

// Connect resolves connector.class by full name or plugin alias.
void CheckConnectorClass(const ConnectorSpec& spec) {
  const std::string* cls = spec.Get("connector.class");
  if (cls == nullptr || cls->empty()) {
    throw RestError(400,
                    "Connector config contains no connector type "
                    "(connector.class)");
  }
  if (*cls != kMySqlConnectorClass && *cls != "MySqlConnector" &&
      *cls != "MySql") {
    throw RestError(400,
                    "Failed to find any class that implements Connector and "
                    "which name matches " +
                        *cls +
                        ", available connectors are: " + kMySqlConnectorClass);
  }
}

CreateRequest FromConfig(
    const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& config) {
  for (const auto& [key, value] : config) {
    if (key == "name" && value != name) {
      throw RestError(400, "Connector name configuration (" + value +
                               ") doesn't match connector name in the URL (" +
                               name + ")");
    }
  }
  CreateRequest r;
  try {
    r.spec = ConnectorSpecFromConnect(name, config);
  } catch (const ConfigError& e) {
    throw RestError(400, InvalidConfigMessage(e.what()));
  }
  CheckConnectorClass(r.spec);
  return r;
}

}  // namespace

Json ErrorJson(int code, const std::string& message) {
  Json j;
  j["error_code"] = code;
  j["message"] = message;
  return j;
}

std::string InvalidConfigMessage(const std::string& errors) {
  return "Connector configuration is invalid and contains the following 1 "
         "error(s):\n" +
         errors +
         "\nYou can also find the above list of errors at the endpoint "
         "`/connector-plugins/{connectorType}/config/validate`";
}

CreateRequest ParseCreateRequest(const std::string& body) {
  const Json j = ParseBody(body);
  if (!j.is_object()) {
    throw RestError(400,
                    "Request body must be a JSON object: {\"name\": ..., "
                    "\"config\": {...}}");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "name" && key != "config" && key != "initial_state") {
      throw RestError(400, "Unrecognized field \"" + key +
                               "\" (known: name, config, initial_state)");
    }
  }
  if (!j.contains("name") || !j["name"].is_string()) {
    throw RestError(400, "name: required, a string");
  }
  // Connect trims the name.
  std::string name = j["name"].get<std::string>();
  const auto b = name.find_first_not_of(" \t\r\n");
  const auto e = name.find_last_not_of(" \t\r\n");
  name = b == std::string::npos ? "" : name.substr(b, e - b + 1);
  if (!j.contains("config")) {
    throw RestError(400, "config: required, a JSON object of string values");
  }
  CreateRequest r = FromConfig(name, ConfigPairs(j["config"]));
  if (j.contains("initial_state") && !j["initial_state"].is_null()) {
    std::string v = j["initial_state"].is_string()
                        ? j["initial_state"].get<std::string>()
                        : std::string();
    for (auto& ch : v) ch = static_cast<char>(std::toupper(ch));
    if (v == "RUNNING") {
      r.initial = TargetState::kStarted;
    } else if (v == "PAUSED") {
      r.initial = TargetState::kPaused;
    } else if (v == "STOPPED") {
      r.initial = TargetState::kStopped;
    } else {
      throw RestError(400, "initial_state: must be RUNNING, PAUSED or STOPPED");
    }
  }
  return r;
}

CreateRequest ParsePutConfigRequest(const std::string& name,
                                    const std::string& body) {
  return FromConfig(name, ConfigPairs(ParseBody(body)));
}

Json StatusJson(const ConnectorStatusView& v, const std::string& worker_id) {
  Json j;
  j["name"] = v.name;
  Json conn;
  conn["state"] = StateName(v.state);
  conn["worker_id"] = worker_id;
  if (v.state == State::kFailed && !v.trace.empty()) conn["trace"] = v.trace;
  j["connector"] = std::move(conn);
  Json tasks = Json::array();
  for (const auto& t : v.tasks) tasks.push_back(TaskStatusJson(t, worker_id));
  j["tasks"] = std::move(tasks);
  j["type"] = "source";
  return j;
}

Json ConfigJson(const Connector& c) {
  Json j = Json::object();
  for (const auto& [k, v] : c.spec().config) j[k] = v;
  return j;
}

Json InfoJson(const Connector& c) {
  Json j;
  j["name"] = c.name();
  j["config"] = ConfigJson(c);
  Json tasks = Json::array();
  if (c.target() != TargetState::kStopped) {
    for (int i = 0; i < c.configured_tasks(); ++i) {
      tasks.push_back({{"connector", c.name()}, {"task", i}});
    }
  }
  j["tasks"] = std::move(tasks);
  j["type"] = "source";
  return j;
}

ConnectRestServer::ConnectRestServer(Worker& worker, KafkaProducer& producer,
                                     cdc::Logger& log)
    : worker_(worker),
      producer_(producer),
      log_(log),
      server_(std::make_unique<httplib::Server>()) {
  AddRoutes();
}

ConnectRestServer::~ConnectRestServer() { Stop(); }

int ConnectRestServer::Bind(const std::string& host, int port) {
  if (port == 0) return server_->bind_to_any_port(host);
  return server_->bind_to_port(host, port) ? port : -1;
}

void ConnectRestServer::Start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void ConnectRestServer::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ConnectRestServer::AddRoutes() {
  auto& s = *server_;
  s.set_keep_alive_timeout(5);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      Reply(res, res.status,
            ErrorJson(res.status, "HTTP " + std::to_string(res.status) + " " +
                                      ReasonPhrase(res.status)));
    }
  });
  s.set_exception_handler([this](const httplib::Request& req,
                                 httplib::Response& res,
                                 std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_.Error("REST handler failed", {{"path", req.path}, {"error", what}});
    Reply(res, 500, ErrorJson(500, what));
  });

  s.Get("/", [this](const httplib::Request&, httplib::Response& res) {
    Json j;
    j["version"] = kConnectVersion;
    j["commit"] = kConnectCommit;
    j["kafka_cluster_id"] = producer_.ClusterId(std::chrono::seconds(5));
    Reply(res, 200, j);
  });

  s.Get("/connector-plugins/?", [](const httplib::Request&,
                                   httplib::Response& res) {
    Json list = Json::array();
    list.push_back({{"class", "io.debezium.connector.mysql.MySqlConnector"},
                    {"type", "source"},
                    {"version", kDebeziumVersion}});
    Reply(res, 200, list);
  });

  s.Get("/connectors/?",
        [this](const httplib::Request& req, httplib::Response& res) {
          bool status = false;
          bool info = false;
          const size_t n = req.get_param_value_count("expand");
          for (size_t i = 0; i < n; ++i) {
            const auto v = req.get_param_value("expand", i);
            if (v == "status") status = true;
            if (v == "info") info = true;
          }
          if (!status && !info) {
            Json names = Json::array();
            for (const auto& c : worker_.connectors())
              names.push_back(c->name());
            Reply(res, 200, names);
            return;
          }
          const auto now = Clock::now();
          Json out = Json::object();
          for (const auto& c : worker_.connectors()) {
            Json entry = Json::object();
            if (status)
              entry["status"] = StatusJson(c->Status(now), worker_.worker_id());
            if (info) entry["info"] = InfoJson(*c);
            out[c->name()] = std::move(entry);
          }
          Reply(res, 200, out);
        });

  // Creates a connector (POST /connectors, PUT /connectors/{n}/config for a
  // new name): 201 with its info, 409 if the name exists, 400 for a config
  // the simulator cannot run.
  auto create = [this](const CreateRequest& r, httplib::Response& res) {
    ConnectorPtr c;
    try {
      c = worker_.Create(r.spec, r.initial);
    } catch (const ConfigError& e) {
      Reply(res, 400, ErrorJson(400, InvalidConfigMessage(e.what())));
      return;
    }
    if (c == nullptr) {
      Reply(res, 409,
            ErrorJson(409, "Connector " + r.spec.name + " already exists"));
      return;
    }
    res.set_header("Location", "/connectors/" + c->name());
    Reply(res, 201, InfoJson(*c));
  };

  s.Post("/connectors/?",
         [create](const httplib::Request& req, httplib::Response& res) {
           CreateRequest r;
           try {
             r = ParseCreateRequest(req.body);
           } catch (const RestError& e) {
             Reply(res, e.status(), ErrorJson(e.status(), e.what()));
             return;
           }
           create(r, res);
         });

  s.Delete(R"(/connectors/([^/]+)/?)",
           [this](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.matches[1];
             if (!worker_.Delete(name)) {
               NotFound(res, name);
               return;
             }
             res.status = 204;
           });

  s.Put(R"(/connectors/([^/]+)/config/?)",
        [this, create](const httplib::Request& req, httplib::Response& res) {
          const std::string name = req.matches[1];
          if (worker_.Find(name) != nullptr) {
            Reply(res, 405,
                  ErrorJson(405,
                            "cdc-sim: connector configs are read-only (delete "
                            "and create the connector to change it)"));
            return;
          }
          CreateRequest r;
          try {
            r = ParsePutConfigRequest(name, req.body);
          } catch (const RestError& e) {
            Reply(res, e.status(), ErrorJson(e.status(), e.what()));
            return;
          }
          create(r, res);
        });

  // /connectors/{name}[/...]: look the connector up first.
  auto with_connector = [this](auto&& fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.matches[1];
      // Held for the whole request: a concurrent DELETE cannot free it.
      const ConnectorPtr c = worker_.Find(name);
      if (c == nullptr) {
        NotFound(res, name);
        return;
      }
      fn(req, res, c);
    };
  };

  s.Get(R"(/connectors/([^/]+)/?)",
        with_connector(
            [](const httplib::Request&, httplib::Response& res,
               const ConnectorPtr& c) { Reply(res, 200, InfoJson(*c)); }));
  s.Get(R"(/connectors/([^/]+)/config/?)",
        with_connector(
            [](const httplib::Request&, httplib::Response& res,
               const ConnectorPtr& c) { Reply(res, 200, ConfigJson(*c)); }));
  s.Get(R"(/connectors/([^/]+)/status/?)",
        with_connector([this](const httplib::Request&, httplib::Response& res,
                              const ConnectorPtr& c) {
          Reply(res, 200,
                StatusJson(c->Status(Clock::now()), worker_.worker_id()));
        }));
  s.Get(R"(/connectors/([^/]+)/tasks/?)",
        with_connector([](const httplib::Request&, httplib::Response& res,
                          const ConnectorPtr& c) {
          Json tasks = Json::array();
          if (c->target() != TargetState::kStopped) {
            for (int i = 0; i < c->configured_tasks(); ++i) {
              Json config = ConfigJson(*c);
              config["task.class"] =
                  "io.debezium.connector.mysql.MySqlConnectorTask";
              Json t;
              t["id"] = {{"connector", c->name()}, {"task", i}};
              t["config"] = std::move(config);
              tasks.push_back(std::move(t));
            }
          }
          Reply(res, 200, tasks);
        }));
  s.Get(R"(/connectors/([^/]+)/tasks/(\d+)/status/?)",
        with_connector([this](const httplib::Request& req,
                              httplib::Response& res, const ConnectorPtr& c) {
          const int id = std::stoi(req.matches[2]);
          const auto v = c->Status(Clock::now());
          for (const auto& t : v.tasks) {
            if (t.id == id) {
              Reply(res, 200, TaskStatusJson(t, worker_.worker_id()));
              return;
            }
          }
          Reply(res, 404,
                ErrorJson(404, "No status found for task " + c->name() + "-" +
                                   std::to_string(id)));
        }));
  s.Get(R"(/connectors/([^/]+)/offsets/?)",
        with_connector([](const httplib::Request&, httplib::Response& res,
                          const ConnectorPtr& c) {
          Json offsets = Json::array();
          if (auto o = c->committed()) {
            Json entry;
            entry["partition"] = {{"server", c->server()}};
            entry["offset"] = o->ToJson();
            offsets.push_back(std::move(entry));
          }
          Json j;
          j["offsets"] = std::move(offsets);
          Reply(res, 200, j);
        }));
  s.Get(R"(/connectors/([^/]+)/topics/?)",
        with_connector([](const httplib::Request&, httplib::Response& res,
                          const ConnectorPtr& c) {
          Json topics = Json::array();
          for (const auto& t : c->Topics()) topics.push_back(t);
          Json j;
          j[c->name()] = {{"topics", std::move(topics)}};
          Reply(res, 200, j);
        }));
  s.Put(R"(/connectors/([^/]+)/topics/reset/?)",
        with_connector([](const httplib::Request&, httplib::Response& res,
                          const ConnectorPtr& c) {
          c->ResetTopics();
          res.status = 202;
        }));
  s.Post(R"(/connectors/([^/]+)/restart/?)",
         with_connector([this](const httplib::Request& req,
                               httplib::Response& res, const ConnectorPtr& c) {
           const bool include_tasks = BoolParam(req, "includeTasks");
           const bool only_failed = BoolParam(req, "onlyFailed");
           const auto v = worker_.Restart(c, include_tasks, only_failed);
           if (!include_tasks && !only_failed) {
             res.status = 204;  // KIP-745: the legacy connector-only restart
             return;
           }
           Reply(res, 202, StatusJson(v, worker_.worker_id()));
         }));
  s.Post(R"(/connectors/([^/]+)/tasks/(\d+)/restart/?)",
         with_connector([this](const httplib::Request& req,
                               httplib::Response& res, const ConnectorPtr& c) {
           const int id = std::stoi(req.matches[2]);
           if (!c->Exists(id) || c->target() == TargetState::kStopped) {
             Reply(res, 404,
                   ErrorJson(404, "Task not found: " + c->name() + "-" +
                                      std::to_string(id)));
             return;
           }
           worker_.RestartTask(c, id);
           res.status = 204;
         }));
  s.Put(R"(/connectors/([^/]+)/pause/?)",
        with_connector([this](const httplib::Request&, httplib::Response& res,
                              const ConnectorPtr& c) {
          worker_.Pause(c);
          res.status = 202;
        }));
  s.Put(R"(/connectors/([^/]+)/resume/?)",
        with_connector([this](const httplib::Request&, httplib::Response& res,
                              const ConnectorPtr& c) {
          worker_.Resume(c);
          res.status = 202;
        }));
  s.Put(R"(/connectors/([^/]+)/stop/?)",
        with_connector([this](const httplib::Request&, httplib::Response& res,
                              const ConnectorPtr& c) {
          worker_.StopConnector(c);
          res.status = 202;
        }));

  // Simulator internals for tests and debugging; not part of Connect's API.
  s.Get(R"(/__sim/connectors/([^/]+)/?)",
        with_connector(
            [](const httplib::Request&, httplib::Response& res,
               const ConnectorPtr& c) { Reply(res, 200, SnapshotJson(*c)); }));
  // The throughput cap (binlog events per second, 0 = unlimited).
  s.Get(R"(/__sim/connectors/([^/]+)/throttle/?)",
        with_connector(
            [](const httplib::Request&, httplib::Response& res,
               const ConnectorPtr& c) { Reply(res, 200, ThrottleJson(*c)); }));
  s.Put(R"(/__sim/connectors/([^/]+)/throttle/?)",
        with_connector([this](const httplib::Request& req,
                              httplib::Response& res, const ConnectorPtr& c) {
          const std::string v = req.has_param("events_per_second")
                                    ? req.get_param_value("events_per_second")
                                    : "";
          unsigned long long n = 0;
          bool ok = !v.empty() && v.size() <= 9 &&
                    std::all_of(v.begin(), v.end(), [](char ch) {
                      return std::isdigit(static_cast<unsigned char>(ch));
                    });
          if (ok) n = std::stoull(v);
          if (!ok || n > static_cast<unsigned long long>(kMaxEventsPerSecond)) {
            Reply(res, 400,
                  ErrorJson(400, "events_per_second must be an integer in 0.." +
                                     std::to_string(kMaxEventsPerSecond)));
            return;
          }
          c->throttle().SetRate(n);
          log_.Info(n == 0 ? "Throughput cap removed" : "Throughput cap set",
                    {{"connector", c->name()},
                     {"events_per_second", std::to_string(n)}});
          Reply(res, 200, ThrottleJson(*c));
        }));
  s.Get("/__sim/thread-dump",
        [this](const httplib::Request&, httplib::Response& res) {
          res.set_content(worker_.ThreadDump(), "text/plain");
        });
}

}  // namespace cdc::sim
