#include "cdc/common/posix.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace cdc {

void Fd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

SpawnFileActions::SpawnFileActions() {
  ok_ = posix_spawn_file_actions_init(&fa_) == 0;
}

SpawnFileActions::~SpawnFileActions() {
  if (ok_) posix_spawn_file_actions_destroy(&fa_);
}

SpawnAttr::SpawnAttr() { ok_ = posix_spawnattr_init(&attr_) == 0; }

SpawnAttr::~SpawnAttr() {
  if (ok_) posix_spawnattr_destroy(&attr_);
}

bool WriteAll(int fd, std::string_view data, int* err) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool MakeDirectories(const std::string& dir, std::string* why) {
  if (dir.empty()) {
    *why = "directory path is empty";
    return false;
  }
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/') continue;
    if (::mkdir(prefix.c_str(), 0750) == 0) {
      ::chmod(prefix.c_str(), 0750);  // not narrowed by the umask
      continue;
    }
    const int err = errno;
    struct stat st;
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 &&
        S_ISDIR(st.st_mode)) {
      continue;
    }
    *why = "cannot create directory " + prefix + ": " +
           (err == EEXIST ? "exists and is not a directory" : ErrnoText(err));
    return false;
  }
  return true;
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message (maybe not in buf).
  return strerror_r(err, buf, sizeof buf);
}

std::string FormatUtc(WallClock::time_point t, const char* format) {
  const std::time_t secs = WallClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

std::string FormatUtcMillis(WallClock::time_point t) {
  const std::time_t secs = WallClock::to_time_t(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      t.time_since_epoch())
                      .count() %
                  1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace cdc
