#include "binlog_stream.h"

#include <sys/socket.h>

#include <vector>

namespace cdc::sim {

bool BinlogStream::Open(const MysqlEndpoint& ep, uint32_t server_id,
                        const std::optional<BinlogPosition>& start,
                        std::string* error, const Interrupter* interrupt) {
  Close();
  // No read timeout: BinaryLogClient reads with SO_TIMEOUT 0.
  mysql_ = OpenMysql(ep, std::chrono::seconds(0), error, interrupt);
  if (!mysql_) return false;
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    if (interrupted_) {
      *error = "interrupted while connecting";
      return false;
    }
    fd_ = static_cast<int>(mysql_get_socket(mysql_.get()));
  }
  tls_version_ = TlsVersionOf(mysql_.get());
  cipher_ = CipherOf(mysql_.get());
  connection_id_ = mysql_thread_id(mysql_.get());

  std::vector<SqlRow> rows;
  // Without the checksum announcement the server refuses the dump; without
  // the capability MariaDB sends GTID events as dummies.
  if (!RunQuery(mysql_.get(),
                "SET @master_binlog_checksum=@@global.binlog_checksum", nullptr,
                error) ||
      !RunQuery(mysql_.get(), "SET @mariadb_slave_capability=4", nullptr,
                error)) {
    *error = "preparing the replication session: " + *error;
    return false;
  }
  rows.clear();
  if (RunQuery(mysql_.get(), "SELECT @@gtid_binlog_pos, @@server_id", &rows,
               error) &&
      !rows.empty()) {
    server_gtid_pos_ = rows[0][0].value_or("");
    try {
      server_id_ = static_cast<uint32_t>(std::stoul(rows[0][1].value_or("0")));
    } catch (const std::exception&) {
      server_id_ = 0;
    }
  }
  if (start) {
    start_ = *start;
  } else {
    rows.clear();
    if (!RunQuery(mysql_.get(), "SHOW MASTER STATUS", &rows, error)) {
      rows.clear();
      if (!RunQuery(mysql_.get(), "SHOW BINARY LOG STATUS", &rows, error)) {
        *error = "reading the binlog position: " + *error;
        return false;
      }
    }
    if (rows.empty() || !rows[0][0] || !rows[0][1]) {
      *error = "the server has no binary log (is log-bin enabled?)";
      return false;
    }
    start_.file = *rows[0][0];
    start_.pos = std::stoull(*rows[0][1]);
  }
  rpl_.reset(mariadb_rpl_init(mysql_.get()));
  if (!rpl_) {
    *error = std::string("mariadb_rpl_init: ") + mysql_error(mysql_.get());
    return false;
  }
  mariadb_rpl_optionsv(rpl_.get(), MARIADB_RPL_FILENAME, start_.file.c_str(),
                       start_.file.size());
  mariadb_rpl_optionsv(rpl_.get(), MARIADB_RPL_START,
                       static_cast<unsigned long>(start_.pos));
  mariadb_rpl_optionsv(rpl_.get(), MARIADB_RPL_SERVER_ID,
                       static_cast<unsigned int>(server_id));
  mariadb_rpl_optionsv(rpl_.get(), MARIADB_RPL_FLAGS, 0u);  // blocking dump
  if (mariadb_rpl_open(rpl_.get()) != 0) {
    *error = std::string("COM_BINLOG_DUMP from ") + start_.file + ":" +
             std::to_string(start_.pos) + ": " + mysql_error(mysql_.get()) +
             " (" + std::to_string(mysql_errno(mysql_.get())) + ")";
    return false;
  }
  return true;
}

RplEvent BinlogStream::Next() {
  if (!rpl_) return nullptr;
  return RplEvent(mariadb_rpl_fetch(rpl_.get(), nullptr));
}

void BinlogStream::Interrupt() {
  std::lock_guard<std::mutex> lock(fd_mu_);
  interrupted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

bool BinlogStream::interrupted() const {
  std::lock_guard<std::mutex> lock(fd_mu_);
  return interrupted_;
}

void BinlogStream::Close() {
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    fd_ = -1;
  }
  rpl_.reset();
  mysql_.reset();
}

std::string BinlogStream::LastError() const {
  if (interrupted()) return "interrupted";
  if (rpl_ && mariadb_rpl_errno(rpl_.get()) != 0 && mysql_ &&
      mysql_errno(mysql_.get()) == 0) {
    return mariadb_rpl_error(rpl_.get());
  }
  if (!mysql_) return "not connected";
  if (mysql_errno(mysql_.get()) == 0) return "end of stream (EOF packet)";
  return std::string(mysql_error(mysql_.get())) + " (" +
         std::to_string(mysql_errno(mysql_.get())) + ")";
}

bool BinlogStream::LastErrorFromServer() const {
  const unsigned int e = LastErrno();
  return e != 0 && e < 2000 && !interrupted();
}

std::string BinlogStream::RotateFilename(const MARIADB_RPL_EVENT& ev) const {
  const std::string parsed(
      ev.event.rotate.filename.str ? ev.event.rotate.filename.str : "",
      ev.event.rotate.filename.length);
  if (!rpl_ || ev.raw_data == nullptr) return parsed;
  // raw_data: OK byte, 19-byte header, 8-byte position, name, [CRC32].
  constexpr size_t kHeader = 1 + 19 + 8;
  const bool artificial = (ev.flags & LOG_EVENT_ARTIFICIAL_F) != 0;
  // The server appends a checksum to its fake rotate when the replica
  // announced one (we always do), and to real events when binlogs have one.
  const bool crc =
      artificial ? rpl_->artificial_checksum != 0 : rpl_->use_checksum != 0;
  const size_t total = static_cast<size_t>(ev.event_length) + 1;
  if (total > ev.raw_data_size || total < kHeader + (crc ? 4 : 0) + 1) {
    return parsed;
  }
  const size_t len = total - kHeader - (crc ? 4 : 0);
  std::string name(reinterpret_cast<const char*>(ev.raw_data) + kHeader, len);
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x21 ||
        static_cast<unsigned char>(c) > 0x7e) {
      return parsed;
    }
  }
  return name;
}

unsigned int BinlogStream::LastErrno() const {
  return mysql_ ? mysql_errno(mysql_.get()) : 0;
}

}  // namespace cdc::sim
