#include "row_decoder.h"

#include <cstring>

namespace cdc::sim {
namespace {

constexpr int kDig2Bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

uint64_t LittleEndian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t BigEndian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

bool BitSet(const uint8_t* bitmap, size_t i) {
  return (bitmap[i / 8] >> (i % 8)) & 1;
}

// Bytes holding the fractional seconds of TIME2/DATETIME2/TIMESTAMP2.
int FracBytes(int fsp) { return (fsp + 1) / 2; }

int64_t FracMicros(const uint8_t* p, int fsp) {
  switch (fsp) {
    case 1:
    case 2:
      return static_cast<int64_t>(p[0]) * 10000;
    case 3:
    case 4:
      return static_cast<int64_t>(BigEndian(p, 2)) * 100;
    case 5:
    case 6:
      return static_cast<int64_t>(BigEndian(p, 3));
    default:
      return 0;
  }
}

// MySQL's packed TIME2 value (my_time_packed_from_binary).
int64_t Time2Packed(const uint8_t* p, int fsp) {
  int64_t intpart = static_cast<int64_t>(BigEndian(p, 3)) - 0x800000LL;
  switch (fsp) {
    case 1:
    case 2: {
      int64_t frac = p[3];
      if (intpart < 0 && frac != 0) {
        ++intpart;
        frac -= 0x100;
      }
      return intpart * (1LL << 24) + frac * 10000;
    }
    case 3:
    case 4: {
      int64_t frac = static_cast<int64_t>(BigEndian(p + 3, 2));
      if (intpart < 0 && frac != 0) {
        ++intpart;
        frac -= 0x10000;
      }
      return intpart * (1LL << 24) + frac * 100;
    }
    case 5:
    case 6:
      return static_cast<int64_t>(BigEndian(p, 6)) - 0x800000000000LL;
    default:
      return intpart * (1LL << 24);
  }
}

size_t DecimalBinSize(int precision, int scale) {
  const int intg = precision - scale;
  return static_cast<size_t>((intg / 9) * 4 + kDig2Bytes[intg % 9] +
                             (scale / 9) * 4 + kDig2Bytes[scale % 9]);
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool Has(size_t n) const { return static_cast<size_t>(end_ - p_) >= n; }
  const uint8_t* Take(size_t n) {
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

bool DecodeCell(const ColumnType& ct, Reader* r, Cell* c, std::string* error) {
  c->type = ct.type;
  auto need = [&](size_t n) {
    if (r->Has(n)) return true;
    *error =
        "row image truncated in a column of type " + std::to_string(ct.type);
    return false;
  };
  auto int_of = [&](int width) {
    if (!need(static_cast<size_t>(width))) return false;
    c->kind = Cell::Kind::kInt;
    c->width = width;
    c->u = LittleEndian(r->Take(static_cast<size_t>(width)), width);
    return true;
  };
  switch (ct.type) {
    case MYSQL_TYPE_TINY:
      return int_of(1);
    case MYSQL_TYPE_SHORT:
      return int_of(2);
    case MYSQL_TYPE_INT24:
      return int_of(3);
    case MYSQL_TYPE_LONG:
      return int_of(4);
    case MYSQL_TYPE_LONGLONG:
      return int_of(8);
    case MYSQL_TYPE_YEAR: {
      if (!need(1)) return false;
      const int y = *r->Take(1);
      c->kind = Cell::Kind::kYear;
      c->i = y == 0 ? 0 : 1900 + y;
      return true;
    }
    case MYSQL_TYPE_FLOAT: {
      if (!need(4)) return false;
      float f;
      std::memcpy(&f, r->Take(4), 4);
      c->kind = Cell::Kind::kFloat;
      c->d = f;
      return true;
    }
    case MYSQL_TYPE_DOUBLE: {
      if (!need(8)) return false;
      double d;
      std::memcpy(&d, r->Take(8), 8);
      c->kind = Cell::Kind::kDouble;
      c->d = d;
      return true;
    }
    case MYSQL_TYPE_NEWDECIMAL: {
      size_t used = 0;
      bool ok = false;
      c->bytes = DecodeDecimal(r->Take(0), r->left(), ct.precision, ct.scale,
                               &used, &ok);
      if (!ok) {
        *error = "malformed DECIMAL value";
        return false;
      }
      r->Take(used);
      c->kind = Cell::Kind::kDecimal;
      return true;
    }
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE: {
      if (!need(3)) return false;
      const uint32_t v = static_cast<uint32_t>(LittleEndian(r->Take(3), 3));
      c->kind = Cell::Kind::kDate;
      c->day = static_cast<int>(v & 31);
      c->month = static_cast<int>((v >> 5) & 15);
      c->year = static_cast<int>(v >> 9);
      return true;
    }
    case MYSQL_TYPE_TIME: {
      if (!need(3)) return false;
      int32_t v = static_cast<int32_t>(LittleEndian(r->Take(3), 3));
      if (v & 0x800000) v |= static_cast<int32_t>(0xff000000u);
      c->kind = Cell::Kind::kTime;
      c->negative = v < 0;
      if (v < 0) v = -v;
      c->hour = v / 10000;
      c->minute = (v / 100) % 100;
      c->second = v % 100;
      return true;
    }
    case MYSQL_TYPE_TIME2: {
      const int fsp = ct.meta;
      if (!need(3 + static_cast<size_t>(FracBytes(fsp)))) return false;
      int64_t packed = Time2Packed(r->Take(3 + FracBytes(fsp)), fsp);
      c->kind = Cell::Kind::kTime;
      c->fsp = fsp;
      c->negative = packed < 0;
      if (packed < 0) packed = -packed;
      const int64_t hms = packed >> 24;
      c->micros = packed % (1LL << 24);
      c->hour = static_cast<int>((hms >> 12) % (1 << 10));
      c->minute = static_cast<int>((hms >> 6) % (1 << 6));
      c->second = static_cast<int>(hms % (1 << 6));
      return true;
    }
    case MYSQL_TYPE_DATETIME: {
      if (!need(8)) return false;
      uint64_t v = LittleEndian(r->Take(8), 8);
      c->kind = Cell::Kind::kDateTime;
      const uint64_t d = v / 1000000;
      const uint64_t t = v % 1000000;
      c->year = static_cast<int>(d / 10000);
      c->month = static_cast<int>((d / 100) % 100);
      c->day = static_cast<int>(d % 100);
      c->hour = static_cast<int>(t / 10000);
      c->minute = static_cast<int>((t / 100) % 100);
      c->second = static_cast<int>(t % 100);
      return true;
    }
    case MYSQL_TYPE_DATETIME2: {
      const int fsp = ct.meta;
      if (!need(5 + static_cast<size_t>(FracBytes(fsp)))) return false;
      const uint8_t* p = r->Take(5 + FracBytes(fsp));
      const int64_t intpart =
          static_cast<int64_t>(BigEndian(p, 5)) - 0x8000000000LL;
      const int64_t ymd = intpart >> 17;
      const int64_t ym = ymd >> 5;
      const int64_t hms = intpart % (1 << 17);
      c->kind = Cell::Kind::kDateTime;
      c->fsp = fsp;
      c->day = static_cast<int>(ymd % 32);
      c->month = static_cast<int>(ym % 13);
      c->year = static_cast<int>(ym / 13);
      c->second = static_cast<int>(hms % 64);
      c->minute = static_cast<int>((hms >> 6) % 64);
      c->hour = static_cast<int>(hms >> 12);
      c->micros = FracMicros(p + 5, fsp);
      return true;
    }
    case MYSQL_TYPE_TIMESTAMP: {
      if (!need(4)) return false;
      c->kind = Cell::Kind::kTimestamp;
      c->i = static_cast<int64_t>(LittleEndian(r->Take(4), 4));
      return true;
    }
    case MYSQL_TYPE_TIMESTAMP2: {
      const int fsp = ct.meta;
      if (!need(4 + static_cast<size_t>(FracBytes(fsp)))) return false;
      const uint8_t* p = r->Take(4 + FracBytes(fsp));
      c->kind = Cell::Kind::kTimestamp;
      c->fsp = fsp;
      c->i = static_cast<int64_t>(BigEndian(p, 4));
      c->micros = FracMicros(p + 4, fsp);
      return true;
    }
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING: {
      const int lb = ct.meta > 255 ? 2 : 1;
      if (!need(static_cast<size_t>(lb))) return false;
      const size_t len = LittleEndian(r->Take(lb), lb);
      if (!need(len)) return false;
      c->kind = Cell::Kind::kBytes;
      c->bytes.assign(reinterpret_cast<const char*>(r->Take(len)), len);
      return true;
    }
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET: {
      const int n = ct.meta == 0 ? 1 : ct.meta;
      if (n > 8 || !need(static_cast<size_t>(n))) {
        if (n > 8) *error = "ENUM/SET wider than 8 bytes";
        return false;
      }
      c->kind =
          ct.type == MYSQL_TYPE_ENUM ? Cell::Kind::kEnum : Cell::Kind::kSet;
      c->u = LittleEndian(r->Take(n), n);
      return true;
    }
    case MYSQL_TYPE_BIT: {
      const int bits = (ct.meta >> 8) * 8 + (ct.meta & 0xff);
      const size_t n = static_cast<size_t>((bits + 7) / 8);
      if (!need(n)) return false;
      c->kind = Cell::Kind::kBit;
      c->width = bits;
      c->bytes.assign(reinterpret_cast<const char*>(r->Take(n)), n);
      return true;
    }
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_GEOMETRY:
    case MYSQL_TYPE_JSON: {
      const int lb = ct.meta == 0 ? 2 : ct.meta;
      if (lb > 4 || !need(static_cast<size_t>(lb))) {
        if (lb > 4) *error = "BLOB length prefix wider than 4 bytes";
        return false;
      }
      const size_t len = LittleEndian(r->Take(lb), lb);
      if (!need(len)) return false;
      c->kind = Cell::Kind::kBytes;
      c->bytes.assign(reinterpret_cast<const char*>(r->Take(len)), len);
      return true;
    }
    case MYSQL_TYPE_NULL:
      c->kind = Cell::Kind::kNull;
      return true;
    default:
      *error = "unsupported column type " + std::to_string(ct.type);
      return false;
  }
}

bool DecodeImage(const TableMap& map, const uint8_t* present, Reader* r,
                 Row* row, std::string* error) {
  const size_t n = map.columns.size();
  size_t present_count = 0;
  for (size_t i = 0; i < n; ++i) present_count += BitSet(present, i) ? 1 : 0;
  const size_t null_bytes = (present_count + 7) / 8;
  if (!r->Has(null_bytes)) {
    *error = "row image truncated in its null bitmap";
    return false;
  }
  const uint8_t* nulls = r->Take(null_bytes);
  row->assign(n, Cell{});
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    Cell& c = (*row)[i];
    c.type = map.columns[i].type;
    if (!BitSet(present, i)) continue;  // kAbsent
    if (BitSet(nulls, k++)) {
      c.kind = Cell::Kind::kNull;
      continue;
    }
    if (!DecodeCell(map.columns[i], r, &c, error)) {
      *error = map.db + "." + map.table + " column " + std::to_string(i + 1) +
               ": " + *error;
      return false;
    }
  }
  return true;
}

}  // namespace

bool TableMap::SameShape(const TableMap& o) const {
  if (columns.size() != o.columns.size()) return false;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].type != o.columns[i].type ||
        columns[i].meta != o.columns[i].meta ||
        columns[i].precision != o.columns[i].precision ||
        columns[i].scale != o.columns[i].scale) {
      return false;
    }
  }
  return true;
}

