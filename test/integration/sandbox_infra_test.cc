// Integration tests for the sandbox infrastructure in test/sandbox: the fault
// proxy (cdc-fault-proxy), the Kafka mock broker (cdc-kafka-broker), the
// MariaDB the sandbox runs, and up/down themselves.
//
// The proxy and broker tests start their own instances of the programs, so
// that they can break them freely; the MariaDB tests use the sandbox that the
// CTest fixture `sandbox` brought up (found through CDC_SANDBOX_DIR/env).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cdc/common/kafka_handles.h"
#include "cdc/common/mysql_handles.h"
#include "sandbox_env.h"
#include "test_support.h"

namespace cdc::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// ---------------------------------------------------------------------------
// Files and processes

struct CommandResult {
  int exit_code = -1;  // -1: timed out (and killed)
  std::string output;
  std::chrono::milliseconds elapsed{0};
};

// Runs a command to completion with extra environment variables.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env,
                         std::chrono::seconds timeout, const TempDir& tmp) {
  const std::string log = tmp.File(
      "command-" + std::to_string(getpid()) + "-" +
      std::to_string(Clock::now().time_since_epoch().count()) + ".log");
  const auto start = Clock::now();
  CommandResult result;
  {
    ChildProcess child(argv, ChildOptions{.out = log, .env = env});
    auto code = child.Wait(timeout);
    if (code) {
      result.exit_code = *code;
    } else {
      child.Stop(2s);
    }
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      Clock::now() - start);
  result.output = ReadFile(log);
  return result;
}

// ---------------------------------------------------------------------------
// Sockets

Fd Listen(uint16_t* port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(0);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(fd.get(), 512) != 0) {
    throw std::runtime_error("listen failed");
  }
  socklen_t len = sizeof(a);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

void SetNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

Fd Connect(uint16_t port) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    throw std::runtime_error("connect to " + std::to_string(port) +
                             " failed: " + std::strerror(errno));
  }
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetNonBlocking(fd.get());
  return fd;
}

bool WaitFor(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, int(timeout.count())) == 1;
}

// Accepts one connection within `timeout`; invalid Fd if none came.
Fd AcceptWithin(const Fd& listener, std::chrono::milliseconds timeout) {
  if (!WaitFor(listener.get(), POLLIN, timeout)) return Fd();
  Fd fd(
      accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, std::string_view data,
             std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(size_t(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left <= 0ms || !WaitFor(fd, POLLOUT, left)) return false;
  }
  return true;
}

// Reads until `n` bytes, EOF, an error or the timeout.
std::string RecvUpTo(int fd, size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left <= 0ms || !WaitFor(fd, POLLIN, left)) break;
    ssize_t r = recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r <= 0) {
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      break;
    }
    out.append(buf, size_t(r));
  }
  return out;
}

// What the next read on `fd` sees within `timeout`.
enum class ReadOutcome { kTimeout, kData, kEof, kReset, kOtherError };
ReadOutcome NextRead(int fd, std::chrono::milliseconds timeout) {
  if (!WaitFor(fd, POLLIN, timeout)) return ReadOutcome::kTimeout;
  char c;
  ssize_t r = recv(fd, &c, 1, MSG_PEEK);
  if (r > 0) return ReadOutcome::kData;
  if (r == 0) return ReadOutcome::kEof;
  return errno == ECONNRESET ? ReadOutcome::kReset : ReadOutcome::kOtherError;
}

const char* Name(ReadOutcome o) {
  switch (o) {
    case ReadOutcome::kTimeout:
      return "timeout";
    case ReadOutcome::kData:
      return "data";
    case ReadOutcome::kEof:
      return "EOF";
    case ReadOutcome::kReset:
      return "ECONNRESET";
    case ReadOutcome::kOtherError:
      return "other error";
  }
  return "?";
}

// What a new connection to a proxy in reset mode sees first: the RST can
// arrive before the kernel wakes a blocking connect() (connect() fails with
// ECONNRESET, seen in CI) or after it (the first read does). Both are the
// reset; any other connect() error is returned by name.
std::string FirstOutcomeOfNewConnection(uint16_t port,
                                        std::chrono::milliseconds timeout) {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return errno == ECONNRESET
               ? "ECONNRESET"
               : std::string("connect: ") + std::strerror(errno);
  }
  SetNonBlocking(fd.get());
  return Name(NextRead(fd.get(), timeout));
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

// One direction of traffic between two nonblocking sockets.
struct Flow {
  int src;
  int dst;
  std::string data;
  size_t sent = 0;
  std::string received;
  bool done() const { return received.size() >= data.size(); }
};

// Sends what is left of every flow and reads on the other ends until every
// byte has arrived or `timeout` passes. Returns true when complete.
bool RunFlows(const std::vector<Flow*>& flows,
              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  char buf[65536];
  while (Clock::now() < deadline) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Flow*, bool>> what;  // (flow, is_send)
    bool all_done = true;
    for (Flow* f : flows) {
      if (f->sent < f->data.size()) {
        fds.push_back({f->src, POLLOUT, 0});
        what.emplace_back(f, true);
      }
      if (!f->done()) {
        all_done = false;
        fds.push_back({f->dst, POLLIN, 0});
        what.emplace_back(f, false);
      }
    }
    if (all_done) return true;
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Flow* f = what[i].first;
      if (what[i].second) {
        ssize_t n = send(f->src, f->data.data() + f->sent,
                         std::min<size_t>(f->data.size() - f->sent, 1 << 20),
                         MSG_NOSIGNAL);
        if (n > 0) f->sent += size_t(n);
        if (n < 0 && errno != EAGAIN) return false;
      } else {
        ssize_t n = recv(f->dst, buf, sizeof(buf), 0);
        if (n > 0) f->received.append(buf, size_t(n));
        if (n == 0 || (n < 0 && errno != EAGAIN)) return false;
      }
    }
  }
  return false;
}

// Sends as much of `f` as the sockets take right now, without reading.
void FillWithoutReading(Flow& f, std::chrono::milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline && f.sent < f.data.size()) {
    ssize_t n =
        send(f.src, f.data.data() + f.sent,
             std::min<size_t>(f.data.size() - f.sent, 1 << 20), MSG_NOSIGNAL);
    if (n > 0) {
      f.sent += size_t(n);
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
}

// Compares big byte strings without printing megabytes on failure.
::testing::AssertionResult SameBytes(const std::string& got,
                                     const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure()
         << "got " << got.size() << " bytes, want " << want.size()
         << "; first difference at offset " << i;
}

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t)
      .count();
}

