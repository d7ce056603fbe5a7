// Integration tests of cdc-sim against the sandbox (test/sandbox/up): real
// MariaDB binlog streams over pinned TLS through fault proxies, real Kafka
// protocol broker, Kafka Connect REST API shapes.
//
// Every wait is bounded; every fault is healed by a scope guard.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/kafka_handles.h"
#include "cdc/common/mysql_handles.h"
#include "sandbox_env.h"
#include "test_support.h"

namespace cdc::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

// How often the tests poll for a condition.
constexpr auto kPollPeriod = 100ms;

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(c));
  return s;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A token unique to this test run, for rows we insert.
std::string Token(const std::string& what) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::ostringstream ss;
  ss << "simtest-" << what << "-" << std::hex << rng();
  return ss.str();
}

// ---------------------------------------------------------------------------
// MariaDB (root, direct, verified TLS)

class Db {
 public:
  explicit Db(const cdc::testing::SandboxEnv& env) {
    m_.reset(mysql_init(nullptr));
    unsigned int timeout = 10;
    mysql_optionsv(m_.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m_.get(), MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_ssl_set(m_.get(), nullptr, nullptr, env.Get("MYSQL_CA").c_str(),
                  nullptr, nullptr);
    const std::string pw = env.ReadFileAt("MYSQL_ROOT_PASSWORD_FILE");
    if (!mysql_real_connect(
            m_.get(), env.Get("MYSQL_HOST").c_str(),
            env.Get("MYSQL_ROOT_USER").c_str(), pw.c_str(), nullptr,
            static_cast<unsigned>(env.GetInt("MYSQL_PORT")), nullptr, 0)) {
      throw std::runtime_error(std::string("root connect: ") +
                               mysql_error(m_.get()));
    }
  }

  void Exec(const std::string& sql) {
    if (mysql_query(m_.get(), sql.c_str()) != 0) {
      throw std::runtime_error(sql + ": " + mysql_error(m_.get()));
    }
    cdc::MysqlResult r(mysql_store_result(m_.get()));
  }

  std::vector<std::vector<std::string>> Query(const std::string& sql) {
    if (mysql_query(m_.get(), sql.c_str()) != 0) {
      throw std::runtime_error(sql + ": " + mysql_error(m_.get()));
    }
    cdc::MysqlResult r(mysql_store_result(m_.get()));
    std::vector<std::vector<std::string>> rows;
    if (!r) return rows;
    const unsigned n = mysql_num_fields(r.get());
    while (MYSQL_ROW row = mysql_fetch_row(r.get())) {
      std::vector<std::string> out;
      for (unsigned i = 0; i < n; ++i) out.push_back(row[i] ? row[i] : "NULL");
      rows.push_back(std::move(out));
    }
    return rows;
  }

  // Inserts one customer whose email is `token`; returns its id.
  int64_t InsertCustomer(const std::string& token) {
    Exec(
        "INSERT INTO inventory.customers (first_name, last_name, email) "
        "VALUES ('Sim', 'Test', '" +
        token + "')");
    return static_cast<int64_t>(mysql_insert_id(m_.get()));
  }

  std::pair<std::string, uint64_t> MasterStatus() {
    auto rows = Query("SHOW MASTER STATUS");
    if (rows.empty()) throw std::runtime_error("no binlog");
    return {rows[0][0], std::stoull(rows[0][1])};
  }

  // Server-side sessions of `user` in `command` with their TLS version.
  std::vector<std::pair<uint64_t, std::string>> Sessions(
      const std::string& user, const std::string& command) {
    std::vector<std::pair<uint64_t, std::string>> out;
    for (const auto& r : Query(
             "SELECT t.PROCESSLIST_ID, IFNULL(s.VARIABLE_VALUE, '') "
             "FROM performance_schema.threads t "
             "LEFT JOIN performance_schema.status_by_thread s "
             "ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_version' "
             "WHERE t.TYPE = 'FOREGROUND' AND t.PROCESSLIST_USER = '" +
             user + "' AND t.PROCESSLIST_COMMAND = '" + command + "'")) {
      out.emplace_back(std::stoull(r[0]), r[1]);
    }
    return out;
  }

 private:
  cdc::MysqlHandle m_;
};

// ---------------------------------------------------------------------------
// Kafka: reads a whole topic (every partition from the beginning) and keeps
// what arrives.

struct Record {
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
};

class TopicReader {
 public:
  TopicReader(const std::string& bootstrap, const std::string& topic)
      : topic_(topic) {
    char err[512];
    cdc::KafkaConf conf(rd_kafka_conf_new());
    const std::pair<const char*, std::string> settings[] = {
        {"bootstrap.servers", bootstrap},
        {"group.id", "sim-test-" + Token("reader")},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "50"},
        {"log_level", "3"}};
    for (const auto& [k, v] : settings) {
      if (rd_kafka_conf_set(conf.get(), k, v.c_str(), err, sizeof(err)) !=
          RD_KAFKA_CONF_OK) {
        throw std::runtime_error(err);
      }
    }
    rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
    if (!rk_) throw std::runtime_error(err);
    conf.release();
    rd_kafka_poll_set_consumer(rk_.get());
  }
  ~TopicReader() {
    if (rk_) rd_kafka_consumer_close(rk_.get());
  }

  // Consumes for up to `timeout`, or until `done` holds for all records.
  bool WaitFor(const std::function<bool(const std::vector<Record>&)>& done,
               std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      Poll(50ms);
      if (done(records_)) return true;
      if (Clock::now() >= deadline) return false;
    }
  }

  // Consumes everything the topic held when called (up to the high
  // watermarks), within `timeout`. False on timeout.
  bool CatchUp(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    if (!EnsureAssigned()) return true;  // no such topic yet: nothing to read
    std::map<int32_t, int64_t> high;
    for (int32_t p : partitions_) {
      int64_t lo = 0;
      int64_t hi = 0;
      if (rd_kafka_query_watermark_offsets(rk_.get(), topic_.c_str(), p, &lo,
                                           &hi, 2000) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return false;
      }
      if (hi > lo) high[p] = hi;
    }
    auto caught_up = [&](const std::vector<Record>& rs) {
      std::map<int32_t, int64_t> next;
      for (const auto& r : rs) {
        next[r.partition] = std::max(next[r.partition], r.offset + 1);
      }
      for (const auto& [p, hi] : high) {
        if (next[p] < hi) return false;
      }
      return true;
    };
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    return WaitFor(caught_up, std::max(left, 0ms));
  }

  // Consumes for `d` whatever arrives.
  void Drain(std::chrono::milliseconds d) {
    WaitFor([](const std::vector<Record>&) { return false; }, d);
  }

  const std::vector<Record>& records() const { return records_; }

 private:
  bool EnsureAssigned() {
    if (assigned_) return true;
    struct TopicDestroyer {
      void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
    };
    std::unique_ptr<rd_kafka_topic_t, TopicDestroyer> rkt(
        rd_kafka_topic_new(rk_.get(), topic_.c_str(), nullptr));
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, 2000);
    cdc::KafkaMetadata holder(md);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 ||
        md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topics[0].partition_cnt == 0) {
      return false;
    }
    cdc::KafkaTopicPartitionList parts(
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt));
    for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
      partitions_.push_back(md->topics[0].partitions[i].id);
      rd_kafka_topic_partition_list_add(parts.get(), topic_.c_str(),
                                        md->topics[0].partitions[i].id)
          ->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk_.get(), parts.get());
    assigned_ = true;
    return true;
  }

  void Poll(std::chrono::milliseconds d) {
    if (!EnsureAssigned()) {
      std::this_thread::sleep_for(d);
      return;
    }
    const auto deadline = Clock::now() + d;
    while (Clock::now() < deadline) {
      cdc::KafkaMessage m(rd_kafka_consumer_poll(rk_.get(), 20));
      if (!m || m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      Record r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) {
        r.value.emplace(static_cast<const char*>(m->payload), m->len);
      }
      records_.push_back(std::move(r));
    }
  }

  std::string topic_;
  cdc::KafkaHandle rk_;
  bool assigned_ = false;
  std::vector<int32_t> partitions_;
  std::vector<Record> records_;
};

