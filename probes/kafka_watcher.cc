#include "probes/kafka_watcher.h"

#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "cdc/common/duration.h"
#include "cdc/common/thread_name.h"

namespace cdc {
namespace {

void Set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v,
         const std::string& where) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error(where + ": librdkafka property " + k + ": " + err);
  }
}

// Seconds after parked partitions are read again before the connector's
// silence counts again (they are fetched from where they were parked).
constexpr double kRereadSettle = 2.0;

// Whether `topic` has one subscription and it locates its records (one
// that wants every record keeps every partition read; two could want two
// partitions).
template <typename Map>
bool Learnable(const Map& by_topic, const std::string& topic) {
  auto range = by_topic.equal_range(topic);
  return range.first != range.second &&
         std::next(range.first) == range.second &&
         range.first->second.locates != nullptr;
}

}  // namespace

KafkaWatcher::KafkaWatcher(const config::KafkaCluster& cluster,
                           ObservationStore& store, Logger& log)
    : cluster_(cluster), store_(store), log_(log) {
  auto first = std::make_unique<Consumer>();
  first->rk = MakeHandle();
  rk_ = first->rk.get();
  Consumer* c = first.get();
  consumers_.push_back(std::move(first));
  c->poller = std::thread(&KafkaWatcher::PollLoop, this, c, /*tick=*/true);
}

KafkaHandle KafkaWatcher::MakeHandle() {
  const config::KafkaCluster& cluster = cluster_;
  const std::string where = "kafka_clusters " + cluster.name;
  KafkaConf conf(rd_kafka_conf_new());
  Set(conf.get(), "bootstrap.servers", cluster.bootstrap_servers, where);
  // Never joined: partitions are assigned by hand and nothing is committed.
  Set(conf.get(), "group.id", "cdc-sentinel-unused", where);
  Set(conf.get(), "enable.auto.commit", "false", where);
  Set(conf.get(), "enable.auto.offset.store", "false", where);
  Set(conf.get(), "enable.partition.eof", "false", where);
  Set(conf.get(), "client.id", "cdc-sentinel", where);
  // A fetch returns as soon as a record arrives; this only bounds how often
  // an idle fetch is repeated (100 ms cost 4x the CPU at 200 connectors:
  // bench/RESULTS.md, P1).
  Set(conf.get(), "fetch.wait.max.ms", "500", where);
  Set(conf.get(), "fetch.error.backoff.ms", "200", where);
  Set(conf.get(), "queued.max.messages.kbytes", "8192", where);
  // One broker response is read into a buffer sized by its length prefix,
  // up to receive.message.max.bytes (librdkafka: 100 MB, per broker
  // connection). The watched records are small (markers, heartbeats,
  // offsets): 16 MiB bounds what a broken or hostile broker can make the
  // exporter hold; fetch.max.bytes must stay 512 bytes under it. Both can be
  // raised in kafka_clusters[].properties.
  Set(conf.get(), "fetch.max.bytes", "8388608", where);
  Set(conf.get(), "receive.message.max.bytes", "16777216", where);
  Set(conf.get(), "reconnect.backoff.max.ms", "2000", where);
  for (const auto& [k, v] : cluster.properties) Set(conf.get(), k, v, where);
  for (const auto& [k, s] : cluster.secret_properties) {
    Set(conf.get(), k, s.value, where);
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaWatcher::LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaWatcher::ErrorCallback);
  char err[512];
  KafkaHandle rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(where + ": " + err);
  conf.release();  // owned by rk now
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

KafkaWatcher::Consumer* KafkaWatcher::ConsumerFor(const std::string& topic) {
  if (auto it = topic_consumer_.find(topic); it != topic_consumer_.end()) {
    return it->second;
  }
  Consumer* best = consumers_.front().get();
  for (const auto& c : consumers_) {
    if (c->topics < best->topics) best = c.get();
  }
  if (best->topics >= cluster_.topics_per_consumer && !stop_) {
    try {
      auto next = std::make_unique<Consumer>();
      next->rk = MakeHandle();
      consumers_.reserve(consumers_.size() + 1);  // push_back cannot throw
      next->poller = std::thread(&KafkaWatcher::PollLoop, this, next.get(),
                                 /*tick=*/false);
      best = next.get();
      consumers_.push_back(std::move(next));
      log_.Info("started one more Kafka consumer",
                {{"kafka_cluster", cluster_.name},
                 {"consumers", std::to_string(consumers_.size())},
                 {"topics_per_consumer",
                  std::to_string(cluster_.topics_per_consumer)}});
    } catch (const std::exception& e) {
      // The full ones take it (costlier, but read).
      log_.Warn("cannot start one more Kafka consumer",
                {{"kafka_cluster", cluster_.name}, {"err", e.what()}});
    }
  }
  ++best->topics;
  topic_consumer_[topic] = best;
  return best;
}

void KafkaWatcher::StopPolling() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  stop_ = true;
  // None is started after stop_ is set (ConsumerFor, under mu_).
  std::vector<Consumer*> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& c : consumers_) all.push_back(c.get());
  }
  for (Consumer* c : all) {
    if (c->poller.joinable()) c->poller.join();
  }
}

