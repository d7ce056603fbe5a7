// KafkaWatcher against librdkafka's mock cluster in this process (the real
// Kafka protocol over TCP): three brokers whose partition leaders move and
// one of which dies, and the consumer-lag gauge.

#include "probes/kafka_watcher.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "probes/verdict.h"
#include "test/common/exposition.h"
#include "test/common/pipeline_harness.h"

namespace cdc {
namespace {

using namespace std::chrono_literals;

struct MockClusterDestroyer {
  void operator()(rd_kafka_mock_cluster_t* c) const {
    rd_kafka_mock_cluster_destroy(c);
  }
};

// A mock cluster of `brokers` brokers and a producer on it.
class MockKafka {
 public:
  explicit MockKafka(int brokers) {
    char err[512];
    KafkaConf host(rd_kafka_conf_new());
    rd_kafka_conf_set(host.get(), "log_level", "0", err, sizeof(err));
    host_.reset(
        rd_kafka_new(RD_KAFKA_PRODUCER, host.release(), err, sizeof(err)));
    cluster_.reset(rd_kafka_mock_cluster_new(host_.get(), brokers));
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_.get());
    KafkaConf conf(rd_kafka_conf_new());
    rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap_.c_str(), err,
                      sizeof(err));
    rd_kafka_conf_set(conf.get(), "log_level", "0", err, sizeof(err));
    rd_kafka_conf_set(conf.get(), "linger.ms", "0", err, sizeof(err));
    producer_.reset(
        rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof(err)));
  }
  ~MockKafka() {
    producer_.reset();
    cluster_.reset();  // before the handle that hosts it
  }

  rd_kafka_mock_cluster_t* cluster() { return cluster_.get(); }
  const std::string& bootstrap() const { return bootstrap_; }

  // Produces `value` to `topic`/`partition` and waits until it is written.
  bool Produce(const std::string& topic, int partition,
               const std::string& value, const std::string& key = "") {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) return false;
    return rd_kafka_flush(producer_.get(), 20000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }

 private:
  KafkaHandle host_;
  std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDestroyer> cluster_;
  std::string bootstrap_;
  KafkaHandle producer_;
};

// The records a subscription received, by value.
class Received {
 public:
  void Add(const KafkaRecord& r) {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_[std::string(r.value)];
    cv_.notify_all();
  }
  // Waits until `value` was received `n` times; its count then.
  int WaitFor(const std::string& value, int n,
              std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] { return count_[value] >= n; });
    return count_[value];
  }
  std::map<std::string, int> Counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int> count_;
};

class KafkaWatcherTest : public ::testing::Test {
 protected:
  KafkaWatcherTest() : log_(log_text_, LogLevel::kError), state_(log_) {}

  // A watcher of cluster "k" on `kafka`, nothing subscribed.
  std::shared_ptr<KafkaWatcher> Watcher(MockKafka& kafka,
                                        int topics_per_consumer = 250) {
    config::KafkaCluster k;
    k.name = "k";
    k.bootstrap_servers = kafka.bootstrap();
    k.topics_per_consumer = topics_per_consumer;
    return std::make_shared<KafkaWatcher>(k, state_.store(), log_);
  }

  std::shared_ptr<KafkaWatcher> Watch(
      MockKafka& kafka, const std::string& topic,
      std::function<void(const KafkaRecord&)> on_record) {
    auto w = Watcher(kafka);
    KafkaSubscription sub;
    sub.kafka_cluster = "k";
    sub.topic = topic;
    sub.start = KafkaSubscription::Start::kBeginning;
    sub.kind = "marker";
    sub.on_record = std::move(on_record);
    w->SetSubscriptions({sub}, {});
    return w;
  }

  // The value of `name`{kafka_cluster="k"} in the watcher's series.
  static std::optional<double> Series(const KafkaWatcher& w,
                                      const std::string& name) {
    MetricSink sink;
    w.Collect(sink);
    const testing::Scrape scrape(sink.Render());
    for (const auto& s : scrape.samples()) {
      if (s.name == name && s.labels.at("kafka_cluster") == "k") return s.value;
    }
    return std::nullopt;
  }

