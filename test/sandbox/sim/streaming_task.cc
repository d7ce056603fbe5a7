#include "streaming_task.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <ctime>

#include "thread_dump.h"

namespace cdc::sim {
namespace {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

int64_t ThreadCpuNs() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             SysClock::now().time_since_epoch())
      .count();
}

MysqlEndpoint EndpointOf(const ConnectorSpec& spec, const DebeziumSettings& s) {
  MysqlEndpoint ep;
  ep.host = s.hostname;
  ep.port = s.port;
  ep.user = s.user;
  ep.password = s.password;
  ep.tls_version = spec.tls_version;
  ep.ssl_mode = s.ssl_mode;
  ep.ca_file = s.ssl_ca;
  ep.connect_timeout = s.connect_timeout;
  return ep;
}

bool StartsWithWord(const std::string& stmt, std::string_view word) {
  size_t i = 0;
  while (i < stmt.size() && std::isspace(static_cast<unsigned char>(stmt[i]))) {
    ++i;
  }
  if (stmt.size() - i < word.size()) return false;
  for (size_t k = 0; k < word.size(); ++k) {
    if (std::toupper(static_cast<unsigned char>(stmt[i + k])) != word[k]) {
      return false;
    }
  }
  const size_t end = i + word.size();
  return end == stmt.size() ||
         !std::isalnum(static_cast<unsigned char>(stmt[end]));
}

}  // namespace

std::string GtidString(uint32_t domain, uint32_t server, uint64_t seq) {
  return std::to_string(domain) + "-" + std::to_string(server) + "-" +
         std::to_string(seq);
}

StreamingTask::StreamingTask(const ConnectorSpec& spec,
                             const DebeziumSettings& settings, TaskContext ctx,
                             std::optional<SourceOffset> start)
    : spec_(spec),
      settings_(settings),
      endpoint_(EndpointOf(spec, settings)),
      ctx_(ctx),
      builder_(settings),
      start_offset_(std::move(start)),
      schema_cache_(EndpointOf(spec, settings), &stop_signal_) {
  snap_.endpoint = settings_.hostname + ":" + std::to_string(settings_.port);
}

StreamingTask::~StreamingTask() { Stop(); }

void StreamingTask::Start() {
  if (started_.exchange(true)) return;
  reader_ = std::thread([this] { ReaderMain(); });
  aux_ = std::thread([this] { AuxMain(); });
}

void StreamingTask::RequestStop() {
  stopping_.store(true);
  stop_signal_.Trigger();
  stream_.Interrupt();
  schema_cache_.Interrupt();
  {
    std::lock_guard<std::mutex> lock(action_mu_);
    if (action_fd_ >= 0) ::shutdown(action_fd_, SHUT_RDWR);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
}

void StreamingTask::Stop() {
  RequestStop();
  if (reader_.joinable()) reader_.join();
  if (aux_.joinable()) aux_.join();
}

void StreamingTask::SetPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = paused;
  snap_.paused = paused;
  cv_.notify_all();
}

TaskSnapshot StreamingTask::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  TaskSnapshot s = snap_;
  s.cpu_since_connect_ns = -1;
  // The reader cannot exit while mu_ is held (it clears reader_alive_ under
  // mu_ first), so its CPU clock is valid here.
  clockid_t cid;
  timespec ts{};
  if (reader_alive_ && pthread_getcpuclockid(reader_thread_, &cid) == 0 &&
      clock_gettime(cid, &ts) == 0) {
    s.cpu_since_connect_ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 +
                             ts.tv_nsec - cpu_at_connect_ns_;
  }
  return s;
}

bool StreamingTask::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping(); });
  return !stopping();
}

bool StreamingTask::Throttle(uint64_t n) {
  if (ctx_.throttle == nullptr) return !stopping();
  return ctx_.throttle->Acquire(n, [this] { return stopping(); });
}

void StreamingTask::WaitWhilePausedOrStalled() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping()) return;
    const auto now = Clock::now();
    if (now < stall_until_) {
      if (!snap_.chaos_stall) {
        snap_.chaos_stall = true;
        snap_.read_since = SysClock::now();
      }
      cv_.wait_until(lock, stall_until_);
      continue;
    }
    snap_.chaos_stall = false;
    if (paused_) {
      cv_.wait(lock);
      continue;
    }
    return;
  }
}