KafkaWatcher::~KafkaWatcher() {
  StopPolling();
  for (const auto& c : consumers_) rd_kafka_consumer_close(c->rk.get());
}

void KafkaWatcher::LogCallback(const rd_kafka_t* rk, int level, const char* fac,
                               const char* buf) {
  auto* self = static_cast<KafkaWatcher*>(rd_kafka_opaque(rk));
  if (self == nullptr) return;
  const LogLevel l = level <= 3   ? LogLevel::kError
                     : level == 4 ? LogLevel::kWarn
                                  : LogLevel::kDebug;
  self->log_.Log(l, "librdkafka",
                 {{"kafka_cluster", self->cluster_.name},
                  {"facility", fac},
                  {"detail", buf}});
}

void KafkaWatcher::ErrorCallback(rd_kafka_t* rk, int err, const char* reason,
                                 void* opaque) {
  auto* self = static_cast<KafkaWatcher*>(opaque);
  if (self == nullptr || rk == nullptr) return;
  // Logged as librdkafka logs an error when no error callback is set.
  self->log_.Log(LogLevel::kError, "librdkafka",
                 {{"kafka_cluster", self->cluster_.name},
                  {"facility", "ERROR"},
                  {"detail", reason ? reason : ""}});
  // Every broker connection is down: the exporter is blind now, not at the
  // next metadata request (up to interval + timeout away), which is long
  // enough for a marker written meanwhile to look unanswered. The next
  // metadata request that succeeds sets it up again.
  if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (!self->refreshed_ || !self->up_) return;
    self->up_ = false;
  }
  self->store_.SetKafkaUp(self->cluster_.name, false);
  self->log_.Warn("cannot read the Kafka cluster: all brokers are down",
                  {{"kafka_cluster", self->cluster_.name}});
}

