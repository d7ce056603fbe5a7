#pragma once

// The worker's Kafka producer (librdkafka), shared by all connectors and the
// offset store, with a thread serving delivery reports.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cdc/common/kafka_handles.h"
#include "cdc/common/log.h"
#include "debezium_event.h"

namespace cdc::sim {

// RAII owners for the librdkafka handles cdc/common/kafka_handles.h lacks.
struct KafkaTopicDestroyer {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct KafkaHeadersDestroyer {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
using KafkaTopic = std::unique_ptr<rd_kafka_topic_t, KafkaTopicDestroyer>;
using KafkaHeaders = std::unique_ptr<rd_kafka_headers_t, KafkaHeadersDestroyer>;

// Sends librdkafka's own log lines (warnings and worse) to `log` instead of
// stderr. `log` must outlive the handle made from `conf`.
void RouteKafkaLogs(rd_kafka_conf_t* conf, cdc::Logger* log);

// Thread-safe.
class KafkaProducer {
 public:
  // Throws std::runtime_error when librdkafka rejects the configuration.
  // `source_address` (an IPv4 literal, e.g. 127.0.0.2): every broker
  // connection is bound to it, so a firewall rule on that source address
  // cuts this producer's Kafka traffic alone; "" = the kernel's choice.
  KafkaProducer(const std::string& bootstrap_servers, cdc::Logger& log,
                const std::string& source_address = "");
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Queues one record. While librdkafka's local queue is full this blocks,
  // polling, until `cancelled()` turns true. Returns false when cancelled or
  // on a permanent error.
  bool Produce(const KafkaRecord& record,
               const std::function<bool()>& cancelled);

  // Waits until every queued record is acknowledged. False on timeout.
  bool Flush(std::chrono::milliseconds timeout);
  size_t Outstanding() const;

  // The Kafka cluster id, cached after the first successful lookup.
  std::string ClusterId(std::chrono::milliseconds timeout);

  uint64_t delivery_failures() const { return delivery_failures_.load(); }

 private:
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg,
                         void* opaque);
  static void OnLog(const rd_kafka_t* rk, int level, const char* facility,
                    const char* message);
  static int OnConnect(int sockfd, const struct sockaddr* addr, int addrlen,
                       const char* id, void* opaque);

  cdc::Logger& log_;
  std::string source_address_;
  KafkaHandle rk_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> delivery_failures_{0};
  std::atomic<int64_t> last_failure_log_ms_{0};
  std::mutex cluster_id_mu_;
  std::string cluster_id_;
  std::thread poller_;
};

}  // namespace cdc::sim