int64_t Cell::Signed() const {
  if (width <= 0 || width >= 8) return static_cast<int64_t>(u);
  const int bits = width * 8;
  const uint64_t sign = 1ULL << (bits - 1);
  const uint64_t mask = (1ULL << bits) - 1;
  const uint64_t v = u & mask;
  return (v & sign) ? static_cast<int64_t>(v | ~mask) : static_cast<int64_t>(v);
}

bool IsRowsEvent(int t) {
  return t == WRITE_ROWS_EVENT_V1 || t == UPDATE_ROWS_EVENT_V1 ||
         t == DELETE_ROWS_EVENT_V1 || t == WRITE_ROWS_EVENT ||
         t == UPDATE_ROWS_EVENT || t == DELETE_ROWS_EVENT;
}

bool ParseTableMap(const MARIADB_RPL_EVENT& ev, TableMap* out,
                   std::string* error) {
  const auto& tm = ev.event.table_map;
  out->table_id = tm.table_id;
  out->db.assign(tm.database.str ? tm.database.str : "", tm.database.length);
  out->table.assign(tm.table.str ? tm.table.str : "", tm.table.length);
  const size_t n = tm.column_count;
  if (tm.column_types.length < n) {
    *error = "table map has fewer column types than columns";
    return false;
  }
  out->columns.assign(n, ColumnType{});
  const auto* types = reinterpret_cast<const uint8_t*>(tm.column_types.str);
  const auto* meta = reinterpret_cast<const uint8_t*>(tm.metadata.str);
  const size_t meta_len = tm.metadata.length;
  size_t m = 0;
  auto take = [&](size_t k) -> const uint8_t* {
    if (m + k > meta_len) return nullptr;
    const uint8_t* p = meta + m;
    m += k;
    return p;
  };
  for (size_t i = 0; i < n; ++i) {
    ColumnType& c = out->columns[i];
    c.type = types[i];
    const uint8_t* p = nullptr;
    switch (c.type) {
      case MYSQL_TYPE_FLOAT:
      case MYSQL_TYPE_DOUBLE:
      case MYSQL_TYPE_BLOB:
      case MYSQL_TYPE_GEOMETRY:
      case MYSQL_TYPE_JSON:
      case MYSQL_TYPE_TIMESTAMP2:
      case MYSQL_TYPE_DATETIME2:
      case MYSQL_TYPE_TIME2:
        if ((p = take(1)) == nullptr) break;
        c.meta = p[0];
        continue;
      case MYSQL_TYPE_VARCHAR:
      case MYSQL_TYPE_VAR_STRING:
        if ((p = take(2)) == nullptr) break;
        c.meta = static_cast<uint16_t>(p[0] | (p[1] << 8));
        continue;
      case MYSQL_TYPE_BIT:
        if ((p = take(2)) == nullptr) break;
        // meta low byte: bits in the last byte; high byte: whole bytes.
        c.meta = static_cast<uint16_t>(p[0] | (p[1] << 8));
        continue;
      case MYSQL_TYPE_NEWDECIMAL:
        if ((p = take(2)) == nullptr) break;
        c.precision = p[0];
        c.scale = p[1];
        if (c.precision < 1 || c.precision > 65 || c.scale > c.precision) {
          *error = "bad DECIMAL precision/scale in table map";
          return false;
        }
        continue;
      case MYSQL_TYPE_STRING:
      case MYSQL_TYPE_ENUM:
      case MYSQL_TYPE_SET: {
        if ((p = take(2)) == nullptr) break;
        uint8_t real = p[0];
        uint16_t len = p[1];
        if ((real & 0x30) != 0x30) {  // CHAR longer than 255 bytes
          len = static_cast<uint16_t>(len | (((real & 0x30) ^ 0x30) << 4));
          real = static_cast<uint8_t>(real | 0x30);
        }
        if (real == MYSQL_TYPE_ENUM || real == MYSQL_TYPE_SET) {
          c.type = real;
        } else {
          c.type = MYSQL_TYPE_STRING;
        }
        c.meta = len;
        continue;
      }
      default:
        continue;  // no metadata
    }
    *error = "table map metadata too short";
    return false;
  }
  return true;
}

