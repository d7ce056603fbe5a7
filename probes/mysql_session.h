#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cdc/common/mysql_handles.h"
#include "config/config.h"

namespace cdc {

using SqlRow = std::vector<std::optional<std::string>>;

struct SqlResult {
  std::vector<std::string> columns;
  std::vector<SqlRow> rows;
  // The value of `column` in row `i`, or nullopt (NULL or no such column).
  std::optional<std::string> Get(std::size_t i,
                                 const std::string& column) const;
};

// An error from the server or the connection; what() is a one-line reason
// for the log ("cannot connect to 127.0.0.1:3306: ..."), never a password.
class SqlError : public std::runtime_error {
 public:
  SqlError(const std::string& what, unsigned code)
      : std::runtime_error(what), code_(code) {}
  unsigned code() const { return code_; }

 private:
  unsigned code_;
};

// What one answer from the source may cost (the probes' queries return a
// few short rows): a packet above kMaxPacketBytes, or a result above
// kMaxResultRows rows or kMaxResultBytes bytes, fails the query (and drops
// the connection) instead of growing the exporter's memory. Connector/C's
// own packet limit is 1 GiB and it has none on rows.
inline constexpr unsigned long kMaxPacketBytes = 16ul << 20;
inline constexpr std::size_t kMaxResultRows = 100000;
inline constexpr std::size_t kMaxResultBytes = 64u << 20;

// One connection to a source database, opened on first use and re-opened
// after a failure. Every network wait is bounded by the timeout given to
// Connect (connect, read and write). Cancel() may be called from any thread
// and makes a blocked call fail at once; everything else is called from one
// thread at a time (the probe's run).
class MysqlSession {
 public:
  explicit MysqlSession(const config::Source& source);
  MysqlSession(const MysqlSession&) = delete;
  MysqlSession& operator=(const MysqlSession&) = delete;

  // Runs a statement; throws SqlError. Opens the connection if needed. A
  // result over kMaxResultRows or kMaxResultBytes throws (code 0) and closes
  // the connection (its unread rows cannot be skipped cheaply).
  SqlResult Query(const std::string& sql, std::chrono::milliseconds timeout);
  // Runs a statement with string parameters bound to its `?` placeholders
  // (a server-side prepared statement); returns affected rows.
  uint64_t Execute(const std::string& sql,
                   const std::vector<std::string>& params,
                   std::chrono::milliseconds timeout);

  void Cancel();
  void Close();
  bool connected() const;

 private:
  MYSQL* Connection(std::chrono::milliseconds timeout);
  // Closes the connection and its statements. Called with mu_ held.
  void ResetLocked();
  [[noreturn]] void Fail(const std::string& what);

  const config::Source source_;
  mutable std::mutex mu_;  // guards conn_ against Cancel()
  MysqlHandle conn_;
  // Prepared statements of conn_ by SQL text; used only by the probe's
  // thread, cleared with conn_ (declared after it: destroyed first).
  std::map<std::string, MysqlStmt> statements_;
};

// Escapes and quotes an SQL identifier (db, table) for MySQL: `name`.
std::string QuoteIdentifier(const std::string& name);

}  // namespace cdc
