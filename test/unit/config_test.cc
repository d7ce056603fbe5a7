// Tests of the configuration loader, durations, URLs and command-line flags.
//
// Bad configs live in config/testdata/bad/, one file per error, each starting
// with "# want: FILE:LINE:COL: path: reason" where FILE stands for the
// fixture's own path. The whole message is compared.

#include "config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cdc/common/duration.h"
#include "config/url.h"
#include "exporter/flags.h"

namespace cdc {
namespace {

using config::ConfigError;
using config::LoadConfigFile;
using config::LoadConfigString;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kTestdata = std::string(CDC_SOURCE_DIR) + "/config/testdata";

// The secrets the fixtures use; no error message may contain them.
constexpr char kFilePassword[] = "s3cr3t-from-file";
constexpr char kEnvPassword[] = "s3cr3t-from-env";
constexpr char kPasswordEnv[] = "CDC_SENTINEL_TEST_PASSWORD";
constexpr char kUnsetEnv[] = "CDC_SENTINEL_TEST_UNSET";

// Sets the environment the fixtures expect, for the lifetime of a test.
class FixtureEnv {
 public:
  FixtureEnv() {
    setenv(kPasswordEnv, kEnvPassword, 1);
    unsetenv(kUnsetEnv);
  }
  ~FixtureEnv() { unsetenv(kPasswordEnv); }
  FixtureEnv(const FixtureEnv&) = delete;
  FixtureEnv& operator=(const FixtureEnv&) = delete;
};

// The message LoadConfigFile throws, or "" when it loads.
std::string LoadError(const std::string& path) {
  try {
    LoadConfigFile(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string LoadStringError(const std::string& text, const std::string& file) {
  try {
    LoadConfigString(text, file);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// ------------------------------------------------------------- good configs

TEST(ConfigGood, FullUsesEveryKey) {
  FixtureEnv env;
  const std::string dir = kTestdata + "/good";
  const std::string file = dir + "/full.yaml";
  const config::Config cfg = LoadConfigFile(file);

  EXPECT_EQ(cfg.file, file);
  EXPECT_EQ(cfg.global.probe_workers, 8);
  ASSERT_EQ(cfg.connect_clusters.size(), 3u);

  const auto& prod = cfg.connect_clusters[0];
  EXPECT_EQ(prod.name, "prod-connect_1.eu");
  EXPECT_EQ(prod.url_text, "https://connect.example.com:8443/kafka-connect/");
  EXPECT_EQ(prod.url.scheme, "https");
  EXPECT_EQ(prod.url.host, "connect.example.com");
  EXPECT_EQ(prod.url.port, 8443);
  EXPECT_EQ(prod.url.base_path, "/kafka-connect");
  EXPECT_EQ(prod.interval, seconds(90));
  EXPECT_EQ(prod.timeout, milliseconds(2500));
  ASSERT_TRUE(prod.basic_auth.has_value());
  EXPECT_EQ(prod.basic_auth->username, "sentinel");
  // Read from the file, relative to the config's folder, newline dropped.
  EXPECT_EQ(prod.basic_auth->password.value, kFilePassword);
  EXPECT_EQ(prod.basic_auth->password.source,
            "file " + dir + "/../secrets/connect-password");
  ASSERT_TRUE(prod.tls.has_value());
  EXPECT_EQ(prod.tls->ca_file, dir + "/../tls/ca.pem");
  EXPECT_EQ(prod.tls->cert_file, "");
  EXPECT_EQ(prod.tls->key_file, "");
  EXPECT_FALSE(prod.tls->insecure_skip_verify);
  EXPECT_EQ(prod.max_response_bytes, 1048576u);

  const auto& staging = cfg.connect_clusters[1];
  EXPECT_EQ(staging.name, "staging");
  EXPECT_EQ(staging.url.scheme, "http");
  EXPECT_EQ(staging.url.host, "::1");
  EXPECT_EQ(staging.url.port, 8083);
  EXPECT_EQ(staging.url.base_path, "");
  EXPECT_EQ(staging.url.SchemeHostPort(), "http://[::1]:8083");
  EXPECT_EQ(staging.interval, seconds(10));
  EXPECT_EQ(staging.timeout, seconds(10));  // equal to interval is allowed
  ASSERT_TRUE(staging.basic_auth.has_value());
  EXPECT_EQ(staging.basic_auth->username, "staging user");
  EXPECT_EQ(staging.basic_auth->password.value, kEnvPassword);
  EXPECT_EQ(staging.basic_auth->password.source,
            std::string("env ") + kPasswordEnv);
  EXPECT_FALSE(staging.tls.has_value());
  EXPECT_EQ(staging.max_response_bytes, 1024u);

  const auto& mtls = cfg.connect_clusters[2];
  EXPECT_EQ(mtls.name, "mtls");
  EXPECT_EQ(mtls.url.port, 443);
  EXPECT_EQ(mtls.interval, seconds(15));
  EXPECT_EQ(mtls.timeout, seconds(5));
  EXPECT_FALSE(mtls.basic_auth.has_value());
  ASSERT_TRUE(mtls.tls.has_value());
  EXPECT_EQ(mtls.tls->ca_file, "");
  EXPECT_EQ(mtls.tls->cert_file, dir + "/../tls/client.pem");
  EXPECT_EQ(mtls.tls->key_file, dir + "/../tls/client-key.pem");
  EXPECT_TRUE(mtls.tls->insecure_skip_verify);
  EXPECT_EQ(mtls.max_response_bytes, 16u * 1024 * 1024);
}

TEST(ConfigGood, MinimalGetsDefaults) {
  const config::Config cfg = LoadConfigFile(kTestdata + "/good/minimal.yaml");
  EXPECT_EQ(cfg.global.probe_workers, 4);
  ASSERT_EQ(cfg.connect_clusters.size(), 1u);
  const auto& c = cfg.connect_clusters[0];
  EXPECT_EQ(c.name, "self-managed");
  EXPECT_EQ(c.url.scheme, "http");
  EXPECT_EQ(c.url.host, "127.0.0.1");
  EXPECT_EQ(c.url.port, 8083);
  EXPECT_EQ(c.url.base_path, "");
  EXPECT_EQ(c.interval, seconds(15));
  EXPECT_EQ(c.timeout, seconds(5));
  EXPECT_EQ(c.max_response_bytes, 16u * 1024 * 1024);
  EXPECT_FALSE(c.basic_auth.has_value());
  EXPECT_FALSE(c.tls.has_value());
}

TEST(ConfigGood, EmptyValuesMeanDefaults) {
  const config::Config cfg = LoadConfigString(
      "global:\n"
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: http://h\n"
      "    interval:\n"
      "    timeout: ~\n",
      "inline.yaml");
  EXPECT_EQ(cfg.global.probe_workers, 4);
  EXPECT_EQ(cfg.connect_clusters.at(0).interval, seconds(15));
  EXPECT_EQ(cfg.connect_clusters.at(0).timeout, seconds(5));
}

// -------------------------------------------------------------- bad configs

std::vector<std::string> BadFixtures() {
  std::vector<std::string> names;
  for (const auto& e :
       std::filesystem::directory_iterator(kTestdata + "/bad")) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class ConfigBad : public ::testing::TestWithParam<std::string> {};

TEST_P(ConfigBad, FailsWithTheExpectedMessage) {
  FixtureEnv env;
  const std::string path = kTestdata + "/bad/" + GetParam();
  ASSERT_EQ(path.substr(path.size() - 5), ".yaml");

  std::ifstream in(path);
  std::string first;
  ASSERT_TRUE(std::getline(in, first)) << path;
  const std::string prefix = "# want: FILE:";
  ASSERT_EQ(first.rfind(prefix, 0), 0u)
      << path << ": the first line must be \"" << prefix << "...\"";
  const std::string want = path + first.substr(prefix.size() - 1);

  const std::string got = LoadError(path);
  EXPECT_EQ(got, want);
  for (const char* secret :
       {kFilePassword, kEnvPassword, "s3cr3t", "hunter2"}) {
    EXPECT_EQ(got.find(secret), std::string::npos)
        << "the message shows a secret: " << got;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConfigBad,
                         ::testing::ValuesIn(BadFixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name =
                               info.param.substr(0, info.param.rfind('.'));
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return name;
                         });

TEST(ConfigBadFixtures, AreNumberedAndPresent) {
  const auto names = BadFixtures();
  ASSERT_GE(names.size(), 50u);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string nn =
        (i + 1 < 10 ? "0" : "") + std::to_string(i + 1) + "-";
    EXPECT_EQ(names[i].rfind(nn, 0), 0u)
        << names[i] << " should start with " << nn;
  }
}

TEST(ConfigFile, MissingFile) {
  EXPECT_EQ(LoadError("/nonexistent/cdc-sentinel.yaml"),
            "/nonexistent/cdc-sentinel.yaml: cannot read config file: No such "
            "file or directory");
}

// A failure after the passwords were read must not show them.
TEST(ConfigSecrets, NotInErrorMessages) {
  FixtureEnv env;
  const std::string file = kTestdata + "/good/inline.yaml";
  const std::string got = LoadStringError(
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: http://h\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_file: ../secrets/connect-password\n"
      "  - name: b\n"
      "    url: http://h\n"
      "    basic_auth:\n"
      "      username: sentinel\n"
      "      password_env: CDC_SENTINEL_TEST_PASSWORD\n"
      "    tls: {}\n",
      file);
  EXPECT_EQ(got, file +
                     ":12:5: connect_clusters[1].tls: is set but url is not "
                     "https");
  EXPECT_EQ(got.find(kFilePassword), std::string::npos) << got;
  EXPECT_EQ(got.find(kEnvPassword), std::string::npos) << got;
}

// Relative paths are taken from the config's folder, not the working one.
TEST(ConfigFile, RelativePathsFromTheConfigFolder) {
  const std::string text =
      "connect_clusters:\n"
      "  - name: a\n"
      "    url: https://h\n"
      "    tls:\n"
      "      ca_file: tls/ca.pem\n";
  const auto cfg = LoadConfigString(text, kTestdata + "/x.yaml");
  EXPECT_EQ(cfg.connect_clusters.at(0).tls->ca_file, kTestdata + "/tls/ca.pem");
  EXPECT_EQ(LoadStringError(text, kTestdata + "/good/x.yaml"),
            kTestdata +
                "/good/x.yaml:5:16: connect_clusters[0].tls.ca_file: cannot "
                "read file " +
                kTestdata + "/good/tls/ca.pem: No such file or directory");
}

// ---------------------------------------------------------------- durations

TEST(Duration, Parses) {
  const struct {
    const char* text;
    milliseconds want;
  } cases[] = {
      {"500ms", milliseconds(500)},
      {"15s", seconds(15)},
      {"2m", std::chrono::minutes(2)},
      {"1h30m", std::chrono::minutes(90)},
      {"1m30s", seconds(90)},
      {"1s500ms", milliseconds(1500)},
      {"0", milliseconds(0)},
      {"0s", milliseconds(0)},
      {"1d", std::chrono::hours(24)},
      {"1w", std::chrono::hours(24 * 7)},
      {"1y", std::chrono::hours(24 * 365)},
      {"9223372036854775807ms", milliseconds::max()},
  };
  for (const auto& c : cases) {
    const auto got = ParseDuration(c.text);
    ASSERT_TRUE(got.has_value()) << c.text;
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(Duration, Rejects) {
  for (const char* text : {
           "",
           "15",
           "s",
           "ms",
           "1.5s",
           "1s1m",  // units out of order
           "1ms1s",
           "1m1m",  // repeated unit
           "-1s",
           "+1s",
           " 1s",
           "1s ",
           "1S",
           "1sec",
           "1 s",
           "00",
           "0x10s",
           "9223372036854775808ms",    // number overflows
           "9223372036854775807s",     // number times unit overflows
           "1s9223372036854775807ms",  // sum overflows
       }) {
    EXPECT_FALSE(ParseDuration(text).has_value()) << '"' << text << '"';
  }
}

TEST(Duration, Formats) {
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(seconds(15)), "15s");
  EXPECT_EQ(FormatDuration(std::chrono::minutes(2)), "2m");
  EXPECT_EQ(FormatDuration(std::chrono::minutes(90)), "1h30m");
  EXPECT_EQ(FormatDuration(seconds(90)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(std::chrono::hours(24)), "24h");
  EXPECT_EQ(FormatDuration(milliseconds(-1500)), "-1s500ms");
}

TEST(Duration, FormatThenParseRoundTrips) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1000LL, 61001LL, 3600000LL, 3723004LL,
                     86400000LL * 400}) {
    const auto back = ParseDuration(FormatDuration(milliseconds(ms)));
    ASSERT_TRUE(back.has_value()) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

// --------------------------------------------------------------------- URLs

TEST(HttpUrl, Parses) {
  std::string why;
  auto u = config::ParseHttpUrl("http://connect:8083", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "connect");
  EXPECT_EQ(u->port, 8083);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(u->SchemeHostPort(), "http://connect:8083");

  u = config::ParseHttpUrl("http://h", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, 80);

  u = config::ParseHttpUrl("https://h.example.com/", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->base_path, "");

  u = config::ParseHttpUrl("https://gw.example.com:8443/a/connect//", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "gw.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->base_path, "/a/connect");
  EXPECT_EQ(u->SchemeHostPort(), "https://gw.example.com:8443");

  u = config::ParseHttpUrl("https://[fe80::1]:65535/x", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->port, 65535);
  EXPECT_EQ(u->SchemeHostPort(), "https://[fe80::1]:65535");

  u = config::ParseHttpUrl("http://[::1]", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 80);
}

TEST(HttpUrl, Rejects) {
  const struct {
    const char* text;
    const char* why;
  } cases[] = {
      {"connect:8083", "must be an http or https URL"},
      {"ftp://h", "must be an http or https URL"},
      {"HTTP://h", "must be an http or https URL"},
      {"", "must be an http or https URL"},
      {"http://h/?a=b", "must not contain a query or fragment"},
      {"http://h/#top", "must not contain a query or fragment"},
      {"http://u:p@h", "must not contain credentials; use basic_auth"},
      {"http://", "has no host"},
      {"http://:80", "has no host"},
      {"http:///x", "has no host"},
      {"http://[]:80", "has no host"},
      {"http://h:0", "has an invalid port"},
      {"http://h:65536", "has an invalid port"},
      {"http://h:99999999999", "has an invalid port"},
      {"http://h:", "has an invalid port"},
      {"http://h:8o", "has an invalid port"},
      {"http://h:-1", "has an invalid port"},
      {"http://[::1", "has an unterminated IPv6 address"},
      {"http://[::1]x", "has garbage after the IPv6 address"},
      {"http://[::1]:", "has an invalid port"},
      {"http://::1:80", "has an invalid host (put IPv6 addresses in [])"},
      {"http://h!st", "has an invalid host"},
      {"http://[::g/]", "has an unterminated IPv6 address"},
      {"http://[::1 ]", "must not contain spaces or control characters"},
      {"http://h /x", "must not contain spaces or control characters"},
      {"http://h/a\tb", "must not contain spaces or control characters"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(config::ParseHttpUrl(c.text, &why).has_value()) << c.text;
    EXPECT_EQ(why, c.why) << c.text;
  }
}

// -------------------------------------------------------------------- flags

struct FlagsResult {
  bool ok;
  Flags flags;
  std::string error;
};

FlagsResult Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "cdc-sentinel");
  FlagsResult r;
  r.ok = ParseFlags(static_cast<int>(args.size()), args.data(), &r.flags,
                    &r.error);
  return r;
}

TEST(Flags, Defaults) {
  const auto r = Parse({"--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.flags.config_file, "c.yaml");
  EXPECT_EQ(r.flags.listen_address, ":9877");
  EXPECT_EQ(r.flags.log_level, LogLevel::kInfo);
  EXPECT_EQ(r.flags.log_format, LogFormat::kLogfmt);
  EXPECT_FALSE(r.flags.config_check);
  EXPECT_FALSE(r.flags.version);
  EXPECT_FALSE(r.flags.help);
}

TEST(Flags, EqualsAndSpaceFormsAgree) {
  const auto eq = Parse({"--config.file=c.yaml", "--web.listen-address=:1",
                         "--log.level=debug", "--log.format=json"});
  const auto sp = Parse({"--config.file", "c.yaml", "--web.listen-address",
                         ":1", "--log.level", "debug", "--log.format", "json"});
  for (const auto* r : {&eq, &sp}) {
    ASSERT_TRUE(r->ok) << r->error;
    EXPECT_EQ(r->flags.config_file, "c.yaml");
    EXPECT_EQ(r->flags.listen_address, ":1");
    EXPECT_EQ(r->flags.log_level, LogLevel::kDebug);
    EXPECT_EQ(r->flags.log_format, LogFormat::kJson);
  }
}

TEST(Flags, Booleans) {
  auto r = Parse({"--config.file=c.yaml", "--config.check"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.config_check);
  // A boolean flag does not take the next argument as its value.
  EXPECT_EQ(r.flags.config_file, "c.yaml");

  r = Parse({"--config.check=true", "--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.config_check);

  r = Parse({"--config.check=false", "--config.file=c.yaml"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.flags.config_check);

  r = Parse({"--config.check=yes", "--config.file=c.yaml"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "flag --config.check takes no value or true/false");
}

TEST(Flags, VersionAndHelpNeedNoConfigFile) {
  auto r = Parse({"--version"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.version);
  r = Parse({"-h"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.help);
  r = Parse({"--help"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.flags.help);
}

TEST(Flags, Errors) {
  const struct {
    std::vector<const char*> args;
    const char* error;
  } cases[] = {
      {{}, "flag --config.file is required"},
      {{"--config.check"}, "flag --config.file is required"},
      {{"--config.file=c.yaml", "--nope"}, "unknown flag --nope"},
      {{"--config.file=c.yaml", "--nope=1"}, "unknown flag --nope"},
      {{"--config.file=c.yaml", "-v"}, "unexpected argument \"-v\""},
      {{"c.yaml"}, "unexpected argument \"c.yaml\""},
      {{"--config.file"}, "flag --config.file needs a value"},
      {{"--config.file=c.yaml", "--log.level"},
       "flag --log.level needs a value"},
      {{"--config.file="}, "flag --config.file must not be empty"},
      {{"--config.file=c.yaml", "--log.level=loud"},
       "flag --log.level: \"loud\" is not one of debug, info, warn, error"},
      {{"--config.file=c.yaml", "--log.level", "warning"},
       "flag --log.level: \"warning\" is not one of debug, info, warn, error"},
      {{"--config.file=c.yaml", "--log.format=text"},
       "flag --log.format: \"text\" is not one of logfmt, json"},
      {{"--config.file=c.yaml", "--web.listen-address=9877"},
       "flag --web.listen-address: \"9877\" is not HOST:PORT"},
      {{"--config.file=c.yaml", "--web.listen-address", "h:x"},
       "flag --web.listen-address: \"h:x\" has an invalid port"},
  };
  for (const auto& c : cases) {
    const auto r = Parse(c.args);
    EXPECT_FALSE(r.ok) << c.error;
    EXPECT_EQ(r.error, c.error);
  }
}

TEST(Flags, SplitListenAddress) {
  const struct {
    const char* addr;
    const char* host;
    int port;
  } good[] = {
      {":9877", "0.0.0.0", 9877},      {"127.0.0.1:80", "127.0.0.1", 80},
      {"localhost:0", "localhost", 0}, {"[::1]:9090", "::1", 9090},
      {"[::]:65535", "::", 65535},
  };
  for (const auto& c : good) {
    std::string host, error;
    int port = -1;
    ASSERT_TRUE(SplitListenAddress(c.addr, &host, &port, &error))
        << c.addr << ": " << error;
    EXPECT_EQ(host, c.host) << c.addr;
    EXPECT_EQ(port, c.port) << c.addr;
  }
  const struct {
    const char* addr;
    const char* error;
  } bad[] = {
      {"9877", "\"9877\" is not HOST:PORT"},
      {"", "\"\" is not HOST:PORT"},
      {"h:", "\"h:\" has an invalid port"},
      {"h:abc", "\"h:abc\" has an invalid port"},
      {"h:80x", "\"h:80x\" has an invalid port"},
      {"h:65536", "\"h:65536\" has an invalid port"},
      {"h:-1", "\"h:-1\" has an invalid port"},
  };
  for (const auto& c : bad) {
    std::string host, error;
    int port = -1;
    EXPECT_FALSE(SplitListenAddress(c.addr, &host, &port, &error)) << c.addr;
    EXPECT_EQ(error, c.error);
  }
}

}  // namespace
}  // namespace cdc