// Change events (not tombstones) whose after/before image has this email.
std::vector<Json> EventsFor(const std::vector<Record>& records,
                            const std::string& email) {
  std::vector<Json> out;
  for (const auto& r : records) {
    if (!r.value) continue;
    Json v = Json::parse(*r.value, nullptr, false);
    if (!v.is_object()) continue;
    for (const char* image : {"after", "before"}) {
      if (v.contains(image) && v[image].is_object() &&
          v[image].value("email", "") == email) {
        out.push_back(v);
        break;
      }
    }
  }
  return out;
}

size_t CountCreates(const std::vector<Record>& records,
                    const std::string& email) {
  size_t n = 0;
  for (const auto& e : EventsFor(records, email)) n += e["op"] == "c" ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------
// The fixture: the sandbox's simulated worker and connectors.

struct ConnectorInfo {
  std::string id;  // "tls13"
  std::string name;
  std::string prefix;
  std::string tls_version;
  std::string user;
  std::string proxy_control;
  int proxy_port = 0;
  std::string topic() const { return prefix + ".inventory.customers"; }
  std::string heartbeat_topic() const {
    return "__debezium-heartbeat." + prefix;
  }
};

// Puts a proxy back to pass mode when the test ends, whatever happened.
class ProxyGuard {
 public:
  explicit ProxyGuard(std::string control) : control_(std::move(control)) {}
  ~ProxyGuard() { Http("PUT", control_, "/mode?mode=pass"); }
  ProxyGuard(const ProxyGuard&) = delete;
  ProxyGuard& operator=(const ProxyGuard&) = delete;

 private:
  std::string control_;
};

class SimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = cdc::testing::SandboxEnv::Load();
    if (env_.GetOr("SIM_ENABLED", "0") != "1") {
      GTEST_SKIP() << "cdc-sim was not started by test/sandbox/up";
    }
    connect_ = env_.Get("CONNECT_URL");
    direct_ = env_.Get("CONNECT_DIRECT_URL");
    bootstrap_ = env_.Get("KAFKA_BOOTSTRAP");
    for (const auto& id : Split(env_.Get("CONNECTORS"), ',')) {
      const std::string k = "CONNECTOR_" + Upper(id) + "_";
      ConnectorInfo c;
      c.id = id;
      c.name = env_.Get(k + "NAME");
      c.prefix = env_.Get(k + "TOPIC_PREFIX");
      c.tls_version = env_.Get(k + "TLS_VERSION");
      c.user = env_.Get(k + "USER");
      const std::string proxy = Upper(env_.Get(k + "PROXY"));
      c.proxy_control = env_.Get("PROXY_" + proxy + "_CONTROL_URL");
      c.proxy_port = env_.GetInt("PROXY_" + proxy + "_PORT");
      connectors_.push_back(c);
    }
    ASSERT_GE(connectors_.size(), 2u) << "the sim tests need two connectors";
    db_ = std::make_unique<Db>(env_);
    // Every connector must be streaming before a test starts (an earlier
    // test may have restarted one).
    for (const auto& c : connectors_) {
      ASSERT_TRUE(WaitFor([&] { return Connected(c); }, 15s, kPollPeriod))
          << c.name << " is not streaming: " << Sim(c).dump();
    }
  }

  const ConnectorInfo& tls13() const { return connectors_[0]; }
  const ConnectorInfo& tls12() const { return connectors_[1]; }

  Json Status(const ConnectorInfo& c) {
    return Http("GET", connect_, "/connectors/" + c.name + "/status").json();
  }
  bool RunningRunning(const ConnectorInfo& c) {
    const Json s = Status(c);
    return s.is_object() && s["connector"]["state"] == "RUNNING" &&
           s["tasks"].size() == 1 && s["tasks"][0]["state"] == "RUNNING";
  }
  // cdc-sim's internal view (not part of Connect's API).
  Json Sim(const ConnectorInfo& c) {
    return Http("GET", direct_, "/__sim/connectors/" + c.name).json();
  }
  bool Connected(const ConnectorInfo& c) {
    const Json s = Sim(c);
    return s.is_object() && s["task"].is_object() &&
           s["task"]["connected"] == true && RunningRunning(c);
  }
  uint64_t ConnectionId(const ConnectorInfo& c) {
    const Json s = Sim(c);
    return s["task"].is_object() ? s["task"].value("server_connection_id", 0ull)
                                 : 0;
  }
  void SetProxy(const ConnectorInfo& c, const std::string& mode) {
    const auto r = Http("PUT", c.proxy_control, "/mode?mode=" + mode);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  cdc::testing::SandboxEnv env_;
  std::string connect_;
  std::string direct_;
  std::string bootstrap_;
  std::vector<ConnectorInfo> connectors_;
  std::unique_ptr<Db> db_;
};

// --- REST shapes -----------------------------------------------------------

TEST_F(SimTest, RootAndConnectorListHaveConnectShapes) {
  auto root = Http("GET", connect_, "/");
  ASSERT_EQ(root.status, 200);
  EXPECT_NE(root.content_type.find("application/json"), std::string::npos);
  const Json r = root.json();
  EXPECT_EQ(r["version"], "3.7.0");
  EXPECT_TRUE(r["commit"].is_string() &&
              !r["commit"].get<std::string>().empty());
  EXPECT_TRUE(r["kafka_cluster_id"].is_string() &&
              !r["kafka_cluster_id"].get<std::string>().empty());

  auto list = Http("GET", connect_, "/connectors");
  ASSERT_EQ(list.status, 200);
  const Json names = list.json();
  ASSERT_TRUE(names.is_array());
  for (const auto& c : connectors_) {
    EXPECT_NE(std::find(names.begin(), names.end(), c.name), names.end())
        << c.name;
  }

  const std::string worker = env_.Get("CONNECT_WORKER_ID");
  const Json status = Http("GET", connect_, "/connectors?expand=status").json();
  const Json info = Http("GET", connect_, "/connectors?expand=info").json();
  const Json both =
      Http("GET", connect_, "/connectors?expand=status&expand=info").json();
  for (const auto& c : connectors_) {
    ASSERT_TRUE(status.contains(c.name)) << status.dump();
    const Json& s = status[c.name];
    EXPECT_EQ(s.size(), 1u) << "only \"status\" expected: " << s.dump();
    EXPECT_EQ(s["status"]["name"], c.name);
    EXPECT_EQ(s["status"]["connector"]["state"], "RUNNING");
    EXPECT_EQ(s["status"]["connector"]["worker_id"], worker);
    EXPECT_EQ(s["status"]["type"], "source");
    ASSERT_EQ(s["status"]["tasks"].size(), 1u);
    EXPECT_EQ(s["status"]["tasks"][0]["id"], 0);
    EXPECT_EQ(s["status"]["tasks"][0]["state"], "RUNNING");
    EXPECT_EQ(s["status"]["tasks"][0]["worker_id"], worker);
    EXPECT_FALSE(s["status"]["tasks"][0].contains("trace"));

    ASSERT_TRUE(info.contains(c.name));
    const Json& i = info[c.name];
    EXPECT_EQ(i.size(), 1u);
    EXPECT_EQ(i["info"]["name"], c.name);
    EXPECT_EQ(i["info"]["type"], "source");
    EXPECT_EQ(i["info"]["config"]["name"], c.name);
    EXPECT_EQ(i["info"]["config"]["connector.class"],
              "io.debezium.connector.mysql.MySqlConnector");
    EXPECT_EQ(i["info"]["config"]["topic.prefix"], c.prefix);
    EXPECT_EQ(i["info"]["tasks"],
              Json::parse("[{\"connector\":\"" + c.name + "\",\"task\":0}]"));

    ASSERT_TRUE(both.contains(c.name));
    EXPECT_TRUE(both[c.name].contains("status") &&
                both[c.name].contains("info"));
  }
}