// ---------------------------------------------------------------------------
// cdc-fault-proxy

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { upstream_ = Listen(&upstream_port_); }

  void TearDown() override {
    if (proxy_ && HasFailure()) {
      std::cerr << "--- proxy log ---\n" << proxy_->Log();
    }
  }

  // Starts the proxy in front of `upstream_port` (default: our listener).
  void StartProxy(std::optional<uint16_t> upstream_port = std::nullopt) {
    const std::string pf = tmp_.File("proxy.ports");
    proxy_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            CDC_FAULT_PROXY_BIN, "--name", "test", "--upstream",
            "127.0.0.1:" +
                std::to_string(upstream_port.value_or(upstream_port_)),
            "--port-file", pf, "--log-level", "debug"},
        ChildOptions{.out = tmp_.File("proxy.log"), .stop_timeout = 5s});
    auto kv = WaitForKeys(pf, "control_port", *proxy_, 10s);
    listen_port_ = uint16_t(std::stoi(kv.at("listen_port")));
    control_ = std::make_unique<httplib::Client>(
        "127.0.0.1", std::stoi(kv.at("control_port")));
    control_->set_connection_timeout(5s);
    control_->set_read_timeout(10s);
  }

  void SetMode(const std::string& query) {
    auto res = control_->Put("/mode?" + query);
    ASSERT_TRUE(res) << "control API unreachable: "
                     << httplib::to_string(res.error());
    ASSERT_EQ(res->status, 200) << res->body;
  }

  json Stats() {
    auto res = control_->Get("/stats");
    if (!res || res->status != 200) return json::object();
    return json::parse(res->body);
  }

  // The proxy counts a chunk just after handing it to the kernel, so a peer
  // may read it a moment before /stats shows it: poll briefly.
  json StatsOnce(const std::function<bool(const json&)>& settled) {
    json s = Stats();
    const auto deadline = Clock::now() + 2s;
    while (!settled(s) && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      s = Stats();
    }
    return s;
  }

  // Connects a client through the proxy and accepts the upstream side.
  std::pair<Fd, Fd> Pair() {
    Fd client = Connect(listen_port_);
    Fd up = AcceptWithin(upstream_, 5s);
    if (!up.valid()) throw std::runtime_error("proxy did not connect upstream");
    return {std::move(client), std::move(up)};
  }

  TempDir tmp_;
  Fd upstream_;
  uint16_t upstream_port_ = 0;
  uint16_t listen_port_ = 0;
  std::unique_ptr<ChildProcess> proxy_;
  std::unique_ptr<httplib::Client> control_;
};

TEST_F(FaultProxyTest, PassForwardsBothWaysAndCountsBytes) {
  StartProxy();
  auto [client, up] = Pair();
  ASSERT_TRUE(SendAll(client.get(), "hello"));
  EXPECT_EQ(RecvUpTo(up.get(), 5, 5s), "hello");
  ASSERT_TRUE(SendAll(up.get(), "world!"));
  EXPECT_EQ(RecvUpTo(client.get(), 6, 5s), "world!");
  json s = StatsOnce([](const json& j) {
    return j.value("bytes_upstream_to_client", 0) == 6 &&
           j.value("bytes_client_to_upstream", 0) == 5;
  });
  EXPECT_EQ(s["mode"], "pass");
  EXPECT_EQ(s["connections_accepted"], 1);
  EXPECT_EQ(s["connections_active"], 1);
  EXPECT_EQ(s["bytes_client_to_upstream"], 5);
  EXPECT_EQ(s["bytes_upstream_to_client"], 6);
}

TEST_F(FaultProxyTest, BlackholeHoldsEveryByteAndDeliversItAfterHeal) {
  StartProxy();
  auto [client, up] = Pair();
  SetMode("mode=blackhole");

  Flow c2u{client.get(), up.get(), RandomBytes(24 << 20, 1), 0, ""};
  Flow u2c{up.get(), client.get(), RandomBytes(256 << 10, 2), 0, ""};
  FillWithoutReading(c2u, 500ms);
  FillWithoutReading(u2c, 200ms);
  // The proxy stopped reading: the client's writes block long before 24 MiB.
  EXPECT_LT(c2u.sent, c2u.data.size()) << "proxy kept reading in blackhole";
  EXPECT_GT(c2u.sent, 0u);

  // Nothing arrives on either side, and neither side sees EOF or a reset.
  EXPECT_STREQ(Name(NextRead(up.get(), 1s)), Name(ReadOutcome::kTimeout));
  EXPECT_STREQ(Name(NextRead(client.get(), 10ms)), Name(ReadOutcome::kTimeout));
  json s = Stats();
  EXPECT_EQ(s["bytes_client_to_upstream"], 0);
  EXPECT_EQ(s["bytes_upstream_to_client"], 0);
  EXPECT_EQ(s["connections_active"], 1);

  SetMode("mode=pass");
  ASSERT_TRUE(RunFlows({&c2u, &u2c}, 30s))
      << "c2u " << c2u.received.size() << "/" << c2u.data.size() << ", u2c "
      << u2c.received.size() << "/" << u2c.data.size();
  EXPECT_TRUE(SameBytes(c2u.received, c2u.data));
  EXPECT_TRUE(SameBytes(u2c.received, u2c.data));
  s = StatsOnce([&](const json& j) {
    return j.value("bytes_client_to_upstream", size_t(0)) == c2u.data.size() &&
           j.value("bytes_upstream_to_client", size_t(0)) == u2c.data.size();
  });
  EXPECT_EQ(s["bytes_client_to_upstream"], c2u.data.size());
  EXPECT_EQ(s["bytes_upstream_to_client"], u2c.data.size());
  EXPECT_EQ(s["bytes_buffered"], 0);
}

TEST_F(FaultProxyTest, BlackholeHoldsNewConnectionsUntilHeal) {
  StartProxy();
  SetMode("mode=blackhole");
  Fd client = Connect(listen_port_);  // the kernel completes the handshake
  ASSERT_TRUE(SendAll(client.get(), "early"));
  EXPECT_FALSE(AcceptWithin(upstream_, 700ms).valid())
      << "upstream saw a connection during blackhole";
  SetMode("mode=pass");
  Fd up = AcceptWithin(upstream_, 5s);
  ASSERT_TRUE(up.valid());
  EXPECT_EQ(RecvUpTo(up.get(), 5, 5s), "early");
}

TEST_F(FaultProxyTest, ResetRstsOpenConnectionsAndEveryNewOne) {
  StartProxy();
  auto [client, up] = Pair();
  ASSERT_TRUE(SendAll(client.get(), "x"));
  ASSERT_EQ(RecvUpTo(up.get(), 1, 5s), "x");

  SetMode("mode=reset");
  EXPECT_STREQ(Name(NextRead(client.get(), 3s)), "ECONNRESET");
  EXPECT_STREQ(Name(NextRead(up.get(), 3s)), "ECONNRESET");

  EXPECT_EQ(FirstOutcomeOfNewConnection(listen_port_, 3s), "ECONNRESET");
  EXPECT_FALSE(AcceptWithin(upstream_, 300ms).valid());
  EXPECT_GE(Stats()["connections_reset"].get<int>(), 2);

  SetMode("mode=pass");
  auto [c3, u3] = Pair();
  ASSERT_TRUE(SendAll(c3.get(), "again"));
  EXPECT_EQ(RecvUpTo(u3.get(), 5, 5s), "again");
}

TEST_F(FaultProxyTest, OneShotResetKeepsMode) {
  StartProxy();
  auto [client, up] = Pair();
  auto res = control_->Post("/connections/reset");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_STREQ(Name(NextRead(client.get(), 3s)), "ECONNRESET");
  EXPECT_EQ(Stats()["mode"], "pass");
  auto [c2, u2] = Pair();
  ASSERT_TRUE(SendAll(c2.get(), "ok"));
  EXPECT_EQ(RecvUpTo(u2.get(), 2, 5s), "ok");
}

