#include "debezium_event.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace cdc::sim {
namespace {

using Json = nlohmann::ordered_json;

bool IsBinaryType(const std::string& t) {
  return t == "binary" || t == "varbinary" || t == "tinyblob" || t == "blob" ||
         t == "mediumblob" || t == "longblob" || t == "geometry" ||
         t == "point" || t == "linestring" || t == "polygon";
}

bool IsZeroDate(const Cell& c) {
  return c.year == 0 && c.month == 0 && c.day == 0;
}

// JsonConverter writes a float32 the way Java prints the float ("3.1"),
// not the double it widens to.
double FloatAsShortestDouble(float f) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), f);
  double d = 0;
  std::from_chars(buf, res.ptr, d);
  return d;
}

std::string IsoTimestamp(int64_t secs, int64_t micros, int fsp) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  std::string out = buf;
  if (fsp > 0) {
    char frac[8];
    std::snprintf(frac, sizeof(frac), "%06lld", static_cast<long long>(micros));
    out.push_back('.');
    out.append(frac, static_cast<size_t>(fsp > 6 ? 6 : fsp));
  }
  out.push_back('Z');
  return out;
}

Json Named(const char* type, bool optional, const char* name, int version,
           const std::string& field) {
  Json j;
  j["type"] = type;
  j["optional"] = optional;
  j["name"] = name;
  j["version"] = version;
  j["field"] = field;
  return j;
}

Json Plain(const char* type, bool optional, const std::string& field) {
  Json j;
  j["type"] = type;
  j["optional"] = optional;
  j["field"] = field;
  return j;
}

std::string JoinMembers(const std::vector<std::string>& members) {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out.push_back(',');
    out += m;
  }
  return out;
}

Json SourceSchema() {
  Json snapshot = Named("string", true, "io.debezium.data.Enum", 1, "snapshot");
  snapshot["parameters"] = {{"allowed",
                             "true,first,first_in_data_collection,"
                             "last_in_data_collection,last,false,"
                             "incremental"}};
  snapshot["default"] = "false";
  Json fields = Json::array(
      {Plain("string", false, "version"), Plain("string", false, "connector"),
       Plain("string", false, "name"), Plain("int64", false, "ts_ms"), snapshot,
       Plain("string", false, "db"), Plain("string", true, "sequence"),
       Plain("int64", true, "ts_us"), Plain("int64", true, "ts_ns"),
       Plain("string", true, "table"), Plain("int64", false, "server_id"),
       Plain("string", true, "gtid"), Plain("string", false, "file"),
       Plain("int64", false, "pos"), Plain("int32", false, "row"),
       Plain("int64", true, "thread"), Plain("string", true, "query")});
  Json j;
  j["type"] = "struct";
  j["fields"] = std::move(fields);
  j["optional"] = false;
  j["name"] = "io.debezium.connector.mysql.Source";
  j["field"] = "source";
  return j;
}

Json TransactionSchema() {
  Json j;
  j["type"] = "struct";
  j["fields"] = Json::array({Plain("string", false, "id"),
                             Plain("int64", false, "total_order"),
                             Plain("int64", false, "data_collection_order")});
  j["optional"] = true;
  j["name"] = "event.block";
  j["version"] = 1;
  j["field"] = "transaction";
  return j;
}

Json Wrap(Json schema, Json payload) {
  Json j;
  j["schema"] = std::move(schema);
  j["payload"] = std::move(payload);
  return j;
}

}  // namespace

std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::string DecimalUnscaledBytes(const std::string& text) {
  bool negative = false;
  std::string digits;
  for (char c : text) {
    if (c == '-') {
      negative = true;
    } else if (c >= '0' && c <= '9') {
      digits.push_back(c);
    }
  }
  // Magnitude in base 256, big-endian, by repeated division of the decimal
  // digit string.
  std::string magnitude;
  while (!digits.empty() &&
         digits.find_first_not_of('0') != std::string::npos) {
    std::string quotient;
    int rem = 0;
    for (char c : digits) {
      const int cur = rem * 10 + (c - '0');
      const int q = cur / 256;
      rem = cur % 256;
      if (!quotient.empty() || q != 0)
        quotient.push_back(static_cast<char>('0' + q));
    }
    magnitude.insert(magnitude.begin(), static_cast<char>(rem));
    digits = quotient;
  }
  if (magnitude.empty()) return std::string(1, '\0');
  if (!negative) {
    if (static_cast<uint8_t>(magnitude[0]) & 0x80) magnitude.insert(0, 1, '\0');
    return magnitude;
  }
  // Two's complement: invert and add one.
  std::string out = magnitude;
  for (auto& c : out) c = static_cast<char>(~static_cast<uint8_t>(c));
  for (size_t i = out.size(); i-- > 0;) {
    const uint8_t v = static_cast<uint8_t>(out[i]) + 1;
    out[i] = static_cast<char>(v);
    if (v != 0) break;
  }
  if (!(static_cast<uint8_t>(out[0]) & 0x80)) out.insert(0, 1, '\xff');
  // Minimal form: drop redundant leading 0xff bytes.
  while (out.size() > 1 && static_cast<uint8_t>(out[0]) == 0xff &&
         (static_cast<uint8_t>(out[1]) & 0x80)) {
    out.erase(0, 1);
  }
  return out;
}

