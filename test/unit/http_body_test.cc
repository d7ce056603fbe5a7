#include "exporter/http_body.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace cdc {
namespace {

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  inflateEnd(&z);
  return out;
}

TEST(HttpBody, AcceptsGzip) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));  // browsers
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, gzip;q=0.8, *;q=0.1"));
  EXPECT_TRUE(AcceptsGzip(" GZIP ; q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("br"));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("*, gzip;q=0"));  // the explicit entry wins
  EXPECT_FALSE(AcceptsGzip("*;q=0"));
  EXPECT_FALSE(AcceptsGzip("x-gzip-not"));
}

TEST(HttpBody, GzipRoundTrips) {
  std::string text;
  for (int i = 0; i < 20000; ++i) {
    text += "cdc_connector_state{connector=\"c" + std::to_string(i) +
            "\",state=\"RUNNING\"} 1\n";
  }
  auto gz = Gzip(text);
  ASSERT_TRUE(gz);
  EXPECT_LT(gz->size(), text.size() / 5);
  EXPECT_EQ(gz->substr(0, 2), "\x1f\x8b");  // the gzip magic
  EXPECT_EQ(Gunzip(*gz), text);
  auto empty = Gzip("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(Gunzip(*empty), "");
}

TEST(HttpBody, TwoPartsGzipAsOneStreamOrGoAsTheyAre) {
  const std::string head(100000, 'h'), tail = "# TYPE t gauge\nt 1\n";
  auto gz = Gzip(head, tail);
  ASSERT_TRUE(gz);
  EXPECT_EQ(Gunzip(*gz), head + tail);
  ASSERT_TRUE(Gzip("", tail));
  EXPECT_EQ(Gunzip(*Gzip("", tail)), tail);

  EncodedBody e = EncodeLargeBody(head, "gzip", tail);
  EXPECT_TRUE(e.gzip);
  EXPECT_TRUE(e.tail.empty());
  EXPECT_EQ(Gunzip(e.body), head + tail);
  e = EncodeLargeBody(head, "br", tail);
  EXPECT_FALSE(e.gzip);
  EXPECT_EQ(e.body, head);
  EXPECT_EQ(e.tail, tail);
}

}  // namespace
}  // namespace cdc
