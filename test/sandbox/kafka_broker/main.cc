// cdc-kafka-broker: librdkafka's mock cluster as a stand-alone process, so the
// sandbox has something that speaks the real Kafka protocol on loopback, plus
// an HTTP control API to take brokers down, slow them down and create topics.
// See test/sandbox/README.md.

#include <httplib.h>
#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must come after rdkafka.h.
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/kafka_handles.h"
#include "cdc/common/log.h"

namespace {

using cdc::Logger;
using nlohmann::json;

constexpr int kMaxBrokers = 16;
constexpr int kMaxPartitions = 1024;
constexpr int kMaxRttMs = 3'600'000;

constexpr char kUsage[] = R"(usage: cdc-kafka-broker [options]

Runs librdkafka's mock Kafka cluster (real Kafka protocol, in memory) on
127.0.0.1 until SIGTERM/SIGINT.

options:
  --brokers N              number of brokers (default 1; ids 1..N)
  --topic NAME:PARTITIONS  pre-create a topic (repeatable); other topics are
                           auto-created on first use
  --bootstrap-file FILE    write the bootstrap servers ("127.0.0.1:P,...") here
  --control HOST:PORT      HTTP control endpoint (default 127.0.0.1:0)
  --port-file FILE         write "bootstrap=...", "control_port=N", "pid=N" here once ready
  --log-level LEVEL        debug|info|warn|error (default info)

control API (HTTP):
  GET  /healthz                       "ok"
  GET  /brokers                       {"bootstrap":...,"brokers":[{"id":1,"up":true,"rtt_ms":0}],...}
  POST /brokers/{ID|all}/down         take broker(s) down (connections closed)
  POST /brokers/{ID|all}/up           bring broker(s) back
  POST /brokers/{ID|all}/rtt?ms=N     add N ms round-trip latency (0 clears)
  POST /topics?name=T&partitions=P[&replication=R]   create a topic
  POST /leaders?from={ID|all}&to={ID|next}
                                      move partition leaders: those of every
                                      topic led by broker `from` (all: every
                                      partition) to broker `to`, or to the
                                      next broker that is up after the
                                      current leader (a controller's
                                      fail-over, or a leader rebalance);
                                      {"moved":N,...}
)";

struct MockClusterDestroyer {
  void operator()(rd_kafka_mock_cluster_t* c) const {
    rd_kafka_mock_cluster_destroy(c);
  }
};
using MockCluster =
    std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDestroyer>;

struct TopicSpec {
  std::string name;
  int partitions = 1;
};

struct Options {
  int brokers = 1;
  std::vector<TopicSpec> topics;
  std::string bootstrap_file;
  std::string control_host = "127.0.0.1";
  int control_port = 0;
  std::string port_file;
  cdc::LogLevel log_level = cdc::LogLevel::kInfo;
};

std::optional<int> ParseInt(std::string_view text, int min, int max) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min ||
      v > max) {
    return std::nullopt;
  }
  return v;
}

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

