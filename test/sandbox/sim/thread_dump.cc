#include "thread_dump.h"

#include <cstdio>
#include <iterator>

#include "cdc/common/posix.h"

namespace cdc::sim {
namespace {

constexpr const char* kJdk = "java.base@17.0.13";

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fs", s);
  return buf;
}

double Between(std::chrono::system_clock::time_point a,
               std::chrono::system_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Deterministic fake JVM addresses derived from the OS thread id.
std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%016llx",
                static_cast<unsigned long long>(v));
  return buf;
}

const char* kBlockedInReadFrames[] = {
    "sun.nio.ch.Net.poll(%s/Native Method)",
    "sun.nio.ch.NioSocketImpl.park(%s/NioSocketImpl.java:186)",
    "sun.nio.ch.NioSocketImpl.park(%s/NioSocketImpl.java:196)",
    "sun.nio.ch.NioSocketImpl.implRead(%s/NioSocketImpl.java:304)",
    "sun.nio.ch.NioSocketImpl.read(%s/NioSocketImpl.java:346)",
    "sun.nio.ch.NioSocketImpl$1.read(%s/NioSocketImpl.java:796)",
    "java.net.Socket$SocketInputStream.read(%s/Socket.java:1099)",
};
const char* kTlsFrames[] = {
    "sun.security.ssl.SSLSocketInputRecord.read(%s/"
    "SSLSocketInputRecord.java:489)",
    "sun.security.ssl.SSLSocketInputRecord.readHeader(%s/"
    "SSLSocketInputRecord.java:483)",
    "sun.security.ssl.SSLSocketInputRecord.bytesInCompletePacket(%s/"
    "SSLSocketInputRecord.java:70)",
    "sun.security.ssl.SSLSocketImpl.readApplicationRecord(%s/"
    "SSLSocketImpl.java:1461)",
    "sun.security.ssl.SSLSocketImpl$AppInputStream.read(%s/"
    "SSLSocketImpl.java:1066)",
};
const char* kBinlogFrames[] = {
    "com.github.shyiko.mysql.binlog.io.BufferedSocketInputStream.read("
    "BufferedSocketInputStream.java:68)",
    "com.github.shyiko.mysql.binlog.io.ByteArrayInputStream."
    "readWithinBlockBoundaries(ByteArrayInputStream.java:262)",
    "com.github.shyiko.mysql.binlog.io.ByteArrayInputStream.peek("
    "ByteArrayInputStream.java:234)",
    "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
    "BinaryLogClient.java:1055)",
    "com.github.shyiko.mysql.binlog.BinaryLogClient.connect(BinaryLogClient."
    "java:657)",
    "com.github.shyiko.mysql.binlog.BinaryLogClient$7.run(BinaryLogClient.java:"
    "959)",
};

void Frame(std::string* out, const char* fmt) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), fmt, kJdk);
  *out += "\tat ";
  *out += buf;
  *out += "\n";
}

std::string CommonTail() {
  std::string s;
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource.execute("
       "MySqlStreamingChangeEventSource.java:1012)\n";
  s += "\tat "
       "io.debezium.pipeline.ChangeEventSourceCoordinator.streamEvents("
       "ChangeEventSourceCoordinator.java:324)\n";
  s += "\tat "
       "io.debezium.pipeline.ChangeEventSourceCoordinator."
       "executeChangeEventSources(ChangeEventSourceCoordinator.java:203)\n";
  s += "\tat "
       "io.debezium.pipeline.ChangeEventSourceCoordinator.lambda$start$0("
       "ChangeEventSourceCoordinator.java:143)\n";
  s += "\tat "
       "java.base/"
       "java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:539)"
       "\n";
  s += "\tat "
       "java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)\n";
  s += "\tat "
       "java.base/"
       "java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor."
       "java:1136)\n";
  s += "\tat "
       "java.base/"
       "java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor."
       "java:635)\n";
  s += "\tat java.base/java.lang.Thread.run(Thread.java:840)\n";
  return s;
}

std::string Header() {
  return "org.apache.kafka.connect.errors.ConnectException: An exception "
         "occurred in the change event producer. This connector will be "
         "stopped.\n"
         "\tat "
         "io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler."
         "java:67)\n";
}

}  // namespace

std::string FormatTime(std::chrono::system_clock::time_point t) {
  return FormatUtcMillis(t);
}