TEST_F(SimTest, PerConnectorEndpointsHaveConnectShapes) {
  const auto& c = tls13();
  const std::string base = "/connectors/" + c.name;

  auto one = Http("GET", connect_, base);
  ASSERT_EQ(one.status, 200);
  const Json info = one.json();
  EXPECT_EQ(info["name"], c.name);
  EXPECT_EQ(info["type"], "source");
  EXPECT_EQ(info["tasks"][0]["task"], 0);

  auto config = Http("GET", connect_, base + "/config");
  ASSERT_EQ(config.status, 200);
  EXPECT_EQ(config.json(), info["config"]);
  EXPECT_EQ(config.json()["database.user"], c.user);

  auto tasks = Http("GET", connect_, base + "/tasks");
  ASSERT_EQ(tasks.status, 200);
  ASSERT_EQ(tasks.json().size(), 1u);
  EXPECT_EQ(tasks.json()[0]["id"],
            Json::parse("{\"connector\":\"" + c.name + "\",\"task\":0}"));
  EXPECT_TRUE(tasks.json()[0]["config"].is_object());

  auto task_status = Http("GET", connect_, base + "/tasks/0/status");
  ASSERT_EQ(task_status.status, 200);
  EXPECT_EQ(task_status.json()["id"], 0);
  EXPECT_EQ(task_status.json()["state"], "RUNNING");
  EXPECT_EQ(Http("GET", connect_, base + "/tasks/7/status").status, 404);

  auto topics = Http("GET", connect_, base + "/topics");
  ASSERT_EQ(topics.status, 200);
  EXPECT_TRUE(topics.json()[c.name]["topics"].is_array()) << topics.body;

  // Offsets appear once the first offset flush has happened.
  Json offsets;
  ASSERT_TRUE(WaitFor(
      [&] {
        offsets = Http("GET", connect_, base + "/offsets").json();
        return offsets.is_object() && offsets["offsets"].is_array() &&
               !offsets["offsets"].empty();
      },
      15s, kPollPeriod))
      << offsets.dump();
  ASSERT_EQ(offsets["offsets"].size(), 1u);
  EXPECT_EQ(offsets["offsets"][0]["partition"],
            Json::parse("{\"server\":\"" + c.prefix + "\"}"));
  const Json& o = offsets["offsets"][0]["offset"];
  EXPECT_TRUE(o["file"].is_string());
  EXPECT_TRUE(o["pos"].is_number_unsigned() || o["pos"].is_number_integer());
  EXPECT_TRUE(o["ts_sec"].is_number());

  auto plugins = Http("GET", connect_, "/connector-plugins");
  ASSERT_EQ(plugins.status, 200);
  EXPECT_EQ(plugins.json()[0]["class"],
            "io.debezium.connector.mysql.MySqlConnector");
}

TEST_F(SimTest, UnknownConnectorIs404WithConnectErrorBody) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{
           {"GET", "/connectors/no-such"},
           {"GET", "/connectors/no-such/status"},
           {"GET", "/connectors/no-such/config"},
           {"GET", "/connectors/no-such/offsets"},
           {"POST", "/connectors/no-such/restart"},
           {"POST", "/connectors/no-such/tasks/0/restart"},
           {"PUT", "/connectors/no-such/pause"},
           {"PUT", "/connectors/no-such/resume"},
           {"PUT", "/connectors/no-such/stop"}}) {
    auto r = Http(method, connect_, path);
    EXPECT_EQ(r.status, 404) << method << " " << path;
    EXPECT_EQ(
        r.json(),
        Json::parse(
            R"({"error_code":404,"message":"Connector no-such not found"})"))
        << method << " " << path << ": " << r.body;
  }
  auto r = Http("GET", connect_, "/no/such/path");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json()["error_code"], 404);
}

// --- change events -----------------------------------------------------------

TEST_F(SimTest, InsertArrivesAsDebeziumChangeEventWithinTwoSeconds) {
  const auto& c = tls13();
  TopicReader reader(bootstrap_, c.topic());
  reader.CatchUp();
  const auto before = db_->MasterStatus();
  const std::string email = Token("insert") + "@example.com";
  const auto inserted_at = Clock::now();
  const int64_t id = db_->InsertCustomer(email);
  const auto after = db_->MasterStatus();
  const auto gtid_pos = db_->Query("SELECT @@gtid_binlog_pos")[0][0];

  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return !EventsFor(rs, email).empty(); }, 2s))
      << "no change event for the insert on " << c.topic() << " within 2 s";
  const auto latency = Clock::now() - inserted_at;
  EXPECT_LT(latency, 2s);
  RecordProperty(
      "latency_ms",
      static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(latency)
              .count()));

  const Record* rec = nullptr;
  for (const auto& r : reader.records()) {
    if (r.value && r.value->find(email) != std::string::npos) rec = &r;
  }
  ASSERT_NE(rec, nullptr);
  ASSERT_TRUE(rec->key.has_value());
  EXPECT_EQ(Json::parse(*rec->key),
            Json::parse("{\"id\":" + std::to_string(id) + "}"));

  const Json v = Json::parse(*rec->value);
  // schemas.enable=false: the bare envelope, no {"schema","payload"}.
  EXPECT_FALSE(v.contains("schema"));
  EXPECT_TRUE(v["before"].is_null());
  EXPECT_EQ(v["after"]["id"], id);
  EXPECT_EQ(v["after"]["first_name"], "Sim");
  EXPECT_EQ(v["after"]["last_name"], "Test");
  EXPECT_EQ(v["after"]["email"], email);
  EXPECT_EQ(v["op"], "c");
  EXPECT_TRUE(v["transaction"].is_null());
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_NEAR(static_cast<double>(v["ts_ms"].get<int64_t>()),
              static_cast<double>(now_ms), 10000.0);

  const Json& s = v["source"];
  EXPECT_EQ(s["version"], "2.7.3.Final");
  EXPECT_EQ(s["connector"], "mysql");
  EXPECT_EQ(s["name"], c.prefix);
  EXPECT_EQ(s["snapshot"], "false");
  EXPECT_EQ(s["db"], "inventory");
  EXPECT_EQ(s["table"], "customers");
  EXPECT_TRUE(s["sequence"].is_null());
  EXPECT_TRUE(s["query"].is_null());
  EXPECT_EQ(s["server_id"], env_.GetInt("MYSQL_SERVER_ID"));
  EXPECT_EQ(s["file"], after.first);
  EXPECT_GE(s["pos"].get<uint64_t>(), before.second);
  EXPECT_LT(s["pos"].get<uint64_t>(), after.second);
  EXPECT_EQ(s["row"], 0);
  ASSERT_TRUE(s["gtid"].is_string());
  EXPECT_TRUE(std::regex_match(s["gtid"].get<std::string>(),
                               std::regex(R"(\d+-\d+-\d+)")));
  EXPECT_NE(gtid_pos.find(s["gtid"].get<std::string>()), std::string::npos)
      << "event gtid " << s["gtid"] << " vs server " << gtid_pos;
  EXPECT_NEAR(static_cast<double>(s["ts_ms"].get<int64_t>()),
              static_cast<double>(now_ms), 10000.0);

  // The other connector reads the same binlog into its own topic.
  TopicReader other(bootstrap_, tls12().topic());
  EXPECT_TRUE(other.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, email) == 1; }, 5s));
}