bool DecodeRows(const TableMap& map, const MARIADB_RPL_EVENT& ev,
                std::vector<RowChange>* out, std::string* error) {
  const auto& rows = ev.event.rows;
  if (rows.compressed) {
    *error = "compressed row events are not supported";
    return false;
  }
  if (rows.column_count != map.columns.size()) {
    *error = "rows event has " + std::to_string(rows.column_count) +
             " columns, table map " + std::to_string(map.columns.size());
    return false;
  }
  RowChange::Op op = RowChange::Op::kInsert;
  switch (ev.event_type) {
    case WRITE_ROWS_EVENT_V1:
    case WRITE_ROWS_EVENT:
      op = RowChange::Op::kInsert;
      break;
    case UPDATE_ROWS_EVENT_V1:
    case UPDATE_ROWS_EVENT:
      op = RowChange::Op::kUpdate;
      break;
    case DELETE_ROWS_EVENT_V1:
    case DELETE_ROWS_EVENT:
      op = RowChange::Op::kDelete;
      break;
    default:
      *error = "not a rows event";
      return false;
  }
  const auto* before_bits = rows.column_bitmap;
  const auto* after_bits = rows.column_update_bitmap ? rows.column_update_bitmap
                                                     : rows.column_bitmap;
  if (before_bits == nullptr) {
    *error = "rows event without a column bitmap";
    return false;
  }
  Reader r(static_cast<const uint8_t*>(rows.row_data), rows.row_data_size);
  while (r.left() > 0) {
    RowChange change;
    change.op = op;
    if (op == RowChange::Op::kInsert) {
      if (!DecodeImage(map, before_bits, &r, &change.after, error)) {
        return false;
      }
    } else if (op == RowChange::Op::kDelete) {
      if (!DecodeImage(map, before_bits, &r, &change.before, error)) {
        return false;
      }
    } else {
      if (!DecodeImage(map, before_bits, &r, &change.before, error) ||
          !DecodeImage(map, after_bits, &r, &change.after, error)) {
        return false;
      }
    }
    out->push_back(std::move(change));
  }
  return true;
}

