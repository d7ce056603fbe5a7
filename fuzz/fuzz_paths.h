#pragma once

// Shared by the config fuzzers: a private directory holding the
// files the seed configs refer to, and a guard that skips inputs naming a
// path the loader must not be pointed at during fuzzing (outside that
// directory's tree and not a harmless regular file or directory: /dev/zero,
// /dev/stdin, /proc/..., FIFOs, huge files). Set CDC_FUZZ_UNGUARDED_PATHS=1
// to fuzz without the guard.

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config/yaml_reader.h"

namespace cdc::fuzz {

inline std::filesystem::path& WorkDir() {
  static std::filesystem::path dir;
  return dir;
}

// Creates the working directory: the fuzzed file is DIR/work/<name> (see
// FuzzedFile), so relative paths in it resolve into DIR/work; DIR/secrets and
// DIR/tls hold what the config fixtures (config/testdata/good, whose paths
// start with ../) need. The process's cwd is left alone.
inline void MakeWorkDir(
    const std::vector<std::pair<std::string, std::string>>& files) {
  char tmpl[] = "/tmp/cdc-fuzz-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  WorkDir() = tmpl;
  std::filesystem::create_directories(WorkDir() / "work");
  for (const auto& [name, content] : files) {
    const auto p = WorkDir() / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(WorkDir(), ec);
  });
}

// The name the fuzzed text is loaded under.
inline std::string FuzzedFile(const char* name) {
  return (WorkDir() / "work" / name).string();
}

inline bool SafePath(const std::string& s) {
  namespace fs = std::filesystem;
  if (s.empty()) return true;
  const fs::path p = (s.front() == '/' ? fs::path(s) : WorkDir() / "work" / s)
                         .lexically_normal();
  const std::string ps = p.string();
  const std::string root = WorkDir().string() + "/";
  if (ps.compare(0, root.size(), root) == 0) return true;
  if (ps == "/dev/null") return true;  // used by the fixtures: reads empty
  for (const char* bad : {"/dev", "/proc", "/sys", "/run"}) {
    const std::string b(bad);
    if (ps == b || ps.compare(0, b.size() + 1, b + "/") == 0) return false;
  }
  struct stat st;
  if (stat(p.c_str(), &st) != 0) return true;  // missing: an error message
  if (S_ISDIR(st.st_mode)) return true;
  return S_ISREG(st.st_mode) && st.st_size <= (1 << 20);
}

// False if any scalar of the YAML `text` could name an unsafe path. Input
// that does not parse is safe (the loader stops at the same error); only the
// first document matters (the loaders refuse a non-empty second one).
inline bool SafeInput(const std::string& text) {
  static const bool unguarded = std::getenv("CDC_FUZZ_UNGUARDED_PATHS");
  if (unguarded) return true;
  YAML::Node root;
  try {
    // Not YAML::LoadAll: it can loop forever (see LoadYamlDocument).
    root = cdc::config::LoadYamlDocument(text, "fuzz");
  } catch (const std::exception&) {
    return true;
  }
  std::size_t budget = 100000;
  std::vector<std::pair<YAML::Node, int>> todo = {{root, 0}};
  while (!todo.empty()) {
    auto [n, depth] = todo.back();
    todo.pop_back();
    if (--budget == 0 || depth > 200) return false;
    if (n.IsScalar()) {
      if (!SafePath(n.Scalar())) return false;
    } else if (n.IsSequence()) {
      for (const auto& x : n) todo.emplace_back(x, depth + 1);
    } else if (n.IsMap()) {
      for (const auto& kv : n) {
        todo.emplace_back(kv.first, depth + 1);
        todo.emplace_back(kv.second, depth + 1);
      }
    }
  }
  return true;
}

}  // namespace cdc::fuzz