void KafkaWatcher::SetSubscriptions(
    std::vector<KafkaSubscription> subscriptions, std::vector<Ticker> tickers) {
  auto next = std::make_shared<Table>();
  for (auto& sub : subscriptions) {
    const std::string topic = sub.topic;
    next->by_topic.emplace(topic, std::move(sub));
  }
  next->tickers = std::move(tickers);
  std::lock_guard<std::mutex> lock(mu_);
  // Partitions of topics no longer watched are released, by each consumer
  // that reads them.
  std::map<Consumer*, KafkaTopicPartitionList> gone;
  for (auto it = assigned_.begin(); it != assigned_.end();) {
    if (next->by_topic.count(it->first) == 0) {
      Consumer* c = topic_consumer_.at(it->first);
      auto& list = gone[c];
      if (!list) list.reset(rd_kafka_topic_partition_list_new(0));
      rd_kafka_topic_partition_list_add(list.get(), it->first.c_str(),
                                        it->second);
      it = assigned_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = topic_consumer_.begin(); it != topic_consumer_.end();) {
    if (next->by_topic.count(it->first) == 0) {
      --it->second->topics;
      it = topic_consumer_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [c, list] : gone) {
    KafkaError e(rd_kafka_incremental_unassign(c->rk.get(), list.get()));
    if (e) {
      log_.Warn("cannot release Kafka partitions",
                {{"kafka_cluster", cluster_.name},
                 {"err", rd_kafka_error_string(e.get())}});
    }
  }
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    it =
        next->by_topic.count(it->first) ? std::next(it) : partitions_.erase(it);
  }
  for (auto it = learning_.begin(); it != learning_.end();) {
    auto now = next->by_topic.find(it->first);
    if (now == next->by_topic.end()) {
      it = learning_.erase(it);
      continue;
    }
    // Looking for something else now (a new marker row): its records may
    // go elsewhere, so every partition is read again (at the next Refresh).
    auto was = table_->by_topic.find(it->first);
    if (was == table_->by_topic.end() ||
        was->second.locate_key != now->second.locate_key) {
      it->second.learned = -1;
    }
    ++it;
  }
  table_ = std::move(next);
}

ProbeOutcome KafkaWatcher::Refresh(std::chrono::milliseconds timeout) {
  // An answer proves the cluster was readable when it was asked, not when the
  // answer arrived (a request in flight when the path broke).
  const auto start = WallClock::now();
  // Learned topics whose records are late, asked without holding mu_.
  std::set<std::string> overdue;
  {
    std::shared_ptr<const Table> table;
    {
      std::lock_guard<std::mutex> lock(mu_);
      table = table_;
    }
    for (const auto& [topic, sub] : table->by_topic) {
      if (sub.overdue && sub.overdue()) overdue.insert(topic);
    }
  }
  auto asked = start;
  const rd_kafka_metadata_t* raw = nullptr;
  // Two tries, each within half the time: a request sent to a broker that
  // has just died waits in its queue until it times out, while the other
  // brokers would answer a second one at once. Under 2 s, one try with all
  // of it (an all-topics answer of a large cluster can take a while).
  const bool twice = timeout >= std::chrono::seconds(2);
  const int64_t each = std::max<int64_t>(
      100, twice ? timeout.count() / 2 - 150 : timeout.count() - 200);
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, /*all_topics=*/1, nullptr,
                                              &raw, static_cast<int>(each));
  if (twice && err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    asked = WallClock::now();
    err = rd_kafka_metadata(rk_, /*all_topics=*/1, nullptr, &raw,
                            static_cast<int>(each));
  }
  KafkaMetadata md(raw);
  std::unique_lock<std::mutex> lock(mu_);
  refreshed_ = true;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    up_ = false;
    lag_.reset();  // not known while the cluster cannot be read
    store_.SetKafkaUp(cluster_.name, false);
    return ProbeOutcome::Fail("metadata request to " +
                              cluster_.bootstrap_servers +
                              " failed: " + rd_kafka_err2str(err));
  }
  up_ = true;
  store_.SetKafkaUp(cluster_.name, true, WallClock::now(), asked);
  std::map<Consumer*, KafkaTopicPartitionList> add;
  std::map<std::string, int> present;
  const auto& by_topic = table_->by_topic;
  leaders_.clear();
  for (int t = 0; t < md->topic_cnt; ++t) {
    const auto& topic = md->topics[t];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    present[topic.topic] = topic.partition_cnt;
    if (by_topic.count(topic.topic) == 0) continue;
    std::vector<int>& leaders = leaders_[topic.topic];
    leaders.assign(topic.partition_cnt, -1);
    for (int i = 0; i < topic.partition_cnt; ++i) {
      const auto& part = topic.partitions[i];
      if (part.id >= 0 && part.id < topic.partition_cnt &&
          part.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        leaders[part.id] = part.leader;
      }
    }
  }
  // Partitions parked for learning (per consumer), and parked ones to read
  // again.
  std::map<Consumer*, KafkaTopicPartitionList> park;
  std::vector<Parked> reread;
  for (auto it = by_topic.begin(); it != by_topic.end();
       it = by_topic.upper_bound(it->first)) {
    const std::string& topic = it->first;
    auto p = present.find(topic);
    const int known = partitions_[topic];
    partitions_[topic] = p == present.end() ? 0 : p->second;
    if (p == present.end()) continue;
    Learning* learn = nullptr;
    if (Learnable(by_topic, topic)) {
      learn = &learning_[topic];
    } else if (auto l = learning_.find(topic); l != learning_.end()) {
      // No longer learned (a reload): its parked partitions are read again
      // first, then it is forgotten.
      if (l->second.parked.empty()) {
        learning_.erase(l);
      } else {
        l->second.learned = -1;
        learn = &l->second;
      }
    }
    if (learn != nullptr && learn->learned >= 0 &&
        (learn->partitions != p->second || overdue.count(topic))) {
      log_.Info("reading every partition of a Kafka topic again",
                {{"kafka_cluster", cluster_.name},
                 {"topic", topic},
                 {"why", learn->partitions != p->second
                             ? "its partition count changed from " +
                                   std::to_string(learn->partitions) + " to " +
                                   std::to_string(p->second)
                             : "the connector's records on it are late"}});
      learn->learned = -1;
    }
    if (learn != nullptr && learn->learned < 0) {
      for (const auto& [part, at] : learn->parked) {
        reread.push_back({topic, part, at});
      }
    }
    if (learn != nullptr && learn->learned >= 0) {
      for (int part = 0; part < p->second; ++part) {
        if (part == learn->learned || !assigned_.erase({topic, part})) {
          continue;
        }
        if (!learn->gated) {
          // What they held was read up to now (their positions, below).
          learn->gated = true;
          learn->settled_at = UnixSeconds(WallClock::now());
        }
        learn->parked[part] = -1;  // its position: below
        auto& list = park[topic_consumer_.at(topic)];
        if (!list) list.reset(rd_kafka_topic_partition_list_new(0));
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), part);
      }
    }
    // Existing when we started: from the end (markers) or the last record
    // (heartbeats). Appeared since: from the beginning.
    const bool new_topic = refreshed_once_ && seen_topics_.count(topic) == 0;
    seen_topics_.insert(topic);
    int64_t start = RD_KAFKA_OFFSET_BEGINNING;
    if (!new_topic) {
      switch (it->second.start) {
        case KafkaSubscription::Start::kEnd:
          start = RD_KAFKA_OFFSET_END;
          break;
        case KafkaSubscription::Start::kLastRecord:
          start = RD_KAFKA_OFFSET_TAIL(1);
          break;
        case KafkaSubscription::Start::kBeginning:
          start = RD_KAFKA_OFFSET_BEGINNING;
          break;
      }
    }
    for (int part = 0; part < p->second; ++part) {
      if (learn != nullptr && learn->parked.count(part)) continue;
      if (assigned_.insert({topic, part}).second) {
        auto& list = add[ConsumerFor(topic)];
        if (!list) list.reset(rd_kafka_topic_partition_list_new(0));
        // A partition added to a topic already read: from its beginning.
        rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), part)
            ->offset =
            known > 0 && part >= known ? RD_KAFKA_OFFSET_BEGINNING : start;
        if (learn != nullptr) learn->assigned_at = WallClock::now();
      }
    }
  }
  for (const auto& [c, list] : park) {
    // Where each was: the position after the last record handed out, else
    // the end of the last fetch (nothing handed out since its start).
    rd_kafka_position(c->rk.get(), list.get());
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      int64_t low = -1, high = -1;
      int64_t at = tp.offset;
      if (at < 0 && rd_kafka_get_watermark_offsets(c->rk.get(), tp.topic,
                                                   tp.partition, &low, &high) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR) {
        at = high;
      }
      learning_[tp.topic].parked[tp.partition] = at >= 0 ? at : -1;
    }
    KafkaError e(rd_kafka_incremental_unassign(c->rk.get(), list.get()));
    if (e) {
      log_.Warn("cannot stop reading Kafka partitions",
                {{"kafka_cluster", cluster_.name},
                 {"err", rd_kafka_error_string(e.get())}});
    }
  }
  refreshed_once_ = true;
  // The subscriptions that want to know, told without holding mu_.
  std::vector<std::pair<const KafkaSubscription*, int>> told;
  for (const auto& [topic, sub] : by_topic) {
    if (!sub.on_metadata) continue;
    auto p = present.find(topic);
    told.emplace_back(&sub, p == present.end() ? 0 : p->second);
  }
  std::shared_ptr<const Table> table = table_;
  // Assigned under the same hold of mu_ as assigned_ was changed, so that a
  // SetSubscriptions in between never releases partitions librdkafka does
  // not have yet.
  std::string failed;
  for (const auto& [c, list] : add) {
    KafkaError e(rd_kafka_incremental_assign(c->rk.get(), list.get()));
    if (e) {
      failed = rd_kafka_error_string(e.get());
      for (int i = 0; i < list->cnt; ++i) {
        assigned_.erase({list->elems[i].topic, list->elems[i].partition});
      }
      continue;
    }
    log_.Debug("assigned Kafka partitions",
               {{"kafka_cluster", cluster_.name},
                {"count", std::to_string(list->cnt)}});
  }
  lock.unlock();
  for (const auto& [sub, n] : told) sub->on_metadata(n);
  if (!reread.empty()) {
    Reread(std::move(reread),
           std::chrono::duration_cast<std::chrono::milliseconds>(
               timeout - (WallClock::now() - start)) /
               2);
  }
  CheckLeaders(std::chrono::duration_cast<std::chrono::milliseconds>(
      timeout - (WallClock::now() - start)));
  lock.lock();
  std::map<Consumer*, KafkaTopicPartitionList> held;
  for (const auto& [topic, part] : assigned_) {
    auto& list = held[topic_consumer_.at(topic)];
    if (!list) list.reset(rd_kafka_topic_partition_list_new(0));
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), part);
  }
  const int count = static_cast<int>(assigned_.size());
  int parked = 0;
  for (const auto& [topic, l] : learning_) {
    parked += static_cast<int>(l.parked.size());
  }
  lock.unlock();
  std::optional<int64_t> lag;
  for (const auto& [c, list] : held) {
    if (auto l = ConsumerLag(c->rk.get(), list.get())) {
      lag = lag.value_or(0) + *l;
    }
  }
  lock.lock();
  lag_ = lag;
  assigned_count_ = count;
  parked_count_ = parked;
  if (!failed.empty()) {
    return ProbeOutcome::Fail("cannot assign partitions: " + failed);
  }
  return ProbeOutcome::Ok();
}

