#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/handles.h"
#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/pipeline_state.h"
#include "probes/probe.h"

namespace cdc {

// What the consumer of one Kafka cluster reads, and for which connector.
struct KafkaInterest {
  enum class Kind { kMarker, kHeartbeat, kOffsets };
  Kind kind;
  std::string topic;
  std::string connector;
  bool operator<(const KafkaInterest& o) const {
    return std::tie(kind, topic, connector) <
           std::tie(o.kind, o.topic, o.connector);
  }
  bool operator==(const KafkaInterest& o) const = default;
};

// One Kafka consumer for one Kafka cluster, serving every topic cdc-sentinel
// reads there (marker, heartbeat and offset topics of all connectors). It
// assigns partitions itself (no consumer group, nothing committed): marker
// topics from their end, heartbeat topics from their last record, the
// offsets topic from its beginning; a topic that appears later is read from
// its beginning, so the first marker that creates it is not missed. A thread
// polls it and hands records to PipelineState; Refresh() (run by the "kafka"
// probe) looks up metadata and assigns new partitions. Thread-safe.
class KafkaWatcher {
 public:
  KafkaWatcher(const config::KafkaCluster& cluster, PipelineState& state,
               Logger& log);
  ~KafkaWatcher();
  KafkaWatcher(const KafkaWatcher&) = delete;
  KafkaWatcher& operator=(const KafkaWatcher&) = delete;

  const config::KafkaCluster& cluster() const { return cluster_; }
  void SetInterests(std::vector<KafkaInterest> interests);
  ProbeOutcome Refresh(std::chrono::milliseconds timeout);
  void Collect(MetricSink& sink) const;

 private:
  void PollLoop();
  void Handle(const rd_kafka_message_t& msg);
  static void LogCallback(const rd_kafka_t* rk, int level, const char* fac,
                          const char* buf);

  const config::KafkaCluster cluster_;
  PipelineState& state_;
  Logger& log_;
  KafkaHandle rk_;

  mutable std::mutex mu_;  // guards the fields below
  std::multimap<std::string, KafkaInterest> by_topic_;
  // Offsets topic -> the connectors whose committed offsets are wanted.
  std::map<std::string, std::set<std::string>> offsets_readers_;
  std::set<std::pair<std::string, int>> assigned_;
  std::set<std::string> seen_topics_;  // topics that existed at some refresh
  bool refreshed_once_ = false;
  bool up_ = false;
  bool refreshed_ = false;
  std::map<std::string, int> partitions_;  // watched topic -> partitions
  uint64_t records_ = 0;

  std::atomic<bool> stop_{false};
  std::thread poller_;
};

// The "kafka" probe: refreshes one KafkaWatcher's metadata and assignment,
// every `interval` of the cluster's configuration (which may be newer than
// the watcher's: a reload that changes only interval and timeout keeps the
// consumer).
class KafkaProbe final : public Probe {
 public:
  KafkaProbe(std::shared_ptr<KafkaWatcher> watcher,
             const config::KafkaCluster& cluster)
      : watcher_(std::move(watcher)),
        interval_(cluster.interval),
        timeout_(cluster.timeout) {}
  std::string_view Kind() const override { return "kafka"; }
  const std::string& Target() const override {
    return watcher_->cluster().name;
  }
  std::chrono::milliseconds Interval() const override { return interval_; }
  std::chrono::milliseconds Timeout() const override { return timeout_; }
  std::string Fingerprint() const override;
  ProbeOutcome Run(const ProbeContext&) override {
    return watcher_->Refresh(Timeout());
  }
  void Collect(MetricSink& sink) const override { watcher_->Collect(sink); }

 private:
  std::shared_ptr<KafkaWatcher> watcher_;
  const std::chrono::milliseconds interval_;
  const std::chrono::milliseconds timeout_;
};

// Parses a Debezium heartbeat value ({"ts_ms":...} or the schema envelope
// {"schema":...,"payload":{"ts_ms":...}}); nullopt if absent or absurd.
std::optional<double> ParseHeartbeatSeconds(std::string_view value,
                                            double now_seconds);

// Parses a Kafka Connect offset record of a Debezium MySQL connector. Key
// ["<connector>",{"server":"<prefix>"}]; value {"file","pos","ts_sec",...}.
// Returns false if it is not one.
bool ParseOffsetRecord(std::string_view key, std::string_view value,
                       std::string* connector, PipelineState::Offset* offset);

}  // namespace cdc
