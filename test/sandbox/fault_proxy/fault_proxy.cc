#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace cdc::sandbox {
namespace {

// Stop reading from a side once this much of its data waits in the proxy;
// the rest stays in the kernel and, eventually, the sender's buffers.
constexpr size_t kMaxBufferedPerDirection = 1 << 20;
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerPump = 16;
constexpr uint64_t kListenerTag = 0;
constexpr uint64_t kWakeTag = 1;

std::string ErrnoText(int err) { return std::strerror(err); }

uint64_t Tag(uint64_t id, int side) { return (id << 1) | uint64_t(side); }

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Makes the next close() send RST instead of FIN.
void SetLingerZero(int fd) {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

struct AddrInfoFreer {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoFreer>;

// Resolves host:port to a list of TCP addresses; empty on failure (`error`
// says why).
AddrInfo Resolve(const HostPort& hp, bool passive, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  int rc = getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = gai_strerror(rc);
    return nullptr;
  }
  return AddrInfo(res);
}

}  // namespace

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

std::string_view ModeName(ProxyMode mode) {
  switch (mode) {
    case ProxyMode::kPass:
      return "pass";
    case ProxyMode::kBlackhole:
      return "blackhole";
    case ProxyMode::kReset:
      return "reset";
    case ProxyMode::kDelay:
      return "delay";
  }
  return "unknown";
}

std::optional<ProxyMode> ParseMode(std::string_view text) {
  for (ProxyMode m : {ProxyMode::kPass, ProxyMode::kBlackhole,
                      ProxyMode::kReset, ProxyMode::kDelay}) {
    if (text == ModeName(m)) return m;
  }
  return std::nullopt;
}

HostPort ParseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      throw std::invalid_argument("expected [IPv6]:PORT, got '" +
                                  std::string(text) + "'");
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw std::invalid_argument("expected HOST:PORT, got '" +
                                  std::string(text) + "'");
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535 || port_text.empty()) {
    throw std::invalid_argument("bad port in '" + std::string(text) + "'");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

struct FaultProxy::Direction {
  struct Chunk {
    std::vector<char> data;
    size_t offset = 0;
    Clock::time_point due;
  };
  std::deque<Chunk> queue;
  size_t buffered = 0;
  bool eof = false;      // the source sent FIN
  bool shut = false;     // the FIN was passed on to the destination
  bool blocked = false;  // the destination's send buffer is full
};

struct FaultProxy::Conn {
  uint64_t id = 0;
  std::string peer;
  UniqueFd client;
  UniqueFd upstream;
  bool connecting = true;
  Direction c2u;
  Direction u2c;
  uint32_t client_registered = 0;  // epoll mask, 0 = not registered
  uint32_t upstream_registered = 0;
};

FaultProxy::FaultProxy(std::string name, const HostPort& listen,
                       HostPort upstream, Logger& log)
    : name_(std::move(name)), upstream_(std::move(upstream)), log_(log) {
  if (!IsLoopbackHost(listen.host)) {
    throw std::runtime_error("fault proxy " + name_ +
                             ": refusing to listen on non-loopback address '" +
                             listen.host + "'");
  }
  std::string error;
  AddrInfo ai = Resolve(listen, /*passive=*/true, &error);
  if (!ai) {
    throw std::runtime_error("fault proxy " + name_ + ": cannot resolve '" +
                             listen.host + "': " + error);
  }
  listener_.Reset(
      socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_.valid()) {
    throw std::runtime_error("socket: " + ErrnoText(errno));
  }
  int one = 1;
  setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listener_.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    throw std::runtime_error("fault proxy " + name_ + ": cannot bind " +
                             listen.host + ":" + std::to_string(listen.port) +
                             ": " + ErrnoText(errno));
  }
  if (::listen(listener_.get(), 512) != 0) {
    throw std::runtime_error("listen: " + ErrnoText(errno));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  listen_port_ = addr.ss_family == AF_INET
                     ? ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port)
                     : ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);

  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  wake_.Reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_.valid() || !wake_.valid()) {
    throw std::runtime_error("epoll/eventfd: " + ErrnoText(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  SetListenerInterest();
}

FaultProxy::~FaultProxy() = default;

void FaultProxy::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_.get(), &one, sizeof(one));
}