void KafkaWatcher::Reread(std::vector<Parked> parts,
                          std::chrono::milliseconds budget) {
  // Not known where it was parked (never fetched): from far enough back for
  // what went there since it was parked wrongly (a marker is missed after
  // its timeout, a partition count change is seen within a metadata
  // interval).
  KafkaTopicPartitionList q(rd_kafka_topic_partition_list_new(0));
  const auto back = std::max<std::chrono::milliseconds>(
      std::chrono::minutes(10), 2 * cluster_.interval);
  const int64_t since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          (WallClock::now() - back).time_since_epoch())
          .count();
  for (const auto& p : parts) {
    if (p.offset < 0) {
      rd_kafka_topic_partition_list_add(q.get(), p.topic.c_str(), p.partition)
          ->offset = since_ms;
    }
  }
  std::map<std::pair<std::string, int>, int64_t> looked_up;
  budget = std::min<std::chrono::milliseconds>(budget, std::chrono::seconds(2));
  if (q->cnt > 0 && budget >= std::chrono::milliseconds(100)) {
    const rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(
        rk_, q.get(), static_cast<int>(budget.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_.Debug(
          "cannot look up where to read parked partitions again",
          {{"kafka_cluster", cluster_.name}, {"err", rd_kafka_err2str(err)}});
    }
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < q->cnt; ++i) {
      const auto& tp = q->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      // No record since then: from the end.
      looked_up[{tp.topic, tp.partition}] =
          tp.offset >= 0 ? tp.offset : RD_KAFKA_OFFSET_END;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::map<Consumer*, KafkaTopicPartitionList> add;
  for (const auto& p : parts) {
    int64_t from = p.offset;
    if (from < 0) {
      auto it = looked_up.find({p.topic, p.partition});
      if (it == looked_up.end()) continue;  // stays parked
      from = it->second;
    }
    auto l = learning_.find(p.topic);
    auto c = topic_consumer_.find(p.topic);
    // Released, or learned again, meanwhile.
    if (l == learning_.end() || c == topic_consumer_.end() ||
        l->second.learned >= 0 || l->second.parked.erase(p.partition) == 0 ||
        !assigned_.insert({p.topic, p.partition}).second) {
      continue;
    }
    l->second.assigned_at = WallClock::now();
    l->second.reread_at = UnixSeconds(l->second.assigned_at);
    auto& list = add[c->second];
    if (!list) list.reset(rd_kafka_topic_partition_list_new(0));
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)
        ->offset = from;
  }
  for (const auto& [c, list] : add) {
    KafkaError e(rd_kafka_incremental_assign(c->rk.get(), list.get()));
    if (!e) continue;
    log_.Warn("cannot read parked Kafka partitions again",
              {{"kafka_cluster", cluster_.name},
               {"err", rd_kafka_error_string(e.get())}});
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      assigned_.erase({tp.topic, tp.partition});
      learning_[tp.topic].parked[tp.partition] = tp.offset;
    }
  }
}

