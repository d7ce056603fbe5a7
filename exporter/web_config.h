#pragma once

// --web.config.file: TLS and basic authentication of the exporter's own HTTP
// endpoints, in the format of Prometheus' exporter-toolkit web configuration
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md),
// restricted to what cdc-sentinel implements. See docs/security.md.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

struct ssl_st;
namespace YAML {
class Node;
}

namespace cdc {

enum class ClientAuth { kNoClientCert, kRequireAndVerifyClientCert };
enum class TlsMinVersion { kTls12, kTls13 };

struct WebTlsConfig {
  std::string cert_file;       // resolved path (relative to the web config)
  std::string key_file;        // resolved path
  std::string client_ca_file;  // resolved path, "" if none
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  TlsMinVersion min_version = TlsMinVersion::kTls12;
  bool operator==(const WebTlsConfig&) const = default;
};

// Certificate, key and client CAs loaded from a WebTlsConfig, ready to be
// applied to a server-side TLS connection. Immutable: thread-safe.
class TlsMaterial {
 public:
  ~TlsMaterial();
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  // Reads and checks the files. On failure returns nullptr, with *key the
  // config key at fault ("cert_file", "key_file", "client_ca_file") and
  // *reason a message without any file contents.
  static std::shared_ptr<const TlsMaterial> Load(const WebTlsConfig& cfg,
                                                 std::string* key,
                                                 std::string* reason);

  // Sets the certificate chain, key, minimum version and client
  // verification on one connection, from its ClientHello callback.
  bool ApplyTo(ssl_st* ssl) const;

  const WebTlsConfig& config() const { return cfg_; }

 private:
  struct Handles;
  TlsMaterial(WebTlsConfig cfg, std::unique_ptr<Handles> h);

  WebTlsConfig cfg_;
  std::unique_ptr<Handles> h_;
};

// A parsed web configuration. Copyable; swapped whole on reload.
struct WebConfig {
  std::string file;
  std::optional<WebTlsConfig> tls;
  std::shared_ptr<const TlsMaterial> tls_material;  // set iff tls is
  // user -> bcrypt hash ($2a$, $2b$, $2y$). Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
};

// Parses a web configuration. Unknown keys, wrong types and unreadable or
// invalid certificate files throw config::ConfigError
// "FILE:LINE:COL: key: reason". Relative paths are taken from the folder of
// `file`. Never echoes a password hash.
WebConfig LoadWebConfigString(const std::string& text, const std::string& file);
// Reads `path` (a regular file of at most 1 MiB) and parses it.
WebConfig LoadWebConfigFile(const std::string& path);

// True if `hash` has the shape of a bcrypt hash: $2a$, $2b$ or $2y$, a cost
// from 04 to 31 and 53 characters of bcrypt base64.
bool IsBcryptHash(std::string_view hash);

// Verifies `password` against a bcrypt `hash` with libcrypt (slow by design:
// tens of milliseconds at cost 10). Compares in constant time. A password
// containing a NUL byte never matches. Thread-safe.
bool BcryptVerify(std::string_view password, const std::string& hash);

// Decodes an `Authorization: Basic ...` header value into user and password.
// False if it is not one (another scheme, bad base64, no ':').
bool ParseBasicAuthorization(std::string_view header, std::string* user,
                             std::string* password);

// Checks HTTP basic authentication against bcrypt hashes. The outcome of
// verifying a user, password and hash is remembered, keyed by SHA-256 (the
// password itself is not kept): a success for `ttl` after its last use (so a
// scrape every few seconds costs one bcrypt per start or reload), a failure
// for `ttl` after it was found. Successes and failures are kept apart, so
// that a flood of wrong passwords never evicts a success. Unknown users cost
// a bcrypt too, so timing does not tell which users exist. Thread-safe.
//
// A server answers from the cache with Lookup() (fast, no bcrypt) and runs
// Verify() on what the cache cannot answer, where and as often as it allows
// (exporter/http_server.cc bounds concurrent bcrypt work).
class BasicAuthenticator {
 public:
  using Clock = std::chrono::steady_clock;
  using Key = std::array<unsigned char, 32>;

  // A verification the cache could not answer. Wipes the password when
  // destroyed. Movable, not copyable.
  class Pending {
   public:
    Pending() = default;
    ~Pending();
    Pending(Pending&&) noexcept;
    Pending& operator=(Pending&&) noexcept;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;

   private:
    friend class BasicAuthenticator;
    std::string password_;
    const std::string* hash_ = nullptr;  // owned by the authenticator
    bool known_ = false;
    bool cacheable_ = false;
    Key key_{};
  };
  enum class Cached { kAllowed, kDenied, kUnknown };

  explicit BasicAuthenticator(
      std::map<std::string, std::string> users,
      std::chrono::seconds ttl = std::chrono::seconds(60));
  BasicAuthenticator(const BasicAuthenticator&) = delete;
  BasicAuthenticator& operator=(const BasicAuthenticator&) = delete;

  // `authorization` is the request's Authorization header ("" if absent).
  // kAllowed or kDenied when known without bcrypt (a malformed header, no
  // users, a remembered outcome); kUnknown otherwise, with *pending ready
  // for Verify().
  Cached Lookup(std::string_view authorization, Pending* pending);
  // Runs bcrypt for `pending` (tens to hundreds of milliseconds) and
  // remembers the outcome. `pending` must come from this authenticator.
  bool Verify(Pending& pending);

  // Lookup, then Verify if needed.
  bool Check(std::string_view authorization);
  bool CheckUser(const std::string& user, std::string_view password);

  // bcrypt computations done so far (for tests).
  uint64_t bcrypt_runs() const;

 private:
  static constexpr std::size_t kMaxEntries = 256;
  Cached LookupUser(const std::string& user, std::string_view password,
                    Pending* pending);
  static void Remember(std::map<Key, Clock::time_point>& cache, const Key& key,
                       Clock::time_point expires, Clock::time_point now);

  const std::map<std::string, std::string> users_;
  const std::chrono::seconds ttl_;
  mutable std::mutex mu_;  // guards the caches and bcrypt_runs_
  std::map<Key, Clock::time_point> allowed_;  // key -> expiry (sliding)
  std::map<Key, Clock::time_point> denied_;   // key -> expiry
  uint64_t bcrypt_runs_ = 0;
};

}  // namespace cdc