int64_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

nlohmann::ordered_json CellToJson(const Cell& c, const ColumnInfo& col) {
  switch (c.kind) {
    case Cell::Kind::kAbsent:
    case Cell::Kind::kNull:
      return nullptr;
    case Cell::Kind::kInt:
      if (col.is_unsigned) {
        // bigint.unsigned.handling.mode=long: values above 2^63 wrap, as in
        // Debezium.
        return static_cast<int64_t>(c.u);
      }
      return c.Signed();
    case Cell::Kind::kFloat:
      return FloatAsShortestDouble(static_cast<float>(c.d));
    case Cell::Kind::kDouble:
      return c.d;
    case Cell::Kind::kDecimal:
      return Base64(DecimalUnscaledBytes(c.bytes));
    case Cell::Kind::kBytes:
      if (IsBinaryType(col.data_type)) return Base64(c.bytes);
      return c.bytes;
    case Cell::Kind::kDate:
      if (IsZeroDate(c)) return nullptr;
      return DaysFromCivil(c.year, c.month, c.day);
    case Cell::Kind::kTime: {
      const int64_t us =
          (static_cast<int64_t>(c.hour) * 3600 + c.minute * 60 + c.second) *
              1000000 +
          c.micros;
      return c.negative ? -us : us;
    }
    case Cell::Kind::kDateTime: {
      if (IsZeroDate(c)) return nullptr;
      const int64_t secs = DaysFromCivil(c.year, c.month, c.day) * 86400 +
                           c.hour * 3600 + c.minute * 60 + c.second;
      if (col.precision <= 3) return secs * 1000 + c.micros / 1000;
      return secs * 1000000 + c.micros;
    }
    case Cell::Kind::kTimestamp:
      if (c.i == 0 && c.micros == 0) return nullptr;  // zero timestamp
      return IsoTimestamp(c.i, c.micros, c.fsp);
    case Cell::Kind::kYear:
      return c.i;
    case Cell::Kind::kEnum:
      if (c.u == 0 || c.u > col.enum_values.size()) return "";
      return col.enum_values[c.u - 1];
    case Cell::Kind::kSet: {
      std::string out;
      for (size_t i = 0; i < col.enum_values.size() && i < 64; ++i) {
        if (c.u & (1ULL << i)) {
          if (!out.empty()) out.push_back(',');
          out += col.enum_values[i];
        }
      }
      return out;
    }
    case Cell::Kind::kBit: {
      if (c.width == 1) return !c.bytes.empty() && (c.bytes.back() & 1);
      // io.debezium.data.Bits: little-endian bytes.
      std::string le(c.bytes.rbegin(), c.bytes.rend());
      return Base64(le);
    }
  }
  return nullptr;
}