std::string BinlogFailureTrace(const std::string& endpoint, uint64_t position,
                               const std::string& cause, unsigned int errnum) {
  const std::string pos = std::to_string(position);
  std::string s = Header();
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource$"
       "ReaderThreadLifecycleListener.onCommunicationFailure("
       "MySqlStreamingChangeEventSource.java:1291)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
       "BinaryLogClient.java:1133)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.connect(BinaryLogClient."
       "java:657)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient$7.run(BinaryLogClient."
       "java:959)\n";
  s += "\tat java.base/java.lang.Thread.run(Thread.java:840)\n";
  s += "Caused by: io.debezium.DebeziumException: Failed to read next byte "
       "from position " +
       pos + " [binlog connection to " + endpoint + ": " + cause +
       (errnum != 0 ? ", Connector/C error " + std::to_string(errnum) : "") +
       "]\n";
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource.wrap("
       "MySqlStreamingChangeEventSource.java:1246)\n";
  s += "\t... 5 more\n";
  s += "Caused by: java.io.EOFException: Failed to read next byte from "
       "position " +
       pos + "\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.io.ByteArrayInputStream.read("
       "ByteArrayInputStream.java:213)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.io.ByteArrayInputStream.readInteger("
       "ByteArrayInputStream.java:52)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.network.protocol.PacketChannel.read("
       "PacketChannel.java:59)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
       "BinaryLogClient.java:1067)\n";
  s += "\t... 3 more\n";
  return s;
}

std::string ConnectFailureTrace(const std::string& endpoint,
                                const std::string& user,
                                const std::string& cause) {
  std::string s = Header();
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource.execute("
       "MySqlStreamingChangeEventSource.java:1063)\n";
  s += CommonTail();
  s += "Caused by: io.debezium.DebeziumException: Failed to connect to "
       "the MySQL database at " +
       endpoint + " with user '" + user + "' from the connector: " + cause +
       "\n";
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource.execute("
       "MySqlStreamingChangeEventSource.java:1047)\n";
  s += "\t... 9 more\n";
  s += "Caused by: java.io.IOException: " + cause + "\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.connect(BinaryLogClient."
       "java:611)\n";
  s += "\t... 10 more\n";
  return s;
}

std::string ServerErrorTrace(const std::string& file, uint64_t position,
                             const std::string& message, unsigned int errnum) {
  std::string s = Header();
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource$"
       "ReaderThreadLifecycleListener.onCommunicationFailure("
       "MySqlStreamingChangeEventSource.java:1291)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
       "BinaryLogClient.java:1133)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.connect(BinaryLogClient."
       "java:657)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient$7.run(BinaryLogClient."
       "java:959)\n";
  s += "\tat java.base/java.lang.Thread.run(Thread.java:840)\n";
  s += "Caused by: io.debezium.DebeziumException: " + message +
       " Error code: " + std::to_string(errnum) +
       "; SQLSTATE: HY000. The binlog position " + file + ":" +
       std::to_string(position) +
       " may no longer be available on the server.\n";
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource.wrap("
       "MySqlStreamingChangeEventSource.java:1246)\n";
  s += "\t... 5 more\n";
  s += "Caused by: com.github.shyiko.mysql.binlog.network.ServerException: " +
       message + "\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
       "BinaryLogClient.java:1089)\n";
  s += "\t... 3 more\n";
  return s;
}

std::string ProcessingFailureTrace(const std::string& what) {
  std::string s = Header();
  s += "\tat "
       "io.debezium.connector.mysql.MySqlStreamingChangeEventSource."
       "handleEvent(MySqlStreamingChangeEventSource.java:409)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.notifyEventListeners("
       "BinaryLogClient.java:1263)\n";
  s += "\tat "
       "com.github.shyiko.mysql.binlog.BinaryLogClient.listenForEventPackets("
       "BinaryLogClient.java:1089)\n";
  s += "\tat java.base/java.lang.Thread.run(Thread.java:840)\n";
  s += "Caused by: org.apache.kafka.connect.errors.ConnectException: Error "
       "processing binlog event\n";
  s += "\t... 4 more\n";
  s += "Caused by: io.debezium.DebeziumException: " + what + "\n";
  s += "\t... 4 more\n";
  return s;
}

std::string ThreadDumpHeader(std::chrono::system_clock::time_point now) {
  std::string s = FormatUtc(now, "%Y-%m-%d %H:%M:%S");
  s += "\nFull thread dump OpenJDK 64-Bit Server VM (17.0.13+11 mixed mode, "
       "sharing) [simulated by cdc-sim]:\n\n";
  return s;
}

std::string ThreadDumpEntry(const DumpEntry& e,
                            std::chrono::system_clock::time_point now) {
  const TaskSnapshot& t = e.task;
  std::string s;
  const std::string thread_name = "blc-" + t.endpoint;
  const bool has_thread = !t.failed && t.tid != 0;
  if (has_thread) {
    const double elapsed = t.connected ? Between(t.connected_at, now) : 0.0;
    char cpu[32];
    std::snprintf(cpu, sizeof(cpu), "%.2fms",
                  t.cpu_since_connect_ns < 0
                      ? 0.0
                      : static_cast<double>(t.cpu_since_connect_ns) / 1e6);
    char elapsed_s[32];
    std::snprintf(elapsed_s, sizeof(elapsed_s), "%.2fs", elapsed);
    char nid[32];
    std::snprintf(nid, sizeof(nid), "0x%x", static_cast<unsigned>(t.tid));
    const bool reading = t.connected && (t.blocked_in_read || t.chaos_stall);
    const char* state_word =
        reading ? "runnable" : (t.paused ? "waiting on condition" : "sleeping");
    s += "\"" + thread_name + "\" #" + std::to_string(e.java_thread_number) +
         " prio=5 os_prio=0 cpu=" + cpu + " elapsed=" + elapsed_s + " tid=" +
         Hex(0x00007f0000000000ULL + (static_cast<uint64_t>(t.tid) << 12)) +
         " nid=" + nid + " " + state_word + "  [" +
         Hex(0x00007f1000000000ULL + (static_cast<uint64_t>(t.tid) << 16)) +
         "]\n";
    if (reading) {
      s += "   java.lang.Thread.State: RUNNABLE\n";
      for (const char* f : kBlockedInReadFrames) Frame(&s, f);
      if (!t.tls_version.empty()) {
        for (const char* f : kTlsFrames) Frame(&s, f);
      }
      for (const char* f : kBinlogFrames) Frame(&s, f);
      s += "\tat java.lang.Thread.run(java.base@17.0.13/Thread.java:840)\n";
    } else if (t.paused) {
      s += "   java.lang.Thread.State: WAITING (parking)\n";
      s += "\tat jdk.internal.misc.Unsafe.park(java.base@17.0.13/Native "
           "Method)\n";
      s += "\tat "
           "java.util.concurrent.locks.LockSupport.park(java.base@17.0.13/"
           "LockSupport.java:341)\n";
      s += "\tat "
           "io.debezium.connector.base.ChangeEventQueue.doEnqueue("
           "ChangeEventQueue.java:204)\n";
      s += "\tat "
           "io.debezium.connector.mysql.MySqlStreamingChangeEventSource."
           "handleEvent(MySqlStreamingChangeEventSource.java:402)\n";
      for (size_t i = 3; i < std::size(kBinlogFrames); ++i) {
        Frame(&s, kBinlogFrames[i]);
      }
    } else {
      s += "   java.lang.Thread.State: TIMED_WAITING (sleeping)\n";
      s += "\tat java.lang.Thread.sleep(java.base@17.0.13/Native Method)\n";
      s += "\tat "
           "com.github.shyiko.mysql.binlog.BinaryLogClient$5.run("
           "BinaryLogClient.java:893)\n";
    }
    s += "\n";
  } else {
    s += "(no \"" + thread_name + "\" thread: task " +
         (t.failed ? std::string("FAILED") : std::string("not running")) +
         ")\n";
  }
  s += "   cdc-sim: connector=" + e.connector + " task=0 state=" + e.state +
       " endpoint=" + t.endpoint +
       " tls=" + (t.tls_version.empty() ? "none" : t.tls_version) +
       " server_connection_id=" + std::to_string(t.connection_id) +
       " connected=" + (t.connected ? "true" : "false") + "\n";
  s += "   cdc-sim: blocked_in_read=" +
       std::string(t.blocked_in_read || t.chaos_stall ? "true" : "false");
  if (t.blocked_in_read || t.chaos_stall) {
    s += " since=" + FormatTime(t.read_since) + " (" +
         Seconds(Between(t.read_since, now)) + ")";
  }
  s += std::string(" chaos_stall=") + (t.chaos_stall ? "true" : "false") +
       " paused=" + (t.paused ? "true" : "false") + "\n";
  s += "   cdc-sim: last_event=";
  if (t.last_event_at) {
    s += FormatTime(*t.last_event_at) + " (" +
         Seconds(Between(*t.last_event_at, now)) + " ago)";
  } else {
    s += "never";
  }
  s += " binlog_events=" + std::to_string(t.binlog_events) +
       " records=" + std::to_string(t.records) +
       " heartbeats=" + std::to_string(t.heartbeats) +
       " reconnects=" + std::to_string(t.reconnects) + "\n";
  s += "   cdc-sim: last_offset=" +
       (t.offset ? Dump(t.offset->ToJson()) : std::string("none")) + "\n";
  if (t.failed) {
    const auto nl = t.trace.find('\n');
    s += "   cdc-sim: failure=" + t.trace.substr(0, nl) + "\n";
  }
  s += "\n";
  return s;
}

}  // namespace cdc::sim
