#pragma once

// RAII owners for the C handles of librdkafka. Every rd_kafka_t*,
// rd_kafka_conf_t*, rd_kafka_error_t* etc. in this project lives in one of
// these; none is ever freed by hand. Link cdc::kafka to use them.

#include <librdkafka/rdkafka.h>

#include <memory>

namespace cdc {

struct KafkaDestroyer {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct KafkaConfDestroyer {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct KafkaTopicPartitionListDestroyer {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct KafkaMessageDestroyer {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct KafkaMetadataDestroyer {
  void operator()(const rd_kafka_metadata_t* m) const {
    rd_kafka_metadata_destroy(m);
  }
};
struct KafkaEventDestroyer {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct KafkaQueueDestroyer {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct KafkaErrorDestroyer {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDestroyer>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaConfDestroyer>;
using KafkaTopicPartitionList =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    KafkaTopicPartitionListDestroyer>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, KafkaMessageDestroyer>;
using KafkaMetadata =
    std::unique_ptr<const rd_kafka_metadata_t, KafkaMetadataDestroyer>;
using KafkaEvent = std::unique_ptr<rd_kafka_event_t, KafkaEventDestroyer>;
using KafkaQueue = std::unique_ptr<rd_kafka_queue_t, KafkaQueueDestroyer>;
// What rd_kafka_*() calls that return an rd_kafka_error_t* hand over.
using KafkaError = std::unique_ptr<rd_kafka_error_t, KafkaErrorDestroyer>;

}  // namespace cdc