void StreamingTask::Fail(std::string trace, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snap_.failed = true;
    snap_.trace = std::move(trace);
    snap_.connected = false;
    snap_.blocked_in_read = false;
    snap_.last_error = why;
  }
  failed_.store(true);
  ctx_.log.Error("WorkerSourceTask{id=" + spec_.name +
                     "-0} Task threw an uncaught and unrecoverable exception. "
                     "Task is being killed and will not recover until "
                     "manually restarted",
                 {{"connector", spec_.name}, {"task", "0"}, {"error", why}});
}

SourceOffset StreamingTask::CurrentOffset(int64_t event_ts_sec) const {
  SourceOffset o;
  o.ts_sec = event_ts_sec;
  o.server_id = source_server_id_;
  std::string gtids;
  for (const auto& [domain, g] : gtid_by_domain_) {
    if (!gtids.empty()) gtids.push_back(',');
    gtids += g;
  }
  o.gtids = gtids;
  if (in_tx_) {
    o.file = tx_start_.file;
    o.pos = tx_start_.pos;
    o.event = events_in_tx_;
    o.row = rows_done_in_event_;
  } else {
    o.file = file_;
    o.pos = next_pos_;
  }
  return o;
}

bool StreamingTask::Emit(const KafkaRecord& r, int64_t event_ts_sec) {
  if (!ctx_.producer.Produce(r, [this] { return stopping(); })) return false;
  const SourceOffset offset = CurrentOffset(event_ts_sec);
  std::lock_guard<std::mutex> lock(mu_);
  snap_.offset = offset;
  ++snap_.records;
  ++snap_.topic_records[r.topic];
  return true;
}

void StreamingTask::MaybeHeartbeat(int64_t event_ts_sec) {
  if (settings_.heartbeat_interval.count() <= 0) return;
  const auto now = Clock::now();
  if (now - last_heartbeat_ < settings_.heartbeat_interval) return;
  last_heartbeat_ = now;
  const auto rec = builder_.Heartbeat(NowUs() / 1000);
  if (Emit(rec, event_ts_sec)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++snap_.heartbeats;
  }
}

void StreamingTask::BeginTransaction(uint64_t event_pos, std::string gtid) {
  in_tx_ = true;
  tx_start_ = BinlogPosition{file_, event_pos};
  tx_gtid_ = std::move(gtid);
  events_in_tx_ = 0;
  rows_done_in_event_ = 0;
  thread_.reset();
}

void StreamingTask::EndTransaction() {
  if (!tx_gtid_.empty()) {
    // "domain-server-seq": keep the latest per domain, like @@gtid_binlog_pos.
    const auto dash = tx_gtid_.find('-');
    const uint32_t domain =
        static_cast<uint32_t>(std::stoul(tx_gtid_.substr(0, dash)));
    gtid_by_domain_[domain] = tx_gtid_;
  }
  in_tx_ = false;
  standalone_ = false;
  tx_gtid_.clear();
  events_in_tx_ = 0;
  rows_done_in_event_ = 0;
  skip_events_ = 0;
  skip_rows_ = 0;
}

bool StreamingTask::HandleRows(const MARIADB_RPL_EVENT& ev, uint64_t event_pos,
                               std::string* error) {
  if (!in_tx_) BeginTransaction(event_pos, "");
  rows_done_in_event_ = 0;
  auto finish_event = [&] {
    ++events_in_tx_;
    rows_done_in_event_ = 0;
  };
  if (skip_events_ > 0) {  // already delivered before the restart
    --skip_events_;
    finish_event();
    Throttle(1);
    return true;
  }
  auto it = table_maps_.find(ev.event.rows.table_id);
  if (it == table_maps_.end()) {
    *error = "rows event for unknown table id " +
             std::to_string(ev.event.rows.table_id);
    return false;
  }
  const TableMap& map = it->second;
  if (!settings_.IncludesTable(map.db, map.table)) {
    skip_rows_ = 0;
    finish_event();
    Throttle(1);
    return true;
  }
  const TableSchema* schema = schema_cache_.Lookup(map, error);
  if (schema == nullptr) {
    if (stopping()) return true;
    *error =
        "reading the schema of " + map.db + "." + map.table + ": " + *error;
    return false;
  }
  std::vector<RowChange> changes;
  if (!DecodeRows(map, ev, &changes, error)) return false;
  const int64_t ts_sec = ev.timestamp;
  std::string gtid = tx_gtid_;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (skip_rows_ > 0) {
      --skip_rows_;
      rows_done_in_event_ = i + 1;
      continue;
    }
    // The cap counts change events: one per captured row.
    if (!Throttle(1)) return true;  // stopping
    SourceInfo src;
    src.ts_ms = ts_sec * 1000;
    src.db = map.db;
    src.table = map.table;
    src.server_id = ev.server_id;
    src.gtid = gtid;
    src.file = file_;
    src.pos = event_pos;
    src.row = static_cast<int>(i);
    src.thread = thread_;
    const auto records = builder_.Change(*schema, changes[i], src, NowUs());
    rows_done_in_event_ = i + 1;
    for (const auto& r : records) {
      if (!Emit(r, ts_sec)) {
        if (stopping()) return true;
        *error = "producing to " + r.topic + " failed";
        return false;
      }
    }
  }
  skip_rows_ = 0;
  finish_event();
  return true;
}

