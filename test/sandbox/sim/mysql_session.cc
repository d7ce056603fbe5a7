#include "mysql_session.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace cdc::sim {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

int ToInt(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  try {
    return std::stoi(*v);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

Interrupter::Interrupter() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) {
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
}

Interrupter::~Interrupter() { ::close(fd_); }

void Interrupter::Trigger() {
  const uint64_t one = 1;
  // The counter only grows; a failed write (counter full) changes nothing.
  (void)!::write(fd_, &one, sizeof(one));
}

bool Interrupter::triggered() const {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

MysqlHandle OpenMysql(const MysqlEndpoint& ep,
                      std::chrono::seconds read_timeout, std::string* error,
                      const Interrupter* interrupt) {
  MysqlHandle m(mysql_init(nullptr));
  if (!m) {
    *error = "mysql_init failed (out of memory)";
    return nullptr;
  }
  // Connector/C applies the connect timeout to the TCP connect and, as a
  // socket timeout, to the whole handshake; it is cleared afterwards.
  unsigned int connect_secs = static_cast<unsigned int>(
      std::max<int64_t>(1, (ep.connect_timeout.count() + 999) / 1000));
  mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_secs);
  if (read_timeout.count() > 0) {
    unsigned int secs = static_cast<unsigned int>(read_timeout.count());
    mysql_optionsv(m.get(), MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_optionsv(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &secs);
  }
  if (ep.ssl_mode != "disabled") {
    if (!ep.tls_version.empty()) {
      mysql_optionsv(m.get(), MARIADB_OPT_TLS_VERSION, ep.tls_version.c_str());
    }
    mysql_ssl_set(m.get(), nullptr, nullptr,
                  ep.ca_file.empty() ? nullptr : ep.ca_file.c_str(), nullptr,
                  nullptr);
    if (ep.ssl_mode != "preferred") {
      my_bool enforce = 1;
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_ENFORCE, &enforce);
    }
    if (ep.ssl_mode == "verify_ca" || ep.ssl_mode == "verify_identity") {
      my_bool verify = 1;
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
  }
  // Non-blocking connect: poll the socket together with the interrupter,
  // under our own deadline as well as Connector/C's.
  mysql_options(m.get(), MYSQL_OPT_NONBLOCK, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + ep.connect_timeout +
                        std::chrono::seconds(1);
  MYSQL* ret = nullptr;
  int status = mysql_real_connect_start(
      &ret, m.get(), ep.host.c_str(), ep.user.c_str(), ep.password.c_str(),
      nullptr, static_cast<unsigned int>(ep.port), nullptr, 0);
  while (status != 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      *error = "cannot connect to " + ep.host + ":" + std::to_string(ep.port) +
               ": connect timed out";
      return nullptr;
    }
    int timeout = static_cast<int>(left);
    if (status & MYSQL_WAIT_TIMEOUT) {
      timeout = std::min<int>(
          timeout, static_cast<int>(mysql_get_timeout_value_ms(m.get())));
    }
    pollfd fds[2] = {};
    fds[0].fd = static_cast<int>(mysql_get_socket(m.get()));
    if (status & MYSQL_WAIT_READ) fds[0].events |= POLLIN;
    if (status & MYSQL_WAIT_WRITE) fds[0].events |= POLLOUT;
    if (status & MYSQL_WAIT_EXCEPT) fds[0].events |= POLLPRI;
    nfds_t n = 1;
    if (interrupt != nullptr) {
      fds[1].fd = interrupt->fd();
      fds[1].events = POLLIN;
      n = 2;
    }
    const int rc = ::poll(fds, n, timeout);
    if (rc < 0 && errno == EINTR) continue;
    if (interrupt != nullptr && (fds[1].revents & POLLIN)) {
      *error = "interrupted while connecting to " + ep.host + ":" +
               std::to_string(ep.port);
      return nullptr;  // mysql_close() abandons the half-open session
    }
    int ready = 0;
    if (rc == 0) ready |= MYSQL_WAIT_TIMEOUT;
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) ready |= MYSQL_WAIT_READ;
    if (fds[0].revents & POLLOUT) ready |= MYSQL_WAIT_WRITE;
    if (fds[0].revents & POLLPRI) ready |= MYSQL_WAIT_EXCEPT;
    if (rc == 0 && !(status & MYSQL_WAIT_TIMEOUT)) continue;  // our deadline
    status = mysql_real_connect_cont(&ret, m.get(), ready);
  }
  if (ret == nullptr) {
    *error = "cannot connect to " + ep.host + ":" + std::to_string(ep.port) +
             " as " + ep.user + ": " + mysql_error(m.get()) + " (" +
             std::to_string(mysql_errno(m.get())) + ")";
    return nullptr;
  }
  return m;
}

bool RunQuery(MYSQL* mysql, const std::string& sql, std::vector<SqlRow>* rows,
              std::string* error) {
  if (mysql_real_query(mysql, sql.data(), sql.size()) != 0) {
    *error = std::string(mysql_error(mysql)) + " (" +
             std::to_string(mysql_errno(mysql)) + ")";
    return false;
  }
  do {
    MysqlResult res(mysql_store_result(mysql));
    if (res && rows != nullptr) {
      const unsigned int n = mysql_num_fields(res.get());
      while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
        unsigned long* lengths = mysql_fetch_lengths(res.get());
        SqlRow out;
        out.reserve(n);
        for (unsigned int i = 0; i < n; ++i) {
          if (row[i] == nullptr) {
            out.emplace_back(std::nullopt);
          } else {
            out.emplace_back(std::string(row[i], lengths[i]));
          }
        }
        rows->push_back(std::move(out));
      }
    } else if (!res && mysql_field_count(mysql) != 0) {
      *error = mysql_error(mysql);
      return false;
    }
  } while (mysql_next_result(mysql) == 0);
  if (mysql_errno(mysql) != 0) {
    *error = mysql_error(mysql);
    return false;
  }
  return true;
}