TEST_F(SimTest, UpdateAndDeleteBecomeUAndDWithTombstone) {
  const auto& c = tls13();
  TopicReader reader(bootstrap_, c.topic());
  const std::string email = Token("ud") + "@example.com";
  const int64_t id = db_->InsertCustomer(email);
  db_->Exec("UPDATE inventory.customers SET last_name = 'Changed' WHERE id = " +
            std::to_string(id));
  db_->Exec("DELETE FROM inventory.customers WHERE id = " + std::to_string(id));
  const std::string key = "{\"id\":" + std::to_string(id) + "}";
  auto tombstones = [&](const std::vector<Record>& rs) {
    size_t n = 0;
    for (const auto& r : rs) {
      if (!r.value && r.key && Json::parse(*r.key) == Json::parse(key)) ++n;
    }
    return n;
  };
  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& rs) {
        return EventsFor(rs, email).size() >= 3 && tombstones(rs) >= 1;
      },
      5s));
  const auto events = EventsFor(reader.records(), email);
  ASSERT_EQ(events.size(), 3u);
  std::map<std::string, Json> by_op;
  for (const auto& e : events) by_op[e["op"]] = e;
  ASSERT_TRUE(by_op.count("c") && by_op.count("u") && by_op.count("d"));
  EXPECT_EQ(by_op["u"]["before"]["last_name"], "Test");
  EXPECT_EQ(by_op["u"]["after"]["last_name"], "Changed");
  EXPECT_EQ(by_op["d"]["before"]["last_name"], "Changed");
  EXPECT_TRUE(by_op["d"]["after"].is_null());
  EXPECT_EQ(tombstones(reader.records()), 1u);
}

TEST_F(SimTest, HeartbeatsFlowAsBinlogEventsArrive) {
  const auto& c = tls13();
  const int heartbeat_ms =
      std::stoi(env_.GetOr("SCENARIO_HEARTBEAT_MS", "2000"));
  TopicReader reader(bootstrap_, c.heartbeat_topic());
  reader.CatchUp();
  const size_t before = reader.records().size();
  const int64_t start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  // Debezium MySQL emits heartbeats only as binlog events are processed:
  // keep some traffic going for a little more than two intervals.
  const auto until =
      Clock::now() + std::chrono::milliseconds(2 * heartbeat_ms + 1500);
  while (Clock::now() < until) {
    db_->InsertCustomer(Token("hb") + "@example.com");
    reader.Drain(250ms);
  }
  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return rs.size() >= before + 2; }, 3s))
      << "expected at least two heartbeats on " << c.heartbeat_topic();
  for (size_t i = before; i < reader.records().size(); ++i) {
    const auto& r = reader.records()[i];
    ASSERT_TRUE(r.key && r.value);
    EXPECT_EQ(Json::parse(*r.key),
              Json::parse("{\"serverName\":\"" + c.prefix + "\"}"));
    const Json v = Json::parse(*r.value);
    ASSERT_TRUE(v["ts_ms"].is_number_integer()) << *r.value;
    EXPECT_GE(v["ts_ms"].get<int64_t>(), start_ms - 1000);
  }
}

// --- the field failure -------------------------------------------------------

TEST_F(SimTest,
       BlackholedConnectorStaysRunningAndSilentThenDeliversEverythingOnce) {
  const auto& stalled = tls13();
  const auto& healthy = tls12();
  TopicReader stalled_topic(bootstrap_, stalled.topic());
  TopicReader healthy_topic(bootstrap_, healthy.topic());
  TopicReader stalled_heartbeats(bootstrap_, stalled.heartbeat_topic());
  stalled_heartbeats.CatchUp();

  ProxyGuard guard(stalled.proxy_control);
  SetProxy(stalled, "blackhole");
  ASSERT_TRUE(stalled_heartbeats.CatchUp());
  const size_t heartbeats_before = stalled_heartbeats.records().size();

  // Five single-row transactions and one three-row transaction.
  std::vector<std::string> emails;
  for (int i = 0; i < 5; ++i) {
    emails.push_back(Token("bh") + "@example.com");
    db_->InsertCustomer(emails.back());
  }
  std::string multi =
      "INSERT INTO inventory.customers (first_name, last_name, email) VALUES ";
  for (int i = 0; i < 3; ++i) {
    emails.push_back(Token("bhm") + "@example.com");
    multi +=
        std::string(i ? "," : "") + "('Sim','Multi','" + emails.back() + "')";
  }
  db_->Exec(multi);
  auto all_once = [&](const std::vector<Record>& rs) {
    for (const auto& e : emails) {
      if (CountCreates(rs, e) != 1) return false;
    }
    return true;
  };

  // The healthy connector delivers everything...
  ASSERT_TRUE(healthy_topic.WaitFor(all_once, 5s));
  // ...while the stalled one stays RUNNING, blocked in read, and silent.
  const auto quiet_until = Clock::now() + 3s;
  while (Clock::now() < quiet_until) {
    EXPECT_TRUE(RunningRunning(stalled)) << Status(stalled).dump();
    stalled_topic.Drain(300ms);
  }
  for (const auto& e : emails) {
    EXPECT_EQ(CountCreates(stalled_topic.records(), e), 0u) << e;
  }
  stalled_heartbeats.Drain(200ms);
  EXPECT_EQ(stalled_heartbeats.records().size(), heartbeats_before)
      << "a stalled stream must not produce heartbeats";
  const Json sim = Sim(stalled);
  EXPECT_EQ(sim["task"]["blocked_in_read"], true) << sim.dump();
  EXPECT_EQ(sim["task"]["connected"], true);

  // Heal: the held-back events arrive, none lost, none twice.
  SetProxy(stalled, "pass");
  EXPECT_TRUE(stalled_topic.WaitFor(all_once, 10s));
  stalled_topic.Drain(1s);
  for (const auto& e : emails) {
    EXPECT_EQ(CountCreates(stalled_topic.records(), e), 1u) << e;
  }
  EXPECT_EQ(Sim(stalled)["task"]["reconnects"], sim["task"]["reconnects"])
      << "healing must resume the same session, not reconnect";
  EXPECT_TRUE(RunningRunning(stalled));
}