TopicSpec ParseTopic(const std::string& text) {
  TopicSpec t;
  auto colon = text.rfind(':');
  t.name = text.substr(0, colon);
  if (colon != std::string::npos) {
    auto p =
        ParseInt(std::string_view(text).substr(colon + 1), 1, kMaxPartitions);
    if (!p)
      throw std::invalid_argument("bad partition count in '" + text + "'");
    t.partitions = *p;
  }
  if (!IsValidTopicName(t.name)) {
    throw std::invalid_argument("bad topic name in '" + text + "'");
  }
  return t;
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

Options ParseArgs(int argc, char** argv) {
  Options o;
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
    if (arg == "--brokers") {
      auto n = ParseInt(value, 1, kMaxBrokers);
      if (!n) throw std::invalid_argument("bad --brokers '" + value + "'");
      o.brokers = *n;
    } else if (arg == "--topic") {
      o.topics.push_back(ParseTopic(value));
    } else if (arg == "--bootstrap-file") {
      o.bootstrap_file = value;
    } else if (arg == "--control") {
      auto colon = value.rfind(':');
      auto port =
          colon == std::string::npos
              ? std::nullopt
              : ParseInt(std::string_view(value).substr(colon + 1), 0, 65535);
      if (!port) throw std::invalid_argument("bad --control '" + value + "'");
      o.control_host = value.substr(0, colon);
      o.control_port = *port;
      if (!IsLoopback(o.control_host)) {
        throw std::invalid_argument("--control must be a loopback address");
      }
    } else if (arg == "--port-file") {
      o.port_file = value;
    } else if (arg == "--log-level") {
      if (!cdc::ParseLogLevel(value, &o.log_level)) {
        throw std::invalid_argument("bad --log-level '" + value + "'");
      }
    } else {
      throw std::invalid_argument("unknown flag " + arg);
    }
  }
  return o;
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

// The mock cluster plus the state the mock API cannot report back (which
// brokers are down, their RTT). Thread-safe.
class Broker {
 public:
  Broker(int brokers, Logger& log) : log_(log), brokers_(brokers) {
    cdc::KafkaConf conf(rd_kafka_conf_new());
    char err[512];
    // The handle only hosts the mock cluster; it never connects anywhere.
    rd_kafka_conf_set(conf.get(), "log_level", "3", err, sizeof(err));
    rd_kafka_conf_set_opaque(conf.get(), &log_);
    rd_kafka_conf_set_log_cb(conf.get(), &Broker::LogCb);
    rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
    if (!rk_) throw std::runtime_error(std::string("rd_kafka_new: ") + err);
    conf.release();  // owned by rk_ now
    cluster_.reset(rd_kafka_mock_cluster_new(rk_.get(), brokers));
    if (!cluster_) throw std::runtime_error("cannot create mock cluster");
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
    for (int id = 1; id <= brokers; ++id) state_[id] = {};
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }

  // Returns an error message, empty on success.
  std::string CreateTopic(const std::string& name, int partitions,
                          int replication) {
    if (!IsValidTopicName(name)) return "bad topic name '" + name + "'";
    if (replication < 1 || replication > brokers_) {
      return "replication must be 1.." + std::to_string(brokers_);
    }
    auto err = rd_kafka_mock_topic_create(cluster_.get(), name.c_str(),
                                          partitions, replication);
    if (err) return rd_kafka_err2str(err);
    std::lock_guard lock(mu_);
    topics_[name] = partitions;
    log_.Info("topic created",
              {{"topic", name}, {"partitions", std::to_string(partitions)}});
    return "";
  }

  // `id` 0 means all brokers. Returns an error message, empty on success.
  std::string SetUp(int id, bool up) {
    return ForBrokers(id, [&](int b) -> std::string {
      auto err = up ? rd_kafka_mock_broker_set_up(cluster_.get(), b)
                    : rd_kafka_mock_broker_set_down(cluster_.get(), b);
      if (err) return rd_kafka_err2str(err);
      state_[b].up = up;
      log_.Info(up ? "broker up" : "broker down",
                {{"broker", std::to_string(b)}});
      return "";
    });
  }

  std::string SetRtt(int id, int rtt_ms) {
    return ForBrokers(id, [&](int b) -> std::string {
      auto err = rd_kafka_mock_broker_set_rtt(cluster_.get(), b, rtt_ms);
      if (err) return rd_kafka_err2str(err);
      state_[b].rtt_ms = rtt_ms;
      log_.Info("broker rtt", {{"broker", std::to_string(b)},
                               {"rtt_ms", std::to_string(rtt_ms)}});
      return "";
    });
  }

  // Moves the leaders of the partitions led by `from` (0: all) to `to`
  // (0: the next broker that is up after the current leader). Partitions
  // are found by a metadata request to the cluster itself. Returns an error
  // message, empty on success; `moved` counts the partitions moved.
  std::string MoveLeaders(int from, int to, int& moved) {
    moved = 0;
    std::lock_guard lock(mu_);
    if ((from != 0 && !state_.count(from)) || (to != 0 && !state_.count(to))) {
      return "no such broker (ids are 1.." + std::to_string(brokers_) + ")";
    }
    if (!meta_) {
      cdc::KafkaConf conf(rd_kafka_conf_new());
      char err[512];
      rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap_.c_str(),
                        err, sizeof(err));
      rd_kafka_conf_set(conf.get(), "log_level", "3", err, sizeof(err));
      meta_.reset(
          rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
      if (!meta_) return std::string("rd_kafka_new: ") + err;
      conf.release();
    }
    const rd_kafka_metadata_t* md = nullptr;
    // Short tries: a request that went to a broker just taken down waits
    // for it until it times out.
    auto err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    for (int i = 0; i < 5 && err; ++i) {
      err = rd_kafka_metadata(meta_.get(), 1, nullptr, &md, 1000);
    }
    if (err) return std::string("metadata: ") + rd_kafka_err2str(err);
    std::string error;
    for (int t = 0; t < md->topic_cnt && error.empty(); ++t) {
      const auto& topic = md->topics[t];
      for (int p = 0; p < topic.partition_cnt; ++p) {
        const int leader = topic.partitions[p].leader;
        if (from != 0 && leader != from) continue;
        int target = to;
        for (int i = 1; target == 0 && i <= brokers_; ++i) {
          const int b = (leader - 1 + i + brokers_) % brokers_ + 1;
          if (b != leader && state_[b].up) target = b;
        }
        if (target == 0 || target == leader) continue;
        err = rd_kafka_mock_partition_set_leader(cluster_.get(), topic.topic, p,
                                                 target);
        if (err) {
          error = rd_kafka_err2str(err);
          break;
        }
        ++moved;
      }
    }
    rd_kafka_metadata_destroy(md);
    log_.Info("leaders moved", {{"from", std::to_string(from)},
                                {"to", to ? std::to_string(to) : "next"},
                                {"partitions", std::to_string(moved)}});
    return error;
  }

  json Describe() const {
    std::lock_guard lock(mu_);
    json brokers = json::array();
    for (const auto& [id, s] : state_) {
      brokers.push_back({{"id", id}, {"up", s.up}, {"rtt_ms", s.rtt_ms}});
    }
    json topics = json::object();
    for (const auto& [name, p] : topics_) topics[name] = {{"partitions", p}};
    return {{"bootstrap", bootstrap_},
            {"brokers", brokers},
            {"created_topics", topics}};
  }

 private:
  struct BrokerState {
    bool up = true;
    int rtt_ms = 0;
  };

  template <typename F>
  std::string ForBrokers(int id, F f) {
    std::lock_guard lock(mu_);
    if (id != 0 && !state_.count(id)) {
      return "no broker " + std::to_string(id) + " (ids are 1.." +
             std::to_string(brokers_) + ")";
    }
    for (auto& [b, s] : state_) {
      if (id != 0 && b != id) continue;
      if (auto e = f(b); !e.empty()) return e;
    }
    return "";
  }

  static void LogCb(const rd_kafka_t* rk, int level, const char* fac,
                    const char* buf) {
    auto* log = static_cast<Logger*>(rd_kafka_opaque(rk));
    log->Log(level <= 3 ? cdc::LogLevel::kError : cdc::LogLevel::kDebug,
             "librdkafka", {{"facility", fac}, {"message", buf}});
  }

  Logger& log_;
  const int brokers_;
  // Declared before cluster_: the cluster must be destroyed first.
  cdc::KafkaHandle rk_;
  MockCluster cluster_;
  std::string bootstrap_;
  // A client of the cluster, for MoveLeaders' metadata; made on first use.
  // Declared after cluster_: destroyed before it.
  cdc::KafkaHandle meta_;
  mutable std::mutex mu_;
  std::map<int, BrokerState> state_;
  std::map<std::string, int> topics_;
};

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void ReplyResult(httplib::Response& res, const std::string& error,
                 const Broker& broker) {
  if (!error.empty()) {
    Reply(res, 400, {{"error", error}});
  } else {
    Reply(res, 200, broker.Describe());
  }
}

// Parses the {ID|all} path segment; 0 = all, nullopt = invalid.
std::optional<int> BrokerId(const std::string& text) {
  if (text == "all") return 0;
  return ParseInt(text, 1, kMaxBrokers);
}

void AddRoutes(httplib::Server& http, Broker& broker) {
  http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kUsage, "text/plain");
  });
  http.Get("/brokers", [&](const httplib::Request&, httplib::Response& res) {
    Reply(res, 200, broker.Describe());
  });
  http.Post(R"(/brokers/([^/]+)/(up|down))", [&](const httplib::Request& req,
                                                 httplib::Response& res) {
    auto id = BrokerId(req.matches[1]);
    if (!id) {
      Reply(res, 400,
            {{"error", "bad broker id '" + std::string(req.matches[1]) + "'"}});
      return;
    }
    ReplyResult(res, broker.SetUp(*id, req.matches[2] == "up"), broker);
  });
  http.Post(R"(/brokers/([^/]+)/rtt)",
            [&](const httplib::Request& req, httplib::Response& res) {
              auto id = BrokerId(req.matches[1]);
              auto ms = req.has_param("ms")
                            ? ParseInt(req.get_param_value("ms"), 0, kMaxRttMs)
                            : std::nullopt;
              if (!id || !ms) {
                Reply(res, 400,
                      {{"error",
                        "need /brokers/{ID|all}/rtt?ms=N "
                        "(0.." +
                            std::to_string(kMaxRttMs) + ")"}});
                return;
              }
              ReplyResult(res, broker.SetRtt(*id, *ms), broker);
            });
  http.Post("/leaders", [&](const httplib::Request& req,
                            httplib::Response& res) {
    const std::string from =
        req.has_param("from") ? req.get_param_value("from") : "all";
    const std::string to =
        req.has_param("to") ? req.get_param_value("to") : "next";
    auto from_id = BrokerId(from);
    auto to_id =
        to == "next" ? std::optional<int>(0) : ParseInt(to, 1, kMaxBrokers);
    if (!from_id || !to_id) {
      Reply(res, 400, {{"error", "need /leaders?from={ID|all}&to={ID|next}"}});
      return;
    }
    int moved = 0;
    const std::string error = broker.MoveLeaders(*from_id, *to_id, moved);
    if (!error.empty()) {
      Reply(res, 400, {{"error", error}, {"moved", moved}});
      return;
    }
    json body = broker.Describe();
    body["moved"] = moved;
    Reply(res, 200, body);
  });
  http.Post("/topics", [&](const httplib::Request& req,
                           httplib::Response& res) {
    auto partitions = ParseInt(
        req.has_param("partitions") ? req.get_param_value("partitions") : "1",
        1, kMaxPartitions);
    auto replication = ParseInt(
        req.has_param("replication") ? req.get_param_value("replication") : "1",
        1, kMaxBrokers);
    if (!req.has_param("name") || !partitions || !replication) {
      Reply(res, 400,
            {{"error",
              "need /topics?name=T&partitions=P"
              "[&replication=R]"}});
      return;
    }
    ReplyResult(res,
                broker.CreateTopic(req.get_param_value("name"), *partitions,
                                   *replication),
                broker);
  });
}