void KafkaWatcher::CheckLeaders(std::chrono::milliseconds budget) {
  // One partition per leading broker, and the parked partitions it leads;
  // nothing asked without time left (the last findings stand).
  const auto wait = std::min<std::chrono::milliseconds>(
      budget - std::chrono::milliseconds(200), std::chrono::seconds(2));
  if (wait < std::chrono::milliseconds(100)) return;
  // One view of the leaders and the parked partitions for the whole check
  // (a Refresh that overlaps may change them meanwhile).
  std::map<std::string, std::vector<int>, std::less<>> leaders_now;
  std::map<std::string, std::map<int, int64_t>> parked_now;
  std::shared_ptr<const Table> table;
  {
    std::lock_guard<std::mutex> lock(mu_);
    table = table_;
    leaders_now = leaders_;
    for (const auto& [topic, l] : learning_) {
      if (!l.parked.empty()) parked_now[topic] = l.parked;
    }
  }
  // Topics with parked partitions whose connector's records are later than
  // usual (asked without holding mu_).
  std::set<std::string> waiting;
  for (const auto& [topic, parked] : parked_now) {
    auto sub = table->by_topic.find(topic);
    if (sub != table->by_topic.end() &&
        (!sub->second.waiting || sub->second.waiting())) {
      waiting.insert(topic);
    }
  }
  // Broker -> what to ask it: one partition it leads, and every parked
  // partition it leads (their end offsets tell whether records went there).
  std::map<int, std::vector<std::pair<std::string, int>>> ask;
  for (const auto& [topic, leaders] : leaders_now) {
    auto parked = parked_now.find(topic);
    for (std::size_t p = 0; p < leaders.size(); ++p) {
      if (leaders[p] < 0) continue;
      auto& list = ask[leaders[p]];
      const bool is_parked = parked != parked_now.end() &&
                             parked->second.count(static_cast<int>(p)) > 0;
      if (is_parked || list.empty()) list.emplace_back(topic, p);
    }
  }
  const double asked = UnixSeconds(WallClock::now());
  struct Answer {
    bool answered = false;
    std::map<std::pair<std::string, int>, int64_t> ends;  // parked ones
  };
  std::map<int, std::future<Answer>> answers;
  for (const auto& [broker, parts] : ask) {
    answers[broker] = std::async(std::launch::async, [this, parts = parts,
                                                      ms = wait.count()] {
      // Not rd_kafka_query_watermark_offsets: in librdkafka 2.0 it can
      // wait past its timeout for a leader that has died.
      KafkaTopicPartitionList q(
          rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
      for (const auto& [topic, p] : parts) {
        rd_kafka_topic_partition_list_add(q.get(), topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_END;
      }
      // Only no answer counts: an error for the partition (e.g. not
      // its leader any more, after a leader move) is an answer.
      // librdkafka's own (local) errors are negative: no answer, or
      // not even asked (a leaderless partition in its cache).
      Answer a;
      a.answered =
          rd_kafka_offsets_for_times(rk_, q.get(), static_cast<int>(ms)) >= 0;
      for (int i = 0; a.answered && i < q->cnt; ++i) {
        const auto& tp = q->elems[i];
        if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0) {
          a.ends[{tp.topic, tp.partition}] = tp.offset;
        }
      }
      return a;
    });
  }
  std::set<int> silent;
  std::map<int, double> confirmed;
  std::map<std::pair<std::string, int>, int64_t> ends;
  for (auto& [broker, answer] : answers) {
    Answer a = answer.get();
    if (a.answered) {
      confirmed[broker] = asked;
      ends.insert(a.ends.begin(), a.ends.end());
    } else {
      silent.insert(broker);
    }
  }
  // The parked partitions: a topic whose records went to one of them is
  // read whole again now; one whose every parked partition is unchanged is
  // settled up to `asked`.
  std::vector<Parked> reread;
  std::map<std::string, double> settled;  // gated topic -> settled_at
  std::map<std::string, std::string> moved;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [topic, l] : learning_) {
      auto was = parked_now.find(topic);
      if (was != parked_now.end() && l.parked == was->second) {
        bool all = true;
        for (auto& [part, at] : l.parked) {
          auto e = ends.find({topic, part});
          if (e == ends.end()) {
            all = false;
          } else if (at < 0) {
            at = e->second;  // not known where it was parked: from now
          } else if (e->second > at && waiting.count(topic) &&
                     moved.count(topic) == 0) {
            // Records there while the connector's own are late: they may
            // be its own. (While its own arrive where they are read,
            // records there are others': another exporter's marker row.)
            moved[topic] = "partition " + std::to_string(part) + " has " +
                           std::to_string(e->second - at) +
                           " new records while the connector's are late";
          }
        }
        if (moved.count(topic)) {
          l.learned = -1;
          for (const auto& [part, at] : l.parked) {
            reread.push_back({topic, part, at});
          }
        } else if (all) {
          l.settled_at = std::max(l.settled_at, asked);
        }
      } else if (l.parked.empty() && l.gated && l.reread_at > 0 &&
                 asked >= l.reread_at + kRereadSettle) {
        // Read whole again long enough ago for what was parked to be read.
        l.gated = false;
      }
      if (l.gated) settled[topic] = l.settled_at;
    }
  }
  for (const auto& [topic, why] : moved) {
    log_.Info(
        "reading every partition of a Kafka topic again",
        {{"kafka_cluster", cluster_.name},
         {"topic", topic},
         {"why", "records went to a partition it did not read (" + why + ")"}});
  }
  if (!reread.empty()) Reread(std::move(reread), wait);
  // Each connector's own partitions: their leaders, and those not readable.
  std::map<std::string, ObservationStore::KafkaPath> paths;
  std::map<int, double> evidence;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [b, t] : confirmed) {
      broker_confirmed_[b] = std::max(broker_confirmed_[b], t);
    }
    evidence = broker_confirmed_;
  }
  for (const auto& [topic, sub] : table->by_topic) {
    if (sub.connector.empty()) continue;
    auto it = leaders_now.find(topic);
    if (it == leaders_now.end()) continue;
    ObservationStore::KafkaPath& path = paths[sub.connector];
    if (auto g = settled.find(topic); g != settled.end()) {
      path.parked_settled_at =
          path.parked_settled_at < 0
              ? g->second
              : std::min(path.parked_settled_at, g->second);
    }
    auto parked = parked_now.find(topic);
    int unreadable = 0;
    for (std::size_t p = 0; p < it->second.size(); ++p) {
      // Parked partitions are not read: their leaders do not matter.
      if (parked != parked_now.end() &&
          parked->second.count(static_cast<int>(p))) {
        continue;
      }
      const int leader = it->second[p];
      if (leader >= 0) path.leaders.insert(leader);
      if (leader >= 0 && silent.count(leader) == 0) continue;
      if (++unreadable > 3) continue;
      if (!path.unreadable.empty()) path.unreadable += "; ";
      path.unreadable +=
          "partition " + std::to_string(p) + " of " + topic +
          (leader < 0 ? " (it has no leader)"
                      : " (its leader, broker " + std::to_string(leader) +
                            ", does not answer)");
    }
    if (unreadable > 3) {
      path.unreadable +=
          " and " + std::to_string(unreadable - 3) + " more partitions";
    }
  }
  for (int b : silent) {
    log_.Debug(
        "Kafka broker does not answer",
        {{"kafka_cluster", cluster_.name}, {"broker", std::to_string(b)}});
  }
  store_.ConfirmKafkaBrokers(cluster_.name, evidence);
  store_.SetKafkaPaths(cluster_.name, paths);
}

