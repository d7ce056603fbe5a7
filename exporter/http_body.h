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
// `head` then `tail` compressed as one gzip stream, without joining them.
std::optional<std::string> Gzip(std::string_view head, std::string_view tail);

// A large response body (/metrics, the status page) ready to send: gzipped
// at level 1 (about 10 ms for the 2.9 MB /metrics of 1,000 connectors) when
// the client accepts gzip, as Prometheus does, and as it is otherwise. Never
// brotli: it took 7-10 s of CPU for the same body, and browsers list "br".
// The body may come in two parts, sent one after the other (the scrape and
// the HTTP server's own metrics): a body of megabytes is not copied to
// append a few lines.
struct EncodedBody {
  std::string body;
  std::string tail;   // sent after body
  bool gzip = false;  // send Content-Encoding: gzip
};
// `body` and `tail` are moved, not copied.
EncodedBody EncodeLargeBody(std::string body, std::string_view accept_encoding,
                            std::string tail = "");

}  // namespace cdc
