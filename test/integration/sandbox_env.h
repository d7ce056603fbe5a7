#pragma once

// Loads the env file that test/sandbox/up writes ($CDC_SANDBOX_DIR/env): one
// KEY=value per line, '#' comments, no quoting. Integration tests use it to
// find the sandbox's endpoints and credential files. Header-only; the class
// is immutable after loading and so thread-safe for reading.

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cdc::testing {

class SandboxEnv {
 public:
  // $CDC_SANDBOX_ENV if set, else $CDC_SANDBOX_DIR/env. Throws
  // std::runtime_error when neither is set.
  static std::string DefaultPath() {
    if (const char* p = std::getenv("CDC_SANDBOX_ENV"); p && *p) return p;
    if (const char* d = std::getenv("CDC_SANDBOX_DIR"); d && *d) {
      return std::string(d) + "/env";
    }
    throw std::runtime_error(
        "neither CDC_SANDBOX_ENV nor CDC_SANDBOX_DIR is set; start the "
        "sandbox with test/sandbox/up and point one of them at it");
  }

  // Throws std::runtime_error naming the file when it cannot be read or a
  // line is malformed.
  static SandboxEnv Load(const std::string& path = DefaultPath()) {
    std::ifstream in(path);
    if (!in) {
      throw std::runtime_error("cannot read sandbox env file " + path +
                               " (is the sandbox up? test/sandbox/up)");
    }
    SandboxEnv env;
    env.path_ = path;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      auto eq = line.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw std::runtime_error(path + ":" + std::to_string(n) +
                                 ": expected KEY=value");
      }
      env.values_[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return env;
  }

  bool Has(const std::string& key) const { return values_.count(key) > 0; }

  // Throws std::out_of_range naming the key and the file.
  const std::string& Get(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) {
      throw std::out_of_range("sandbox env " + path_ + " has no key " + key);
    }
    return it->second;
  }

  std::string GetOr(const std::string& key, const std::string& dflt) const {
    auto it = values_.find(key);
    return it == values_.end() ? dflt : it->second;
  }

  int GetInt(const std::string& key) const {
    const std::string& v = Get(key);
    try {
      size_t used = 0;
      int i = std::stoi(v, &used);
      if (used == v.size()) return i;
    } catch (const std::exception&) {
    }
    throw std::runtime_error("sandbox env key " + key +
                             " is not a number: " + v);
  }

  // Contents of the file named by `key` (e.g. MYSQL_MONITOR_PASSWORD_FILE),
  // without one trailing newline.
  std::string ReadFileAt(const std::string& key) const {
    const std::string& file = Get(key);
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file + " (" + key + ")");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  const std::map<std::string, std::string>& values() const { return values_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::string> values_;
};

}  // namespace cdc::testing
