#pragma once

// Decodes the row images of binlog ROWS events. Connector/C 3.3's
// mariadb_rpl_extract_rows() rejects tables whose columns carry no table-map
// metadata (INT/DATE-only tables) and mis-reads CHAR, ENUM and SET, so the
// simulator decodes the documented row format itself from the fields that
// mariadb_rpl_fetch() parsed. Pure functions: thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "mariadb_rpl_include.h"

namespace cdc::sim {

// One column's type as the table map describes it.
struct ColumnType {
  uint8_t type = 0;       // binlog type (MYSQL_TYPE_*), after CHAR/ENUM/SET
                          // disambiguation
  uint16_t meta = 0;      // type-specific metadata (length, fsp, ...)
  uint8_t precision = 0;  // NEWDECIMAL
  uint8_t scale = 0;      // NEWDECIMAL
};

struct TableMap {
  uint64_t table_id = 0;
  std::string db;
  std::string table;
  std::vector<ColumnType> columns;

  bool SameShape(const TableMap& o) const;
};

// Reads a TABLE_MAP event. Returns false (with `error`) when malformed.
bool ParseTableMap(const MARIADB_RPL_EVENT& ev, TableMap* out,
                   std::string* error);

// One decoded cell.
struct Cell {
  enum class Kind {
    kAbsent,  // not in this row image (minimal row image)
    kNull,
    kInt,        // `u` holds the raw bits, `width` the byte width
    kFloat,      // `d`
    kDouble,     // `d`
    kBytes,      // strings, blobs, JSON: `bytes`
    kDecimal,    // `bytes` holds the decimal text, e.g. "-12.50"
    kDate,       // year/month/day
    kTime,       // negative/hour/minute/second/micros
    kDateTime,   // year..second/micros
    kTimestamp,  // `i` seconds since the epoch, `micros`
    kYear,       // `i`
    kEnum,       // `u` 1-based index, 0 = ''
    kSet,        // `u` bitmask
    kBit,        // `bytes` big-endian, `width` bits
  };
  Kind kind = Kind::kAbsent;
  uint8_t type = 0;
  int width = 0;
  uint64_t u = 0;
  int64_t i = 0;
  double d = 0;
  std::string bytes;
  bool negative = false;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int64_t micros = 0;
  int fsp = 0;

  int64_t Signed() const;  // kInt as a signed value of `width` bytes
};

using Row = std::vector<Cell>;  // one cell per table column

struct RowChange {
  enum class Op { kInsert, kUpdate, kDelete };
  Op op = Op::kInsert;
  Row before;  // empty for inserts
  Row after;   // empty for deletes
};

// Decodes every row of a WRITE/UPDATE/DELETE ROWS event (v1 or v2).
bool DecodeRows(const TableMap& map, const MARIADB_RPL_EVENT& ev,
                std::vector<RowChange>* out, std::string* error);

// The binary DECIMAL format to text; `consumed` gets its size. Exposed for
// tests.
std::string DecodeDecimal(const uint8_t* p, size_t avail, int precision,
                          int scale, size_t* consumed, bool* ok);

bool IsRowsEvent(int event_type);

}  // namespace cdc::sim
