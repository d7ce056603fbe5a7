#pragma once

// A parser of the Prometheus text exposition format for tests: samples with
// their labels, and the # TYPE lines. Header-only; not thread-safe.

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace cdc::testing {

// Non-overlapping occurrences of `needle` in `haystack`.
inline int CountOf(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

using Labels = std::map<std::string, std::string>;

// One sample.
struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

// A parsed /metrics page. Immutable.
class Scrape {
 public:
  Scrape() = default;
  explicit Scrape(std::string text) : text_(std::move(text)) {
    std::istringstream in(text_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        const std::size_t sp = line.find(' ', 7);
        if (sp != std::string::npos) {
          const std::string name = line.substr(7, sp - 7);
          if (types_.count(name) != 0) duplicate_headers_.push_back(name);
          types_[name] = line.substr(sp + 1);
        }
        continue;
      }
      if (line.empty() || line[0] == '#') continue;
      Sample s;
      std::size_t i = 0;
      while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
      s.name = line.substr(0, i);
      if (i < line.size() && line[i] == '{') {
        ++i;
        while (i < line.size() && line[i] != '}') {
          const std::size_t eq = line.find('=', i);
          if (eq == std::string::npos) break;
          const std::string key = line.substr(i, eq - i);
          std::string value;
          i = eq + 2;  // past ="
          while (i < line.size() && line[i] != '"') {
            if (line[i] == '\\' && i + 1 < line.size()) ++i;
            value.push_back(line[i++]);
          }
          s.labels[key] = value;
          ++i;  // past "
          if (i < line.size() && line[i] == ',') ++i;
        }
        ++i;  // past }
      }
      try {
        s.value = std::stod(line.substr(i));
      } catch (const std::exception&) {
        continue;
      }
      samples_.push_back(std::move(s));
    }
  }

  // Samples named `name` whose labels include all of `want`.
  std::vector<Sample> All(const std::string& name, const Labels& want) const {
    std::vector<Sample> out;
    for (const auto& s : samples_) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : want) {
        auto it = s.labels.find(k);
        ok = ok && it != s.labels.end() && it->second == v;
      }
      if (ok) out.push_back(s);
    }
    return out;
  }
  // The value of the only (or first) matching sample.
  std::optional<double> Get(const std::string& name,
                            const Labels& want = {}) const {
    auto all = All(name, want);
    if (all.empty()) return std::nullopt;
    return all.front().value;
  }
  bool Is(const std::string& name, const Labels& want, double v) const {
    auto got = Get(name, want);
    return got && *got == v;
  }
  double GetOr0(const std::string& name, const Labels& want) const {
    return Get(name, want).value_or(0);
  }
  // 1 if every cdc_probe_success of `kind` is 1, 0 if one is 0, nullopt if
  // there is none.
  std::optional<double> Probe(const std::string& kind) const {
    auto all = All("cdc_probe_success", {{"probe", kind}});
    if (all.empty()) return std::nullopt;
    double v = 1;
    for (const auto& s : all) v = std::min(v, s.value);
    return v;
  }
  // The raw lines of the metrics whose names start with one of `prefixes`
  // (histogram buckets left out), for failure messages.
  std::string Lines(const std::vector<std::string>& prefixes) const {
    std::istringstream in(text_);
    std::string line, out;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line.find("_bucket{") != std::string::npos) continue;
      for (const auto& p : prefixes) {
        if (line.rfind(p, 0) == 0) {
          out += "  " + line + "\n";
          break;
        }
      }
    }
    return out.empty() ? "  (none)\n" : out;
  }
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }
  const std::vector<Sample>& samples() const { return samples_; }
  // Family name -> type, from the # TYPE lines.
  const std::map<std::string, std::string>& types() const { return types_; }
  // Families with more than one # TYPE line (invalid exposition).
  const std::vector<std::string>& duplicate_headers() const {
    return duplicate_headers_;
  }

 private:
  std::string text_;
  std::vector<Sample> samples_;
  std::map<std::string, std::string> types_;
  std::vector<std::string> duplicate_headers_;
};

}  // namespace cdc::testing
