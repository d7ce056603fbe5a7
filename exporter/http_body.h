#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>

namespace cdc {

// True if the request's Accept-Encoding lists gzip (or *) with a non-zero
// quality.
bool AcceptsGzip(std::string_view accept_encoding);

// `in` compressed in the gzip format at level 1; nullopt if zlib fails.
std::optional<std::string> Gzip(std::string_view in);

// Sets a large response body (/metrics, the status page) so that cpp-httplib
// does not compress it: it picks brotli whenever a client lists "br", as
// browsers do, and brotli took 7-10 s of CPU for the 2.9 MB /metrics of
// 1,000 connectors (gzip at its level 6: 15-35 ms). The body is gzipped at
// level 1 (about 10 ms for 2.9 MB) when the client accepts gzip, as
// Prometheus does, and sent as it is otherwise. Not copied.
void SetLargeBody(const httplib::Request& req, httplib::Response& res,
                  std::string body, const std::string& content_type);

}  // namespace cdc
