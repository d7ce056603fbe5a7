#include "cdc/common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "cdc/common/posix.h"

namespace cdc {
namespace {

[[noreturn]] void Fail(const std::string& path, const std::string& reason) {
  throw FileReadError(path, reason);
}

}  // namespace

std::string ReadRegularFile(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) Fail(path, std::strerror(errno));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) Fail(path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) Fail(path, "it is a directory");
  if (!S_ISREG(st.st_mode)) Fail(path, "not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    Fail(path, "larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string out;
  char buf[16384];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail(path, std::strerror(errno));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    // The file may grow while it is read.
    if (out.size() > max_bytes) {
      Fail(path, "larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

}  // namespace cdc