  std::ostringstream log_text_;
  Logger log_;
  PipelineHarness state_;
};

TEST_F(KafkaWatcherTest, FollowsLeaderMovesAndABrokerThatDies) {
  MockKafka kafka(3);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "m", 3, 3),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  Received got;
  auto w = Watch(kafka, "m", [&](const KafkaRecord& r) { got.Add(r); });
  ASSERT_TRUE(w->Refresh(5s).success);
  int n = 0;
  // Each record is produced to every partition; all are read exactly once.
  auto round = [&](const std::string& what) {
    const std::string value = what + "-" + std::to_string(n++);
    for (int p = 0; p < 3; ++p) {
      EXPECT_TRUE(kafka.Produce("m", p, value)) << what;
    }
    EXPECT_EQ(got.WaitFor(value, 3, 20s), 3) << what;
    const auto ok = w->Refresh(5s);
    EXPECT_TRUE(ok.success) << what << ": " << ok.error;
    EXPECT_EQ(state_.store().KafkaUp("k"), std::optional<bool>(true)) << what;
  };
  round("before");
  // The leaders move: every partition to broker 1, then 2, then 3.
  for (int leader = 1; leader <= 3; ++leader) {
    for (int p = 0; p < 3; ++p) {
      rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", p, leader);
    }
    round("leader" + std::to_string(leader));
  }
  // Broker 3, leading every partition, dies; its partitions fail over to 1.
  rd_kafka_mock_broker_set_down(kafka.cluster(), 3);
  for (int p = 0; p < 3; ++p) {
    rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", p, 1);
  }
  round("broker3-dead");
  // It comes back, and leads partition 2 again.
  rd_kafka_mock_broker_set_up(kafka.cluster(), 3);
  rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", 2, 3);
  round("broker3-back");
  for (const auto& [value, count] : got.Counts()) {
    EXPECT_EQ(count, 3) << value;
  }
  EXPECT_EQ(Series(*w, "cdc_kafka_up"), std::optional<double>(1));
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(3));
  w->StopPolling();
}

// One broker of three dies while the others answer: the connector whose
// partitions it leads cannot be read (and is not judged), the cluster is
// still up; once leadership moves, its partitions are readable again.
TEST_F(KafkaWatcherTest, ADeadLeaderMakesItsConnectorsPartitionsUnreadable) {
  MockKafka kafka(3);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "m", 2, 3),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "other", 1, 3),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", 0, 1);
  rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", 1, 3);
  rd_kafka_mock_partition_set_leader(kafka.cluster(), "other", 0, 1);
  config::Connector c;
  c.name = "c";
  c.kafka = "k";
  config::Connector d = c;
  d.name = "d";
  state_.SetConnectors({c, d});
  auto w = Watch(kafka, "m", [](const KafkaRecord&) {});
  KafkaSubscription mine;
  mine.kafka_cluster = "k";
  mine.topic = "m";
  mine.kind = "marker";
  mine.connector = "c";
  mine.on_record = [](const KafkaRecord&) {};
  KafkaSubscription theirs = mine;
  theirs.topic = "other";
  theirs.connector = "d";
  w->SetSubscriptions({mine, theirs}, {});
  auto view = [&](const std::string& name) {
    return state_.store().Get(name)->obs.kafka;
  };

  const double before = UnixSeconds(WallClock::now());
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_TRUE(view("c").leaders_known);
  EXPECT_EQ(view("c").unreadable, "");
  EXPECT_GE(view("c").partitions_confirmed_at, before);

  rd_kafka_mock_broker_set_down(kafka.cluster(), 3);
  const double died = UnixSeconds(WallClock::now());
  const auto after = w->Refresh(4s);
  ASSERT_TRUE(after.success) << "brokers 1 and 2 answer: " << after.error;
  EXPECT_EQ(state_.store().KafkaUp("k"), std::optional<bool>(true));
  EXPECT_EQ(view("c").unreadable,
            "partition 1 of m (its leader, broker 3, does not answer)");
  EXPECT_LT(view("c").partitions_confirmed_at, died)
      << "broker 3 has not answered since";
  EXPECT_EQ(view("d").unreadable, "") << "d's partition is on broker 1";
  EXPECT_GE(view("d").partitions_confirmed_at, died);
  const auto v = Judge(state_.store().Get("c")->obs, c, WallClock::now());
  EXPECT_EQ(v.reason, VerdictReason::kKafkaPartitionsUnreadable);
  // A reload (the same connectors) keeps what is known of the partitions.
  state_.SetConnectors({c, d});
  EXPECT_EQ(view("c").unreadable,
            "partition 1 of m (its leader, broker 3, does not answer)");
  EXPECT_TRUE(view("c").leaders_known);

  // The controller moves its partitions to broker 2.
  rd_kafka_mock_partition_set_leader(kafka.cluster(), "m", 1, 2);
  const double moved = UnixSeconds(WallClock::now());
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_EQ(view("c").unreadable, "");
  EXPECT_GE(view("c").partitions_recovered_at, moved);
  EXPECT_GE(view("c").partitions_confirmed_at, moved);
  w->StopPolling();
}