TEST_F(SimTest, ConnectionResetReconnectsFromTheLastPosition) {
  if (env_.GetOr("SCENARIO_ON_RESET", "reconnect") != "reconnect") {
    GTEST_SKIP() << "the sandbox runs with on_reset="
                 << env_.Get("SCENARIO_ON_RESET");
  }
  const auto& c = tls12();
  const Json before = Sim(c);
  const uint64_t old_id = before["task"]["server_connection_id"];
  const uint64_t old_reconnects = before["task"]["reconnects"];
  ProxyGuard guard(c.proxy_control);
  auto r = Http("POST", c.proxy_control, "/connections/reset");
  ASSERT_EQ(r.status, 200) << r.body;

  Json after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = Sim(c);
        return after["task"].is_object() &&
               after["task"]["connected"] == true &&
               after["task"]["reconnects"].get<uint64_t>() > old_reconnects &&
               after["task"]["server_connection_id"].get<uint64_t>() != old_id;
      },
      10s, kPollPeriod))
      << after.dump();
  EXPECT_TRUE(RunningRunning(c));
  const uint64_t new_id = after["task"]["server_connection_id"];
  // The server sees the new Binlog Dump session, over the pinned TLS version.
  bool seen = false;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [pid, tls] : db_->Sessions(c.user, "Binlog Dump")) {
          if (pid == new_id) {
            seen = true;
            EXPECT_EQ(tls, c.tls_version);
          }
        }
        return seen;
      },
      5s, kPollPeriod));
  // The log says so, with the reconnect count.
  const std::string log = ReadFile(env_.Get("SIM_LOG"));
  EXPECT_NE(log.find("Reconnected to the MySQL binlog (reconnect #" +
                     after["task"]["reconnects"].dump() + ")"),
            std::string::npos);
  // Nothing lost and nothing doubled after the reconnect.
  TopicReader reader(bootstrap_, c.topic());
  const std::string email = Token("reset") + "@example.com";
  db_->InsertCustomer(email);
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, email) == 1; }, 5s));
  reader.Drain(500ms);
  EXPECT_EQ(CountCreates(reader.records(), email), 1u);
}

TEST_F(SimTest, ServerShowsEachBinlogSessionWithItsPinnedTlsVersion) {
  std::set<std::string> versions;
  for (const auto& c : connectors_) {
    const uint64_t id = ConnectionId(c);
    const auto sessions = db_->Sessions(c.user, "Binlog Dump");
    ASSERT_FALSE(sessions.empty()) << "no Binlog Dump session of " << c.user;
    bool found = false;
    for (const auto& [pid, tls] : sessions) {
      if (pid == id) {
        found = true;
        EXPECT_EQ(tls, c.tls_version) << c.name;
        versions.insert(tls);
      }
    }
    EXPECT_TRUE(found) << c.name << " session " << id << " not on the server";
    EXPECT_EQ(Sim(c)["task"]["tls_version"], c.tls_version);
  }
  EXPECT_TRUE(versions.count("TLSv1.3")) << "one connector must use TLS 1.3";
  EXPECT_TRUE(versions.count("TLSv1.2")) << "one connector must use TLS 1.2";
}

// --- lifecycle over REST -----------------------------------------------------

TEST_F(SimTest, RestartWithTasksReopensTheStreamFromTheStoredOffset) {
  const auto& c = tls13();
  const std::string base = "/connectors/" + c.name;
  TopicReader reader(bootstrap_, c.topic());
  // A rotated binlog: the stored offset names the new file.
  db_->Exec("FLUSH BINARY LOGS");
  const std::string first = Token("pre-restart") + "@example.com";
  db_->InsertCustomer(first);
  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, first) == 1; }, 5s));
  const uint64_t old_id = ConnectionId(c);

  // KIP-745: with includeTasks, 202 and the status showing RESTARTING.
  auto r = Http("POST", connect_, base + "/restart?includeTasks=true");
  ASSERT_EQ(r.status, 202) << r.body;
  const Json accepted = r.json();
  EXPECT_EQ(accepted["name"], c.name);
  EXPECT_EQ(accepted["type"], "source");
  EXPECT_EQ(accepted["connector"]["state"], "RESTARTING");
  ASSERT_EQ(accepted["tasks"].size(), 1u);
  EXPECT_EQ(accepted["tasks"][0]["state"], "RESTARTING");

  Json sim;
  ASSERT_TRUE(WaitFor(
      [&] {
        sim = Sim(c);
        return Connected(c) && sim["task"]["server_connection_id"] != old_id;
      },
      10s, kPollPeriod))
      << sim.dump();
  // The new stream starts exactly at the offset stored at the restart.
  const Json offsets = Http("GET", connect_, base + "/offsets").json();
  ASSERT_EQ(offsets["offsets"].size(), 1u) << offsets.dump();
  const Json& stored = offsets["offsets"][0]["offset"];
  EXPECT_EQ(stored["file"], db_->MasterStatus().first);
  EXPECT_EQ(sim["task"]["opened_at"]["file"], stored["file"]) << sim.dump();
  EXPECT_EQ(sim["task"]["opened_at"]["pos"], stored["pos"]) << sim.dump();
  // The server dropped the old session and serves the new one.
  ASSERT_TRUE(WaitFor(
      [&] {
        bool old_gone = true;
        bool new_there = false;
        for (const auto& [pid, tls] : db_->Sessions(c.user, "Binlog Dump")) {
          if (pid == old_id) old_gone = false;
          if (pid == sim["task"]["server_connection_id"].get<uint64_t>()) {
            new_there = true;
          }
        }
        return old_gone && new_there;
      },
      5s, kPollPeriod));

  const std::string second = Token("post-restart") + "@example.com";
  db_->InsertCustomer(second);
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, second) == 1; }, 5s));
  reader.Drain(500ms);
  EXPECT_EQ(CountCreates(reader.records(), first), 1u)
      << "replayed after restart";
  EXPECT_EQ(CountCreates(reader.records(), second), 1u);
}

TEST_F(SimTest, PlainRestartIs204AndLeavesTheTaskAloneTaskRestartIs204) {
  const auto& c = tls13();
  const std::string base = "/connectors/" + c.name;
  const uint64_t id = ConnectionId(c);
  auto r = Http("POST", connect_, base + "/restart");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(WaitFor([&] { return RunningRunning(c); }, 5s, kPollPeriod));
  EXPECT_EQ(ConnectionId(c), id) << "a connector-only restart keeps the task";

  r = Http("POST", connect_, base + "/tasks/0/restart");
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(WaitFor([&] { return Connected(c) && ConnectionId(c) != id; },
                      10s, kPollPeriod));
  EXPECT_EQ(Http("POST", connect_, base + "/tasks/5/restart").status, 404);

  // onlyFailed with nothing failed: 202, nothing restarting.
  r = Http("POST", connect_,
           base + "/restart?includeTasks=true&onlyFailed=true");
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(r.json()["connector"]["state"], "RUNNING");
  EXPECT_EQ(r.json()["tasks"][0]["state"], "RUNNING");
}