bool StreamingTask::Process(const MARIADB_RPL_EVENT& ev, std::string* error) {
  const bool real =
      ev.next_event_pos != 0 && !(ev.flags & LOG_EVENT_ARTIFICIAL_F);
  const uint64_t event_pos = real && ev.next_event_pos >= ev.event_length
                                 ? ev.next_event_pos - ev.event_length
                                 : next_pos_;
  if (real) source_server_id_ = ev.server_id;
  switch (ev.event_type) {
    case ROTATE_EVENT:
      file_ = stream_.RotateFilename(ev);
      next_pos_ = ev.event.rotate.position;
      return true;  // the position moved to the new file already
    case GTID_EVENT:
      BeginTransaction(event_pos,
                       GtidString(ev.event.gtid.domain_id, ev.server_id,
                                  ev.event.gtid.sequence_nr));
      standalone_ = (ev.event.gtid.flags & FL_STANDALONE) != 0;
      break;
    case QUERY_EVENT: {
      const std::string stmt(
          ev.event.query.statement.str ? ev.event.query.statement.str : "",
          ev.event.query.statement.length);
      if (StartsWithWord(stmt, "BEGIN")) {
        if (!in_tx_) BeginTransaction(event_pos, "");
        thread_ = ev.event.query.thread_id;
      } else if (StartsWithWord(stmt, "COMMIT") ||
                 StartsWithWord(stmt, "ROLLBACK")) {
        EndTransaction();
      } else {
        // DDL and other statements: the cached column lists may be stale.
        schema_cache_.InvalidateAll();
        thread_ = ev.event.query.thread_id;
        if (standalone_ || !in_tx_) EndTransaction();
      }
      break;
    }
    case XID_EVENT:
      EndTransaction();
      break;
    case TABLE_MAP_EVENT: {
      TableMap map;
      if (!ParseTableMap(ev, &map, error)) return false;
      table_maps_[map.table_id] = std::move(map);
      break;
    }
    default:
      if (IsRowsEvent(ev.event_type)) {
        if (!HandleRows(ev, event_pos, error)) return false;
      }
      break;
  }
  if (real && !in_tx_) next_pos_ = ev.next_event_pos;
  return true;
}

void StreamingTask::ReaderMain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snap_.tid = static_cast<pid_t>(::syscall(SYS_gettid));
    reader_thread_ = pthread_self();
    reader_alive_ = true;
  }
  ReaderLoop();
  std::lock_guard<std::mutex> lock(mu_);
  reader_alive_ = false;
}