std::string TlsVersionOf(MYSQL* mysql) {
  const char* v = nullptr;
  if (mariadb_get_infov(mysql, MARIADB_CONNECTION_TLS_VERSION, &v) != 0 ||
      v == nullptr) {
    return "";
  }
  return v;
}

std::string CipherOf(MYSQL* mysql) {
  const char* c = mysql_get_ssl_cipher(mysql);
  return c == nullptr ? "" : c;
}

std::string Escape(MYSQL* mysql, const std::string& s) {
  std::string out(s.size() * 2 + 1, '\0');
  const auto n = mysql_real_escape_string(mysql, out.data(), s.data(),
                                          static_cast<unsigned long>(s.size()));
  out.resize(n);
  return out;
}

std::vector<std::string> ParseEnumMembers(const std::string& column_type) {
  std::vector<std::string> out;
  const auto open = column_type.find('(');
  if (open == std::string::npos) return out;
  size_t i = open + 1;
  while (i < column_type.size()) {
    if (column_type[i] != '\'') break;
    std::string member;
    ++i;
    while (i < column_type.size()) {
      if (column_type[i] == '\'') {
        if (i + 1 < column_type.size() && column_type[i + 1] == '\'') {
          member.push_back('\'');
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      if (column_type[i] == '\\' && i + 1 < column_type.size()) {
        member.push_back(column_type[i + 1]);
        i += 2;
        continue;
      }
      member.push_back(column_type[i++]);
    }
    out.push_back(std::move(member));
    if (i < column_type.size() && column_type[i] == ',') ++i;
  }
  return out;
}

bool SchemaCache::Connect(std::string* error) {
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    if (interrupted_) {
      *error = "interrupted";
      return false;
    }
  }
  // Reads are bounded here (unlike the binlog stream): a metadata query that
  // never returns would only hide the stall it is part of.
  conn_ = OpenMysql(
      ep_,
      std::chrono::duration_cast<std::chrono::seconds>(ep_.connect_timeout),
      error, interrupt_);
  if (!conn_) return false;
  std::lock_guard<std::mutex> lock(fd_mu_);
  if (interrupted_) {
    conn_.reset();
    *error = "interrupted";
    return false;
  }
  fd_ = static_cast<int>(mysql_get_socket(conn_.get()));
  return true;
}

void SchemaCache::Close() {
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    fd_ = -1;
  }
  conn_.reset();
}

