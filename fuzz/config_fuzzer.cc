// libFuzzer target: the configuration loader. Any text must load or throw
// config::ConfigError (the FILE:LINE:COL message a user sees); any other
// exception, a crash or a sanitizer report is a bug. Loads it as a file in a
// private directory (see fuzz_paths.h): the loader checks and reads the
// files a config names.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "fuzz/fuzz_paths.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cdc::fuzz::MakeWorkDir({{"secrets/connect-password", "s3cr3t-from-file\n"},
                          {"secrets/kafka-sasl-password", "s3cr3t-kafka\n"},
                          {"tls/ca.pem", "placeholder\n"},
                          {"tls/client.pem", "placeholder\n"},
                          {"tls/client-key.pem", "placeholder\n"},
                          {"work/password", "pw\n"}});
  // The fixtures' password_env.
  setenv("CDC_SENTINEL_TEST_PASSWORD", "s3cr3t-from-env", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!cdc::fuzz::SafeInput(text)) return 0;
  static const std::string file = cdc::fuzz::FuzzedFile("fuzz.yaml");
  try {
    cdc::config::Config cfg = cdc::config::LoadConfigString(text, file);
    // What the exporter does with a loaded config.
    for (const auto& c : cfg.connectors) {
      cfg.FindSource(c.source);
      cfg.FindKafka(c.kafka);
    }
  } catch (const cdc::config::ConfigError&) {
  }
  return 0;
}