TEST_F(KafkaWatcherTest, ConsumerLagCountsRecordsNotYetHandedOut) {
  MockKafka kafka(1);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "m", 1, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> handled{0};
  // The first record holds the consumer's thread until released.
  auto w = Watch(kafka, "m", [&](const KafkaRecord&) {
    std::unique_lock<std::mutex> lock(mu);
    if (handled++ == 0) {
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
  });
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_consumer_lag_records"), std::nullopt)
      << "nothing fetched yet: no figure";
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(kafka.Produce("m", 0, "r" + std::to_string(i)));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 15s, [&] { return handled > 0; }));
  }
  // librdkafka has fetched all ten; one was handed out.
  std::optional<double> lag;
  for (int i = 0; i < 50 && lag != 9.0; ++i) {
    ASSERT_TRUE(w->Refresh(5s).success);
    lag = Series(*w, "cdc_kafka_consumer_lag_records");
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(lag, std::optional<double>(9));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 100 && handled < 10; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(handled, 10);
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_consumer_lag_records"),
            std::optional<double>(0));
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(1));
  w->StopPolling();
}

// Topics are spread over consumers of topics_per_consumer each: every record
// is read once, by whichever consumer holds its topic; the tickers run on
// one thread; released topics free room, so no consumer is started for
// topics that fit.
TEST_F(KafkaWatcherTest, SpreadsTopicsOverBoundedConsumers) {
  MockKafka kafka(1);
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(rd_kafka_mock_topic_create(
                  kafka.cluster(), ("t" + std::to_string(i)).c_str(), 1, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  auto w = Watcher(kafka, /*topics_per_consumer=*/2);
  Received got;
  std::mutex tick_mu;
  std::set<std::thread::id> tick_threads;
  auto subscribe = [&](int from, int to) {
    std::vector<KafkaSubscription> subs;
    for (int i = from; i < to; ++i) {
      KafkaSubscription sub;
      sub.kafka_cluster = "k";
      sub.topic = "t" + std::to_string(i);
      sub.start = KafkaSubscription::Start::kBeginning;
      sub.kind = "marker";
      sub.on_record = [&got](const KafkaRecord& r) { got.Add(r); };
      subs.push_back(std::move(sub));
    }
    w->SetSubscriptions(subs, {[&](WallClock::time_point) {
                          std::lock_guard<std::mutex> lock(tick_mu);
                          tick_threads.insert(std::this_thread::get_id());
                        }});
  };
  // Subscribed to t{from}..t{to - 1}: a record to each of t0..t6, and each
  // subscribed one arrives once; three consumers, five partitions.
  auto round = [&](const std::string& what, int from, int to) {
    subscribe(from, to);
    ASSERT_TRUE(w->Refresh(5s).success);
    EXPECT_EQ(Series(*w, "cdc_kafka_consumers"), std::optional<double>(3))
        << what << ": 5 topics, 2 per consumer";
    EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
              std::optional<double>(5));
    for (int i = 0; i < 7; ++i) {
      const std::string t = "t" + std::to_string(i);
      ASSERT_TRUE(kafka.Produce(t, 0, what + "-" + t));
    }
    for (int i = from; i < to; ++i) {
      const std::string v = what + "-t" + std::to_string(i);
      EXPECT_EQ(got.WaitFor(v, 1, 20s), 1) << v;
    }
  };
  round("first", 0, 5);
  // t0 and t1 are released, t5 and t6 take their places.
  round("second", 2, 7);
  std::this_thread::sleep_for(500ms);
  const auto counts = got.Counts();
  EXPECT_EQ(counts.count("second-t0") + counts.count("second-t1"), 0u)
      << "released topics are not read";
  for (const auto& [value, count] : counts) EXPECT_EQ(count, 1) << value;
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_consumer_lag_records"),
            std::optional<double>(0))
      << "summed over the consumers";
  w->StopPolling();
  std::lock_guard<std::mutex> lock(tick_mu);
  EXPECT_EQ(tick_threads.size(), 1u) << "tickers run on one thread";
}