int Main(int argc, char** argv) {
  Options opts;
  try {
    opts = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "cdc-kafka-broker: " << e.what() << "\n\n" << kUsage;
    return 2;
  }
  Logger log(std::cerr, opts.log_level);

  // SIGINT/SIGTERM are taken by sigwait below; every thread (librdkafka's
  // included) inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Broker> broker;
  try {
    broker = std::make_unique<Broker>(opts.brokers, log);
  } catch (const std::exception& e) {
    log.Error("cannot start mock cluster", {{"error", e.what()}});
    return 1;
  }
  for (const auto& t : opts.topics) {
    if (auto e = broker->CreateTopic(t.name, t.partitions, 1); !e.empty()) {
      log.Error("cannot create topic", {{"topic", t.name}, {"error", e}});
      return 1;
    }
  }

  httplib::Server http;
  AddRoutes(http, *broker);
  int control_port = opts.control_port;
  if (control_port == 0) {
    control_port = http.bind_to_any_port(opts.control_host);
  } else if (!http.bind_to_port(opts.control_host, control_port)) {
    control_port = -1;
  }
  if (control_port <= 0) {
    log.Error("cannot bind control endpoint",
              {{"address",
                opts.control_host + ":" + std::to_string(opts.control_port)}});
    return 1;
  }
  std::thread http_thread([&] { http.listen_after_bind(); });
  auto shutdown = [&] {
    http.stop();
    http_thread.join();
  };
  // stop() is a no-op until the server runs, so wait for it before going on.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!http.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  try {
    if (!http.is_running()) throw std::runtime_error("control endpoint down");
    if (!opts.bootstrap_file.empty()) {
      WriteFileAtomically(opts.bootstrap_file, broker->bootstrap() + "\n");
    }
    if (!opts.port_file.empty()) {
      WriteFileAtomically(opts.port_file,
                          "bootstrap=" + broker->bootstrap() + "\n" +
                              "control_port=" + std::to_string(control_port) +
                              "\n" + "pid=" + std::to_string(getpid()) + "\n");
    }
  } catch (const std::exception& e) {
    log.Error("cannot start", {{"error", e.what()}});
    shutdown();
    return 1;
  }
  log.Info("kafka mock cluster ready",
           {{"bootstrap", broker->bootstrap()},
            {"brokers", std::to_string(opts.brokers)},
            {"control", "http://" + opts.control_host + ":" +
                            std::to_string(control_port)}});

  int sig = 0;
  sigwait(&signals, &sig);
  log.Info("stopping", {{"signal", strsignal(sig)}});
  shutdown();
  broker.reset();
  log.Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
