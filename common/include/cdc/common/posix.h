#pragma once

// Small RAII owners and helpers over POSIX calls: file descriptors,
// posix_spawn's file actions and attributes, writes, directories, errno text
// and UTC time formatting.

#include <spawn.h>

#include <string>
#include <string_view>

#include "cdc/common/clock.h"

namespace cdc {

// Owns a file descriptor (-1: none) and closes it. Move-only. Not
// thread-safe (one owner).
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership: returns the descriptor, which is no longer closed.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor held, if any, and owns `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_;
};

// Owns posix_spawn's file actions: initialised on construction (ok() says
// whether that worked), destroyed on destruction. Not thread-safe.
class SpawnFileActions {
 public:
  SpawnFileActions();
  ~SpawnFileActions();
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
  bool ok_;
};

// Owns posix_spawn's attributes, like SpawnFileActions. Not thread-safe.
class SpawnAttr {
 public:
  SpawnAttr();
  ~SpawnAttr();
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  bool ok() const { return ok_; }
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
  bool ok_;
};

// Writes all of `data` to `fd`, retrying on EINTR and short writes. On
// failure returns false and sets *err to the errno. Thread-safe.
bool WriteAll(int fd, std::string_view data, int* err);

// mkdir -p: creates `dir` and its missing parents, each created component
// with mode 0750 exactly (not narrowed by the umask); existing directories
// are left as they are. On failure returns false and sets *why to
// "cannot create directory PREFIX: REASON". An empty `dir` fails with
// "directory path is empty"; callers that name the setting check for the
// empty path first. Thread-safe.
bool MakeDirectories(const std::string& dir, std::string* why);

// strerror_r's text for `err`. Thread-safe.
std::string ErrnoText(int err);

// `t` in UTC formatted by strftime(3) `format`; the result is at most 63
// characters (empty if longer). Whole seconds: the fraction is dropped.
// Thread-safe.
std::string FormatUtc(WallClock::time_point t, const char* format);

// `t` in UTC as RFC 3339 with milliseconds, "2026-12-04T15:16:17.123Z": the
// log's timestamp. Thread-safe.
std::string FormatUtcMillis(WallClock::time_point t);

}  // namespace cdc
