#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace cdc::config {

// Parses the one YAML document of `text` (named `file` in messages), like
// YAML::LoadAll plus a check that any further document is empty, without
// yaml-cpp 0.7's endless, memory-eating loop in LoadAll on some invalid
// input such as a stray ',' (jbeder/yaml-cpp#1040, fixed after 0.8). Throws
// ConfigError "FILE:LINE:COL: invalid YAML: ..." or "... a second YAML
// document ...".
YAML::Node LoadYamlDocument(const std::string& text, const std::string& file);

// Strict, position-aware reading of YAML nodes. Every failure throws a
// ConfigError "FILE:LINE:COL: PATH: REASON" pointing at the offending node.
// Not thread-safe (use one per load).
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  static std::string Join(const std::string& path, std::string_view key);
  static std::string Index(const std::string& path, std::size_t i);

  // An empty `path` leaves the path out ("FILE:LINE:COL: REASON").
  [[noreturn]] void Fail(const YAML::Node& at, const std::string& path,
                         const std::string& reason) const;
  // The same "FILE:LINE:COL: PATH: REASON" text, not thrown (warnings).
  std::string Message(const YAML::Node& at, const std::string& path,
                      const std::string& reason) const;

  // Where to point for `key` of `map`: its value; the key itself when the
  // value is empty (yaml-cpp marks an empty value at the next token, often
  // on another line); the mapping when the key is absent.
  static YAML::Node At(const YAML::Node& map, std::string_view key);
  // The key node of `key` in `map`, or `map` when the key is absent.
  static YAML::Node KeyNode(const YAML::Node& map, std::string_view key);

  // `n` must be a mapping whose keys are all in `allowed`, each at most once.
  void ExpectMap(const YAML::Node& n, const std::string& path,
                 std::initializer_list<std::string_view> allowed) const;
  // `n` must be a sequence.
  void ExpectList(const YAML::Node& n, const std::string& path) const;

  std::optional<std::string> String(const YAML::Node& map,
                                    const std::string& path,
                                    std::string_view key) const;
  std::string RequiredString(const YAML::Node& map, const std::string& path,
                             std::string_view key) const;
  std::optional<config::Duration> DurationValue(const YAML::Node& map,
                                                const std::string& path,
                                                std::string_view key) const;
  std::optional<bool> Bool(const YAML::Node& map, const std::string& path,
                           std::string_view key) const;
  std::optional<int64_t> Int(const YAML::Node& map, const std::string& path,
                             std::string_view key, int64_t min,
                             int64_t max) const;
  // A readable file path, relative paths taken from the config file's folder.
  std::optional<std::string> File(const YAML::Node& map,
                                  const std::string& path,
                                  std::string_view key) const;
  // password_file or password_env (exactly one); `password` is refused.
  Secret Password(const YAML::Node& map, const std::string& path) const;

  const std::string& file() const { return file_; }
  // A path as written in the config: relative ones are taken from the
  // config file's folder.
  std::string ResolvePath(const std::string& p) const;

 private:
  std::string file_;
};

}  // namespace cdc::config