std::optional<int64_t> KafkaWatcher::ConsumerLag(
    rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
  // Both are librdkafka's local state: the position after the last record
  // handed out, and the high watermark of the last fetch response.
  if (rd_kafka_position(rk, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  std::optional<int64_t> lag;
  for (int i = 0; i < partitions->cnt; ++i) {
    const auto& tp = partitions->elems[i];
    int64_t low = -1, high = -1;
    if (tp.offset < 0 ||
        rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low,
                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;  // not fetched yet
    }
    lag = lag.value_or(0) + std::max<int64_t>(0, high - tp.offset);
  }
  return lag;
}

void KafkaWatcher::PollLoop(Consumer* c, bool tick) {
  NameThisThread("cdc-kafka-poll");
  while (!stop_) {
    KafkaMessage msg(rd_kafka_consumer_poll(c->rk.get(), 100));
    const auto now = WallClock::now();
    if (msg) {
      if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Handle(*msg, *c);
      } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log_.Debug("Kafka consumer error",
                   {{"kafka_cluster", cluster_.name},
                    {"err", rd_kafka_message_errstr(msg.get())}});
      }
    }
    if (!tick) continue;
    std::shared_ptr<const Table> table;
    {
      std::lock_guard<std::mutex> lock(mu_);
      table = table_;
    }
    for (const auto& t : table->tickers) t(now);
  }
}

