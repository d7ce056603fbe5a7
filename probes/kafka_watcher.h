#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/kafka_handles.h"
#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/observations.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"

namespace cdc {

// The Kafka consumers of one Kafka cluster, serving every topic the probe
// kinds subscribe to there (KafkaSubscription: the marker, heartbeat and
// offset topics of all connectors). Each consumer takes up to
// topics_per_consumer topics (a topic stays with its consumer while it is
// watched; one more consumer is started when all are full), so no consumer
// pays librdkafka's per-fetch cost for the whole fleet. It assigns
// partitions itself (no consumer group, nothing committed), each topic from
// where its subscription says; a topic that appears later is read from its
// beginning, so the first record that creates it is not missed. A thread
// per consumer polls it and hands each record to the subscriptions of its
// topic; the first consumer's thread also calls the tickers every poll.
// Refresh() (run by the "kafka" probe) looks up metadata, assigns new
// partitions and records in the store whether the cluster can be read.
// Thread-safe.
class KafkaWatcher {
 public:
  KafkaWatcher(const config::KafkaCluster& cluster, ObservationStore& store,
               Logger& log);
  ~KafkaWatcher();
  KafkaWatcher(const KafkaWatcher&) = delete;
  KafkaWatcher& operator=(const KafkaWatcher&) = delete;

  const config::KafkaCluster& cluster() const { return cluster_; }
  // Stops the poll thread: no record is handed to a subscription and no
  // ticker is called after it returns (the kinds that own them may go away
  // while a probe still holds this watcher). Idempotent.
  void StopPolling();
  using Ticker = std::function<void(WallClock::time_point)>;
  // Replaces what is read: `subscriptions` of this cluster (partitions of
  // topics no longer subscribed are released) and the tickers.
  void SetSubscriptions(std::vector<KafkaSubscription> subscriptions,
                        std::vector<Ticker> tickers);
  ProbeOutcome Refresh(std::chrono::milliseconds timeout);
  void Collect(MetricSink& sink) const;

 private:
  // One librdkafka consumer and the thread that polls it.
  struct Consumer {
    KafkaHandle rk;
    std::thread poller;
    int topics = 0;  // watched topics assigned to it; guarded by mu_
    // Its poll thread only: when a record last confirmed the cluster to the
    // store (at most every 100 ms, so a busy topic takes no store lock per
    // record).
    WallClock::time_point last_confirm{};
  };
  // A consumer of the cluster's settings, not polled yet. Throws.
  KafkaHandle MakeHandle();
  // The consumer that reads `topic` (mu_ held): the one it has, else the
  // one with the fewest topics, started when every one is full.
  Consumer* ConsumerFor(const std::string& topic);
  // Assigns parked partitions again, each from where it was parked (so the
  // records that went to it meanwhile are read) or, not known, from ten
  // minutes back; those whose offsets cannot be looked up stay parked until
  // the next Refresh.
  struct Parked {
    std::string topic;
    int partition;
    int64_t offset;  // -1 not known
  };
  void Reread(std::vector<Parked> parts, std::chrono::milliseconds budget);
  void PollLoop(Consumer* c, bool tick);
  void Handle(const rd_kafka_message_t& msg, Consumer& c);
  // Records between consumer `rk`'s positions and the high watermarks of
  // `partitions` (its own), summed over those librdkafka has fetched from;
  // nullopt if none.
  static std::optional<int64_t> ConsumerLag(
      rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions);
  // After a metadata answer: asks each broker that leads a watched
  // partition for one of its partitions' offsets (in parallel, within
  // `budget`), and tells the store which connectors' own partitions cannot
  // be read and which brokers answered.
  void CheckLeaders(std::chrono::milliseconds budget);
  // librdkafka's error callback (its poll thread): logs the error; all
  // brokers down marks the cluster unreadable at once.
  static void ErrorCallback(rd_kafka_t* rk, int err, const char* reason,
                            void* opaque);
  static void LogCallback(const rd_kafka_t* rk, int level, const char* fac,
                          const char* buf);

  const config::KafkaCluster cluster_;
  ObservationStore& store_;
  Logger& log_;
  // The first consumer's handle: metadata and offset requests go to it.
  // Set once in the constructor.
  rd_kafka_t* rk_ = nullptr;