void StreamingTask::ReaderLoop() {
  std::optional<SourceOffset> resume = start_offset_;
  std::chrono::milliseconds backoff(500);
  std::chrono::milliseconds reconnect_backoff(100);
  bool ever_connected = false;
  last_heartbeat_ = Clock::now();
  while (!stopping()) {
    WaitWhilePausedOrStalled();
    if (stopping()) break;
    std::optional<BinlogPosition> start;
    if (resume) start = BinlogPosition{resume->file, resume->pos};
    std::string error;
    if (!stream_.Open(endpoint_, settings_.server_id, start, &error,
                      &stop_signal_)) {
      if (stopping()) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        snap_.last_error = error;
      }
      ctx_.log.Warn("Failed to connect to the MySQL binlog",
                    {{"connector", spec_.name},
                     {"endpoint", snap_.endpoint},
                     {"error", error},
                     {"retry_in", std::to_string(backoff.count()) + "ms"}});
      if (spec_.on_reset == OnReset::kFail) {
        Fail(ConnectFailureTrace(snap_.endpoint, settings_.user, error), error);
        break;
      }
      if (!Sleep(backoff)) break;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
      continue;
    }
    backoff = std::chrono::milliseconds(500);
    // Where the stream starts and what it must skip (a restart inside a
    // transaction re-reads it from its start).
    file_ = stream_.start().file;
    next_pos_ = stream_.start().pos;
    in_tx_ = false;
    standalone_ = false;
    tx_gtid_.clear();
    table_maps_.clear();
    gtid_by_domain_.clear();
    const std::string gtids =
        resume ? resume->gtids : stream_.server_gtid_pos();
    for (const auto& g : SplitList(gtids)) {
      const auto dash = g.find('-');
      if (dash == std::string::npos) continue;
      try {
        gtid_by_domain_[static_cast<uint32_t>(std::stoul(g.substr(0, dash)))] =
            g;
      } catch (const std::exception&) {
      }
    }
    skip_events_ = resume ? resume->event : 0;
    skip_rows_ = resume ? resume->row : 0;
    source_server_id_ = resume && resume->server_id != 0 ? resume->server_id
                                                         : stream_.server_id();
    uint64_t reconnects = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      snap_.connected = true;
      snap_.tls_version = stream_.tls_version();
      snap_.cipher = stream_.cipher();
      snap_.connection_id = stream_.connection_id();
      snap_.connected_at = SysClock::now();
      snap_.opened_at = stream_.start();
      ++snap_.connects;
      if (ever_connected) ++snap_.reconnects;
      reconnects = snap_.reconnects;
      cpu_at_connect_ns_ = ThreadCpuNs();
      if (!resume) {
        // snapshot.mode=schema_only: the first offset is the end of the
        // binlog at start, committed like the one Debezium records after
        // its snapshot.
        SourceOffset first;
        first.file = file_;
        first.pos = next_pos_;
        first.gtids = gtids;
        first.server_id = source_server_id_;
        first.ts_sec = std::chrono::duration_cast<std::chrono::seconds>(
                           SysClock::now().time_since_epoch())
                           .count();
        snap_.offset = first;
      }
    }
    std::initializer_list<LogField> fields = {
        {"connector", spec_.name},
        {"endpoint", snap_.endpoint},
        {"file", file_},
        {"pos", std::to_string(next_pos_)},
        {"skip_events", std::to_string(skip_events_)},
        {"skip_rows", std::to_string(skip_rows_)},
        {"tls", stream_.tls_version().empty() ? "none" : stream_.tls_version()},
        {"cipher", stream_.cipher()},
        {"server_connection_id", std::to_string(stream_.connection_id())},
        {"reconnects", std::to_string(reconnects)}};
    if (ever_connected) {
      ctx_.log.Info("Reconnected to the MySQL binlog (reconnect #" +
                        std::to_string(reconnects) + ")",
                    fields);
    } else {
      ctx_.log.Info("Connected to the MySQL binlog", fields);
    }
    ever_connected = true;

    // The stream loop. Reads block without any timeout.
    bool lost = false;
    while (!stopping()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        snap_.blocked_in_read = true;
        snap_.read_since = SysClock::now();
      }
      RplEvent ev = stream_.Next();
      {
        std::lock_guard<std::mutex> lock(mu_);
        snap_.blocked_in_read = false;
        if (ev) {
          snap_.last_event_at = SysClock::now();
          ++snap_.binlog_events;
        }
      }
      if (!ev) {
        lost = !stopping();
        break;
      }
      WaitWhilePausedOrStalled();  // a paused/stalled task holds the event
      if (stopping()) break;
      // Rows events are charged per row in HandleRows.
      if (!IsRowsEvent(ev->event_type) && !Throttle(1)) break;
      if (!Process(*ev, &error)) {
        if (stopping()) break;
        ctx_.log.Error("Error processing binlog event",
                       {{"connector", spec_.name}, {"error", error}});
        Fail(ProcessingFailureTrace(error), error);
        stream_.Close();
        schema_cache_.Close();
        return;
      }
      MaybeHeartbeat(ev->timestamp);
    }
    const std::string cause = stream_.LastError();
    const unsigned int errnum = stream_.LastErrno();
    const bool server_error = stream_.LastErrorFromServer();
    const SourceOffset position = CurrentOffset(0);
    stream_.Close();
    schema_cache_.Close();
    std::chrono::system_clock::time_point connected_at;
    {
      std::lock_guard<std::mutex> lock(mu_);
      snap_.connected = false;
      snap_.blocked_in_read = false;
      if (lost) snap_.last_error = cause;
      connected_at = snap_.connected_at;
    }
    if (!lost) break;
    ctx_.log.Warn("Binlog connection lost",
                  {{"connector", spec_.name},
                   {"endpoint", snap_.endpoint},
                   {"error", cause},
                   {"position", position.ToString()},
                   {"on_reset",
                    spec_.on_reset == OnReset::kFail ? "fail" : "reconnect"}});
    if (server_error) {
      // The server refused the stream (e.g. 1236, position purged): no
      // reconnect can help; Debezium fails the task whatever the policy.
      Fail(ServerErrorTrace(position.file, position.pos, cause, errnum), cause);
      return;
    }
    if (spec_.on_reset == OnReset::kFail) {
      Fail(BinlogFailureTrace(snap_.endpoint, next_pos_, cause, errnum), cause);
      return;
    }
    // Keep-alive: reconnect from the last processed position (a transaction
    // in progress is re-read from its start, skipping what was delivered).
    // A connection that broke right away backs off before the next try.
    resume = position;
    const bool short_lived =
        SysClock::now() - connected_at < std::chrono::seconds(5);
    reconnect_backoff = short_lived ? std::min(reconnect_backoff * 2,
                                               std::chrono::milliseconds(10000))
                                    : std::chrono::milliseconds(200);
    ctx_.log.Info("Trying to restore lost connection to " + snap_.endpoint,
                  {{"connector", spec_.name},
                   {"from", position.ToString()},
                   {"in", std::to_string(reconnect_backoff.count()) + "ms"}});
    if (!Sleep(reconnect_backoff)) break;
  }
  uint64_t events = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events = snap_.binlog_events;
  }
  ctx_.log.Info("Stopped reading binlog", {{"connector", spec_.name},
                                           {"events", std::to_string(events)}});
}