void FaultProxy::Stop() {
  stop_ = true;
  Wake();
}

bool FaultProxy::SetMode(ModeSetting setting,
                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  requested_ = setting;
  const uint64_t gen = ++requested_gen_;
  lock.unlock();
  Wake();
  lock.lock();
  return applied_cv_.wait_for(lock, timeout,
                              [&] { return applied_gen_ >= gen; });
}

bool FaultProxy::ResetConnections(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t gen = ++requested_gen_;
  reset_requested_gen_ = gen;
  lock.unlock();
  Wake();
  lock.lock();
  return applied_cv_.wait_for(lock, timeout,
                              [&] { return applied_gen_ >= gen; });
}

ModeSetting FaultProxy::mode() const {
  std::lock_guard lock(mu_);
  return requested_;
}

ProxyStats FaultProxy::stats() const {
  ProxyStats s;
  s.connections_accepted = accepted_;
  s.connections_active = active_count_;
  s.connections_reset = reset_count_;
  s.connections_failed = failed_count_;
  s.upstream_connect_failures = connect_failures_;
  s.bytes_client_to_upstream = c2u_bytes_;
  s.bytes_upstream_to_client = u2c_bytes_;
  s.bytes_buffered = buffered_;
  return s;
}

void FaultProxy::Run() {
  std::vector<epoll_event> events(256);
  while (!stop_) {
    int n = epoll_wait(epoll_.get(), events.data(), int(events.size()),
                       NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      log_.Error("epoll_wait failed",
                 {{"proxy", name_}, {"error", ErrnoText(errno)}});
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kListenerTag) {
        AcceptAll();
        continue;
      }
      if (tag == kWakeTag) {
        HandleWake();
        continue;
      }
      const uint64_t id = tag >> 1;
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;  // closed earlier in this batch
      Conn& conn = *it->second;
      if (conn.connecting) {
        if ((tag & 1) == 1) FinishConnect(conn);
        continue;
      }
      if (!Pump(conn)) Erase(id);
    }
    if (active_.mode == ProxyMode::kDelay && NextTimeoutMs() == 0) PumpAll();
  }
  conns_.clear();
  active_count_ = 0;
}

int FaultProxy::NextTimeoutMs() const {
  if (active_.mode != ProxyMode::kDelay) return -1;
  std::optional<Clock::time_point> next;
  for (const auto& [id, conn] : conns_) {
    for (const Direction* dir : {&conn->c2u, &conn->u2c}) {
      if (dir->queue.empty() || dir->blocked) continue;
      const auto due = dir->queue.front().due;
      if (!next || due < *next) next = due;
    }
  }
  if (!next) return -1;
  const auto now = Clock::now();
  if (*next <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*next - now);
  return int(std::min<int64_t>(ms.count(), 60'000));
}

void FaultProxy::HandleWake() {
  uint64_t value = 0;
  [[maybe_unused]] ssize_t n = read(wake_.get(), &value, sizeof(value));
  ModeSetting requested;
  uint64_t gen = 0;
  bool reset_once = false;
  {
    std::lock_guard lock(mu_);
    requested = requested_;
    gen = requested_gen_;
    reset_once = reset_requested_gen_ > applied_gen_;
  }
  const bool changed =
      requested.mode != active_.mode || requested.delay != active_.delay;
  active_ = requested;
  if (changed) {
    log_.Info("mode changed",
              {{"proxy", name_},
               {"mode", std::string(ModeName(active_.mode))},
               {"delay_ms", std::to_string(active_.delay.count())},
               {"connections", std::to_string(conns_.size())}});
  }
  if (active_.mode == ProxyMode::kReset || reset_once) {
    for (auto& [id, conn] : conns_) {
      SetLingerZero(conn->client.get());
      SetLingerZero(conn->upstream.get());
      ++reset_count_;
      buffered_ -= conn->c2u.buffered + conn->u2c.buffered;
    }
    if (!conns_.empty()) {
      log_.Info("reset connections",
                {{"proxy", name_}, {"count", std::to_string(conns_.size())}});
    }
    conns_.clear();  // closes every socket with RST
    active_count_ = 0;
  }
  SetListenerInterest();
  PumpAll();
  {
    std::lock_guard lock(mu_);
    applied_gen_ = gen;
  }
  applied_cv_.notify_all();
}

void FaultProxy::SetListenerInterest() {
  // In blackhole mode new connections wait in the kernel's accept backlog,
  // like SYNs lost on the way: the upstream never hears of them until healed.
  const bool want = active_.mode != ProxyMode::kBlackhole;
  if (want == listener_registered_) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  epoll_ctl(epoll_.get(), want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listener_.get(),
            &ev);
  listener_registered_ = want;
}

void FaultProxy::AcceptAll() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_.Warn("accept failed",
                  {{"proxy", name_}, {"error", ErrnoText(errno)}});
      }
      return;
    }
    ++accepted_;
    auto conn = std::make_unique<Conn>();
    conn->client.Reset(fd);
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (addr.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
      port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
      port = ntohs(a->sin6_port);
    }
    conn->peer = std::string(host) + ":" + std::to_string(port);
    if (active_.mode == ProxyMode::kReset) {
      SetLingerZero(fd);
      ++reset_count_;
      log_.Debug("reset new connection",
                 {{"proxy", name_}, {"peer", conn->peer}});
      continue;  // conn goes out of scope: RST
    }
    SetNoDelay(fd);
    StartUpstream(std::move(conn));
  }
}

