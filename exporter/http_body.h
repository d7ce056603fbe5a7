#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cdc {

// True if the request's Accept-Encoding lists gzip (or *) with a non-zero
// quality.
bool AcceptsGzip(std::string_view accept_encoding);

// `in` compressed in the gzip format at level 1; nullopt if zlib fails.
std::optional<std::string> Gzip(std::string_view in);

// A large response body (/metrics, the status page) ready to send: gzipped
// at level 1 (about 10 ms for the 2.9 MB /metrics of 1,000 connectors) when
// the client accepts gzip, as Prometheus does, and as it is otherwise. Never
// brotli: it took 7-10 s of CPU for the same body, and browsers list "br".
struct EncodedBody {
  std::string body;
  bool gzip = false;  // send Content-Encoding: gzip
};
// `body` is moved, not copied.
EncodedBody EncodeLargeBody(std::string body, std::string_view accept_encoding);

}  // namespace cdc
