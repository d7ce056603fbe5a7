#pragma once

// One binlog replication stream (COM_BINLOG_DUMP) over Connector/C's
// mariadb_rpl API, like mysql-binlog-connector-java's BinaryLogClient: no
// read timeout at all, so when the network stops delivering bytes the reader
// blocks forever, exactly as in the field.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cdc/common/mysql_handles.h"
#include "mariadb_rpl_include.h"
#include "mysql_session.h"

namespace cdc::sim {

struct BinlogPosition {
  std::string file;
  uint64_t pos = 0;
};

struct RplCloser {
  void operator()(MARIADB_RPL* rpl) const { mariadb_rpl_close(rpl); }
};
struct RplEventFreer {
  void operator()(MARIADB_RPL_EVENT* ev) const { mariadb_free_rpl_event(ev); }
};
using RplHandle = std::unique_ptr<MARIADB_RPL, RplCloser>;
using RplEvent = std::unique_ptr<MARIADB_RPL_EVENT, RplEventFreer>;

// Open(), Next() and Close() belong to one reader thread; Interrupt() may be
// called from any thread at any time, and makes a blocked Next() return.
class BinlogStream {
 public:
  BinlogStream() = default;
  ~BinlogStream() { Close(); }
  BinlogStream(const BinlogStream&) = delete;
  BinlogStream& operator=(const BinlogStream&) = delete;

  // Connects (bounded by the endpoint's connect timeout), prepares the
  // session and starts the dump at `start`, or at the server's current end
  // of the binlog when `start` is empty (snapshot.mode=schema_only).
  // `interrupt` (optional) aborts a connect in progress.
  bool Open(const MysqlEndpoint& ep, uint32_t server_id,
            const std::optional<BinlogPosition>& start, std::string* error,
            const Interrupter* interrupt = nullptr);

  // Blocks, without any timeout, until the next event arrives. nullptr when
  // the connection failed, was closed, or Interrupt() was called.
  RplEvent Next();

  // Shuts the socket down from another thread (shutdown(2), not close(2), so
  // the reader's descriptor stays valid until it closes it itself).
  void Interrupt();
  bool interrupted() const;

  void Close();

  // After Open(): where the stream started, what TLS the session negotiated,
  // the server's GTID position at open time and its connection id.
  const BinlogPosition& start() const { return start_; }
  const std::string& tls_version() const { return tls_version_; }
  const std::string& cipher() const { return cipher_; }
  const std::string& server_gtid_pos() const { return server_gtid_pos_; }
  uint32_t server_id() const { return server_id_; }
  unsigned long connection_id() const { return connection_id_; }

  // Why Next() returned nullptr.
  std::string LastError() const;
  unsigned int LastErrno() const;
  // True when the server itself reported the error (e.g. 1236: the binlog
  // position is gone), as opposed to a client/network error (2000-2999).
  bool LastErrorFromServer() const;

  // The new file named by a ROTATE event. Connector/C 3.3 mis-sizes the name
  // of real (non-artificial) rotate events when checksums are on.
  std::string RotateFilename(const MARIADB_RPL_EVENT& ev) const;

 private:
  MysqlHandle mysql_;
  RplHandle rpl_;
  BinlogPosition start_;
  std::string tls_version_;
  std::string cipher_;
  std::string server_gtid_pos_;
  uint32_t server_id_ = 0;
  unsigned long connection_id_ = 0;

  mutable std::mutex fd_mu_;
  int fd_ = -1;               // registered once connected, guarded by fd_mu_
  bool interrupted_ = false;  // guarded by fd_mu_
};

}  // namespace cdc::sim
