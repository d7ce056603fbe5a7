#pragma once

#include <string>

namespace cdc {

// Reads a secret from a file, dropping one trailing newline (as `echo x > f`
// writes it). Only a regular file of at most 64 KiB (see ReadRegularFile).
// Throws std::runtime_error naming the file (never its contents) when it
// cannot be read. Thread-safe.
std::string ReadSecretFile(const std::string& path);

// Reads a secret from an environment variable. Throws std::runtime_error
// naming the variable when it is unset or empty. Thread-safe.
std::string ReadSecretEnv(const std::string& name);

}  // namespace cdc
