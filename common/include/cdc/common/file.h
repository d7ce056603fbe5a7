#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace cdc {

// Why a file could not be read: what() is "cannot read PATH: REASON",
// reason() just REASON.
class FileReadError : public std::runtime_error {
 public:
  FileReadError(const std::string& path, std::string reason)
      : std::runtime_error("cannot read " + path + ": " + reason),
        reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// Reads a whole regular file of at most `max_bytes`. Refuses anything else
// (a directory, a FIFO, /dev/zero, /dev/stdin) instead of blocking or reading
// forever: a configuration that names such a path must fail, not hang the
// exporter or a reload. Symbolic links are followed (Kubernetes mounts
// secrets through them). Throws FileReadError (never with the contents).
// Thread-safe.
std::string ReadRegularFile(const std::string& path, std::size_t max_bytes);

}  // namespace cdc
