// App with discovery on: connectors a (fake) Kafka Connect worker lists are
// monitored after the next poll without a reload, and dropped after the poll
// that no longer lists them; those that cannot be monitored are counted and
// logged, never monitored.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "exporter/app.h"
#include "exporter/status_page.h"
#include "fake_connect_worker.h"

namespace cdc {
namespace {

namespace fs = std::filesystem;
using testing::FakeConnector;
using testing::FakeConnectWorker;

FakeConnector Debezium(const std::string& name, const std::string& tables) {
  FakeConnector c;
  c.name = name;
  c.tasks = {{}};
  c.config = {
      {"database.hostname", "127.0.0.1"}, {"database.port", "1"},
      {"database.user", "debezium"},      {"topic.prefix", name},
      {"table.include.list", tables},     {"heartbeat.interval.ms", "5000"}};
  return c;
}

class AppDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cdc-app-discovery-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "pw") << "secret\n";
    // Nothing listens on port 1: the probes fail fast, which is all this
    // test needs of them.
    std::ofstream(dir_ / "config.yaml")
        << "connect_clusters:\n"
        << "  - name: main\n"
        << "    url: " << worker_.Url() << "\n"
        << "    interval: 1s\n"
        << "    kafka_cluster: k\n"
        << "    discover: {exclude: [\"ignored-*\"]}\n"
        << "sources:\n"
        << "  - name: db\n"
        << "    host: 127.0.0.1\n"
        << "    port: 2\n"
        << "    aliases: [\"127.0.0.1:1\"]\n"
        << "    user: monitor\n"
        << "    password_file: " << (dir_ / "pw").string() << "\n"
        << "kafka_clusters:\n"
        << "  - name: k\n"
        << "    bootstrap_servers: 127.0.0.1:1\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Waits until `pred(app)` holds, up to 10 s.
  template <typename P>
  bool WaitFor(App& app, P pred) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(app)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred(app);
  }
  static std::vector<std::string> Names(const App& app) {
    std::vector<std::string> out;
    for (const auto& c : app.CurrentConfig().connectors) out.push_back(c.name);
    return out;
  }

  FakeConnectWorker worker_;
  fs::path dir_;
};

