#pragma once

// Plain MySQL sessions of a connector (besides its binlog stream): the
// metadata connection that reads information_schema and the connection that
// runs heartbeat.action.query. Both go to database.hostname:database.port,
// through the connector's fault proxy, with the connector's TLS settings.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cdc/common/mysql_handles.h"
#include "row_decoder.h"

namespace cdc::sim {

struct MysqlEndpoint {
  std::string host;
  int port = 3306;
  std::string user;
  std::string password;
  std::string tls_version;  // "" = library default
  std::string ssl_mode = "preferred";
  std::string ca_file;
  std::chrono::milliseconds connect_timeout{30000};
};

using SqlRow = std::vector<std::optional<std::string>>;

// A one-way signal that wakes up connection attempts in progress (an
// eventfd). Trigger() from any thread; thread-safe.
class Interrupter {
 public:
  Interrupter();
  ~Interrupter();
  Interrupter(const Interrupter&) = delete;
  Interrupter& operator=(const Interrupter&) = delete;

  void Trigger();
  bool triggered() const;
  int fd() const { return fd_; }  // readable once triggered

 private:
  int fd_;
};

// Opens a session. The connect runs through Connector/C's non-blocking API,
// so it is bounded by the endpoint's connect timeout and ends at once when
// `interrupt` (optional) is triggered. After the connect the session is an
// ordinary blocking one; `read_timeout` zero means none (reads block until
// bytes arrive). Returns nullptr and sets `error` on failure. Thread-safe.
MysqlHandle OpenMysql(const MysqlEndpoint& ep,
                      std::chrono::seconds read_timeout, std::string* error,
                      const Interrupter* interrupt = nullptr);

// Runs a statement; collects the rows of its result, if any. Thread-compatible
// (one thread per MYSQL*).
bool RunQuery(MYSQL* mysql, const std::string& sql, std::vector<SqlRow>* rows,
              std::string* error);

// The negotiated TLS version ("TLSv1.3"), or "" for a plain connection.
std::string TlsVersionOf(MYSQL* mysql);
std::string CipherOf(MYSQL* mysql);

std::string Escape(MYSQL* mysql, const std::string& s);

// A column as information_schema.COLUMNS describes it.
struct ColumnInfo {
  std::string name;
  std::string data_type;    // lower case: "int", "varchar", "decimal", ...
  std::string column_type;  // e.g. "int(10) unsigned", "enum('a','b')"
  bool is_unsigned = false;
  bool nullable = true;
  int precision = 0;  // NUMERIC_PRECISION, or DATETIME_PRECISION for temporals
  int scale = 0;
  std::vector<std::string> enum_values;  // ENUM and SET members
};

struct TableSchema {
  std::string db;
  std::string table;
  std::vector<ColumnInfo> columns;
  std::vector<size_t> key_columns;  // primary key, in key order
  TableMap shape;                   // the table map it was checked against
};

// Column names and types of captured tables, read from information_schema
// on a separate metadata connection, cached per table and refreshed when a
// TABLE_MAP shows a different shape or after DDL. Owned by one reader
// thread; only Interrupt() may be called from other threads.
class SchemaCache {
 public:
  SchemaCache(MysqlEndpoint ep, const Interrupter* interrupt)
      : ep_(std::move(ep)), interrupt_(interrupt) {}
  SchemaCache(const SchemaCache&) = delete;
  SchemaCache& operator=(const SchemaCache&) = delete;

  // The schema for the table of `map`, or nullptr with `error`.
  const TableSchema* Lookup(const TableMap& map, std::string* error);
  void InvalidateAll() { tables_.clear(); }
  void Close();
  // Unblocks a query in progress and fails later ones. Thread-safe.
  void Interrupt();

 private:
  bool Connect(std::string* error);
  bool Load(const TableMap& map, TableSchema* out, std::string* error);
  bool Query(const std::string& sql, std::vector<SqlRow>* rows,
             std::string* error);

  MysqlEndpoint ep_;
  const Interrupter* interrupt_;
  MysqlHandle conn_;
  std::map<std::pair<std::string, std::string>, TableSchema> tables_;
  std::mutex fd_mu_;
  int fd_ = -1;               // guarded by fd_mu_
  bool interrupted_ = false;  // guarded by fd_mu_
};

// Parses the members of "enum('a','b')" / "set('x','y')".
std::vector<std::string> ParseEnumMembers(const std::string& column_type);

}  // namespace cdc::sim