TEST_F(SimTest, PauseResumeAndStop) {
  const auto& c = tls12();
  const std::string base = "/connectors/" + c.name;
  TopicReader reader(bootstrap_, c.topic());

  ASSERT_EQ(Http("PUT", connect_, base + "/pause").status, 202);
  ASSERT_TRUE(WaitFor(
      [&] {
        const Json s = Status(c);
        return s["connector"]["state"] == "PAUSED" &&
               s["tasks"][0]["state"] == "PAUSED";
      },
      5s, kPollPeriod));
  const std::string while_paused = Token("paused") + "@example.com";
  db_->InsertCustomer(while_paused);
  reader.Drain(1500ms);
  EXPECT_EQ(CountCreates(reader.records(), while_paused), 0u);
  ASSERT_EQ(Http("PUT", connect_, base + "/resume").status, 202);
  EXPECT_TRUE(WaitFor([&] { return RunningRunning(c); }, 5s, kPollPeriod));
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, while_paused) == 1; }, 5s));

  ASSERT_EQ(Http("PUT", connect_, base + "/stop").status, 202);
  ASSERT_TRUE(WaitFor(
      [&] {
        const Json s = Status(c);
        return s["connector"]["state"] == "STOPPED" && s["tasks"].empty();
      },
      5s, kPollPeriod))
      << Status(c).dump();
  EXPECT_TRUE(Http("GET", connect_, base).json()["tasks"].empty());
  const std::string while_stopped = Token("stopped") + "@example.com";
  db_->InsertCustomer(while_stopped);
  reader.Drain(1s);
  EXPECT_EQ(CountCreates(reader.records(), while_stopped), 0u);
  ASSERT_EQ(Http("PUT", connect_, base + "/resume").status, 202);
  ASSERT_TRUE(WaitFor([&] { return Connected(c); }, 10s, kPollPeriod));
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, while_stopped) == 1; },
      5s));
  reader.Drain(500ms);
  EXPECT_EQ(CountCreates(reader.records(), while_paused), 1u);
  EXPECT_EQ(CountCreates(reader.records(), while_stopped), 1u);
}

TEST_F(SimTest, SigquitWritesAThreadDumpAndKeepsRunning) {
  const std::string log_path = env_.Get("SIM_LOG");
  const auto pid_line = ReadFile(env_.Get("SANDBOX_DIR") + "/pids/cdc-sim.pid");
  const pid_t pid = static_cast<pid_t>(std::stol(pid_line));
  ASSERT_GT(pid, 1);
  const auto offset = fs::file_size(log_path);
  ASSERT_EQ(kill(pid, SIGQUIT), 0);
  std::string dump;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string all = ReadFile(log_path);
        dump = all.size() > offset ? all.substr(offset) : "";
        return dump.find("thread dump written") != std::string::npos;
      },
      5s, kPollPeriod));
  EXPECT_NE(dump.find("Full thread dump"), std::string::npos);
  for (const auto& c : connectors_) {
    EXPECT_NE(
        dump.find("\"blc-127.0.0.1:" + std::to_string(c.proxy_port) + "\""),
        std::string::npos)
        << dump;
    EXPECT_NE(dump.find("connector=" + c.name), std::string::npos);
  }
  EXPECT_NE(dump.find("java.lang.Thread.State: RUNNABLE"), std::string::npos);
  EXPECT_NE(dump.find("at sun.nio.ch.Net.poll"), std::string::npos);
  EXPECT_NE(dump.find("BinaryLogClient.listenForEventPackets"),
            std::string::npos);
  EXPECT_NE(dump.find("blocked_in_read=true"), std::string::npos);
  for (const auto& c : connectors_) EXPECT_TRUE(RunningRunning(c));
}

// --- private cdc-sim instances
// ------------------------------------------------

#ifdef CDC_FAULT_PROXY_BIN
// Writes one record, synchronously.
void ProduceOne(const std::string& bootstrap, const std::string& topic,
                const std::string& key, const std::string& value) {
  char err[512];
  cdc::KafkaConf conf(rd_kafka_conf_new());
  if (rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), err,
                        sizeof(err)) != RD_KAFKA_CONF_OK) {
    throw std::runtime_error(err);
  }
  cdc::KafkaHandle rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(err);
  conf.release();
  const auto e = rd_kafka_producev(
      rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key.data(), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_END);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_flush(rk.get(), 5000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("cannot produce to " + topic);
  }
}

// A second cdc-sim with one connector (as debezium_tls12, TLS 1.2) reading
// MariaDB through its own cdc-fault-proxy, with its own offsets topic and
// topic prefix. Stops both and removes its files at the end.
class PrivateSim {
 public:
  PrivateSim(const cdc::testing::SandboxEnv& env, const std::string& tag,
             const std::string& on_reset)
      : env_(env),
        dir_((fs::temp_directory_path() /
              ("sim-test-" + std::to_string(getpid()) + "-" + tag))
                 .string()),
        name_("sim-test-" + tag),
        prefix_("simtest" + tag + std::to_string(getpid())),
        offsets_topic_("sim-test-offsets-" + tag + "-" +
                       std::to_string(getpid())),
        on_reset_(on_reset) {
    fs::create_directories(dir_);
    proxy_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            CDC_FAULT_PROXY_BIN, "--upstream",
            env.Get("MYSQL_HOST") + ":" + env.Get("MYSQL_PORT"), "--name", tag,
            "--port-file", dir_ + "/proxy.ports"},
        ChildOptions{.out = dir_ + "/proxy.log", .stop_timeout = 5s});
    const auto ports =
        WaitForKeys(dir_ + "/proxy.ports", "control_port", *proxy_, 10s);
    proxy_port_ = ports.at("listen_port");
    proxy_control_ = "http://127.0.0.1:" + ports.at("control_port");
  }
  ~PrivateSim() {
    sim_.reset();
    proxy_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  PrivateSim(const PrivateSim&) = delete;
  PrivateSim& operator=(const PrivateSim&) = delete;

  void Start() {
    std::ofstream cfg(dir_ + "/sim.yaml");
    cfg << "port_file: " << dir_ << "/sim.ports\n"
        << "rest: {listen: 127.0.0.1:0}\n"
        << "worker_id: 127.0.0.1:18083\n"
        << "kafka: {bootstrap_servers: \"" << env_.Get("KAFKA_BOOTSTRAP")
        << "\"}\n"
        << "offsets_topic: " << offsets_topic_ << "\n"
        << "offset_flush_interval: 1s\n"
        << "log_file: " << dir_ << "/sim.log\n"
        << "connectors:\n"
        << "  - name: " << name_ << "\n"
        << "    config:\n"
        << "      connector.class: io.debezium.connector.mysql.MySqlConnector\n"
        << "      database.hostname: 127.0.0.1\n"
        << "      database.port: \"" << proxy_port_ << "\"\n"
        << "      database.user: " << env_.Get("CONNECTOR_TLS12_USER") << "\n"
        << "      database.server.id: \"5499\"\n"
        << "      topic.prefix: " << prefix_ << "\n"
        << "      table.include.list: inventory.customers\n"
        << "      heartbeat.interval.ms: \"1000\"\n"
        << "      connect.timeout.ms: \"5000\"\n"
        << "      database.ssl.mode: required\n"
        << "      database.ssl.truststore: " << env_.Get("MYSQL_CA") << "\n"
        << "      key.converter.schemas.enable: \"false\"\n"
        << "      value.converter.schemas.enable: \"false\"\n"
        << "    sim:\n"
        << "      tls_version: TLSv1.2\n"
        << "      password_file: " << env_.Get("CONNECTOR_TLS12_PASSWORD_FILE")
        << "\n"
        << "      on_reset: " << on_reset_ << "\n";
    cfg.close();
    sim_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{CDC_SIM_BIN, "--config", dir_ + "/sim.yaml"},
        ChildOptions{.out = dir_ + "/sim.out", .stop_timeout = 5s});
    const auto ports =
        WaitForKeys(dir_ + "/sim.ports", "rest_port", *sim_, 20s);
    url_ = "http://127.0.0.1:" + ports.at("rest_port");
  }

  Json State() const {
    return Http("GET", url_, "/__sim/connectors/" + name_).json();
  }
  Json Status() const {
    return Http("GET", url_, "/connectors/" + name_ + "/status").json();
  }
  bool Connected() const {
    const Json s = State();
    return s.is_object() && s["task"].is_object() &&
           s["task"]["connected"] == true;
  }
  std::string Log() const { return ReadFile(dir_ + "/sim.log"); }

  const std::string& url() const { return url_; }
  std::string base() const { return "/connectors/" + name_; }
  const std::string& name() const { return name_; }
  const std::string& prefix() const { return prefix_; }
  std::string topic() const { return prefix_ + ".inventory.customers"; }
  const std::string& offsets_topic() const { return offsets_topic_; }
  const std::string& proxy_control() const { return proxy_control_; }
  const std::string& dir() const { return dir_; }
  ChildProcess& sim() { return *sim_; }

 private:
  const cdc::testing::SandboxEnv& env_;
  std::string dir_;
  std::string name_;
  std::string prefix_;
  std::string offsets_topic_;
  std::string on_reset_;
  std::string proxy_port_;
  std::string proxy_control_;
  std::string url_;
  std::unique_ptr<ChildProcess> proxy_;
  std::unique_ptr<ChildProcess> sim_;
};

