#include "log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace cdc::sim {
namespace {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int OpenLog(const std::string& path) {
  if (path.empty()) return STDERR_FILENO;
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot open log file " + path + ": " +
                             std::strerror(errno));
  }
  return fd;
}

}  // namespace

FdStreamBuf::int_type FdStreamBuf::overflow(int_type ch) {
  if (traits_type::eq_int_type(ch, traits_type::eof())) return 0;
  const char c = traits_type::to_char_type(ch);
  return WriteAll(fd_, &c, 1) ? ch : traits_type::eof();
}

std::streamsize FdStreamBuf::xsputn(const char* s, std::streamsize n) {
  return WriteAll(fd_, s, static_cast<size_t>(n)) ? n : 0;
}

LogFile::LogFile(const std::string& path)
    : fd_(OpenLog(path)), owned_(!path.empty()), buf_(fd_), stream_(&buf_) {}

LogFile::~LogFile() {
  if (owned_) ::close(fd_);
}

void LogFile::WriteRaw(std::string_view text) const {
  WriteAll(fd_, text.data(), text.size());
}

}  // namespace cdc::sim