void KafkaWatcher::Handle(const rd_kafka_message_t& msg, Consumer& c) {
  const std::string_view topic = rd_kafka_topic_name(msg.rkt);
  KafkaRecord r;
  r.topic = topic;
  r.value = std::string_view(static_cast<const char*>(msg.payload),
                             msg.payload ? msg.len : 0);
  r.key = std::string_view(static_cast<const char*>(msg.key),
                           msg.key ? msg.key_len : 0);
  r.received = WallClock::now();
  rd_kafka_timestamp_type_t type;
  const int64_t ts_ms = rd_kafka_message_timestamp(&msg, &type);
  r.produced = ts_ms > 0 && type != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
                   ? WallClock::time_point(std::chrono::milliseconds(ts_ms))
                   : r.received;
  std::shared_ptr<const Table> table;
  std::map<int, double> evidence;
  const bool confirm =
      r.received - c.last_confirm >= std::chrono::milliseconds(100);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++records_;
    table = table_;
    // The broker that served it (by the last metadata) is read from.
    auto it = leaders_.find(topic);
    if (it != leaders_.end() && msg.partition >= 0 &&
        static_cast<std::size_t>(msg.partition) < it->second.size() &&
        it->second[msg.partition] >= 0) {
      double& t = broker_confirmed_[it->second[msg.partition]];
      t = std::max(t, UnixSeconds(r.EvidenceOfReading()));
    }
    if (confirm) evidence = broker_confirmed_;
  }
  if (confirm) {
    c.last_confirm = r.received;
    store_.ConfirmKafka(cluster_.name, r.EvidenceOfReading());
    store_.ConfirmKafkaBrokers(cluster_.name, evidence);
  }
  // Handlers run without mu_: they take their own kinds' locks.
  const std::string name(topic);
  auto range = table->by_topic.equal_range(name);
  bool own = false;
  for (auto it = range.first; it != range.second; ++it) {
    it->second.on_record(r);
    own = own || (it->second.locates && it->second.locates(r));
  }
  if (!own) return;
  // One of the records that all go to one partition: only it is read from
  // the next Refresh on (if every partition is being read and the record
  // was produced since).
  std::lock_guard<std::mutex> lock(mu_);
  auto l = learning_.find(name);
  auto n = partitions_.find(name);
  if (l == learning_.end() || n == partitions_.end() || n->second < 2 ||
      l->second.learned >= 0 || !l->second.parked.empty() ||
      r.produced < l->second.assigned_at || msg.partition < 0 ||
      msg.partition >= n->second) {
    return;
  }
  l->second.learned = msg.partition;
  l->second.partitions = n->second;
  log_.Debug("learned the partition of a connector's records",
             {{"kafka_cluster", cluster_.name},
              {"topic", name},
              {"partition", std::to_string(msg.partition)}});
}