TEST_F(SimTest,
       ResetWithFailPolicyFailsTheTaskWithAJavaTraceAndRestartRecovers) {
  PrivateSim ps(env_, "fail", "fail");
  ps.Start();
  const std::string& url = ps.url();
  const std::string base = ps.base();
  ASSERT_TRUE(WaitFor([&] { return ps.Connected(); }, 10s, kPollPeriod))
      << ps.Log();

  TopicReader reader(bootstrap_, ps.topic());
  const std::string first = Token("fail-before") + "@example.com";
  db_->InsertCustomer(first);
  ASSERT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, first) == 1; }, 5s));

  // Reset the binlog connection: the task fails like Debezium's does.
  ASSERT_EQ(Http("POST", ps.proxy_control(), "/connections/reset").status, 200);
  Json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = ps.Status();
        return status["tasks"][0]["state"] == "FAILED";
      },
      5s, kPollPeriod))
      << status.dump();
  EXPECT_EQ(status["connector"]["state"], "RUNNING")
      << "Connect fails the task, not the connector";
  const std::string trace = status["tasks"][0].value("trace", "");
  EXPECT_EQ(trace.substr(0, trace.find('\n')),
            "org.apache.kafka.connect.errors.ConnectException: An exception "
            "occurred in the change event producer. This connector will be "
            "stopped.");
  EXPECT_NE(trace.find("\n\tat io.debezium."), std::string::npos);
  EXPECT_NE(trace.find("\nCaused by: java.io.EOFException"), std::string::npos);
  EXPECT_EQ(Http("GET", url, base + "/tasks/0/status").json()["state"],
            "FAILED");

  // Failed means failed: nothing flows.
  const std::string second = Token("fail-during") + "@example.com";
  db_->InsertCustomer(second);
  reader.Drain(1500ms);
  EXPECT_EQ(CountCreates(reader.records(), second), 0u);

  // Restart only what failed: the task RESTARTING, the connector untouched.
  auto r =
      Http("POST", url, base + "/restart?includeTasks=true&onlyFailed=true");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["connector"]["state"], "RUNNING");
  EXPECT_EQ(r.json()["tasks"][0]["state"], "RESTARTING");
  EXPECT_FALSE(r.json()["tasks"][0].contains("trace"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return ps.Status()["tasks"][0]["state"] == "RUNNING" && ps.Connected();
      },
      10s, kPollPeriod));
  // It resumes from the stored offset: the missed row once, the old not again.
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, second) == 1; }, 5s));
  reader.Drain(500ms);
  EXPECT_EQ(CountCreates(reader.records(), first), 1u);
  EXPECT_EQ(CountCreates(reader.records(), second), 1u);

  EXPECT_EQ(ps.sim().Stop(15s), std::optional<int>(0)) << ps.Log();
  EXPECT_FALSE(fs::exists(ps.dir() + "/sim.ports")) << "port file left behind";
}

TEST_F(SimTest, StartsFromTheOffsetStoredInTheOffsetsTopic) {
  PrivateSim ps(env_, "offsets", "reconnect");
  // An offset stored by an earlier run, then a change the connector missed.
  const auto [file, pos] = db_->MasterStatus();
  ProduceOne(bootstrap_, ps.offsets_topic(),
             "[\"" + ps.name() + "\",{\"server\":\"" + ps.prefix() + "\"}]",
             "{\"file\":\"" + file + "\",\"pos\":" + std::to_string(pos) + "}");
  const std::string missed = Token("missed") + "@example.com";
  db_->InsertCustomer(missed);

  ps.Start();
  ASSERT_TRUE(WaitFor([&] { return ps.Connected(); }, 10s, kPollPeriod))
      << ps.Log();
  const Json state = ps.State();
  EXPECT_EQ(state["task"]["opened_at"]["file"], file);
  EXPECT_EQ(state["task"]["opened_at"]["pos"], pos);
  TopicReader reader(bootstrap_, ps.topic());
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, missed) == 1; }, 5s))
      << "the change after the stored offset was not replayed";
  // The committed offset moves past the replayed row (still at the start of
  // its transaction, with one row to skip, as Debezium records it) and is
  // readable over REST.
  Json offsets;
  EXPECT_TRUE(WaitFor(
      [&] {
        offsets = Http("GET", ps.url(), ps.base() + "/offsets").json();
        if (offsets["offsets"].size() != 1) return false;
        const Json& o = offsets["offsets"][0]["offset"];
        return o["file"] == file &&
               (o["pos"].get<uint64_t>() > pos || o.value("row", 0) == 1);
      },
      5s, kPollPeriod))
      << offsets.dump();
}

TEST_F(SimTest, AnOffsetTheServerNoLongerHasFailsTheTask) {
  PrivateSim ps(env_, "purged", "reconnect");
  ProduceOne(bootstrap_, ps.offsets_topic(),
             "[\"" + ps.name() + "\",{\"server\":\"" + ps.prefix() + "\"}]",
             R"({"file":"mariadb-bin.999999","pos":4})");
  ps.Start();
  Json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = ps.Status();
        return status.is_object() && status["tasks"][0]["state"] == "FAILED";
      },
      10s, kPollPeriod))
      << status.dump() << ps.Log();
  const std::string trace = status["tasks"][0].value("trace", "");
  EXPECT_NE(trace.find("ServerException"), std::string::npos) << trace;
  EXPECT_NE(trace.find("1236"), std::string::npos) << trace;
}
#endif

// --- faults of the verdict work: throughput cap, pause ----------------------

// The sim's pid (from the sandbox's pid file) and its /proc state letter.
pid_t SimPid(const cdc::testing::SandboxEnv& env) {
  const auto line = ReadFile(env.Get("SANDBOX_DIR") + "/pids/cdc-sim.pid");
  return line.empty() ? 0 : static_cast<pid_t>(std::stol(line));
}
char ProcState(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(") ");
  return paren == std::string::npos ? '?' : stat[paren + 2];
}

// Removes a connector's throughput cap when the test ends.
class ThrottleGuard {
 public:
  ThrottleGuard(std::string url, std::string name)
      : url_(std::move(url)), name_(std::move(name)) {}
  ~ThrottleGuard() {
    Http("PUT", url_,
         "/__sim/connectors/" + name_ + "/throttle?events_per_second=0");
  }
  ThrottleGuard(const ThrottleGuard&) = delete;
  ThrottleGuard& operator=(const ThrottleGuard&) = delete;

 private:
  std::string url_;
  std::string name_;
};

