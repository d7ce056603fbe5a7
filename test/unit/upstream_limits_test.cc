// Bounded upstream clients (issue #19): a hostile or broken upstream (Kafka
// Connect's REST API, Prometheus for `report`) that never ends its response
// head, its status line, its chunk framing or its body gets an error that
// names the limit, well before the deadline, never memory.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "config/config.h"
#include "config/url.h"
#include "exporter/report.h"
#include "probes/connect_client.h"
#include "probes/upstream_http.h"
#include "test/unit/fake_connect_worker.h"

namespace cdc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::HostileUpstream;

config::ConnectCluster ClusterFor(const std::string& url) {
  config::ConnectCluster c;
  c.name = "hostile";
  c.url_text = url;
  std::string why;
  auto parsed = config::ParseHttpUrl(url, &why);
  if (!parsed) throw std::runtime_error(url + ": " + why);
  c.url = *parsed;
  c.timeout = 5s;
  return c;
}

// What every over-limit answer must satisfy: an error naming the limit,
// long before the 5 s deadline (on loopback the limit is reached in
// milliseconds; the margin is for sanitizers and a loaded machine).
void ExpectRefusedEarly(const connect::HttpResult& r, Clock::duration took,
                        const std::string& limit) {
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr(limit));
  EXPECT_LT(took, 3s) << r.error;
}

struct HeadCase {
  const char* name;
  std::unique_ptr<HostileUpstream> (*make)();
};

class EndlessHeadTest : public ::testing::TestWithParam<HeadCase> {};

TEST_P(EndlessHeadTest, GetFailsNamingTheHeadLimit) {
  auto upstream = GetParam().make();
  connect::ConnectClient client(ClusterFor(upstream->Url()));
  const auto start = Clock::now();
  const auto r = client.Get("/connectors?expand=status", start + 5s);
  const auto took = Clock::now() - start;
  ExpectRefusedEarly(r, took, "response head over 64 KiB");
  EXPECT_THAT(r.error, HasSubstr("from " + upstream->Url()));
  // It read about the limit, not what the upstream could send in 5 s.
  EXPECT_LT(upstream->BytesSent(), 32u * 1024 * 1024);
}

TEST_P(EndlessHeadTest, RestartPostFailsNamingTheHeadLimit) {
  auto upstream = GetParam().make();
  connect::ConnectClient client(ClusterFor(upstream->Url()));
  const auto start = Clock::now();
  const auto r = client.Post(
      "/connectors/inventory/restart?includeTasks=true&onlyFailed=false",
      start + 5s);
  ExpectRefusedEarly(r, Clock::now() - start, "response head over 64 KiB");
  upstream->Stop();
  ASSERT_EQ(upstream->Requests().size(), 1u);
  EXPECT_EQ(upstream->Requests()[0],
            "POST /connectors/inventory/restart?includeTasks=true"
            "&onlyFailed=false");
}

TEST_P(EndlessHeadTest, ReportFailsNamingTheHeadLimit) {
  auto upstream = GetParam().make();
  const auto start = Clock::now();
  try {
    BuildReport(upstream->Url(), "1h", 5);
    ADD_FAILURE() << "BuildReport returned";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("response head over 64 KiB"),
                                HasSubstr(upstream->Url())));
  }
  EXPECT_LT(Clock::now() - start, 3s);
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, EndlessHeadTest,
    ::testing::Values(
        HeadCase{"HeaderLines", &HostileUpstream::EndlessHead},
        HeadCase{"OneHeaderLine", &HostileUpstream::EndlessHeaderLine},
        HeadCase{"StatusLine", &HostileUpstream::EndlessStatusLine}),
    [](const auto& info) { return std::string(info.param.name); });

struct BodyCase {
  const char* name;
  std::unique_ptr<HostileUpstream> (*make)();
};

class EndlessBodyTest : public ::testing::TestWithParam<BodyCase> {};

TEST_P(EndlessBodyTest, GetFailsNamingMaxResponseBytes) {
  auto upstream = GetParam().make();
  auto cluster = ClusterFor(upstream->Url());
  cluster.max_response_bytes = 1024 * 1024;
  connect::ConnectClient client(cluster);
  const auto start = Clock::now();
  const auto r = client.Get("/connectors", start + 5s);
  ExpectRefusedEarly(r, Clock::now() - start,
                     "response body exceeds max_response_bytes (1048576)");
}