TEST_F(FaultProxyTest, DelayHoldsEachChunkAndKeepsOrder) {
  StartProxy();
  auto [client, up] = Pair();
  SetMode("mode=delay&ms=500");

  auto t0 = Clock::now();
  ASSERT_TRUE(SendAll(client.get(), "ping"));
  ASSERT_EQ(RecvUpTo(up.get(), 4, 5s), "ping");
  const auto one_way = MsSince(t0);
  EXPECT_GE(one_way, 495);
  EXPECT_LT(one_way, 2500);

  t0 = Clock::now();
  ASSERT_TRUE(SendAll(up.get(), "pong"));
  ASSERT_EQ(RecvUpTo(client.get(), 4, 5s), "pong");
  EXPECT_GE(MsSince(t0), 495);

  // Many small chunks sent over ~200 ms arrive complete and in order.
  std::string want;
  t0 = Clock::now();
  for (int i = 0; i < 40; ++i) {
    char chunk[16];
    snprintf(chunk, sizeof(chunk), "seq%04d;", i);
    want += chunk;
    ASSERT_TRUE(SendAll(client.get(), chunk));
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(RecvUpTo(up.get(), want.size(), 5s), want);
  EXPECT_GE(MsSince(t0), 495);

  SetMode("mode=pass");
  t0 = Clock::now();
  ASSERT_TRUE(SendAll(client.get(), "fast"));
  ASSERT_EQ(RecvUpTo(up.get(), 4, 5s), "fast");
  EXPECT_LT(MsSince(t0), 400) << "delay still applied after switching to pass";
  EXPECT_EQ(Stats()["mode"], "pass");
}

TEST_F(FaultProxyTest, HalfCloseIsPassedOn) {
  StartProxy();
  auto [client, up] = Pair();
  ASSERT_TRUE(SendAll(client.get(), "request"));
  shutdown(client.get(), SHUT_WR);
  EXPECT_EQ(RecvUpTo(up.get(), 100, 5s), "request");  // then EOF
  EXPECT_STREQ(Name(NextRead(up.get(), 2s)), Name(ReadOutcome::kEof));
  // The other direction still works after the client's FIN.
  ASSERT_TRUE(SendAll(up.get(), "response"));
  EXPECT_EQ(RecvUpTo(client.get(), 8, 5s), "response");
  up.Close();
  EXPECT_STREQ(Name(NextRead(client.get(), 5s)), Name(ReadOutcome::kEof));
  // Both sides finished: the proxy forgets the connection.
  const auto deadline = Clock::now() + 3s;
  while (Stats()["connections_active"] != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(Stats()["connections_active"], 0);
}

TEST_F(FaultProxyTest, UpstreamRefusingResetsTheClient) {
  StartProxy(FreePort());
  Fd client = Connect(listen_port_);
  EXPECT_STREQ(Name(NextRead(client.get(), 3s)), "ECONNRESET");
  EXPECT_EQ(Stats()["upstream_connect_failures"], 1);
  EXPECT_EQ(Stats()["connections_active"], 0);
}

TEST_F(FaultProxyTest, ManyConcurrentConnections) {
  StartProxy();
  constexpr int kConns = 200;
  std::vector<Fd> clients;
  std::vector<Fd> ups;
  for (int i = 0; i < kConns; ++i) clients.push_back(Connect(listen_port_));
  for (int i = 0; i < kConns; ++i) {
    Fd up = AcceptWithin(upstream_, 5s);
    ASSERT_TRUE(up.valid()) << "only " << i << " upstream connections";
    ups.push_back(std::move(up));
  }
  for (int i = 0; i < kConns; ++i) {
    ASSERT_TRUE(SendAll(clients[i].get(), "c" + std::to_string(1000 + i)));
  }
  // Echo each upstream connection's id back, then check every client got
  // its own.
  for (auto& up : ups) {
    std::string id = RecvUpTo(up.get(), 5, 5s);
    ASSERT_EQ(id.size(), 5u);
    ASSERT_TRUE(SendAll(up.get(), id));
  }
  for (int i = 0; i < kConns; ++i) {
    EXPECT_EQ(RecvUpTo(clients[i].get(), 5, 5s),
              "c" + std::to_string(1000 + i));
  }
  EXPECT_EQ(Stats()["connections_active"], kConns);
}

TEST_F(FaultProxyTest, ControlApiRejectsBadRequests) {
  StartProxy();
  auto bad = control_->Put("/mode?mode=bogus");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("unknown mode"), std::string::npos) << bad->body;
  auto no_ms = control_->Post("/mode?mode=delay");
  ASSERT_TRUE(no_ms);
  EXPECT_EQ(no_ms->status, 400);
  auto neg = control_->Post("/mode?mode=delay&ms=-5");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->status, 400);
  SetMode("mode=delay&ms=250");
  auto mode = control_->Get("/mode");
  ASSERT_TRUE(mode);
  json m = json::parse(mode->body);
  EXPECT_EQ(m["mode"], "delay");
  EXPECT_EQ(m["delay_ms"], 250);
  EXPECT_EQ(m["name"], "test");
  auto health = control_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(FaultProxyTest, ExitsCleanlyOnSigterm) {
  StartProxy();
  auto [client, up] = Pair();
  EXPECT_EQ(proxy_->Stop(5s), std::optional<int>(0));
}

TEST(FaultProxyFlags, RejectsNonLoopbackListenAndMissingUpstream) {
  TempDir tmp;
  auto r = RunCommand({CDC_FAULT_PROXY_BIN, "--upstream", "127.0.0.1:1",
                       "--listen", "0.0.0.0:0"},
                      {}, 10s, tmp);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("non-loopback"), std::string::npos) << r.output;
  r = RunCommand({CDC_FAULT_PROXY_BIN}, {}, 10s, tmp);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--upstream is required"), std::string::npos)
      << r.output;
}

// ---------------------------------------------------------------------------
// MariaDB (the fixture's sandbox)

struct MysqlConnectOptions {
  std::string user;
  std::string password;
  int port = 0;
  std::string tls_version;  // empty: library default
  bool client_cert = false;
  bool tls = true;
};