// Records whose after image has this marker id.
bool HasMarker(const std::vector<Record>& records, const std::string& id) {
  for (const auto& r : records) {
    if (!r.value) continue;
    const Json v = Json::parse(*r.value, nullptr, false);
    if (v.is_object() && v["after"].is_object() && v["after"]["id"] == id) {
      return true;
    }
  }
  return false;
}

TEST_F(SimTest, ThrottleTurnsABurstIntoABacklogThatDrainsAtTheCap) {
  const std::string scripts = CDC_SANDBOX_SCRIPTS;
  const auto& slow = tls13();
  const auto& fast = tls12();
  ThrottleGuard unthrottle(direct_, slow.name);
  // The REST knob: validated, and the cap shows in the sim's view.
  EXPECT_EQ(
      Http("PUT", direct_,
           "/__sim/connectors/" + slow.name + "/throttle?events_per_second=abc")
          .status,
      400);
  ASSERT_TRUE(SandboxFault(scripts, slow.id + " throttle 1000"));
  EXPECT_EQ(Sim(slow)["throttle"]["events_per_second"], 1000);
  EXPECT_EQ(Sim(fast)["throttle"]["events_per_second"], 0);

  TopicReader heartbeats(bootstrap_, slow.heartbeat_topic());
  TopicReader slow_markers(bootstrap_, slow.prefix + ".cdc_canary.markers");
  TopicReader fast_markers(bootstrap_, fast.prefix + ".cdc_canary.markers");
  heartbeats.CatchUp();
  slow_markers.CatchUp();
  fast_markers.CatchUp();
  // 6,000 rows at 1,000 events/s: several seconds of backlog on tls13.
  std::string out;
  ASSERT_EQ(RunCommand(scripts + "/burst 6000", &out), 0) << out;
  const auto [file, end_of_burst] = db_->MasterStatus();
  const std::string marker = Token("marker");
  const auto written = Clock::now();
  db_->Exec("INSERT INTO cdc_canary.markers (id, token) VALUES ('" + marker +
            "', 'throttle')");
  const size_t heartbeats_at_write = heartbeats.records().size();

  // The unthrottled connector delivers the marker at once.
  ASSERT_TRUE(fast_markers.WaitFor(
      [&](const auto& rs) { return HasMarker(rs, marker); }, 5s))
      << "tls12 (no cap) did not deliver the marker";
  EXPECT_LT(Secs(Clock::now() - written), 4.0);

  // The capped one is behind: its position lags the end of the burst. The
  // reader takes one event off the binlog socket at a time and waits on the
  // cap before the next, so the position it reports is where it has read to:
  // the backlog stays on the server, not in the simulator's memory.
  const Json behind = Sim(slow);
  ASSERT_TRUE(behind["task"]["offset"].is_object()) << behind.dump();
  EXPECT_LT(behind["task"]["offset"]["pos"].get<uint64_t>(), end_of_burst)
      << behind.dump();
  ASSERT_TRUE(slow_markers.WaitFor(
      [&](const auto& rs) {
        heartbeats.Drain(10ms);
        return HasMarker(rs, marker);
      },
      30s))
      << "the capped connector never delivered the marker: "
      << Sim(slow).dump();
  const double late = Secs(Clock::now() - written);
  // ~4.5 s left at the marker (6,000 rows minus what drained during the
  // ~1.5 s burst); generous bounds for a loaded machine.
  EXPECT_GE(late, 2.5) << "the marker was not held back by the backlog";
  EXPECT_LT(late, 20.0);
  // Heartbeats kept flowing while it was behind (emitted as it processes
  // binlog events, Debezium's behaviour).
  heartbeats.Drain(200ms);
  EXPECT_GE(heartbeats.records().size(), heartbeats_at_write + 1)
      << "no heartbeat while draining the backlog";
  const Json after = Sim(slow);
  EXPECT_GE(after["throttle"]["throttled"].get<uint64_t>(), 1000u)
      << after.dump();

  // Removing the cap: markers are prompt again.
  ASSERT_TRUE(SandboxFault(scripts, slow.name + " throttle 0"));
  const std::string prompt = Token("marker");
  const auto t1 = Clock::now();
  db_->Exec("INSERT INTO cdc_canary.markers (id, token) VALUES ('" + prompt +
            "', 'unthrottled')");
  ASSERT_TRUE(slow_markers.WaitFor(
      [&](const auto& rs) { return HasMarker(rs, prompt); }, 10s));
  EXPECT_LT(Secs(Clock::now() - t1), 4.0);
}

TEST_F(SimTest, PauseFaultStopsTheWholeWorkerAndResumesIt) {
  const std::string scripts = CDC_SANDBOX_SCRIPTS;
  HealOnExit heal(scripts);
  const auto& c = tls13();
  const pid_t sim = SimPid(env_);
  ASSERT_GT(sim, 1);
  TopicReader reader(bootstrap_, c.topic());
  reader.CatchUp();

  ASSERT_TRUE(SandboxFault(scripts, c.name + " pause 3000"));
  // fault returns once the process is stopped.
  const auto start = Clock::now();
  EXPECT_EQ(ProcState(sim), 'T');
  // A row written during the pause: held, not lost.
  const std::string during = Token("paused") + "@example.com";
  db_->InsertCustomer(during);
  // REST is unanswered while the worker is stopped.
  EXPECT_EQ(Http("GET", connect_, "/", 1s).status, 0);
  EXPECT_EQ(Http("GET", direct_, "/connectors", 1s).status, 0);
  reader.Drain(300ms);
  EXPECT_EQ(CountCreates(reader.records(), during), 0u);
  // ... and answered again after about 3 s.
  ASSERT_TRUE(
      WaitFor([&] { return Http("GET", direct_, "/", 1s).status == 200; }, 10s,
              kPollPeriod));
  const double paused_for = Secs(Clock::now() - start);
  EXPECT_GE(paused_for, 2.0);
  EXPECT_LT(paused_for, 10.0);  // generous: a busy machine
  EXPECT_NE(ProcState(sim), 'T');
  EXPECT_TRUE(RunningRunning(c));
  EXPECT_TRUE(reader.WaitFor(
      [&](const auto& rs) { return CountCreates(rs, during) == 1; }, 5s));

  // Repeated pauses, ended by pause-stop, then by heal: nothing stays
  // stopped.
  ASSERT_TRUE(SandboxFault(scripts, c.id + " pause-every 400 1000"));
  int stopped_seen = 0;
  for (int i = 0; i < 25; ++i) {
    stopped_seen += ProcState(sim) == 'T' ? 1 : 0;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(stopped_seen, 3) << "pause-every did not pause repeatedly";
  EXPECT_LT(stopped_seen, 22) << "pause-every did not resume in between";
  ASSERT_TRUE(SandboxFault(scripts, c.id + " pause-stop"));
  EXPECT_NE(ProcState(sim), 'T');
  EXPECT_EQ(Http("GET", direct_, "/", 2s).status, 200);
  ASSERT_TRUE(SandboxFault(scripts, "cdc-sim pause-every 5000 6000"));
  EXPECT_EQ(ProcState(sim), 'T');
  HealSandbox(scripts);
  EXPECT_NE(ProcState(sim), 'T');
  EXPECT_EQ(Http("GET", direct_, "/", 2s).status, 200);
  std::this_thread::sleep_for(1500ms);  // no pauser left to stop it again
  EXPECT_NE(ProcState(sim), 'T');
}

}  // namespace
}  // namespace cdc::testing