void KafkaWatcher::Collect(MetricSink& sink) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!refreshed_) return;
  sink.Gauge("cdc_kafka_up",
             "1 if the last metadata request to the Kafka cluster succeeded "
             "and librdkafka has not reported all brokers down since.",
             {{"kafka_cluster", cluster_.name}}, up_ ? 1 : 0);
  sink.Counter("cdc_kafka_records_consumed_total",
               "Records read from the watched topics of the Kafka cluster.",
               {{"kafka_cluster", cluster_.name}},
               static_cast<double>(records_));
  sink.Gauge("cdc_kafka_assigned_partitions",
             "Partitions of the watched topics that the exporter's consumers "
             "fetch from the Kafka cluster (their cost grows with them).",
             {{"kafka_cluster", cluster_.name}},
             static_cast<double>(assigned_count_));
  sink.Gauge("cdc_kafka_parked_partitions",
             "Partitions of watched topics not fetched: the connector's "
             "markers or heartbeats were seen to go to another partition of "
             "the topic (read again when they are late or the partition "
             "count changes).",
             {{"kafka_cluster", cluster_.name}},
             static_cast<double>(parked_count_));
  sink.Gauge("cdc_kafka_consumers",
             "Kafka consumers (librdkafka instances) the exporter reads the "
             "cluster with: one per kafka_clusters[].topics_per_consumer "
             "watched topics.",
             {{"kafka_cluster", cluster_.name}},
             static_cast<double>(consumers_.size()));
  if (lag_) {
    sink.Gauge("cdc_kafka_consumer_lag_records",
               "Records in the watched partitions that the exporter had not "
               "read yet at its last look (every kafka_clusters[].interval). "
               "Growing: the exporter cannot keep up, so markers and "
               "heartbeats are seen late.",
               {{"kafka_cluster", cluster_.name}}, static_cast<double>(*lag_));
  }
  for (const auto& [topic, n] : partitions_) {
    auto it = table_->by_topic.find(topic);
    sink.Gauge("cdc_kafka_topic_partitions",
               "Partitions of a watched topic (0: the topic does not exist; "
               "for a marker topic, is the canary table in the connector's "
               "table.include.list?).",
               {{"kafka_cluster", cluster_.name},
                {"topic", topic},
                {"kind", it == table_->by_topic.end() ? "" : it->second.kind}},
               n);
  }
}

namespace {

class KafkaKind final : public ProbeKind {
 public:
  explicit KafkaKind(const KindEnv& env) : env_(env) {}
  ~KafkaKind() override {
    std::lock_guard<std::mutex> lock(mu_);
    // A KafkaProbe left in the scheduler may keep a watcher alive; its
    // subscriptions point into the other kinds, which go next.
    for (auto& [name, w] : watchers_) w->StopPolling();
    watchers_.clear();
  }
  std::string_view Name() const override { return "kafka"; }

  void Build(const config::Config& cfg, KindParts& parts) override {
    // The subscriptions and tickers of the kinds built before, by cluster.
    struct Wants {
      std::vector<KafkaSubscription> subscriptions;
      std::vector<KafkaWatcher::Ticker> tickers;
    };
    std::map<std::string, Wants> wants;
    for (const auto& c : cfg.connectors) wants[c.kafka];
    for (const auto& s : parts.subscriptions) {
      wants[s.kafka_cluster].subscriptions.push_back(s);
    }
    for (const auto& [kafka, tick] : parts.tickers) {
      wants[kafka].tickers.push_back(tick);
    }
    std::map<std::string, std::shared_ptr<KafkaWatcher>> next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [name, w] : wants) {
        const config::KafkaCluster& k = *cfg.FindKafka(name);
        auto it = watchers_.find(name);
        next[name] =
            it != watchers_.end() && it->second->cluster().SameConsumer(k)
                ? it->second
                : std::make_shared<KafkaWatcher>(k, env_.store, env_.log);
        parts.probes.push_back(std::make_shared<KafkaProbe>(next[name], k));
      }
    }
    parts.commits.push_back(
        [this, next = std::move(next), wants = std::move(wants)]() mutable {
          for (auto& [name, w] : next) {
            w->SetSubscriptions(std::move(wants[name].subscriptions),
                                std::move(wants[name].tickers));
          }
          std::lock_guard<std::mutex> lock(mu_);
          for (auto& [name, w] : watchers_) {
            if (next.count(name) == 0 || next[name] != w) w->StopPolling();
          }
          watchers_ = std::move(next);
        });
  }

 private:
  KindEnv env_;
  std::mutex mu_;  // guards watchers_
  // One consumer per Kafka cluster, kept across reloads while its settings
  // do not change.
  std::map<std::string, std::shared_ptr<KafkaWatcher>> watchers_;
};

}  // namespace

std::unique_ptr<ProbeKind> MakeKafkaKind(const KindEnv& env) {
  return std::make_unique<KafkaKind>(env);
}

}  // namespace cdc