TEST_F(AppDiscoveryTest, ConnectorsComeAndGoWithTheListing) {
  FakeConnector sink;
  sink.name = "s3-sink";
  sink.type = "sink";
  sink.connector_class = "io.confluent.connect.s3.S3SinkConnector";
  worker_.SetConnectors({Debezium("orders", "shop.orders,cdc_canary.markers"),
                         Debezium("billing", "shop.invoices"),
                         Debezium("ignored-one", "cdc_canary.markers"), sink});
  std::stringstream log_text;
  Logger log(log_text, LogLevel::kInfo);
  App app((dir_ / "config.yaml").string(), log);
  app.Start();
  ASSERT_TRUE(WaitFor(app, [](const App& a) {
    return Names(a) == std::vector<std::string>{"orders"};
  })) << ::testing::PrintToString(Names(app));
  const config::Connector c = app.CurrentConfig().connectors[0];
  EXPECT_TRUE(c.discovered);
  EXPECT_EQ(c.source, "db");
  EXPECT_EQ(c.kafka, "k");
  EXPECT_EQ(c.binlog_user, "debezium");
  EXPECT_EQ(c.heartbeat.max_age, std::chrono::seconds(60));
  const std::string text = app.ScrapeText();
  for (const char* want :
       {"cdc_discovered_connectors{connect_cluster=\"main\",result="
        "\"monitored\"} 1",
        "cdc_discovered_connectors{connect_cluster=\"main\",result="
        "\"canary_not_captured\"} 1",
        "cdc_discovered_connectors{connect_cluster=\"main\",result="
        "\"excluded\"} 1",
        "cdc_discovered_connectors{connect_cluster=\"main\",result="
        "\"not_mysql\"} 1",
        "cdc_discovered_connectors{connect_cluster=\"main\",result="
        "\"no_source\"} 0",
        "cdc_connector_pipeline_info{connector=\"orders\","}) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
  // Not monitored: no verdict series of its own.
  EXPECT_EQ(text.find("connector=\"billing\",tls_version"), std::string::npos);
  // The status page shows the blind spot with its reason, the API every
  // finding.
  const std::string page = StatusHtml(app, 5);
  EXPECT_NE(page.find("<tr data-connector=\"billing\"><td>main</td><td>"
                      "billing</td><td class=\"warn\">canary_not_captured"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("is not in table.include.list (shop.invoices)"),
            std::string::npos);
  EXPECT_NE(page.find("orders <span class=\"reason\">(discovered)</span>"),
            std::string::npos);
  EXPECT_EQ(page.find("<tr data-connector=\"s3-sink\">"), std::string::npos);
  const auto api = nlohmann::json::parse(StatusJson(app));
  std::map<std::string, std::string> results;
  for (const auto& f : api.at("discovery")) {
    EXPECT_EQ(f.at("connect_cluster"), "main");
    results[f.at("connector").get<std::string>()] = f.at("result");
  }
  EXPECT_EQ(results, (std::map<std::string, std::string>{
                         {"billing", "canary_not_captured"},
                         {"ignored-one", "excluded"},
                         {"orders", "monitored"},
                         {"s3-sink", "not_mysql"}}));

  // A new connector: monitored after the next poll, no reload.
  worker_.SetConnectors({Debezium("orders", "shop.orders,cdc_canary.markers"),
                         Debezium("payments", "cdc_canary\\..*")});
  ASSERT_TRUE(WaitFor(app, [](const App& a) {
    return Names(a) == std::vector<std::string>{"orders", "payments"};
  })) << ::testing::PrintToString(Names(app));
  // Deleted: dropped after the poll that no longer lists it.
  worker_.SetConnectors({Debezium("payments", "cdc_canary\\..*")});
  ASSERT_TRUE(WaitFor(app, [](const App& a) {
    return Names(a) == std::vector<std::string>{"payments"};
  })) << ::testing::PrintToString(Names(app));
  // A failed poll keeps what was discovered.
  worker_.SetMode(testing::FakeMode::kServerError);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(Names(app), std::vector<std::string>{"payments"});
  app.Stop();

  const std::string logged = log_text.str();
  for (const char* want :
       {"discovered connector: monitored", "connector=orders",
        "discovered connector cannot be monitored", "connector=billing",
        "table cdc_canary.markers is not in table.include.list",
        "connector no longer listed by its Connect cluster"}) {
    EXPECT_NE(logged.find(want), std::string::npos) << want << "\n" << logged;
  }
}

TEST_F(AppDiscoveryTest, AnExplicitEntryIsKeptAsWritten) {
  std::ofstream(dir_ / "config.yaml", std::ios::app)
      << "connectors:\n"
      << "  - name: orders\n"
      << "    connect_cluster: main\n"
      << "    source: db\n"
      << "    topic_prefix: orders\n"
      << "    marker: {interval: 7s}\n";
  worker_.SetConnectors({Debezium("orders", "cdc_canary.markers")});
  std::stringstream log_text;
  Logger log(log_text, LogLevel::kInfo);
  App app((dir_ / "config.yaml").string(), log);
  app.Start();
  ASSERT_TRUE(WaitFor(app, [](App& a) {
    return a.ScrapeText().find("result=\"configured\"} 1") != std::string::npos;
  }));
  const auto cfg = app.CurrentConfig();
  ASSERT_EQ(cfg.connectors.size(), 1u);
  EXPECT_FALSE(cfg.connectors[0].discovered);
  EXPECT_EQ(cfg.connectors[0].marker.interval, std::chrono::seconds(7));
  app.Stop();
}

}  // namespace
}  // namespace cdc