void StreamingTask::AuxMain() {
  const bool action = settings_.heartbeat_interval.count() > 0 &&
                      !settings_.heartbeat_action_query.empty();
  const bool chaos = spec_.chaos.enabled();
  if (!action && !chaos) return;
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  // Per-second probability for the configured per-minute probability.
  const double p_sec =
      chaos ? 1.0 - std::pow(1.0 - spec_.chaos.stall_probability_per_minute,
                             1.0 / 60.0)
            : 0.0;
  MysqlHandle conn;
  bool action_failing = false;
  auto next_action = Clock::now() + settings_.heartbeat_interval;
  auto next_chaos = Clock::now() + std::chrono::seconds(1);
  while (!stopping()) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto wake = Clock::time_point::max();
      if (action) wake = std::min(wake, next_action);
      if (chaos) wake = std::min(wake, next_chaos);
      cv_.wait_until(lock, wake, [this] { return stopping(); });
      if (stopping()) break;
      if (paused_) {
        next_action = Clock::now() + settings_.heartbeat_interval;
        next_chaos = Clock::now() + std::chrono::seconds(1);
        continue;
      }
    }
    const auto now = Clock::now();
    if (chaos && now >= next_chaos) {
      next_chaos = now + std::chrono::seconds(1);
      if (uniform(rng) < p_sec) {
        std::lock_guard<std::mutex> lock(mu_);
        if (now >= stall_until_) {
          stall_until_ = now + spec_.chaos.stall_duration;
          ctx_.log.Warn(
              "CHAOS: stalling the binlog reader (simulated TLS 1.3 stall)",
              {{"connector", spec_.name},
               {"chaos", "stall"},
               {"stall_seconds",
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                   spec_.chaos.stall_duration)
                                   .count())}});
          cv_.notify_all();
        }
      }
    }
    if (action && now >= next_action) {
      next_action = now + settings_.heartbeat_interval;
      std::string error;
      if (!conn) {
        const auto read_timeout = std::max<std::chrono::seconds>(
            std::chrono::seconds(5),
            std::chrono::duration_cast<std::chrono::seconds>(
                settings_.heartbeat_interval));
        conn = OpenMysql(endpoint_, read_timeout, &error, &stop_signal_);
        if (conn) {
          std::lock_guard<std::mutex> lock(action_mu_);
          action_fd_ = static_cast<int>(mysql_get_socket(conn.get()));
          if (stopping()) ::shutdown(action_fd_, SHUT_RDWR);
        }
      }
      if (conn && RunQuery(conn.get(), settings_.heartbeat_action_query,
                           nullptr, &error)) {
        if (action_failing) {
          ctx_.log.Info("heartbeat.action.query succeeds again",
                        {{"connector", spec_.name}});
        }
        action_failing = false;
      } else {
        if (!action_failing && !stopping()) {
          ctx_.log.Warn("heartbeat.action.query failed",
                        {{"connector", spec_.name}, {"error", error}});
        }
        action_failing = true;
        std::lock_guard<std::mutex> lock(action_mu_);
        action_fd_ = -1;
        conn.reset();
      }
    }
  }
  std::lock_guard<std::mutex> lock(action_mu_);
  action_fd_ = -1;
}

}  // namespace cdc::sim
