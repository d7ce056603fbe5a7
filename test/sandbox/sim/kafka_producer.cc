#include "kafka_producer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>

namespace cdc::sim {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof(err)) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error(std::string("kafka config ") + key + ": " + err);
  }
}

void LogKafka(cdc::Logger& log, int level, const char* facility,
              const char* message) {
  // syslog levels: 0..3 errors, 4 warning, 5.. notice/info/debug.
  if (level <= 3) {
    log.Error("librdkafka", {{"facility", facility}, {"message", message}});
  } else if (level == 4) {
    log.Warn("librdkafka", {{"facility", facility}, {"message", message}});
  } else {
    log.Debug("librdkafka", {{"facility", facility}, {"message", message}});
  }
}

}  // namespace

void RouteKafkaLogs(rd_kafka_conf_t* conf, cdc::Logger* log) {
  rd_kafka_conf_set_opaque(conf, log);
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t* rk, int level,
                                    const char* fac, const char* buf) {
    auto* l = static_cast<cdc::Logger*>(rd_kafka_opaque(rk));
    if (l != nullptr) LogKafka(*l, level, fac, buf);
  });
}

void KafkaProducer::OnLog(const rd_kafka_t* rk, int level, const char* facility,
                          const char* message) {
  auto* self = static_cast<KafkaProducer*>(rd_kafka_opaque(rk));
  if (self != nullptr) LogKafka(self->log_, level, facility, message);
}

int KafkaProducer::OnConnect(int sockfd, const struct sockaddr* addr,
                             int addrlen, const char*, void* opaque) {
  auto* self = static_cast<KafkaProducer*>(opaque);
  if (self != nullptr && !self->source_address_.empty() &&
      addr->sa_family == AF_INET) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = 0;
    if (inet_pton(AF_INET, self->source_address_.c_str(), &local.sin_addr) !=
            1 ||
        bind(sockfd, reinterpret_cast<const sockaddr*>(&local),
             sizeof(local)) != 0) {
      return errno != 0 ? errno : EINVAL;
    }
  }
  // librdkafka's socket is non-blocking: EINPROGRESS is success here.
  if (connect(sockfd, addr, static_cast<socklen_t>(addrlen)) != 0 &&
      errno != EINPROGRESS) {
    return errno;
  }
  return 0;
}

KafkaProducer::KafkaProducer(const std::string& bootstrap_servers,
                             cdc::Logger& log,
                             const std::string& source_address)
    : log_(log), source_address_(source_address) {
  KafkaConf conf(rd_kafka_conf_new());
  Set(conf.get(), "bootstrap.servers", bootstrap_servers);
  Set(conf.get(), "client.id", "cdc-sim");
  // Kafka Connect's producer defaults: acks=all, unbounded delivery retries.
  Set(conf.get(), "acks", "all");
  Set(conf.get(), "message.timeout.ms", "0");
  Set(conf.get(), "linger.ms", "1");
  // The Java client's partitioner, so keys land where Connect puts them.
  Set(conf.get(), "partitioner", "murmur2_random");
  Set(conf.get(), "log.connection.close", "false");
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaProducer::OnDelivery);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaProducer::OnLog);
  if (!source_address_.empty()) {
    rd_kafka_conf_set_connect_cb(conf.get(), &KafkaProducer::OnConnect);
  }
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk_) throw std::runtime_error(std::string("kafka producer: ") + err);
  conf.release();  // owned by rk_ now
  poller_ = std::thread([this] {
    while (!stop_.load()) rd_kafka_poll(rk_.get(), 100);
  });
}

KafkaProducer::~KafkaProducer() {
  if (rd_kafka_outq_len(rk_.get()) > 0) {
    rd_kafka_flush(rk_.get(), 5000);
  }
  stop_.store(true);
  poller_.join();
  const int left = rd_kafka_outq_len(rk_.get());
  if (left > 0) {
    log_.Warn("kafka producer closing with undelivered records",
              {{"records", std::to_string(left)}});
  }
}

void KafkaProducer::OnDelivery(rd_kafka_t* /*rk*/,
                               const rd_kafka_message_t* msg, void* opaque) {
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  auto* self = static_cast<KafkaProducer*>(opaque);
  self->delivery_failures_.fetch_add(1);
  const int64_t now = NowMs();
  int64_t last = self->last_failure_log_ms_.load();
  if (now - last > 5000 &&
      self->last_failure_log_ms_.compare_exchange_strong(last, now)) {
    self->log_.Error("kafka delivery failed",
                     {{"topic", rd_kafka_topic_name(msg->rkt)},
                      {"error", rd_kafka_err2str(msg->err)}});
  }
}

bool KafkaProducer::Produce(const KafkaRecord& r,
                            const std::function<bool()>& cancelled) {
  for (;;) {
    KafkaHeaders headers(rd_kafka_headers_new(r.headers.size()));
    for (const auto& [k, v] : r.headers) {
      rd_kafka_header_add(headers.get(), k.data(),
                          static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
    // The macros cast their arguments, so compute them first.
    const void* key = r.key ? r.key->data() : nullptr;
    const size_t key_len = r.key ? r.key->size() : 0;
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const size_t value_len = r.value ? r.value->size() : 0;
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(r.topic.c_str()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_HEADERS(headers.get()),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      headers.release();  // owned by the queued message now
      return true;
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      log_.Error("kafka produce failed",
                 {{"topic", r.topic}, {"error", rd_kafka_err2str(err)}});
      return false;
    }
    if (cancelled && cancelled()) return false;
    // Back-pressure: the broker is slow or down. The poller thread serves
    // the delivery reports; wait a little and try again.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool KafkaProducer::Flush(std::chrono::milliseconds timeout) {
  return rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())) ==
         RD_KAFKA_RESP_ERR_NO_ERROR;
}

size_t KafkaProducer::Outstanding() const {
  return static_cast<size_t>(rd_kafka_outq_len(rk_.get()));
}

std::string KafkaProducer::ClusterId(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(cluster_id_mu_);
  if (cluster_id_.empty()) {
    char* id = rd_kafka_clusterid(rk_.get(), static_cast<int>(timeout.count()));
    if (id != nullptr) {
      cluster_id_ = id;
      rd_kafka_mem_free(rk_.get(), id);
    }
  }
  return cluster_id_;
}

}  // namespace cdc::sim
