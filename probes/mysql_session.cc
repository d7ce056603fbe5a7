#include "probes/mysql_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace cdc {
namespace {

unsigned int Seconds(std::chrono::milliseconds t) {
  return static_cast<unsigned int>(
      std::max<int64_t>(1, (t.count() + 999) / 1000));
}

}  // namespace

std::optional<std::string> SqlResult::Get(std::size_t i,
                                          const std::string& column) const {
  auto it = std::find(columns.begin(), columns.end(), column);
  if (it == columns.end() || i >= rows.size()) return std::nullopt;
  return rows[i][static_cast<std::size_t>(it - columns.begin())];
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out.push_back('`');
    out.push_back(c);
  }
  return out + "`";
}

MysqlSession::MysqlSession(const config::Source& source) : source_(source) {}

void MysqlSession::Fail(const std::string& what) {
  std::string msg = what;
  unsigned code = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_) {
      code = mysql_errno(conn_.get());
      msg += ": " + std::string(mysql_error(conn_.get()));
      // A broken connection is not reused; an SQL error keeps it.
      if (code >= 2000 && code < 3000) ResetLocked();
    }
  }
  throw SqlError(msg, code);
}

MYSQL* MysqlSession::Connection(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_) {
      const unsigned int t = Seconds(timeout);
      mysql_optionsv(conn_.get(), MYSQL_OPT_READ_TIMEOUT, &t);
      mysql_optionsv(conn_.get(), MYSQL_OPT_WRITE_TIMEOUT, &t);
      return conn_.get();
    }
  }
  MysqlHandle m(mysql_init(nullptr));
  if (!m) throw SqlError("out of memory creating a MySQL connection", 0);
  const unsigned int t = Seconds(timeout);
  mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &t);
  mysql_optionsv(m.get(), MYSQL_OPT_READ_TIMEOUT, &t);
  mysql_optionsv(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &t);
  const unsigned long max_packet = kMaxPacketBytes;
  mysql_optionsv(m.get(), MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
  const auto& tls = source_.tls;
  if (tls.mode != "disabled") {
    const my_bool on = 1;
    mysql_optionsv(m.get(), MYSQL_OPT_SSL_ENFORCE, &on);
    if (!tls.ca_file.empty()) {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_CA, tls.ca_file.c_str());
    }
    if (!tls.cert_file.empty()) {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_CERT, tls.cert_file.c_str());
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_KEY, tls.key_file.c_str());
    }
    // Connector/C verifies the chain and the host name together.
    const my_bool verify =
        tls.mode == "verify_ca" || tls.mode == "verify_identity";
    mysql_optionsv(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  mysql_optionsv(m.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (mysql_real_connect(m.get(), source_.host.c_str(), source_.user.c_str(),
                         source_.password.value.c_str(), nullptr,
                         static_cast<unsigned int>(source_.port), nullptr,
                         0) == nullptr) {
    const std::string err = mysql_error(m.get());
    const unsigned code = mysql_errno(m.get());
    throw SqlError("cannot connect to " + source_.host + ":" +
                       std::to_string(source_.port) + " as " + source_.user +
                       ": " + err,
                   code);
  }
  std::lock_guard<std::mutex> lock(mu_);
  conn_ = std::move(m);
  return conn_.get();
}

SqlResult MysqlSession::Query(const std::string& sql,
                              std::chrono::milliseconds timeout) {
  MYSQL* m = Connection(timeout);
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) Fail("query failed");
  SqlResult out;
  // Row by row (not mysql_store_result): a result past the limits is
  // refused before it is all in memory.
  MysqlResult res(mysql_use_result(m));
  if (!res) {
    if (mysql_field_count(m) != 0) Fail("reading the result failed");
    return out;
  }
  const unsigned n = mysql_num_fields(res.get());
  MYSQL_FIELD* fields = mysql_fetch_fields(res.get());
  for (unsigned i = 0; i < n; ++i) out.columns.emplace_back(fields[i].name);
  std::size_t bytes = 0;
  while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
    unsigned long* lengths = mysql_fetch_lengths(res.get());
    SqlRow r(n);
    for (unsigned i = 0; i < n; ++i) {
      if (row[i] != nullptr) r[i] = std::string(row[i], lengths[i]);
      bytes += lengths[i];
    }
    out.rows.push_back(std::move(r));
    if (out.rows.size() > kMaxResultRows || bytes > kMaxResultBytes) {
      // Freeing an unbuffered result reads the rest of it: shut the socket
      // first so that this fails at once, then free, then close.
      Cancel();
      res.reset();
      Close();
      throw SqlError("result too large (more than " +
                         std::to_string(kMaxResultRows) + " rows or " +
                         std::to_string(kMaxResultBytes >> 20) +
                         " MiB): refused, connection closed",
                     0);
    }
  }
  // mysql_fetch_row returns NULL at the end and on an error.
  const unsigned code = mysql_errno(m);
  if (code != 0) {
    const std::string err = mysql_error(m);
    res.reset();  // before the connection it belongs to may be closed
    if (code >= 2000 && code < 3000) Close();
    throw SqlError("reading the result failed: " + err, code);
  }
  return out;
}

uint64_t MysqlSession::Execute(const std::string& sql,
                               const std::vector<std::string>& params,
                               std::chrono::milliseconds timeout) {
  MYSQL* m = Connection(timeout);
  // Prepared once per connection and kept: a marker round is then one
  // command on the source (Execute), not three (Prepare, Execute, Close).
  auto cached = statements_.find(sql);
  if (cached == statements_.end()) {
    MysqlStmt fresh(mysql_stmt_init(m));
    if (!fresh) Fail("cannot create a prepared statement");
    if (mysql_stmt_prepare(fresh.get(), sql.data(), sql.size()) != 0) {
      throw SqlError(
          std::string("prepare failed: ") + mysql_stmt_error(fresh.get()),
          mysql_stmt_errno(fresh.get()));
    }
    cached = statements_.emplace(sql, std::move(fresh)).first;
  }
  MYSQL_STMT* stmt = cached->second.get();
  auto stmt_fail = [&](const char* what) {
    const unsigned code = mysql_stmt_errno(stmt);
    const std::string err = mysql_stmt_error(stmt);
    statements_.erase(cached);  // prepared again next time
    throw SqlError(std::string(what) + ": " + err, code);
  };
  std::vector<MYSQL_BIND> binds(params.size());
  std::vector<unsigned long> lengths(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    std::memset(&binds[i], 0, sizeof(MYSQL_BIND));
    lengths[i] = params[i].size();
    binds[i].buffer_type = MYSQL_TYPE_STRING;
    binds[i].buffer = const_cast<char*>(params[i].data());
    binds[i].buffer_length = lengths[i];
    binds[i].length = &lengths[i];
  }
  if (!binds.empty() && mysql_stmt_bind_param(stmt, binds.data()) != 0) {
    stmt_fail("binding parameters failed");
  }
  if (mysql_stmt_execute(stmt) != 0) {
    const unsigned code = mysql_stmt_errno(stmt);
    const std::string err = mysql_stmt_error(stmt);
    statements_.erase(cached);
    if (code >= 2000 && code < 3000) Close();
    throw SqlError("statement failed: " + err, code);
  }
  return mysql_stmt_affected_rows(stmt);
}

void MysqlSession::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_) {
    const my_socket fd = mysql_get_socket(conn_.get());
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
  }
}

void MysqlSession::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  ResetLocked();
}

void MysqlSession::ResetLocked() {
  statements_.clear();  // before the connection they belong to
  conn_.reset();
}

bool MysqlSession::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<bool>(conn_);
}

}  // namespace cdc