std::string DecodeDecimal(const uint8_t* p, size_t avail, int precision,
                          int scale, size_t* consumed, bool* ok) {
  *ok = false;
  *consumed = 0;
  if (precision < 1 || precision > 65 || scale < 0 || scale > precision) {
    return {};
  }
  const size_t size = DecimalBinSize(precision, scale);
  if (avail < size) return {};
  std::string buf(reinterpret_cast<const char*>(p), size);
  auto* b = reinterpret_cast<uint8_t*>(buf.data());
  const bool negative = (b[0] & 0x80) == 0;
  b[0] ^= 0x80;
  if (negative) {
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(~b[i]);
  }
  const int intg = precision - scale;
  const int intg0 = intg / 9;
  const int intg0x = intg % 9;
  const int frac0 = scale / 9;
  const int frac0x = scale % 9;
  size_t at = 0;
  std::string int_digits;
  auto append_group = [](std::string* s, uint64_t v, int digits) {
    std::string g = std::to_string(v);
    if (g.size() < static_cast<size_t>(digits)) {
      g.insert(0, static_cast<size_t>(digits) - g.size(), '0');
    }
    s->append(g);
  };
  if (intg0x > 0) {
    const int n = kDig2Bytes[intg0x];
    append_group(&int_digits, BigEndian(b + at, n), intg0x);
    at += static_cast<size_t>(n);
  }
  for (int i = 0; i < intg0; ++i) {
    append_group(&int_digits, BigEndian(b + at, 4), 9);
    at += 4;
  }
  std::string frac_digits;
  for (int i = 0; i < frac0; ++i) {
    append_group(&frac_digits, BigEndian(b + at, 4), 9);
    at += 4;
  }
  if (frac0x > 0) {
    const int n = kDig2Bytes[frac0x];
    append_group(&frac_digits, BigEndian(b + at, n), frac0x);
    at += static_cast<size_t>(n);
  }
  const size_t nz = int_digits.find_first_not_of('0');
  int_digits = nz == std::string::npos ? "0" : int_digits.substr(nz);
  std::string out;
  const bool zero = int_digits == "0" &&
                    frac_digits.find_first_not_of('0') == std::string::npos;
  if (negative && !zero) out.push_back('-');
  out += int_digits;
  if (scale > 0) {
    out.push_back('.');
    out += frac_digits;
  }
  *consumed = size;
  *ok = true;
  return out;
}

}  // namespace cdc::sim