// A topic of four partitions whose records of interest all go to one: once
// one produced since the start arrives, only that partition is fetched;
// when they are late, every partition is read again from where it was
// parked, so what went to the others meanwhile is not lost; then it is
// learned again.
TEST_F(KafkaWatcherTest, ReadsOnlyThePartitionItsRecordsGoTo) {
  MockKafka kafka(1);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "m", 4, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  // Before the watcher starts: the last record of partition 1 is ours, but
  // old (a partition the key went to before); it teaches nothing.
  ASSERT_TRUE(kafka.Produce("m", 1, "old", "mine"));
  Received got;
  std::atomic<bool> late{false};
  auto w = Watcher(kafka);
  KafkaSubscription sub;
  sub.kafka_cluster = "k";
  sub.topic = "m";
  sub.start = KafkaSubscription::Start::kLastRecord;
  sub.kind = "heartbeat";
  sub.on_record = [&got](const KafkaRecord& r) { got.Add(r); };
  sub.locates = [](const KafkaRecord& r) { return r.key == "mine"; };
  sub.overdue = [&late] { return late.load(); };
  w->SetSubscriptions({sub}, {});
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(got.WaitFor("old", 1, 20s), 1);
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(4))
      << "an old record does not teach the partition";

  std::this_thread::sleep_for(20ms);  // produced after the assignment
  ASSERT_TRUE(kafka.Produce("m", 2, "other", "theirs"));
  ASSERT_TRUE(kafka.Produce("m", 3, "first", "mine"));
  EXPECT_EQ(got.WaitFor("first", 1, 20s), 1);
  EXPECT_EQ(got.WaitFor("other", 1, 20s), 1);
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(1));
  EXPECT_EQ(Series(*w, "cdc_kafka_parked_partitions"),
            std::optional<double>(3));
  ASSERT_TRUE(kafka.Produce("m", 0, "parked", "theirs"));
  ASSERT_TRUE(kafka.Produce("m", 3, "second", "mine"));
  EXPECT_EQ(got.WaitFor("second", 1, 20s), 1);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(got.Counts().count("parked"), 0u) << "partition 0 is not read";

  late = true;  // e.g. a marker missed
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(4));
  EXPECT_EQ(Series(*w, "cdc_kafka_parked_partitions"),
            std::optional<double>(0));
  EXPECT_EQ(got.WaitFor("parked", 1, 20s), 1)
      << "read again from before it was written";
  // Not learned while late records keep it all read... until one of ours
  // arrives again.
  late = false;
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(kafka.Produce("m", 3, "third", "mine"));
  EXPECT_EQ(got.WaitFor("third", 1, 20s), 1);
  ASSERT_TRUE(w->Refresh(5s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(1));
  // Each parked partition was read on from where it was parked: nothing
  // lost, nothing read twice.
  const std::map<std::string, int> want = {{"old", 1},    {"other", 1},
                                           {"first", 1},  {"parked", 1},
                                           {"second", 1}, {"third", 1}};
  EXPECT_EQ(got.Counts(), want);
  w->StopPolling();
}

