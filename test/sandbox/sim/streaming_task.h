#pragma once

// The task of a streaming connector: what Debezium's MySqlConnectorTask and
// its BinaryLogClient thread ("blc-host:port") do, on a real MariaDB binlog
// stream and a real Kafka broker.

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "binlog_stream.h"
#include "cdc/common/log.h"
#include "debezium_event.h"
#include "kafka_producer.h"
#include "mysql_session.h"
#include "offset_store.h"
#include "rate_limiter.h"
#include "row_decoder.h"
#include "sim_config.h"

namespace cdc::sim {

// What the task has done, for REST, logs and thread dumps.
struct TaskSnapshot {
  bool failed = false;
  std::string trace;  // Java-style, when failed
  bool connected = false;
  std::string endpoint;     // host:port of the binlog connection
  std::string tls_version;  // negotiated ("" when not connected / plain)
  std::string cipher;
  unsigned long connection_id = 0;  // server-side PROCESSLIST_ID
  bool paused = false;
  bool blocked_in_read = false;  // waiting for binlog bytes
  bool chaos_stall = false;      // held by the chaos stall
  std::chrono::system_clock::time_point read_since{};
  std::optional<std::chrono::system_clock::time_point> last_event_at;
  std::chrono::system_clock::time_point connected_at{};
  std::optional<SourceOffset> offset;       // of the last record produced
  std::optional<BinlogPosition> opened_at;  // where the last dump started
  uint64_t binlog_events = 0;
  uint64_t records = 0;
  uint64_t heartbeats = 0;
  uint64_t reconnects = 0;
  uint64_t connects = 0;
  std::string last_error;
  pid_t tid = 0;  // OS thread id of the reader
  int64_t cpu_since_connect_ns = -1;
  std::map<std::string, uint64_t> topic_records;  // records per topic
};

// Borrowed from the worker; outlives every task.
struct TaskContext {
  KafkaProducer& producer;
  cdc::Logger& log;
  RateLimiter* throttle = nullptr;  // the connector's; null = unlimited
};

// Public methods are thread-safe. Start() once; Stop() joins both threads
// and is idempotent (the destructor calls it).
class StreamingTask {
 public:
  StreamingTask(const ConnectorSpec& spec, const DebeziumSettings& settings,
                TaskContext ctx, std::optional<SourceOffset> start);
  ~StreamingTask();
  StreamingTask(const StreamingTask&) = delete;
  StreamingTask& operator=(const StreamingTask&) = delete;

  void Start();
  // Asks both threads to end and unblocks them (shutdown(2) on their
  // sockets) without waiting.
  void RequestStop();
  // RequestStop(), then joins the threads.
  void Stop();
  void SetPaused(bool paused);

  TaskSnapshot Snapshot() const;
  bool failed() const { return failed_.load(); }
  bool started() const { return started_.load(); }

 private:
  // Reader thread.
  void ReaderMain();
  void ReaderLoop();
  bool Process(const MARIADB_RPL_EVENT& ev, std::string* error);
  bool HandleRows(const MARIADB_RPL_EVENT& ev, uint64_t event_pos,
                  std::string* error);
  void BeginTransaction(uint64_t event_pos, std::string gtid);
  void EndTransaction();
  void MaybeHeartbeat(int64_t event_ts_sec);
  bool Emit(const KafkaRecord& r, int64_t event_ts_sec);
  SourceOffset CurrentOffset(int64_t event_ts_sec) const;
  void Fail(std::string trace, const std::string& why);
  bool Sleep(std::chrono::milliseconds d);  // false when stopping
  // Waits for the throughput cap to let `n` events pass (the next binlog
  // event stays unread meanwhile: the backlog stays on the server). False
  // when stopping.
  bool Throttle(uint64_t n);
  void WaitWhilePausedOrStalled();

  // Aux thread: heartbeat.action.query and the chaos stall dice.
  void AuxMain();

  bool stopping() const { return stopping_.load(); }

  const ConnectorSpec spec_;
  const DebeziumSettings settings_;
  const MysqlEndpoint endpoint_;
  TaskContext ctx_;
  const EventBuilder builder_;
  const std::optional<SourceOffset> start_offset_;

  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};

  Interrupter stop_signal_;  // triggered by RequestStop()

  // Reader-thread state (no lock needed).
  BinlogStream stream_;
  SchemaCache schema_cache_;
  std::map<uint64_t, TableMap> table_maps_;
  std::string file_;
  uint64_t next_pos_ = 0;
  bool in_tx_ = false;
  bool standalone_ = false;
  BinlogPosition tx_start_;
  std::string tx_gtid_;
  std::map<uint32_t, std::string> gtid_by_domain_;  // completed
  uint64_t events_in_tx_ = 0;
  uint64_t rows_done_in_event_ = 0;
  uint64_t skip_events_ = 0;  // left over from a resume offset
  uint64_t skip_rows_ = 0;
  std::optional<uint32_t> thread_;
  uint32_t source_server_id_ = 0;
  std::chrono::steady_clock::time_point last_heartbeat_{};

  // Shared state.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
  std::chrono::steady_clock::time_point stall_until_{};
  TaskSnapshot snap_;              // guarded by mu_
  int64_t cpu_at_connect_ns_ = 0;  // guarded by mu_
  pthread_t reader_thread_{};      // guarded by mu_, valid while alive
  bool reader_alive_ = false;      // guarded by mu_

  std::mutex action_mu_;
  int action_fd_ = -1;  // the heartbeat action connection, for Stop()

  std::thread reader_;
  std::thread aux_;
};

std::string GtidString(uint32_t domain, uint32_t server, uint64_t seq);

}  // namespace cdc::sim