// The restart POST used to read its whole body before cutting it.
TEST_P(EndlessBodyTest, RestartPostFailsNamingMaxResponseBytes) {
  auto upstream = GetParam().make();
  auto cluster = ClusterFor(upstream->Url());
  cluster.max_response_bytes = 1024 * 1024;
  connect::ConnectClient client(cluster);
  const auto start = Clock::now();
  const auto r = client.Post("/connectors/x/restart", start + 5s);
  ExpectRefusedEarly(r, Clock::now() - start,
                     "response body exceeds max_response_bytes (1048576)");
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, EndlessBodyTest,
    ::testing::Values(BodyCase{"Chunked", &HostileUpstream::EndlessChunkedBody},
                      BodyCase{"ToTheEnd", &HostileUpstream::EndlessBody}),
    [](const auto& info) { return std::string(info.param.name); });

// Reading the report's 64 MiB takes a while under sanitizers on a loaded
// machine: the deadline is generous, and the error tells the limit from it.
TEST(UpstreamLimitsTest, ReportFailsNamingItsBodyLimit) {
  auto upstream = HostileUpstream::EndlessBody();
  const auto start = Clock::now();
  try {
    BuildReport(upstream->Url(), "1h", 60);
    ADD_FAILURE() << "BuildReport returned";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("response body exceeds 64 MiB"));
  }
  EXPECT_LT(Clock::now() - start, 50s);
}

// A Content-Length over the limit is refused from the head, even when the
// body starts in the same read (Boost 1.74's parser loses that error).
TEST(UpstreamLimitsTest, ContentLengthOverTheLimitIsRefusedFromTheHead) {
  HostileUpstream upstream(
      "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n[",
      std::string(1024, ' '));
  auto cluster = ClusterFor(upstream.Url());
  cluster.max_response_bytes = 1024 * 1024;
  connect::ConnectClient client(cluster);
  for (int i = 0; i < 5; ++i) {  // head and body in one read, or not
    const auto start = Clock::now();
    const auto r = client.Get("/connectors", start + 5s);
    ExpectRefusedEarly(r, Clock::now() - start,
                       "response body exceeds max_response_bytes (1048576)");
  }
}

TEST(UpstreamLimitsTest, EndlessTrailersFailNamingTheFramingLimit) {
  auto upstream = HostileUpstream::EndlessTrailers();
  connect::ConnectClient client(ClusterFor(upstream->Url()));
  const auto start = Clock::now();
  const auto r = client.Get("/connectors", start + 5s);
  ExpectRefusedEarly(r, Clock::now() - start,
                     "response chunk framing (sizes, extensions, trailers) "
                     "over 128 KiB");
}

TEST(UpstreamLimitsTest, EndlessChunkSizeLineFailsNamingTheFramingLimit) {
  HostileUpstream upstream(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=",
      std::string(1024, 'y'));
  connect::ConnectClient client(ClusterFor(upstream.Url()));
  const auto start = Clock::now();
  const auto r = client.Get("/connectors", start + 5s);
  ExpectRefusedEarly(r, Clock::now() - start, "response chunk framing");
}

// The limit is on the head's bytes: a head just under it is accepted.
TEST(UpstreamLimitsTest, HeadUnderTheLimitIsAccepted) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
  while (head.size() < upstream::kMaxHeadBytes - 200) {
    head += "X-a: " + std::string(93, 'b') + "\r\n";
  }
  HostileUpstream upstream(head + "\r\n[]", "");
  connect::ConnectClient client(ClusterFor(upstream.Url()));
  const auto r = client.Get("/connectors", Clock::now() + 5s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[]");
}

TEST(UpstreamLimitsTest, FormatBytes) {
  EXPECT_EQ(upstream::FormatBytes(64 * 1024), "64 KiB");
  EXPECT_EQ(upstream::FormatBytes(16 * 1024 * 1024), "16 MiB");
  EXPECT_EQ(upstream::FormatBytes(1000), "1000 bytes");
  EXPECT_EQ(upstream::FormatBytes(0), "0 bytes");
}

}  // namespace
}  // namespace cdc
