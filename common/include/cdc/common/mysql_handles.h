#pragma once

// RAII owners for the C handles of MariaDB Connector/C (libmysqlclient).
// Every MYSQL*, MYSQL_RES* and MYSQL_STMT* in this project lives in one of
// these; none is ever freed by hand. Link cdc::mysql to use them.

#include <mysql.h>

#include <memory>

namespace cdc {

struct MysqlCloser {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
struct MysqlResultFreer {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
struct MysqlStmtCloser {
  void operator()(MYSQL_STMT* s) const { mysql_stmt_close(s); }
};
using MysqlHandle = std::unique_ptr<MYSQL, MysqlCloser>;
using MysqlStmt = std::unique_ptr<MYSQL_STMT, MysqlStmtCloser>;
using MysqlResult = std::unique_ptr<MYSQL_RES, MysqlResultFreer>;

}  // namespace cdc
