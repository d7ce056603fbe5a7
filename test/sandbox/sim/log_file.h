#pragma once

// The simulator's log destination (a file opened for appending, or stderr).
// cdc::Logger writes structured lines through stream(); WriteRaw() writes a
// multi-line block (the SIGQUIT thread dump) with a single write(2), so the
// two never interleave within a line.

#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

namespace cdc::sim {

// An unbuffered streambuf over a file descriptor: every sputn is one
// write(2) (looping on short writes). Holds no mutable state, so it is
// thread-safe; the std::ostream around it is not (cdc::Logger serialises).
class FdStreamBuf : public std::streambuf {
 public:
  explicit FdStreamBuf(int fd) : fd_(fd) {}

 protected:
  int_type overflow(int_type ch) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;

 private:
  int fd_;
};

// Thread-safe (stream() is only used through cdc::Logger, which serialises
// its writes).
class LogFile {
 public:
  // Empty path: stderr. Throws std::runtime_error when the file cannot be
  // opened.
  explicit LogFile(const std::string& path);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  std::ostream& stream() { return stream_; }
  void WriteRaw(std::string_view text) const;

 private:
  int fd_;
  bool owned_;
  FdStreamBuf buf_;
  std::ostream stream_;
};

}  // namespace cdc::sim
