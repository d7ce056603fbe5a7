#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <sstream>

#include "config/yaml_reader.h"

namespace cdc::config {
namespace {

// Sees only the root of a document: its position and whether it is null.
class RootScan : public YAML::EventHandler {
 public:
  YAML::Mark mark = YAML::Mark::null_mark();
  bool null = true;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Root(m, true); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Root(m, false); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Root(m, false);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Root(m, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Root(m, false);
  }
  void OnMapEnd() override {}

 private:
  void Root(const YAML::Mark& m, bool is_null) {
    if (seen_) return;
    seen_ = true;
    mark = m;
    null = is_null;
  }
  bool seen_ = false;
};

std::string At(const std::string& file, const YAML::Mark& m) {
  const bool known = !m.is_null();
  return file + ":" + std::to_string(known ? m.line + 1 : 1) + ":" +
         std::to_string(known ? m.column + 1 : 1);
}

}  // namespace

YAML::Node LoadYamlDocument(const std::string& text, const std::string& file) {
  try {
    // Walk the documents without building them, as LoadAll would, but stop
    // where the parser stops making progress: yaml-cpp 0.7 then reports the
    // same empty document at the same place forever.
    std::istringstream in(text);
    YAML::Parser parser(in);
    std::optional<YAML::Mark> previous;
    for (int doc = 0;; ++doc) {
      RootScan scan;
      if (!parser.HandleNextDocument(scan)) break;
      if (doc > 0 && !scan.null) {
        throw ConfigError(At(file, scan.mark) +
                          ": a second YAML document (after ---) is not "
                          "supported; put everything in one");
      }
      // Every document takes at least one character: more documents than
      // characters is no progress either.
      if ((previous && !scan.mark.is_null() &&
           scan.mark.pos == previous->pos) ||
          static_cast<std::size_t>(doc) > text.size()) {
        throw ConfigError(At(file, scan.mark) +
                          ": invalid YAML: unexpected character");
      }
      previous = scan.mark;
    }
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(At(file, e.mark) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace cdc::config
