#pragma once

// Java-flavoured text: the stack traces a failed Debezium task shows in its
// REST status, and the JVM-like thread dump written on SIGQUIT (what
// `docker kill --signal=QUIT` gave the field team). Pure functions:
// thread-safe.

#include <chrono>
#include <cstdint>
#include <string>

#include "streaming_task.h"

namespace cdc::sim {

// The binlog connection broke and the connector is configured to fail.
std::string BinlogFailureTrace(const std::string& endpoint, uint64_t position,
                               const std::string& cause, unsigned int errnum);
// The connector could not connect at all.
std::string ConnectFailureTrace(const std::string& endpoint,
                                const std::string& user,
                                const std::string& cause);
// The server refused the binlog stream (e.g. error 1236).
std::string ServerErrorTrace(const std::string& file, uint64_t position,
                             const std::string& message, unsigned int errnum);
// An event could not be turned into records.
std::string ProcessingFailureTrace(const std::string& what);

struct DumpEntry {
  std::string connector;
  std::string state;  // connector/task state as REST shows it
  TaskSnapshot task;
  int java_thread_number = 0;
};

// The dump header ("Full thread dump ...") with a timestamp.
std::string ThreadDumpHeader(std::chrono::system_clock::time_point now);
// One "blc-host:port" thread plus a commented summary of the connector.
std::string ThreadDumpEntry(const DumpEntry& e,
                            std::chrono::system_clock::time_point now);

std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace cdc::sim