// The connector's records start going to a partition the exporter parked
// (its key changed): the next look finds that partition grown while its
// records are late, reads every partition again from where it was parked,
// and until then the connector's silence does not count
// (KafkaView::parked_settled_at). Records there while its own arrive where
// they are read (another exporter's marker row) change nothing.
TEST_F(KafkaWatcherTest, RecordsOnAParkedPartitionAreReadAtTheNextLook) {
  MockKafka kafka(1);
  ASSERT_EQ(rd_kafka_mock_topic_create(kafka.cluster(), "m", 4, 1),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  config::Connector c;
  c.name = "c";
  c.kafka = "k";
  state_.SetConnectors({c});
  Received got;
  auto w = Watch(kafka, "m", [](const KafkaRecord&) {});
  KafkaSubscription sub;
  sub.kafka_cluster = "k";
  sub.topic = "m";
  sub.kind = "marker";
  sub.connector = "c";
  sub.on_record = [&got](const KafkaRecord& r) { got.Add(r); };
  sub.locates = [](const KafkaRecord& r) { return r.key == "mine"; };
  sub.overdue = [] { return false; };
  std::atomic<bool> waiting{false};
  sub.waiting = [&waiting] { return waiting.load(); };
  w->SetSubscriptions({sub}, {});
  auto view = [&] { return state_.store().Get("c")->obs.kafka; };
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_EQ(view().parked_settled_at, -1) << "nothing parked: not gated";
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(kafka.Produce("m", 3, "first", "mine"));
  ASSERT_EQ(got.WaitFor("first", 1, 20s), 1);
  const double parked_at = UnixSeconds(WallClock::now());
  ASSERT_TRUE(w->Refresh(4s).success);
  ASSERT_EQ(Series(*w, "cdc_kafka_parked_partitions"),
            std::optional<double>(3));
  EXPECT_GE(view().parked_settled_at, parked_at)
      << "parked partitions checked unchanged";

  // Another exporter's row goes to partition 1 while the connector's own
  // records arrive where they are read: not a reason to read it.
  ASSERT_TRUE(kafka.Produce("m", 1, "theirs", "theirs"));
  const double theirs = UnixSeconds(WallClock::now());
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_parked_partitions"),
            std::optional<double>(3));
  EXPECT_GE(view().parked_settled_at, theirs);

  // Its records now go to partition 1, and are late where they were.
  waiting = true;
  ASSERT_TRUE(kafka.Produce("m", 1, "moved", "mine"));
  const double moved = UnixSeconds(WallClock::now());
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_EQ(Series(*w, "cdc_kafka_parked_partitions"), std::optional<double>(0))
      << "read whole again at once";
  EXPECT_EQ(got.WaitFor("moved", 1, 20s), 1);
  EXPECT_EQ(got.WaitFor("theirs", 1, 20s), 1) << "from where it was parked";
  EXPECT_GE(view().parked_settled_at, 0) << "still gated";
  EXPECT_LT(view().parked_settled_at, moved)
      << "the silence since the move must not count";
  // Read whole for longer than the settle time: no longer gated.
  std::this_thread::sleep_for(2100ms);
  ASSERT_TRUE(w->Refresh(4s).success);
  EXPECT_EQ(view().parked_settled_at, -1);
  EXPECT_EQ(Series(*w, "cdc_kafka_assigned_partitions"),
            std::optional<double>(4));
  w->StopPolling();
}

}  // namespace
}  // namespace cdc