// Connects over TCP with TLS verified against the sandbox CA. On failure
// returns null and sets `error`.
MysqlHandle ConnectMysql(const SandboxEnv& env, const MysqlConnectOptions& o,
                         std::string* error) {
  MysqlHandle m(mysql_init(nullptr));
  unsigned timeout = 10;
  mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  unsigned rw_timeout = 30;
  mysql_optionsv(m.get(), MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
  mysql_optionsv(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
  if (o.tls) {
    my_bool on = 1;
    mysql_optionsv(m.get(), MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_optionsv(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    mysql_optionsv(m.get(), MYSQL_OPT_SSL_CA, env.Get("MYSQL_CA").c_str());
    if (o.client_cert) {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_CERT,
                     env.Get("MYSQL_CLIENT_CERT").c_str());
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_KEY,
                     env.Get("MYSQL_CLIENT_KEY").c_str());
    }
    if (!o.tls_version.empty()) {
      mysql_optionsv(m.get(), MARIADB_OPT_TLS_VERSION, o.tls_version.c_str());
    }
  }
  const int port = o.port ? o.port : env.GetInt("MYSQL_PORT");
  if (!mysql_real_connect(m.get(), "127.0.0.1", o.user.c_str(),
                          o.password.c_str(), nullptr, port, nullptr, 0)) {
    *error = mysql_error(m.get());
    return nullptr;
  }
  return m;
}

// First column of the first row, or nullopt on error (message in `error`).
std::optional<std::string> Scalar(MYSQL* m, const std::string& sql,
                                  std::string* error = nullptr) {
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    if (error) *error = mysql_error(m);
    return std::nullopt;
  }
  MysqlResult res(mysql_store_result(m));
  if (!res) return std::string();
  MYSQL_ROW row = mysql_fetch_row(res.get());
  if (!row) return std::string();
  unsigned long* len = mysql_fetch_lengths(res.get());
  return row[0] ? std::string(row[0], len[0]) : std::string();
}

// Second column of SHOW ... LIKE queries.
std::string ShowValue(MYSQL* m, const std::string& sql) {
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) return "ERROR";
  MysqlResult res(mysql_store_result(m));
  MYSQL_ROW row = res ? mysql_fetch_row(res.get()) : nullptr;
  return row && row[1] ? row[1] : "";
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      env_ = SandboxEnv::Load();
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }

  MysqlConnectOptions Connector(const std::string& tag) {
    const std::string up = tag == "tls13" ? "TLS13" : "TLS12";
    MysqlConnectOptions o;
    o.user = env_.Get("CONNECTOR_" + up + "_USER");
    o.password = env_.ReadFileAt("CONNECTOR_" + up + "_PASSWORD_FILE");
    o.tls_version = env_.Get("CONNECTOR_" + up + "_TLS_VERSION");
    return o;
  }

  MysqlConnectOptions Monitor() {
    MysqlConnectOptions o;
    o.user = env_.Get("MYSQL_MONITOR_USER");
    o.password = env_.ReadFileAt("MYSQL_MONITOR_PASSWORD_FILE");
    return o;
  }

  SandboxEnv env_;
};

