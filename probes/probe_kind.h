#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/common/log.h"
#include "cdc/common/metric_sink.h"
#include "config/config.h"
#include "config/discovery.h"
#include "probes/observations.h"
#include "probes/probe.h"

namespace cdc {

// One record read from a watched Kafka topic.
struct KafkaRecord {
  std::string_view topic;
  std::string_view key;
  std::string_view value;
  WallClock::time_point received;
  // When the record was produced (its Kafka timestamp), or `received` if
  // it has none.
  WallClock::time_point produced;

  // How far this record proves the exporter reads its cluster: up to when it
  // was produced, not when it arrived. A fetch answered just before the
  // exporter's path to Kafka broke still delivers records after the break;
  // they say nothing about what was produced since (issue #14). Never later
  // than `received` (a producer clock ahead of ours proves nothing more).
  WallClock::time_point EvidenceOfReading() const {
    return produced < received ? produced : received;
  }
};

// A topic that a probe kind wants read on a Kafka cluster, and what to do
// with its records. The kafka kind's consumer (one per Kafka cluster) serves
// every subscription of its cluster.
struct KafkaSubscription {
  // Where to start reading a topic that existed when it was first seen (a
  // topic that appears later is read from its beginning, so the record that
  // created it is not missed).
  enum class Start { kEnd, kLastRecord, kBeginning };
  std::string kafka_cluster;
  std::string topic;
  Start start = Start::kEnd;
  std::string kind;  // the `kind` label of cdc_kafka_topic_partitions
  // Called on the consumer's thread for every record of the topic.
  std::function<void(const KafkaRecord&)> on_record;
  // Called after each successful metadata look-up with the topic's
  // partitions (0: the topic does not exist). May be empty.
  std::function<void(int partitions)> on_metadata = nullptr;
  // The connector whose own topic this is (its markers or heartbeats), empty
  // for a topic shared by many (the offsets topic): a connector whose topic
  // cannot be read is not judged (ObservationStore::SetKafkaPaths).
  std::string connector = {};
  // Partition learning, for a topic of several partitions whose records of
  // interest all have one key (the exporter's marker row, the connector's
  // heartbeat), so the connector writes them to one partition. `locates`
  // says whether a record is one of them: once one produced after the
  // topic was assigned arrives, only its partition is fetched. `overdue`
  // (asked at each metadata look-up) says whether they are late (a marker
  // missed, a heartbeat older than max_age): every partition is read again,
  // from a while back. A change of the partition count does the same. Both
  // empty: every partition is read.
  std::function<bool(const KafkaRecord&)> locates = nullptr;
  std::function<bool()> overdue = nullptr;
  // Whether one of those records is later than usual now (a marker not seen
  // by its usual response time). Records on a parked partition then make
  // every partition read again; otherwise they are someone else's (another
  // exporter's marker row). Empty: always.
  std::function<bool()> waiting = nullptr;
  // What `locates` looks for (e.g. the marker row's id): when a reload
  // changes it, the partition is learned again.
  std::string locate_key = {};
};

// What probe kinds build from one configuration; switched to together once
// every kind has built its part without error.
struct KindParts {
  std::vector<std::shared_ptr<Probe>> probes;
  std::vector<KafkaSubscription> subscriptions;
  // Called on each Kafka cluster's consumer thread every poll (about ten
  // times a second), whatever the traffic: kafka cluster -> callbacks.
  std::vector<
      std::pair<std::string, std::function<void(WallClock::time_point)>>>
      tickers;
  // Run in order when the configuration is switched to (after every kind
  // has built its part), under the App's reload lock.
  std::vector<std::function<void()>> commits;
};

// One probe kind: how it is built from the configuration, and its own
// per-connector series. One object per kind lives as long as the exporter
// (it holds what must survive a reload); Build() runs at start and at every
// reload, never concurrently with itself. Collect() may be called from any
// thread at any time.
class ProbeKind {
 public:
  virtual ~ProbeKind() = default;
  // The kind's name: the `probe` label of its probes.
  virtual std::string_view Name() const = 0;
  // Adds the probes, subscriptions and commit steps that `cfg` needs.
  // Throws (std::exception) on a problem the config loader cannot see; the
  // running configuration then stays.
  virtual void Build(const config::Config& cfg, KindParts& parts) = 0;
  // The kind's per-connector series, from the ObservationStore (series that
  // belong to one probe come from Probe::Collect instead).
  virtual void Collect(MetricSink& sink, WallClock::time_point now) {
    (void)sink;
    (void)now;
  }
};

// What every kind is built with.
struct KindEnv {
  ObservationStore& store;
  Logger& log;
  // Called after every successful REST poll of a Connect cluster whose
  // connectors are discovered, with every connector it lists (before
  // --shard), on the REST probe's thread; must not block. May be empty.
  std::function<void(const std::string& connect_cluster,
                     std::vector<config::ListedConnector> listed)>
      listed = nullptr;
};

using KindFactory = std::unique_ptr<ProbeKind> (*)(const KindEnv&);

struct KindTableEntry {
  std::string_view name;
  KindFactory make;
};

// Every probe kind, in build order: the kafka kind comes last, since it
// serves the subscriptions of the kinds before it (probes/kinds.cc).
const std::vector<KindTableEntry>& ProbeKindTable();

// A scrape's labels of a connector: connector and tls_version.
MetricLabels ConnectorLabels(const std::string& name,
                             const ObservationStore::Entry& e);

}  // namespace cdc
