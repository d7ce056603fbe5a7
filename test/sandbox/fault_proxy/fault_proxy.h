#pragma once

// A single-listener, single-upstream TCP proxy that can be told at run time to
// misbehave the way a broken network does: swallow traffic without closing
// anything (blackhole), reset every connection, or delay every chunk.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cdc/common/log.h"

namespace cdc::sandbox {

// Owns one file descriptor. Move-only; closes on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

enum class ProxyMode { kPass, kBlackhole, kReset, kDelay };

std::string_view ModeName(ProxyMode mode);
std::optional<ProxyMode> ParseMode(std::string_view text);

struct ModeSetting {
  ProxyMode mode = ProxyMode::kPass;
  std::chrono::milliseconds delay{0};  // only meaningful for kDelay
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// Parses "HOST:PORT" (IPv6 as "[::1]:PORT"). Throws std::invalid_argument.
HostPort ParseHostPort(std::string_view text);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

struct ProxyStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t connections_reset = 0;   // closed with RST by the proxy (mode reset)
  uint64_t connections_failed = 0;  // closed because a peer errored
  uint64_t upstream_connect_failures = 0;
  uint64_t bytes_client_to_upstream = 0;  // forwarded (written) bytes
  uint64_t bytes_upstream_to_client = 0;
  uint64_t bytes_buffered = 0;  // read but not yet forwarded
};

// The proxy. Run() is the event loop and must be called from exactly one
// thread; every other public method is thread-safe.
class FaultProxy {
 public:
  // Binds and listens on `listen` (loopback only) right away; throws
  // std::runtime_error when that fails. `upstream` is resolved per connection.
  FaultProxy(std::string name, const HostPort& listen, HostPort upstream,
             Logger& log);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t listen_port() const { return listen_port_; }
  const std::string& name() const { return name_; }
  const HostPort& upstream() const { return upstream_; }

  // Runs the event loop until Stop(). Returns when stopped.
  void Run();
  void Stop();

  // Changes the mode and waits (up to `timeout`) until the event loop has
  // applied it, so that on return the new behaviour is in force. Returns false
  // on timeout (the loop is not running).
  bool SetMode(ModeSetting setting, std::chrono::milliseconds timeout);
  ModeSetting mode() const;
  // Resets (RST) every open connection once; the mode stays as it is.
  bool ResetConnections(std::chrono::milliseconds timeout);
  ProxyStats stats() const;

 private:
  struct Conn;
  struct Direction;
  using Clock = std::chrono::steady_clock;

  void Wake();
  void HandleWake();
  void AcceptAll();
  void StartUpstream(std::unique_ptr<Conn> conn);
  void FinishConnect(Conn& conn);
  // Moves as many bytes as the mode allows; returns false when the
  // connection is finished (closed gracefully or aborted) and must be erased.
  bool Pump(Conn& conn);
  bool PumpDirection(Conn& conn, Direction& dir, int src, int dst,
                     std::atomic<uint64_t>& counter);
  bool WriteDue(Conn& conn, Direction& dir, int dst,
                std::atomic<uint64_t>& counter);
  void Abort(Conn& conn, std::string_view reason);
  void UpdateInterest(Conn& conn);
  void SetInterest(int fd, uint64_t tag, uint32_t want, uint32_t& registered);
  void SetListenerInterest();
  int NextTimeoutMs() const;
  void PumpAll();
  void Erase(uint64_t id);

  const std::string name_;
  const HostPort upstream_;
  Logger& log_;
  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd wake_;
  uint16_t listen_port_ = 0;
  bool listener_registered_ = false;

  // Loop-only state.
  ModeSetting active_;
  uint64_t next_id_ = 2;  // 0 = listener, 1 = wake fd
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;

  // Shared with control threads.
  mutable std::mutex mu_;
  std::condition_variable applied_cv_;
  ModeSetting requested_;
  uint64_t requested_gen_ = 0;
  uint64_t applied_gen_ = 0;
  uint64_t reset_requested_gen_ = 0;
  std::atomic<bool> stop_{false};

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> active_count_{0};
  std::atomic<uint64_t> reset_count_{0};
  std::atomic<uint64_t> failed_count_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> c2u_bytes_{0};
  std::atomic<uint64_t> u2c_bytes_{0};
  std::atomic<uint64_t> buffered_{0};
};

}  // namespace cdc::sandbox