TEST_F(SandboxTest, EnvFileHasEveryEndpointAndNoSecrets) {
  for (const char* key : {"MYSQL_HOST",
                          "MYSQL_PORT",
                          "MYSQL_SOCKET",
                          "MYSQL_CA",
                          "MYSQL_CLIENT_CERT",
                          "MYSQL_CLIENT_KEY",
                          "MYSQL_ROOT_PASSWORD_FILE",
                          "MYSQL_MONITOR_USER",
                          "MYSQL_MONITOR_PASSWORD_FILE",
                          "KAFKA_BOOTSTRAP",
                          "KAFKA_CONTROL_URL",
                          "SIM_CONFIG",
                          "SIM_LOG",
                          "PROXY_TLS13_PORT",
                          "PROXY_TLS13_CONTROL_URL",
                          "PROXY_TLS12_PORT",
                          "PROXY_TLS12_CONTROL_URL",
                          "PROXY_KAFKA_PORT",
                          "PROXY_KAFKA_CONTROL_URL",
                          "CONNECTOR_TLS13_NAME",
                          "CONNECTOR_TLS12_NAME"}) {
    EXPECT_TRUE(env_.Has(key)) << key;
  }
  EXPECT_EQ(env_.Get("MYSQL_HOST"), "127.0.0.1");
  EXPECT_EQ(env_.Get("CONNECTOR_TLS13_NAME"), "aurora-cdc-tls13");
  EXPECT_EQ(env_.Get("CONNECTOR_TLS12_NAME"), "aurora-cdc-tls12");
  const std::string env_text = ReadFile(env_.path());
  for (const char* key :
       {"MYSQL_ROOT_PASSWORD_FILE", "MYSQL_MONITOR_PASSWORD_FILE",
        "CONNECTOR_TLS13_PASSWORD_FILE", "CONNECTOR_TLS12_PASSWORD_FILE"}) {
    const std::string pw = env_.ReadFileAt(key);
    EXPECT_GE(pw.size(), 20u) << key;
    EXPECT_EQ(env_text.find(pw), std::string::npos)
        << "env file contains the password from " << key;
    struct stat st {};
    ASSERT_EQ(stat(env_.Get(key).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
}

TEST_F(SandboxTest, MariadbNegotiatesTls12AndTls13AsPinned) {
  for (const char* tag : {"tls13", "tls12"}) {
    std::string error;
    auto opts = Connector(tag);
    auto m = ConnectMysql(env_, opts, &error);
    ASSERT_TRUE(m) << tag << ": " << error;
    EXPECT_EQ(ShowValue(m.get(), "SHOW SESSION STATUS LIKE 'Ssl_version'"),
              opts.tls_version);
  }
}

TEST_F(SandboxTest, DebeziumUsersNeedTlsAndClientCertWorks) {
  auto opts = Connector("tls13");
  opts.tls = false;
  std::string error;
  EXPECT_FALSE(ConnectMysql(env_, opts, &error))
      << "a replication user logged in without TLS";
  opts = Monitor();
  opts.client_cert = true;
  auto m = ConnectMysql(env_, opts, &error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(ShowValue(m.get(), "SHOW SESSION STATUS LIKE 'Ssl_version'"),
            "TLSv1.3");
}

TEST_F(SandboxTest, MonitorSeesEverySessionsTlsVersion) {
  std::string error;
  auto s13 = ConnectMysql(env_, Connector("tls13"), &error);
  ASSERT_TRUE(s13) << error;
  auto s12 = ConnectMysql(env_, Connector("tls12"), &error);
  ASSERT_TRUE(s12) << error;
  auto mon = ConnectMysql(env_, Monitor(), &error);
  ASSERT_TRUE(mon) << error;
  const std::string sql =
      "SELECT t.PROCESSLIST_ID, t.PROCESSLIST_USER, s.VARIABLE_VALUE "
      "FROM performance_schema.threads t "
      "LEFT JOIN performance_schema.status_by_thread s "
      "  ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_version' "
      "WHERE t.TYPE = 'FOREGROUND' AND t.PROCESSLIST_ID IN (" +
      std::to_string(mysql_thread_id(s13.get())) + "," +
      std::to_string(mysql_thread_id(s12.get())) + ")";
  ASSERT_EQ(mysql_real_query(mon.get(), sql.data(), sql.size()), 0)
      << mysql_error(mon.get());
  MysqlResult res(mysql_store_result(mon.get()));
  ASSERT_TRUE(res);
  std::map<std::string, std::string> version_by_user;
  while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
    version_by_user[row[1] ? row[1] : ""] = row[2] ? row[2] : "";
  }
  EXPECT_EQ(version_by_user["debezium_tls13"], "TLSv1.3");
  EXPECT_EQ(version_by_user["debezium_tls12"], "TLSv1.2");
}

TEST_F(SandboxTest, MonitorHasExactlyTheRightsItNeeds) {
  std::string error;
  auto mon = ConnectMysql(env_, Monitor(), &error);
  ASSERT_TRUE(mon) << error;
  // Allowed: binlog position, binary logs, processlist, canary writes.
  EXPECT_TRUE(Scalar(mon.get(), "SHOW MASTER STATUS", &error)) << error;
  auto file = Scalar(mon.get(), "SHOW MASTER STATUS");
  ASSERT_TRUE(file);
  EXPECT_NE(file->find("mariadb-bin."), std::string::npos);
  EXPECT_TRUE(Scalar(mon.get(), "SHOW BINARY LOGS", &error)) << error;
  EXPECT_TRUE(Scalar(mon.get(), "SHOW FULL PROCESSLIST", &error)) << error;
  const std::string id = "infra-test-" + std::to_string(getpid());
  EXPECT_TRUE(
      Scalar(mon.get(),
             "INSERT INTO cdc_canary.markers (id, token) VALUES ('" + id +
                 "', 't1') ON DUPLICATE KEY UPDATE token = VALUES(token)",
             &error))
      << error;
  EXPECT_EQ(
      Scalar(mon.get(),
             "SELECT token FROM cdc_canary.markers WHERE id='" + id + "'"),
      "t1");
  // Denied: deleting markers (the exporter only upserts: docs/security.md),
  // application data, DDL elsewhere, user management.
  EXPECT_FALSE(Scalar(mon.get(),
                      "DELETE FROM cdc_canary.markers WHERE id='" + id + "'"));
  EXPECT_FALSE(Scalar(mon.get(), "SELECT COUNT(*) FROM inventory.customers"));
  EXPECT_EQ(mysql_errno(mon.get()), 1142u) << mysql_error(mon.get());
  EXPECT_FALSE(Scalar(mon.get(), "CREATE DATABASE infra_should_fail"));
  EXPECT_FALSE(Scalar(mon.get(), "SELECT COUNT(*) FROM mysql.user"));
}

TEST_F(SandboxTest, BinlogIsRowFormatWithGtidsAndDemoDataExists) {
  std::string error;
  MysqlConnectOptions root;
  root.user = "root";
  root.password = env_.ReadFileAt("MYSQL_ROOT_PASSWORD_FILE");
  auto m = ConnectMysql(env_, root, &error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(Scalar(m.get(), "SELECT @@log_bin"), "1");
  EXPECT_EQ(Scalar(m.get(), "SELECT @@binlog_format"), "ROW");
  EXPECT_EQ(Scalar(m.get(), "SELECT @@binlog_checksum"), "CRC32");
  EXPECT_EQ(Scalar(m.get(), "SELECT @@performance_schema"), "1");
  EXPECT_EQ(Scalar(m.get(), "SELECT @@bind_address"), "127.0.0.1");
  auto tls = Scalar(m.get(), "SELECT @@tls_version");
  ASSERT_TRUE(tls);
  EXPECT_NE(tls->find("TLSv1.2"), std::string::npos);
  EXPECT_NE(tls->find("TLSv1.3"), std::string::npos);
  auto before = Scalar(m.get(), "SELECT @@gtid_binlog_pos");
  ASSERT_TRUE(Scalar(m.get(),
                     "INSERT INTO cdc_canary.markers (id, token) VALUES "
                     "('infra-gtid', 'x') ON DUPLICATE KEY UPDATE token = "
                     "IF(token = 'x', 'y', 'x')",
                     &error))
      << error;
  auto after = Scalar(m.get(), "SELECT @@gtid_binlog_pos");
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->empty());
  EXPECT_NE(before, after) << "a write did not advance the GTID position";
  EXPECT_EQ(Scalar(m.get(), "SELECT COUNT(*) >= 4 FROM inventory.customers"),
            "1");
  // No account may log in without a password.
  EXPECT_EQ(
      Scalar(m.get(),
             "SELECT COUNT(*) FROM mysql.user WHERE user <> 'mariadb.sys' "
             "AND authentication_string = ''"),
      "0");
}

TEST_F(SandboxTest, TlsSessionThroughProxySurvivesBlackhole) {
  // A private proxy in front of the sandbox's MariaDB, so the simulated
  // connectors are not disturbed.
  TempDir tmp;
  const std::string pf = tmp.File("p.ports");
  ChildProcess proxy(
      {CDC_FAULT_PROXY_BIN, "--name", "mysql-test", "--upstream",
       "127.0.0.1:" + env_.Get("MYSQL_PORT"), "--port-file", pf},
      ChildOptions{.out = tmp.File("p.log"), .stop_timeout = 5s});
  auto kv = WaitForKeys(pf, "control_port", proxy, 10s);
  httplib::Client control("127.0.0.1", std::stoi(kv.at("control_port")));
  auto opts = Connector("tls13");
  opts.port = std::stoi(kv.at("listen_port"));
  std::string error;
  auto m = ConnectMysql(env_, opts, &error);
  ASSERT_TRUE(m) << error;
  ASSERT_EQ(Scalar(m.get(), "SELECT 1"), "1");

  auto res = control.Put("/mode?mode=blackhole");
  ASSERT_TRUE(res && res->status == 200);
  auto query = std::async(std::launch::async, [&] {
    return Scalar(m.get(), "SELECT CONCAT('still-', 'here')");
  });
  EXPECT_EQ(query.wait_for(1500ms), std::future_status::timeout)
      << "query answered through a blackholed proxy";
  res = control.Put("/mode?mode=pass");
  ASSERT_TRUE(res && res->status == 200);
  ASSERT_EQ(query.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(query.get(), "still-here") << mysql_error(m.get());
  // The TLS session is intact: more traffic on the same connection works.
  EXPECT_EQ(ShowValue(m.get(), "SHOW SESSION STATUS LIKE 'Ssl_version'"),
            "TLSv1.3");
}

TEST_F(SandboxTest, SandboxProxiesAndBrokerAnswer) {
  for (const auto& [key, url] : env_.values()) {
    if (key.rfind("PROXY_", 0) != 0 && key != "KAFKA_CONTROL_URL") continue;
    if (key.size() < 12 || key.substr(key.size() - 12) != "_CONTROL_URL") {
      continue;
    }
    httplib::Client c(url);
    c.set_connection_timeout(3s);
    auto res = c.Get("/healthz");
    ASSERT_TRUE(res) << key << " " << url;
    EXPECT_EQ(res->status, 200) << key;
  }
}

TEST_F(SandboxTest, SimulatedConnectorsStreamOverPinnedTls) {
  if (env_.GetOr("SIM_ENABLED", "0") != "1") {
    GTEST_SKIP() << "cdc-sim was not started by up";
  }
  httplib::Client connect(env_.Get("CONNECT_URL"));
  connect.set_read_timeout(10s);
  auto res = connect.Get("/connectors");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json names = json::parse(res->body);
  EXPECT_NE(std::find(names.begin(), names.end(), "aurora-cdc-tls13"),
            names.end())
      << res->body;
  EXPECT_NE(std::find(names.begin(), names.end(), "aurora-cdc-tls12"),
            names.end())
      << res->body;

  // Both connectors hold a binlog dump session with their pinned TLS version.
  std::string error;
  auto mon = ConnectMysql(env_, Monitor(), &error);
  ASSERT_TRUE(mon) << error;
  const std::string sql =
      "SELECT t.PROCESSLIST_USER, s.VARIABLE_VALUE "
      "FROM performance_schema.threads t "
      "JOIN performance_schema.status_by_thread s "
      "  ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_version' "
      "WHERE t.PROCESSLIST_COMMAND LIKE 'Binlog Dump%'";
  std::map<std::string, std::string> seen;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && seen.size() < 2) {
    ASSERT_EQ(mysql_real_query(mon.get(), sql.data(), sql.size()), 0)
        << mysql_error(mon.get());
    MysqlResult r(mysql_store_result(mon.get()));
    while (MYSQL_ROW row = mysql_fetch_row(r.get())) {
      seen[row[0] ? row[0] : ""] = row[1] ? row[1] : "";
    }
    if (seen.size() < 2) std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(seen["debezium_tls13"], "TLSv1.3");
  EXPECT_EQ(seen["debezium_tls12"], "TLSv1.2");
}

// ---------------------------------------------------------------------------
// fault exporter-kafka: an iptables cut of the exporter's uid alone

// iptables rules (iptables -S OUTPUT) carrying this sandbox's tag for `kind`.
std::string TaggedRules(const std::string& sandbox_dir,
                        const std::string& kind) {
  std::string out;
  cdc::testing::RunCommand("iptables -w 5 -S OUTPUT", &out);
  const std::string tag = "cdc-sandbox:" + kind + ":" + sandbox_dir;
  std::string rules;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(tag + "\"") != std::string::npos ||
        line.find(tag + " ") != std::string::npos) {
      rules += line + "\n";
    }
  }
  return rules;
}

TEST_F(SandboxTest, ExporterKafkaCutsOnlyTheExporterUid) {
  const std::string user = env_.GetOr("EXPORTER_TEST_USER", "");
  if (user.empty()) GTEST_SKIP() << "up made no exporter uid (not root?)";
  if (cdc::testing::RunCommand("command -v iptables >/dev/null") != 0) {
    GTEST_SKIP() << "iptables is not installed (scripts/deps.sh)";
  }
  if (env_.GetOr("SIM_ENABLED", "0") != "1") {
    GTEST_SKIP() << "cdc-sim was not started by up";
  }
  const std::string scripts = CDC_SANDBOX_SCRIPTS;
  const std::string sb = env_.Get("SANDBOX_DIR");
  const std::string bootstrap = env_.Get("KAFKA_BOOTSTRAP");
  HealOnExit heal(scripts);

  // The dedicated user can read what the exporter needs.
  std::string out;
  EXPECT_EQ(cdc::testing::RunCommand(
                AsUserPrefix(user) + "cat " +
                    env_.Get("MYSQL_MONITOR_PASSWORD_FILE") + " >/dev/null",
                &out),
            0)
      << out;
  EXPECT_EQ(cdc::testing::RunCommand(AsUserPrefix(user) + "cat " +
                                         env_.Get("MYSQL_CA") + " >/dev/null",
                                     &out),
            0)
      << out;
  // ... and no other secret.
  EXPECT_NE(cdc::testing::RunCommand(AsUserPrefix(user) + "cat " +
                                     env_.Get("MYSQL_ROOT_PASSWORD_FILE") +
                                     " >/dev/null 2>&1"),
            0);

  // Metadata from the broker (kcat, 3 s budget) as `as_user` or as root.
  auto kcat = [&](bool as_user, std::string* output) {
    const auto start = Clock::now();
    const int rc = cdc::testing::RunCommand(
        std::string(as_user ? AsUserPrefix(user) : "") + "timeout 20 kcat -b " +
            bootstrap + " -L -m 3",
        output);
    return std::make_pair(rc, Secs(Clock::now() - start));
  };
  ASSERT_EQ(kcat(true, &out).first, 0) << "uid " << user << ": " << out;
  EXPECT_EQ(TaggedRules(sb, "exporter-kafka"), "");

  // The connectors keep producing: a row inserted during the cut is read
  // back as root from the change topic.
  const std::string topic =
      env_.Get("CONNECTOR_TLS13_TOPIC_PREFIX") + ".inventory.customers";
  auto delivered = [&](const std::string& email) {
    std::string records;
    cdc::testing::RunCommand("timeout 20 kcat -C -b " + bootstrap + " -t " +
                                 topic + " -o beginning -e -q -m 5",
                             &records);
    return records.find(email) != std::string::npos;
  };
  std::string error;
  MysqlConnectOptions root_options;
  root_options.user = env_.Get("MYSQL_ROOT_USER");
  root_options.password = env_.ReadFileAt("MYSQL_ROOT_PASSWORD_FILE");
  auto root = ConnectMysql(env_, root_options, &error);

  for (const std::string mode : {"drop", "reset"}) {
    SCOPED_TRACE(mode);
    ASSERT_TRUE(SandboxFault(scripts, "exporter-kafka " + mode));
    const std::string rules = TaggedRules(sb, "exporter-kafka");
    // One rule per broker port plus the kafka proxy's port.
    EXPECT_EQ(std::count(rules.begin(), rules.end(), '\n'),
              env_.GetInt("KAFKA_BROKERS") + 1)
        << rules;
    EXPECT_NE(rules.find("--uid-owner " + env_.Get("EXPORTER_TEST_UID")),
              std::string::npos)
        << rules;
    const auto [rc, secs] = kcat(true, &out);
    EXPECT_NE(rc, 0) << "uid " << user << " still reaches Kafka: " << out;
    if (std::string(mode) == "drop") {
      // A blackhole: nothing refused, the client just times out.
      EXPECT_GE(secs, 2.5) << out;
      EXPECT_EQ(out.find("refused"), std::string::npos) << out;
    } else {
      EXPECT_NE(out.find("refused"), std::string::npos) << out;
    }
    EXPECT_EQ(kcat(false, &out).first, 0) << "root was cut too: " << out;
    const std::string email = "exporter-kafka-" + std::string(mode) + "-" +
                              std::to_string(getpid()) + "@example.com";
    ASSERT_TRUE(root) << error;
    const std::string sql =
        "INSERT INTO inventory.customers (first_name, last_name, email) "
        "VALUES ('Cut', 'Exporter', '" +
        email + "')";
    ASSERT_EQ(mysql_real_query(root.get(), sql.data(), sql.size()), 0)
        << mysql_error(root.get());
    EXPECT_TRUE(
        cdc::testing::WaitFor([&] { return delivered(email); }, 15s, 500ms))
        << "the connector stopped producing while the exporter was cut";
  }
  ASSERT_TRUE(SandboxFault(scripts, "exporter-kafka pass"));
  EXPECT_EQ(TaggedRules(sb, "exporter-kafka"), "");
  EXPECT_EQ(kcat(true, &out).first, 0) << out;

  // heal removes the rules too.
  ASSERT_TRUE(SandboxFault(scripts, "exporter-kafka drop"));
  EXPECT_NE(TaggedRules(sb, "exporter-kafka"), "");
  HealSandbox(scripts);
  EXPECT_EQ(TaggedRules(sb, "exporter-kafka"), "");
  EXPECT_EQ(kcat(true, &out).first, 0) << out;
}

TEST_F(SandboxTest, ConnectorsKafkaCutsOnlyTheSimsProducer) {
  if (cdc::testing::RunCommand("command -v iptables >/dev/null") != 0) {
    GTEST_SKIP() << "iptables is not installed (scripts/deps.sh)";
  }
  if (env_.GetOr("SIM_ENABLED", "0") != "1") {
    GTEST_SKIP() << "cdc-sim was not started by up";
  }
  ASSERT_EQ(env_.GetOr("SIM_KAFKA_SOURCE_ADDRESS", ""), "127.0.0.2");
  const std::string scripts = CDC_SANDBOX_SCRIPTS;
  const std::string sb = env_.Get("SANDBOX_DIR");
  const std::string bootstrap = env_.Get("KAFKA_BOOTSTRAP");
  HealOnExit heal(scripts);
  const std::string topic =
      env_.Get("CONNECTOR_TLS13_TOPIC_PREFIX") + ".inventory.customers";
  auto delivered = [&](const std::string& email) {
    std::string records;
    cdc::testing::RunCommand("timeout 20 kcat -C -b " + bootstrap + " -t " +
                                 topic + " -o beginning -e -q",
                             &records);
    return records.find(email) != std::string::npos;
  };
  MysqlConnectOptions root_options;
  root_options.user = env_.Get("MYSQL_ROOT_USER");
  root_options.password = env_.ReadFileAt("MYSQL_ROOT_PASSWORD_FILE");
  std::string error;
  auto root = ConnectMysql(env_, root_options, &error);
  ASSERT_TRUE(root) << error;

  ASSERT_TRUE(SandboxFault(scripts, "connectors-kafka drop"));
  EXPECT_NE(TaggedRules(sb, "connectors-kafka"), "");
  const std::string email =
      "connectors-kafka-" + std::to_string(getpid()) + "@example.com";
  const std::string sql =
      "INSERT INTO inventory.customers (first_name, last_name, email) "
      "VALUES ('Cut', 'Connectors', '" +
      email + "')";
  ASSERT_EQ(mysql_real_query(root.get(), sql.data(), sql.size()), 0)
      << mysql_error(root.get());
  // The connector read it but cannot deliver it; other clients (root here,
  // the exporter's uid) still reach Kafka.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(delivered(email)) << "the connectors' Kafka path was not cut";
  std::string out;
  EXPECT_EQ(cdc::testing::RunCommand(
                "timeout 20 kcat -b " + bootstrap + " -L -m 3", &out),
            0)
      << out;
  const std::string user = env_.GetOr("EXPORTER_TEST_USER", "");
  if (!user.empty()) {
    EXPECT_EQ(
        cdc::testing::RunCommand(
            AsUserPrefix(user) + "timeout 20 kcat -b " + bootstrap + " -L -m 3",
            &out),
        0)
        << out;
  }
  // Healed: the held record is delivered (acks=all, retried forever).
  ASSERT_TRUE(SandboxFault(scripts, "connectors-kafka pass"));
  EXPECT_EQ(TaggedRules(sb, "connectors-kafka"), "");
  EXPECT_TRUE(
      cdc::testing::WaitFor([&] { return delivered(email); }, 20s, 500ms))
      << "nothing delivered after the cut was healed";
}

// ---------------------------------------------------------------------------
// cdc-kafka-broker

// A librdkafka producer that records errors and delivery reports.
class KafkaClient {
 public:
  explicit KafkaClient(const std::string& bootstrap) {
    KafkaConf conf(rd_kafka_conf_new());
    char err[512];
    for (auto [k, v] :
         std::initializer_list<std::pair<const char*, const char*>>{
             {"bootstrap.servers", bootstrap.c_str()},
             {"reconnect.backoff.ms", "100"},
             {"reconnect.backoff.max.ms", "500"},
             {"message.timeout.ms", "15000"},
             {"topic.metadata.refresh.interval.ms", "1000"}}) {
      if (rd_kafka_conf_set(conf.get(), k, v, err, sizeof(err)) !=
          RD_KAFKA_CONF_OK) {
        throw std::runtime_error(err);
      }
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_error_cb(conf.get(), &KafkaClient::OnError);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaClient::OnDelivery);
    rd_kafka_conf_set_log_cb(
        conf.get(), [](const rd_kafka_t*, int, const char*, const char*) {});
    rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
    if (!rk_) throw std::runtime_error(err);
    conf.release();
  }
  KafkaClient(const KafkaClient&) = delete;
  KafkaClient& operator=(const KafkaClient&) = delete;

  rd_kafka_t* get() { return rk_.get(); }

  // Partition count of `topic` (0 if absent), or the metadata error.
  rd_kafka_resp_err_t Metadata(const std::string& topic, int* partitions,
                               std::chrono::milliseconds timeout) {
    const rd_kafka_metadata_t* md = nullptr;
    auto e =
        rd_kafka_metadata(rk_.get(), 1, nullptr, &md, int(timeout.count()));
    if (e) return e;
    KafkaMetadata owned(md);
    *partitions = 0;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (topic == md->topics[i].topic)
        *partitions = md->topics[i].partition_cnt;
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
  }

  // Produces one message and waits for its delivery report.
  rd_kafka_resp_err_t ProduceSync(const std::string& topic,
                                  const std::string& value,
                                  std::chrono::milliseconds timeout) {
    {
      std::lock_guard lock(mu_);
      last_delivery_.reset();
    }
    auto e = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e) return e;
    rd_kafka_flush(rk_.get(), int(timeout.count()));
    std::lock_guard lock(mu_);
    return last_delivery_.value_or(RD_KAFKA_RESP_ERR__TIMED_OUT);
  }

  // Serves callbacks until `err` was reported to the error callback.
  bool SawError(rd_kafka_resp_err_t err, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    do {
      rd_kafka_poll(rk_.get(), 100);
      std::lock_guard lock(mu_);
      if (errors_.count(err)) return true;
    } while (Clock::now() < deadline);
    return false;
  }

 private:
  static void OnError(rd_kafka_t*, int err, const char*, void* opaque) {
    auto* self = static_cast<KafkaClient*>(opaque);
    std::lock_guard lock(self->mu_);
    self->errors_.insert(rd_kafka_resp_err_t(err));
  }
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m,
                         void* opaque) {
    auto* self = static_cast<KafkaClient*>(opaque);
    std::lock_guard lock(self->mu_);
    self->last_delivery_ = m->err;
  }

  std::mutex mu_;
  std::set<rd_kafka_resp_err_t> errors_;
  std::optional<rd_kafka_resp_err_t> last_delivery_;
  KafkaHandle rk_;  // last: destroyed first, while the callbacks' state lives
};

class KafkaBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string pf = tmp_.File("broker.ports");
    broker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{CDC_KAFKA_BROKER_BIN, "--topic", "orders:3",
                                 "--topic", "connect-offsets:25", "--port-file",
                                 pf, "--bootstrap-file",
                                 tmp_.File("bootstrap")},
        ChildOptions{.out = tmp_.File("broker.log"), .stop_timeout = 5s});
    auto kv = WaitForKeys(pf, "control_port", *broker_, 15s);
    bootstrap_ = kv.at("bootstrap");
    control_ = std::make_unique<httplib::Client>(
        "127.0.0.1", std::stoi(kv.at("control_port")));
    control_->set_read_timeout(10s);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- broker log ---\n" << broker_->Log();
  }
  void Post(const std::string& path) {
    auto res = control_->Post(path);
    ASSERT_TRUE(res) << path;
    ASSERT_EQ(res->status, 200) << path << ": " << res->body;
  }

  TempDir tmp_;
  std::unique_ptr<ChildProcess> broker_;
  std::string bootstrap_;
  std::unique_ptr<httplib::Client> control_;
};

TEST_F(KafkaBrokerTest, PrecreatesTopicsAndAutoCreatesOthers) {
  EXPECT_EQ(ReadFile(tmp_.File("bootstrap")), bootstrap_ + "\n");
  EXPECT_EQ(bootstrap_.rfind("127.0.0.1:", 0), 0u) << bootstrap_;
  KafkaClient client(bootstrap_);
  int partitions = 0;
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(partitions, 3);
  ASSERT_EQ(client.Metadata("connect-offsets", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(partitions, 25);
  EXPECT_EQ(client.ProduceSync("auto-created", "v", 10s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(client.Metadata("auto-created", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_GE(partitions, 1);
}

TEST_F(KafkaBrokerTest, BrokerDownAndUpAreSeenByAClient) {
  KafkaClient client(bootstrap_);
  int partitions = 0;
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);

  Post("/brokers/1/down");
  EXPECT_TRUE(client.SawError(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, 10s));
  EXPECT_NE(client.Metadata("orders", &partitions, 1s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  auto res = control_->Get("/brokers");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["brokers"][0]["up"], false);

  Post("/brokers/all/up");
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__FAIL;
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline && err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    err = client.Metadata("orders", &partitions, 1s);
  }
  EXPECT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
  EXPECT_EQ(client.ProduceSync("orders", "after-up", 10s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

TEST_F(KafkaBrokerTest, RttSlowsEveryRequest) {
  KafkaClient client(bootstrap_);
  int partitions = 0;
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  Post("/brokers/1/rtt?ms=800");
  auto t0 = Clock::now();
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_GE(MsSince(t0), 750);
  Post("/brokers/all/rtt?ms=0");
  // A request already queued may still carry the old RTT; the next is fast.
  client.Metadata("orders", &partitions, 5s);
  t0 = Clock::now();
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_LT(MsSince(t0), 500) << "RTT still applied after clearing it";
}

TEST_F(KafkaBrokerTest, ControlApiCreatesTopicsAndRejectsBadInput) {
  Post("/topics?name=created-by-http&partitions=4");
  KafkaClient client(bootstrap_);
  int partitions = 0;
  ASSERT_EQ(client.Metadata("created-by-http", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(partitions, 4);
  for (const char* bad : {"/topics?partitions=2", "/topics?name=x&partitions=0",
                          "/topics?name=bad%20name", "/brokers/9/down",
                          "/brokers/x/up", "/brokers/1/rtt"}) {
    auto res = control_->Post(bad);
    ASSERT_TRUE(res) << bad;
    EXPECT_EQ(res->status, 400) << bad << ": " << res->body;
  }
  auto health = control_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(KafkaBrokerTest, ExitsCleanlyOnSigterm) {
  KafkaClient client(bootstrap_);
  int partitions = 0;
  ASSERT_EQ(client.Metadata("orders", &partitions, 5s),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(broker_->Stop(10s), std::optional<int>(0));
}

// ---------------------------------------------------------------------------
// up / down

TEST(SandboxLifecycle, UpIsIdempotentAndDownLeavesNothingRunning) {
  TempDir tmp;
  const std::string dir = CDC_SANDBOX_LIFECYCLE_DIR;
  const std::map<std::string, std::string> env = {
      {"CDC_SANDBOX_DIR", dir},
      {"CDC_BUILD_DIR", CDC_BUILD_DIR_FOR_TESTS},
      {"CDC_FAULT_PROXY_BIN", CDC_FAULT_PROXY_BIN},
      {"CDC_KAFKA_BROKER_BIN", CDC_KAFKA_BROKER_BIN}};
  const std::string scripts = CDC_SANDBOX_SCRIPTS;

  auto up = RunCommand({scripts + "/up", "--fresh"}, env, 90s, tmp);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_LT(up.elapsed, 30s) << up.output;
  const std::string env_before = ReadFile(dir + "/env");
  ASSERT_FALSE(env_before.empty());

  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator(dir + "/pids")) {
    std::ifstream in(entry.path());
    pid_t pid = 0;
    in >> pid;
    ASSERT_GT(pid, 0) << entry.path();
    EXPECT_TRUE(ProcessAlive(pid)) << entry.path();
    pids.push_back(pid);
  }
  EXPECT_GE(pids.size(), 5u);  // mariadb, broker, 3 proxies (+ sim, connect)

  auto again = RunCommand({scripts + "/up"}, env, 60s, tmp);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_LT(again.elapsed, 10s);
  EXPECT_EQ(ReadFile(dir + "/env"), env_before)
      << "a second up restarted a healthy sandbox";

  // Faults left in place must not survive down: a paused (SIGSTOPped)
  // cdc-sim, a pauser, iptables rules.
  const bool sim =
      ReadFile(dir + "/env").find("SIM_ENABLED=1") != std::string::npos;
  if (sim) {
    auto pause =
        RunCommand({scripts + "/fault", "tls13", "pause-every", "5000", "6000"},
                   env, 30s, tmp);
    EXPECT_EQ(pause.exit_code, 0) << pause.output;
  }
  const bool iptables =
      ReadFile(dir + "/env").find("EXPORTER_TEST_UID=") != std::string::npos &&
      cdc::testing::RunCommand("command -v iptables >/dev/null") == 0;
  if (iptables) {
    auto cut = RunCommand({scripts + "/fault", "exporter-kafka", "drop"}, env,
                          30s, tmp);
    EXPECT_EQ(cut.exit_code, 0) << cut.output;
    EXPECT_NE(TaggedRules(dir, "exporter-kafka"), "");
  }
  if (sim && cdc::testing::RunCommand("command -v iptables >/dev/null") == 0) {
    auto cut = RunCommand({scripts + "/fault", "connectors-kafka", "drop"}, env,
                          30s, tmp);
    EXPECT_EQ(cut.exit_code, 0) << cut.output;
  }

  auto down = RunCommand({scripts + "/down"}, env, 90s, tmp);
  ASSERT_EQ(down.exit_code, 0) << down.output;
  // A SIGSTOPped cdc-sim ignores SIGTERM until SIGCONT: down would have
  // had to SIGKILL it (losing its final offset commit).
  EXPECT_EQ(down.output.find("sending SIGKILL"), std::string::npos)
      << down.output;
  EXPECT_EQ(TaggedRules(dir, "exporter-kafka"), "") << "left behind by down";
  EXPECT_EQ(TaggedRules(dir, "connectors-kafka"), "") << "left behind by down";
  for (pid_t pid : pids) EXPECT_FALSE(ProcessAlive(pid)) << "pid " << pid;
  EXPECT_EQ(ProcessesMentioning(dir), std::vector<pid_t>{})
      << "processes still mention " << dir;
  EXPECT_FALSE(fs::exists(dir + "/env"));

  auto down_again = RunCommand({scripts + "/down", "--purge"}, env, 30s, tmp);
  EXPECT_EQ(down_again.exit_code, 0) << down_again.output;
}

}  // namespace
}  // namespace cdc::testing