  // What is read, by topic; replaced whole, read by the poll thread without
  // holding mu_.
  struct Table {
    std::multimap<std::string, KafkaSubscription> by_topic;
    std::vector<Ticker> tickers;
  };

  mutable std::mutex mu_;  // guards the fields below
  std::shared_ptr<const Table> table_ = std::make_shared<Table>();
  // Never shrinks; a Consumer stays where it is until the watcher goes.
  std::vector<std::unique_ptr<Consumer>> consumers_;
  std::set<std::pair<std::string, int>> assigned_;
  std::map<std::string, Consumer*> topic_consumer_;  // of assigned topics
  // Partition learning (KafkaSubscription::locates), by watched topic whose
  // every subscription locates its records.
  struct Learning {
    // When a partition of it was last assigned: only records produced
    // since teach where its records go (not the last record of every
    // partition, read at the start).
    WallClock::time_point assigned_at{};
    int learned = -1;    // the partition read, -1: all
    int partitions = 0;  // the topic's partitions when it was learned
    // Not fetched (read again once learned == -1): partition -> the offset
    // to read on from (the consumer's position when it was parked), -1 not
    // known.
    std::map<int, int64_t> parked;
    // Whether the connector's silence must wait for evidence about the
    // parked partitions (KafkaView::parked_settled_at): from the first
    // parking until kRereadSettle after they are read again.
    bool gated = false;
    double settled_at = 0;  // Unix seconds; see KafkaView
    double reread_at = 0;   // Unix seconds they were last read again
  };
  std::map<std::string, Learning> learning_;
  std::set<std::string> seen_topics_;  // topics that existed at some refresh
  bool refreshed_once_ = false;
  bool up_ = false;
  bool refreshed_ = false;
  std::map<std::string, int> partitions_;  // watched topic -> partitions
  uint64_t records_ = 0;
  // Watched topic -> the leader of each partition at the last refresh (-1:
  // none, or the partition has an error).
  std::map<std::string, std::vector<int>, std::less<>> leaders_;
  // Broker id -> Unix seconds of the last evidence that the exporter reads
  // from it: an answer to a request sent then, or a record it served.
  std::map<int, double> broker_confirmed_;
  std::optional<int64_t> lag_;  // at the last successful Refresh
  int assigned_count_ = 0;      // likewise
  int parked_count_ = 0;        // likewise

  std::atomic<bool> stop_{false};  // no consumer is started once set
  std::mutex stop_mu_;             // serialises StopPolling
};

// The "kafka" probe: refreshes one KafkaWatcher's metadata and assignment,
// every `interval` of the cluster's configuration (which may be newer than
// the watcher's: a reload that changes only interval and timeout keeps the
// consumer).
class KafkaProbe final : public Probe {
 public:
  KafkaProbe(std::shared_ptr<KafkaWatcher> watcher,
             const config::KafkaCluster& cluster)
      : watcher_(std::move(watcher)), cluster_(cluster) {}
  std::string_view Kind() const override { return "kafka"; }
  const std::string& Target() const override {
    return watcher_->cluster().name;
  }
  std::chrono::milliseconds Interval() const override {
    return cluster_.interval;
  }
  std::chrono::milliseconds Timeout() const override {
    return cluster_.timeout;
  }
  bool SameAs(const Probe& other) const override {
    const auto* o = dynamic_cast<const KafkaProbe*>(&other);
    return o != nullptr && o->watcher_ == watcher_ && o->cluster_ == cluster_;
  }
  ProbeOutcome Run(const ProbeContext&) override {
    return watcher_->Refresh(Timeout());
  }
  void Collect(MetricSink& sink) const override { watcher_->Collect(sink); }

 private:
  std::shared_ptr<KafkaWatcher> watcher_;
  const config::KafkaCluster cluster_;
};

// The "kafka" kind: one KafkaWatcher per Kafka cluster that connectors use
// (kept across reloads while its consumer settings do not change), serving
// the subscriptions of every kind built before it, and its KafkaProbe.
std::unique_ptr<ProbeKind> MakeKafkaKind(const KindEnv& env);

}  // namespace cdc
