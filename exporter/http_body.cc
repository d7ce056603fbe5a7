#include "exporter/http_body.h"

#include <zlib.h>

#include <cctype>
#include <cstdlib>
#include <memory>

namespace cdc {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A deflate stream, ended on destruction.
class Deflater {
 public:
  Deflater() {
    // 15 + 16: a window of 2^15 and the gzip wrapper.
    ok_ = deflateInit2(&z_, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) ==
          Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  bool ok() const { return ok_; }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool ok_ = false;
};

}  // namespace

bool AcceptsGzip(std::string_view accept_encoding) {
  // An explicit gzip entry decides; otherwise "*" does (RFC 9110 12.5.3).
  std::optional<double> gzip_q, star_q;
  while (!accept_encoding.empty()) {
    const std::size_t comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding.remove_prefix(
        comma == std::string_view::npos ? accept_encoding.size() : comma + 1);
    std::string_view params;
    if (const std::size_t semi = item.find(';');
        semi != std::string_view::npos) {
      params = Trim(item.substr(semi + 1));
      item = item.substr(0, semi);
    }
    item = Trim(item);
    const bool gzip = EqualsIgnoreCase(item, "gzip");
    if (!gzip && item != "*") continue;
    double q = 1;
    if (params.size() > 2 && (params[0] == 'q' || params[0] == 'Q') &&
        params[1] == '=') {
      const std::string value(Trim(params.substr(2)));
      char* end = nullptr;
      const double parsed = std::strtod(value.c_str(), &end);
      if (end != value.c_str()) q = parsed;
    }
    (gzip ? gzip_q : star_q) = q;
  }
  if (gzip_q) return *gzip_q > 0;
  return star_q && *star_q > 0;
}

std::optional<std::string> Gzip(std::string_view in) { return Gzip(in, {}); }

std::optional<std::string> Gzip(std::string_view head, std::string_view tail) {
  Deflater d;
  if (!d.ok()) return std::nullopt;
  z_stream& z = d.z();
  std::string out(
      deflateBound(&z, static_cast<uLong>(head.size() + tail.size())), '\0');
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  z.next_in =
      reinterpret_cast<Bytef*>(const_cast<char*>(head.data()));  // not written
  z.avail_in = static_cast<uInt>(head.size());
  if (!head.empty() && (deflate(&z, Z_NO_FLUSH) != Z_OK || z.avail_in != 0)) {
    return std::nullopt;
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(tail.data()));
  z.avail_in = static_cast<uInt>(tail.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) return std::nullopt;
  out.resize(z.total_out);
  return out;
}

EncodedBody EncodeLargeBody(std::string body, std::string_view accept_encoding,
                            std::string tail) {
  EncodedBody out;
  if (!(body.empty() && tail.empty()) && AcceptsGzip(accept_encoding)) {
    if (auto gz = Gzip(body, tail)) {
      out.body = std::move(*gz);
      out.gzip = true;
      return out;
    }
  }
  out.body = std::move(body);
  out.tail = std::move(tail);
  return out;
}

}  // namespace cdc