nlohmann::ordered_json ColumnSchema(const ColumnInfo& col) {
  const auto& t = col.data_type;
  const bool opt = col.nullable;
  const auto& f = col.name;
  if (t == "tinyint") return Plain("int16", opt, f);
  if (t == "smallint")
    return Plain(col.is_unsigned ? "int32" : "int16", opt, f);
  if (t == "mediumint") return Plain("int32", opt, f);
  if (t == "int" || t == "integer") {
    return Plain(col.is_unsigned ? "int64" : "int32", opt, f);
  }
  if (t == "bigint") return Plain("int64", opt, f);
  if (t == "float") return Plain("float32", opt, f);
  if (t == "double" || t == "real") return Plain("float64", opt, f);
  if (t == "decimal" || t == "numeric") {
    Json j = Named("bytes", opt, "org.apache.kafka.connect.data.Decimal", 1, f);
    j["parameters"] = {
        {"scale", std::to_string(col.scale)},
        {"connect.decimal.precision", std::to_string(col.precision)}};
    return j;
  }
  if (t == "date") return Named("int32", opt, "io.debezium.time.Date", 1, f);
  if (t == "time")
    return Named("int64", opt, "io.debezium.time.MicroTime", 1, f);
  if (t == "datetime") {
    return col.precision <= 3
               ? Named("int64", opt, "io.debezium.time.Timestamp", 1, f)
               : Named("int64", opt, "io.debezium.time.MicroTimestamp", 1, f);
  }
  if (t == "timestamp") {
    return Named("string", opt, "io.debezium.time.ZonedTimestamp", 1, f);
  }
  if (t == "year") return Named("int32", opt, "io.debezium.time.Year", 1, f);
  if (t == "enum" || t == "set") {
    Json j = Named(
        "string", opt,
        t == "enum" ? "io.debezium.data.Enum" : "io.debezium.data.EnumSet", 1,
        f);
    j["parameters"] = {{"allowed", JoinMembers(col.enum_values)}};
    return j;
  }
  if (t == "bit") {
    if (col.precision <= 1) return Plain("boolean", opt, f);
    Json j = Named("bytes", opt, "io.debezium.data.Bits", 1, f);
    j["parameters"] = {{"length", std::to_string(col.precision)}};
    return j;
  }
  if (t == "json") return Named("string", opt, "io.debezium.data.Json", 1, f);
  if (IsBinaryType(t)) return Plain("bytes", opt, f);
  return Plain("string", opt, f);
}

EventBuilder::EventBuilder(const DebeziumSettings& s)
    : prefix_(s.topic_prefix),
      heartbeat_topic_(s.HeartbeatTopic()),
      key_schemas_(s.key_schemas_enable),
      value_schemas_(s.value_schemas_enable),
      tombstones_(s.tombstones_on_delete) {}

nlohmann::ordered_json EventBuilder::KeyPayload(const TableSchema& schema,
                                                const Row& row) const {
  Json j = Json::object();
  for (size_t k : schema.key_columns) {
    j[schema.columns[k].name] = CellToJson(row[k], schema.columns[k]);
  }
  return j;
}

nlohmann::ordered_json EventBuilder::KeySchema(
    const TableSchema& schema) const {
  Json fields = Json::array();
  for (size_t k : schema.key_columns) {
    Json f = ColumnSchema(schema.columns[k]);
    f["optional"] = false;
    fields.push_back(std::move(f));
  }
  Json j;
  j["type"] = "struct";
  j["fields"] = std::move(fields);
  j["optional"] = false;
  j["name"] = prefix_ + "." + schema.db + "." + schema.table + ".Key";
  return j;
}

nlohmann::ordered_json EventBuilder::ValueSchema(
    const TableSchema& schema) const {
  Json columns = Json::array();
  for (const auto& c : schema.columns) columns.push_back(ColumnSchema(c));
  const std::string base = prefix_ + "." + schema.db + "." + schema.table;
  auto row_struct = [&](const char* field) {
    Json j;
    j["type"] = "struct";
    j["fields"] = columns;
    j["optional"] = true;
    j["name"] = base + ".Value";
    j["field"] = field;
    return j;
  };
  Json j;
  j["type"] = "struct";
  j["fields"] =
      Json::array({row_struct("before"), row_struct("after"), SourceSchema(),
                   TransactionSchema(), Plain("string", false, "op"),
                   Plain("int64", true, "ts_ms"), Plain("int64", true, "ts_us"),
                   Plain("int64", true, "ts_ns")});
  j["optional"] = false;
  j["name"] = base + ".Envelope";
  j["version"] = 2;
  return j;
}

std::optional<std::string> EventBuilder::SerializeKey(const TableSchema& schema,
                                                      const Row& row) const {
  if (schema.key_columns.empty()) return std::nullopt;  // no primary key
  Json payload = KeyPayload(schema, row);
  if (!key_schemas_) return Dump(payload);
  return Dump(Wrap(KeySchema(schema), std::move(payload)));
}

