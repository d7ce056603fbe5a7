#include "cdc/common/secret.h"

#include <cstdlib>
#include <stdexcept>

#include "cdc/common/file.h"

namespace cdc {
namespace {
// Passwords and tokens; a bigger file is a wrong path, not a secret.
constexpr std::size_t kMaxSecretBytes = 64 * 1024;
}  // namespace

std::string ReadSecretFile(const std::string& path) {
  std::string s = ReadRegularFile(path, kMaxSecretBytes);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::string ReadSecretEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') {
    throw std::runtime_error("environment variable " + name + " is not set");
  }
  return v;
}

}  // namespace cdc