void FaultProxy::StartUpstream(std::unique_ptr<Conn> conn) {
  std::string error;
  AddrInfo ai = Resolve(upstream_, /*passive=*/false, &error);
  int rc = -1;
  if (ai) {
    conn->upstream.Reset(socket(
        ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (conn->upstream.valid()) {
      rc = connect(conn->upstream.get(), ai->ai_addr, ai->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) rc = 1;
      if (rc < 0) error = ErrnoText(errno);
    } else {
      error = ErrnoText(errno);
    }
  }
  if (rc < 0) {
    ++connect_failures_;
    log_.Warn(
        "upstream connect failed",
        {{"proxy", name_},
         {"upstream", upstream_.host + ":" + std::to_string(upstream_.port)},
         {"error", error}});
    SetLingerZero(conn->client.get());
    return;  // conn goes out of scope: the client sees RST
  }
  conn->id = next_id_++;
  conn->connecting = rc == 1;
  ++active_count_;
  log_.Debug("connection opened", {{"proxy", name_},
                                   {"peer", conn->peer},
                                   {"id", std::to_string(conn->id)}});
  const uint64_t id = conn->id;
  Conn& ref = *conn;
  conns_.emplace(id, std::move(conn));
  if (!ref.connecting) SetNoDelay(ref.upstream.get());
  if (!Pump(ref)) Erase(id);
}

void FaultProxy::FinishConnect(Conn& conn) {
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(conn.upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    ++connect_failures_;
    log_.Warn(
        "upstream connect failed",
        {{"proxy", name_},
         {"upstream", upstream_.host + ":" + std::to_string(upstream_.port)},
         {"error", ErrnoText(err)}});
    SetLingerZero(conn.client.get());
    Erase(conn.id);
    return;
  }
  conn.connecting = false;
  SetNoDelay(conn.upstream.get());
  if (!Pump(conn)) Erase(conn.id);
}

void FaultProxy::PumpAll() {
  std::vector<uint64_t> finished;
  for (auto& [id, conn] : conns_) {
    if (!Pump(*conn)) finished.push_back(id);
  }
  for (uint64_t id : finished) Erase(id);
}

void FaultProxy::Erase(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  buffered_ -= it->second->c2u.buffered + it->second->u2c.buffered;
  log_.Debug("connection closed", {{"proxy", name_},
                                   {"peer", it->second->peer},
                                   {"id", std::to_string(id)}});
  conns_.erase(it);
  --active_count_;
}

bool FaultProxy::Pump(Conn& conn) {
  if (active_.mode == ProxyMode::kBlackhole || conn.connecting) {
    UpdateInterest(conn);
    return true;
  }
  if (!PumpDirection(conn, conn.c2u, conn.client.get(), conn.upstream.get(),
                     c2u_bytes_) ||
      !PumpDirection(conn, conn.u2c, conn.upstream.get(), conn.client.get(),
                     u2c_bytes_)) {
    return false;
  }
  if (conn.c2u.shut && conn.u2c.shut) return false;  // both sides done
  UpdateInterest(conn);
  return true;
}

bool FaultProxy::PumpDirection(Conn& conn, Direction& dir, int src, int dst,
                               std::atomic<uint64_t>& counter) {
  if (!WriteDue(conn, dir, dst, counter)) return false;
  char buf[kReadChunk];
  for (int i = 0;
       i < kReadsPerPump && !dir.eof && dir.buffered < kMaxBufferedPerDirection;
       ++i) {
    ssize_t n = recv(src, buf, sizeof(buf), 0);
    if (n > 0) {
      Direction::Chunk chunk;
      chunk.data.assign(buf, buf + n);
      chunk.due = Clock::now() + (active_.mode == ProxyMode::kDelay
                                      ? active_.delay
                                      : std::chrono::milliseconds(0));
      dir.queue.push_back(std::move(chunk));
      dir.buffered += size_t(n);
      buffered_ += uint64_t(n);
      continue;
    }
    if (n == 0) {
      dir.eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    Abort(conn, "read: " + ErrnoText(errno));
    return false;
  }
  if (!WriteDue(conn, dir, dst, counter)) return false;
  if (dir.eof && dir.queue.empty() && !dir.shut) {
    shutdown(dst, SHUT_WR);  // pass the half-close on
    dir.shut = true;
  }
  return true;
}

bool FaultProxy::WriteDue(Conn& conn, Direction& dir, int dst,
                          std::atomic<uint64_t>& counter) {
  dir.blocked = false;
  const auto now = Clock::now();
  while (!dir.queue.empty()) {
    Direction::Chunk& chunk = dir.queue.front();
    if (active_.mode == ProxyMode::kDelay && chunk.due > now) break;
    ssize_t n = send(dst, chunk.data.data() + chunk.offset,
                     chunk.data.size() - chunk.offset, MSG_NOSIGNAL);
    if (n > 0) {
      chunk.offset += size_t(n);
      dir.buffered -= size_t(n);
      buffered_ -= uint64_t(n);
      counter += uint64_t(n);
      if (chunk.offset == chunk.data.size()) dir.queue.pop_front();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      dir.blocked = true;
      break;
    }
    Abort(conn, "write: " + ErrnoText(errno));
    return false;
  }
  return true;
}

void FaultProxy::Abort(Conn& conn, std::string_view reason) {
  // One side failed: make the other side see a reset too, as it would if the
  // proxy were not there.
  ++failed_count_;
  log_.Info(
      "connection aborted",
      {{"proxy", name_}, {"peer", conn.peer}, {"reason", std::string(reason)}});
  SetLingerZero(conn.client.get());
  SetLingerZero(conn.upstream.get());
}

void FaultProxy::UpdateInterest(Conn& conn) {
  uint32_t client_want = 0;
  uint32_t upstream_want = 0;
  if (active_.mode != ProxyMode::kBlackhole) {
    if (conn.connecting) {
      upstream_want = EPOLLOUT;
    } else {
      auto wants_read = [](const Direction& d) {
        return !d.eof && d.buffered < kMaxBufferedPerDirection;
      };
      constexpr uint32_t kIn = EPOLLIN;
      constexpr uint32_t kOut = EPOLLOUT;
      client_want =
          (wants_read(conn.c2u) ? kIn : 0u) | (conn.u2c.blocked ? kOut : 0u);
      upstream_want =
          (wants_read(conn.u2c) ? kIn : 0u) | (conn.c2u.blocked ? kOut : 0u);
    }
  }
  SetInterest(conn.client.get(), Tag(conn.id, 0), client_want,
              conn.client_registered);
  SetInterest(conn.upstream.get(), Tag(conn.id, 1), upstream_want,
              conn.upstream_registered);
}

void FaultProxy::SetInterest(int fd, uint64_t tag, uint32_t want,
                             uint32_t& registered) {
  if (want == registered) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = tag;
  int op = registered == 0 ? EPOLL_CTL_ADD
                           : (want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
  if (epoll_ctl(epoll_.get(), op, fd, &ev) != 0) {
    log_.Warn("epoll_ctl failed",
              {{"proxy", name_}, {"error", ErrnoText(errno)}});
  }
  registered = want;
}

}  // namespace cdc::sandbox
