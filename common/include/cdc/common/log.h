#pragma once

#include <atomic>
#include <initializer_list>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace cdc {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kLogfmt, kJson };

bool ParseLogLevel(std::string_view text, LogLevel* out);
bool ParseLogFormat(std::string_view text, LogFormat* out);

using LogField = std::pair<std::string_view, std::string>;

// Structured logger writing one line per call, in logfmt
// (`ts=... level=info msg="..." key=value`) or JSON. Thread-safe.
// Never pass secrets as field values: nothing here can tell them apart.
class Logger {
 public:
  explicit Logger(std::ostream& out, LogLevel level = LogLevel::kInfo,
                  LogFormat format = LogFormat::kLogfmt);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void Log(LogLevel level, std::string_view msg,
           std::initializer_list<LogField> fields = {});
  void Debug(std::string_view msg, std::initializer_list<LogField> f = {}) {
    Log(LogLevel::kDebug, msg, f);
  }
  void Info(std::string_view msg, std::initializer_list<LogField> f = {}) {
    Log(LogLevel::kInfo, msg, f);
  }
  void Warn(std::string_view msg, std::initializer_list<LogField> f = {}) {
    Log(LogLevel::kWarn, msg, f);
  }
  void Error(std::string_view msg, std::initializer_list<LogField> f = {}) {
    Log(LogLevel::kError, msg, f);
  }

  bool Enabled(LogLevel level) const { return level >= level_; }
  void SetLevel(LogLevel level) { level_ = level; }
  void SetFormat(LogFormat format) { format_ = format; }

 private:
  std::ostream& out_;
  std::mutex mu_;
  std::atomic<LogLevel> level_;
  std::atomic<LogFormat> format_;
};

}  // namespace cdc
