// cdc-bench-echo: the Kafka side of N simulated Debezium connectors, for the
// marker-scale benchmark (bench/marker_scale.py).
//
// The sandbox runs only two real binlog connectors. This program makes N more
// look real *to the exporter*: it consumes the marker topic of one real
// connector (records produced by cdc-sim from the real MariaDB binlog) and
// copies every record, bytes unchanged, to each simulated connector's marker
// topic `<name>.cdc_canary.markers`. So every simulated connector delivers
// exactly the markers the real pipeline delivers, a few ms later. It also
// writes what each connector would write besides: a Debezium heartbeat
// `{"ts_ms":..}` to `__debezium-heartbeat.<name>` every --heartbeat-ms, and
// a source offset to the offsets topic every --offset-flush-ms (key
// `["<name>",{"server":"<name>"}]`), both spread evenly over their period as
// unsynchronised connectors would be.
//
//   cdc-bench-echo --bootstrap HOST:PORT --source-topic T --names FILE
//                  [--heartbeat-ms 10000] [--offset-flush-ms 60000]
//                  [--offsets-topic connect-offsets] [--ready-file F]
//
// It pre-creates every topic (one record each) before writing --ready-file.
// Runs until SIGTERM/SIGINT; prints counters to stderr every 10 s.
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Die(const std::string& what) {
  std::cerr << "cdc-bench-echo: " << what << "\n";
  std::exit(2);
}

rd_kafka_t* Make(rd_kafka_type_t type, const std::string& bootstrap,
                 const std::vector<std::pair<std::string, std::string>>& kv) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK)
      Die(k + ": " + err);
  };
  set("bootstrap.servers", bootstrap);
  for (const auto& [k, v] : kv) set(k, v);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (!rk) Die(err);
  return rk;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap, source_topic, names_file, ready_file;
  std::string offsets_topic = "connect-offsets";
  int64_t heartbeat_ms = 10000, flush_ms = 60000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--bootstrap") bootstrap = v;
    else if (k == "--source-topic") source_topic = v;
    else if (k == "--names") names_file = v;
    else if (k == "--ready-file") ready_file = v;
    else if (k == "--offsets-topic") offsets_topic = v;
    else if (k == "--heartbeat-ms") heartbeat_ms = std::stoll(v);
    else if (k == "--offset-flush-ms") flush_ms = std::stoll(v);
    else Die("unknown flag " + k);
  }
  if (bootstrap.empty() || source_topic.empty() || names_file.empty())
    Die("need --bootstrap, --source-topic and --names");
  std::vector<std::string> names;
  {
    std::ifstream in(names_file);
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) names.push_back(l);
  }
  if (names.empty()) Die("no names in " + names_file);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);

  rd_kafka_t* prod = Make(RD_KAFKA_PRODUCER, bootstrap,
                          {{"linger.ms", "5"}, {"client.id", "bench-echo"},
                           {"queue.buffering.max.messages", "1000000"}});
  auto produce = [&](const std::string& topic, const void* key, size_t klen,
                     const void* val, size_t vlen) {
    while (true) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          prod, RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(const_cast<void*>(key), klen),
          RD_KAFKA_V_VALUE(const_cast<void*>(val), vlen), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(prod, 10);
        continue;
      }
      if (e) std::cerr << "produce " << topic << ": " << rd_kafka_err2str(e) << "\n";
      return;
    }
  };
  auto heartbeat = [&](const std::string& n) {
    const std::string k = "{\"serverName\":\"" + n + "\"}";
    const std::string v = "{\"ts_ms\":" + std::to_string(NowMs()) + "}";
    produce("__debezium-heartbeat." + n, k.data(), k.size(), v.data(),
            v.size());
  };
  auto offset = [&](const std::string& n, int64_t pos) {
    const std::string k = "[\"" + n + "\",{\"server\":\"" + n + "\"}]";
    const std::string v = "{\"ts_sec\":" + std::to_string(NowMs() / 1000) +
                          ",\"file\":\"mariadb-bin.000001\",\"pos\":" +
                          std::to_string(pos) + ",\"server_id\":1}";
    produce(offsets_topic, k.data(), k.size(), v.data(), v.size());
  };

  // Pre-create every topic, so the exporter's first metadata refresh sees
  // them all (a topic that appears later is read from its beginning).
  const std::string init = "{\"bench\":\"topic created\"}";
  for (const auto& n : names) {
    produce(n + ".cdc_canary.markers", nullptr, 0, init.data(), init.size());
    heartbeat(n);
    offset(n, 4);
  }
  rd_kafka_flush(prod, 30000);

  // Consume the real connector's marker topic from its end.
  rd_kafka_t* cons = Make(RD_KAFKA_CONSUMER, bootstrap,
                          {{"group.id", "bench-echo-unused"},
                           {"enable.auto.commit", "false"},
                           {"fetch.wait.max.ms", "10"},
                           {"client.id", "bench-echo"}});
  rd_kafka_poll_set_consumer(cons);
  int partitions = 0;
  for (int tries = 0; tries < 600 && !g_stop; ++tries) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* t = rd_kafka_topic_new(cons, source_topic.c_str(), nullptr);
    if (rd_kafka_metadata(cons, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      partitions = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (partitions > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (partitions == 0) Die("source topic " + source_topic + " never appeared");
  rd_kafka_topic_partition_list_t* tp =
      rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(tp, source_topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_END;
  rd_kafka_assign(cons, tp);
  rd_kafka_topic_partition_list_destroy(tp);

  if (!ready_file.empty()) {
    std::ofstream(ready_file) << "ready topics=" << names.size() * 2 << "\n";
  }
  std::cerr << "cdc-bench-echo: " << names.size() << " connectors, source "
            << source_topic << " (" << partitions << " partitions)\n";

  // Heartbeats and offsets spread evenly over their periods.
  const size_t n = names.size();
  size_t hb_next = 0, off_next = 0;
  const int64_t t_start = NowMs();
  uint64_t echoed = 0, copies = 0, hbs = 0, offs = 0;
  int64_t pos = 4, last_report = t_start;
  while (!g_stop) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(cons, 20);
    if (m) {
      if (!m->err) {
        ++echoed;
        for (const auto& name : names) {
          produce(name + ".cdc_canary.markers", m->key, m->key_len,
                  m->payload, m->len);
          ++copies;
        }
        pos += 400;
      }
      rd_kafka_message_destroy(m);
    }
    const int64_t now = NowMs();
    if (heartbeat_ms > 0) {
      // Each connector once per heartbeat_ms, at its own phase.
      const int64_t due = (now - t_start) * static_cast<int64_t>(n) / heartbeat_ms;
      while (static_cast<int64_t>(hbs) < due) {
        heartbeat(names[hb_next]);
        hb_next = (hb_next + 1) % n;
        ++hbs;
      }
    }
    if (flush_ms > 0) {
      const int64_t due = (now - t_start) * static_cast<int64_t>(n) / flush_ms;
      while (static_cast<int64_t>(offs) < due) {
        offset(names[off_next], pos);
        off_next = (off_next + 1) % n;
        ++offs;
      }
    }
    rd_kafka_poll(prod, 0);
    if (now - last_report >= 10000) {
      last_report = now;
      std::cerr << "cdc-bench-echo: markers echoed " << echoed << " copies "
                << copies << " heartbeats " << hbs << " offsets " << offs
                << "\n";
    }
  }
  rd_kafka_consumer_close(cons);
  rd_kafka_destroy(cons);
  rd_kafka_flush(prod, 5000);
  rd_kafka_destroy(prod);
  return 0;
}