std::string EventBuilder::Envelope(const TableSchema& schema, const Row* before,
                                   const Row* after, const SourceInfo& src,
                                   char op, int64_t now_us) const {
  auto row_json = [&](const Row* row) -> Json {
    if (row == nullptr) return nullptr;
    Json j = Json::object();
    for (size_t i = 0; i < schema.columns.size(); ++i) {
      j[schema.columns[i].name] = CellToJson((*row)[i], schema.columns[i]);
    }
    return j;
  };
  Json source;
  source["version"] = kDebeziumVersion;
  source["connector"] = "mysql";
  source["name"] = prefix_;
  source["ts_ms"] = src.ts_ms;
  source["snapshot"] = "false";
  source["db"] = src.db;
  source["sequence"] = nullptr;
  source["ts_us"] = src.ts_ms * 1000;
  source["ts_ns"] = src.ts_ms * 1000000;
  source["table"] = src.table;
  source["server_id"] = src.server_id;
  if (src.gtid.empty()) {
    source["gtid"] = nullptr;
  } else {
    source["gtid"] = src.gtid;
  }
  source["file"] = src.file;
  source["pos"] = src.pos;
  source["row"] = src.row;
  if (src.thread) {
    source["thread"] = *src.thread;
  } else {
    source["thread"] = nullptr;
  }
  source["query"] = nullptr;
  Json payload;
  payload["before"] = row_json(before);
  payload["after"] = row_json(after);
  payload["source"] = std::move(source);
  payload["transaction"] = nullptr;
  payload["op"] = std::string(1, op);
  payload["ts_ms"] = now_us / 1000;
  payload["ts_us"] = now_us;
  payload["ts_ns"] = now_us * 1000;
  if (!value_schemas_) return Dump(payload);
  return Dump(Wrap(ValueSchema(schema), std::move(payload)));
}

std::vector<KafkaRecord> EventBuilder::Change(const TableSchema& schema,
                                              const RowChange& change,
                                              const SourceInfo& source,
                                              int64_t now_us) const {
  std::vector<KafkaRecord> out;
  const std::string topic = TopicFor(schema.db, schema.table);
  auto emit_delete = [&](const Row& before,
                         const std::optional<std::string>& key,
                         std::vector<std::pair<std::string, std::string>> h) {
    KafkaRecord r{topic, key,
                  Envelope(schema, &before, nullptr, source, 'd', now_us),
                  std::move(h)};
    out.push_back(std::move(r));
    if (tombstones_) out.push_back(KafkaRecord{topic, key, std::nullopt, {}});
  };
  switch (change.op) {
    case RowChange::Op::kInsert:
      out.push_back(KafkaRecord{
          topic,
          SerializeKey(schema, change.after),
          Envelope(schema, nullptr, &change.after, source, 'c', now_us),
          {}});
      break;
    case RowChange::Op::kDelete:
      emit_delete(change.before, SerializeKey(schema, change.before), {});
      break;
    case RowChange::Op::kUpdate: {
      const auto old_key = SerializeKey(schema, change.before);
      const auto new_key = SerializeKey(schema, change.after);
      if (old_key == new_key) {
        out.push_back(KafkaRecord{topic,
                                  new_key,
                                  Envelope(schema, &change.before,
                                           &change.after, source, 'u', now_us),
                                  {}});
      } else {
        emit_delete(change.before, old_key,
                    {{"__debezium.newkey", new_key.value_or("null")}});
        out.push_back(KafkaRecord{
            topic,
            new_key,
            Envelope(schema, nullptr, &change.after, source, 'c', now_us),
            {{"__debezium.oldkey", old_key.value_or("null")}}});
      }
      break;
    }
  }
  return out;
}

KafkaRecord EventBuilder::Heartbeat(int64_t now_ms) const {
  Json key;
  key["serverName"] = prefix_;
  Json value;
  value["ts_ms"] = now_ms;
  KafkaRecord r;
  r.topic = heartbeat_topic_;
  if (key_schemas_) {
    Json schema;
    schema["type"] = "struct";
    schema["fields"] = Json::array({Plain("string", false, "serverName")});
    schema["optional"] = false;
    schema["name"] = "io.debezium.connector.common.ServerNameKey";
    r.key = Dump(Wrap(std::move(schema), std::move(key)));
  } else {
    r.key = Dump(key);
  }
  if (value_schemas_) {
    Json schema;
    schema["type"] = "struct";
    schema["fields"] = Json::array({Plain("int64", false, "ts_ms")});
    schema["optional"] = false;
    schema["name"] = "io.debezium.connector.common.Heartbeat";
    r.value = Dump(Wrap(std::move(schema), std::move(value)));
  } else {
    r.value = Dump(value);
  }
  return r;
}

}  // namespace cdc::sim