void SchemaCache::Interrupt() {
  std::lock_guard<std::mutex> lock(fd_mu_);
  interrupted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

bool SchemaCache::Query(const std::string& sql, std::vector<SqlRow>* rows,
                        std::string* error) {
  // One retry on a fresh connection: the old one may have died with the
  // proxy.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_ && !Connect(error)) return false;
    rows->clear();
    if (RunQuery(conn_.get(), sql, rows, error)) return true;
    Close();
  }
  return false;
}

bool SchemaCache::Load(const TableMap& map, TableSchema* out,
                       std::string* error) {
  if (!conn_ && !Connect(error)) return false;
  const std::string where = "TABLE_SCHEMA='" + Escape(conn_.get(), map.db) +
                            "' AND TABLE_NAME='" +
                            Escape(conn_.get(), map.table) + "'";
  std::vector<SqlRow> rows;
  if (!Query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
             "NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION "
             "FROM information_schema.COLUMNS WHERE " +
                 where + " ORDER BY ORDINAL_POSITION",
             &rows, error)) {
    return false;
  }
  out->db = map.db;
  out->table = map.table;
  out->columns.clear();
  out->key_columns.clear();
  for (const auto& r : rows) {
    ColumnInfo c;
    c.name = r[0].value_or("");
    c.data_type = Lower(r[1].value_or(""));
    c.column_type = r[2].value_or("");
    c.is_unsigned = Lower(c.column_type).find("unsigned") != std::string::npos;
    c.nullable = r[3].value_or("YES") == "YES";
    c.precision = ToInt(r[4]);
    c.scale = ToInt(r[5]);
    if (c.data_type == "datetime" || c.data_type == "timestamp" ||
        c.data_type == "time") {
      c.precision = ToInt(r[6]);
    }
    if (c.data_type == "enum" || c.data_type == "set") {
      c.enum_values = ParseEnumMembers(c.column_type);
    }
    out->columns.push_back(std::move(c));
  }
  if (out->columns.size() != map.columns.size()) {
    *error = "information_schema shows " + std::to_string(out->columns.size()) +
             " columns for " + map.db + "." + map.table +
             " but the binlog table map has " +
             std::to_string(map.columns.size()) +
             " (user lacks privileges, or the table changed)";
    return false;
  }
  rows.clear();
  if (!Query("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
             "WHERE " +
                 where +
                 " AND CONSTRAINT_NAME='PRIMARY' ORDER BY ORDINAL_POSITION",
             &rows, error)) {
    return false;
  }
  for (const auto& r : rows) {
    const auto name = r[0].value_or("");
    for (size_t i = 0; i < out->columns.size(); ++i) {
      if (out->columns[i].name == name) out->key_columns.push_back(i);
    }
  }
  out->shape = map;
  return true;
}

const TableSchema* SchemaCache::Lookup(const TableMap& map,
                                       std::string* error) {
  const auto key = std::make_pair(map.db, map.table);
  auto it = tables_.find(key);
  if (it != tables_.end() && it->second.shape.SameShape(map)) {
    it->second.shape.table_id = map.table_id;
    return &it->second;
  }
  TableSchema schema;
  if (!Load(map, &schema, error)) return nullptr;
  auto [pos, inserted] = tables_.insert_or_assign(key, std::move(schema));
  (void)inserted;
  return &pos->second;
}

}  // namespace cdc::sim
