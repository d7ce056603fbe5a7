#include "exporter/web_config.h"

#include <crypt.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "cdc/common/file.h"
#include "config/config.h"
#include "config/yaml_reader.h"

namespace cdc {
namespace {

using config::ConfigError;
using config::YamlReader;

constexpr std::size_t kMaxFileBytes = 1 << 20;

std::string OpensslError(const std::string& fallback) {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// Refuses to prompt for a pass phrase (OpenSSL's default would read the
// terminal).
int NoPassphrase(char*, int, int, void*) { return -1; }

// RAII owners of the OpenSSL objects used here (issue #13): none is freed by
// hand.
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct X509NameStackFree {
  void operator()(STACK_OF(X509_NAME) * s) const {
    sk_X509_NAME_pop_free(s, X509_NAME_free);
  }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using X509NameStackPtr =
    std::unique_ptr<STACK_OF(X509_NAME), X509NameStackFree>;

BioPtr MemBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

// Every PEM certificate in `pem`, in order.
std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = MemBio(pem);
  if (!bio) return out;
  while (X509* x =
             PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    out.emplace_back(x);
  }
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

}  // namespace

// ---------------------------------------------------------------- TlsMaterial

struct TlsMaterial::Handles {
  X509Ptr cert;
  X509StackPtr chain;
  PkeyPtr key;
  X509StorePtr ca_store;
  X509NameStackPtr ca_names;
};

TlsMaterial::TlsMaterial(WebTlsConfig cfg, std::unique_ptr<Handles> h)
    : cfg_(std::move(cfg)), h_(std::move(h)) {}

TlsMaterial::~TlsMaterial() = default;

std::shared_ptr<const TlsMaterial> TlsMaterial::Load(const WebTlsConfig& cfg,
                                                     std::string* key,
                                                     std::string* reason) {
  ERR_clear_error();
  auto h = std::make_unique<Handles>();
  auto fail = [&](const char* k, std::string why) {
    *key = k;
    *reason = std::move(why);
    ERR_clear_error();
    return nullptr;
  };
  std::string pem;
  try {
    pem = ReadRegularFile(cfg.cert_file, kMaxFileBytes);
  } catch (const std::exception& e) {
    return fail("cert_file", e.what());
  }
  std::vector<X509Ptr> certs = ReadCertificates(pem);
  if (certs.empty()) {
    return fail("cert_file", "no PEM certificate in " + cfg.cert_file);
  }
  h->cert = std::move(certs[0]);
  h->chain.reset(sk_X509_new_null());
  if (!h->chain) return fail("cert_file", OpensslError("out of memory"));
  for (std::size_t i = 1; i < certs.size(); ++i) {
    if (sk_X509_push(h->chain.get(), certs[i].get()) <= 0) {
      return fail("cert_file", OpensslError("out of memory"));
    }
    certs[i].release();  // the stack owns it now
  }

  try {
    pem = ReadRegularFile(cfg.key_file, kMaxFileBytes);
  } catch (const std::exception& e) {
    return fail("key_file", e.what());
  }
  {
    BioPtr bio = MemBio(pem);
    h->key.reset(
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
            : nullptr);
    OPENSSL_cleanse(pem.data(), pem.size());
  }
  if (!h->key) {
    return fail("key_file", "no usable PEM private key in " + cfg.key_file +
                                " (encrypted keys are not supported): " +
                                OpensslError("unknown error"));
  }
  if (X509_check_private_key(h->cert.get(), h->key.get()) != 1) {
    return fail("key_file", "the key in " + cfg.key_file +
                                " does not match the certificate in " +
                                cfg.cert_file);
  }

  if (!cfg.client_ca_file.empty()) {
    try {
      pem = ReadRegularFile(cfg.client_ca_file, kMaxFileBytes);
    } catch (const std::exception& e) {
      return fail("client_ca_file", e.what());
    }
    std::vector<X509Ptr> cas = ReadCertificates(pem);
    if (cas.empty()) {
      return fail("client_ca_file",
                  "no PEM certificate in " + cfg.client_ca_file);
    }
    h->ca_store.reset(X509_STORE_new());
    h->ca_names.reset(sk_X509_NAME_new_null());
    if (!h->ca_store || !h->ca_names) {
      return fail("client_ca_file", OpensslError("out of memory"));
    }
    for (const X509Ptr& ca : cas) {
      // The store takes its own reference to the certificate.
      if (X509_STORE_add_cert(h->ca_store.get(), ca.get()) != 1) {
        return fail("client_ca_file", OpensslError("cannot add a CA"));
      }
      X509_NAME* name = X509_NAME_dup(X509_get_subject_name(ca.get()));
      if (name == nullptr || sk_X509_NAME_push(h->ca_names.get(), name) <= 0) {
        X509_NAME_free(name);
        return fail("client_ca_file", OpensslError("out of memory"));
      }
    }
  }
  ERR_clear_error();
  return std::shared_ptr<const TlsMaterial>(new TlsMaterial(cfg, std::move(h)));
}

bool TlsMaterial::ApplyTo(SSL* ssl) const {
  const int min = cfg_.min_version == TlsMinVersion::kTls13 ? TLS1_3_VERSION
                                                            : TLS1_2_VERSION;
  if (SSL_set_min_proto_version(ssl, min) != 1) return false;
  if (SSL_use_cert_and_key(ssl, h_->cert.get(), h_->key.get(), h_->chain.get(),
                           1) != 1) {
    return false;
  }
  if (cfg_.client_auth == ClientAuth::kRequireAndVerifyClientCert) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   nullptr);
    if (SSL_set1_verify_cert_store(ssl, h_->ca_store.get()) != 1) return false;
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(h_->ca_names.get()));
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
  return true;
}

// ------------------------------------------------------------------- loader

namespace {

WebTlsConfig LoadTls(const YamlReader& r, const YAML::Node& n,
                     const std::string& path) {
  r.ExpectMap(n, path,
              {"cert_file", "key_file", "client_ca_file", "client_auth_type",
               "min_version"});
  WebTlsConfig t;
  for (const char* key : {"cert_file", "key_file"}) {
    if (!n[key].IsDefined()) {
      r.Fail(n, YamlReader::Join(path, key), "is required");
    }
    if (n[key].IsNull()) {
      r.Fail(r.At(n, key), YamlReader::Join(path, key), "must not be empty");
    }
  }
  t.cert_file = *r.File(n, path, "cert_file");
  t.key_file = *r.File(n, path, "key_file");
  if (n["client_ca_file"].IsDefined() && n["client_ca_file"].IsNull()) {
    r.Fail(r.At(n, "client_ca_file"), YamlReader::Join(path, "client_ca_file"),
           "must not be empty");
  }
  t.client_ca_file = r.File(n, path, "client_ca_file").value_or("");
  if (auto a = r.String(n, path, "client_auth_type")) {
    if (*a == "NoClientCert") {
      t.client_auth = ClientAuth::kNoClientCert;
    } else if (*a == "RequireAndVerifyClientCert") {
      t.client_auth = ClientAuth::kRequireAndVerifyClientCert;
    } else {
      r.Fail(r.At(n, "client_auth_type"),
             YamlReader::Join(path, "client_auth_type"),
             "\"" + *a +
                 "\" is not supported (use NoClientCert or "
                 "RequireAndVerifyClientCert)");
    }
  }
  if (auto v = r.String(n, path, "min_version")) {
    if (*v == "TLS12") {
      t.min_version = TlsMinVersion::kTls12;
    } else if (*v == "TLS13") {
      t.min_version = TlsMinVersion::kTls13;
    } else {
      r.Fail(r.At(n, "min_version"), YamlReader::Join(path, "min_version"),
             "\"" + *v + "\" is not supported (use TLS12 or TLS13)");
    }
  }
  if (t.client_auth == ClientAuth::kRequireAndVerifyClientCert &&
      t.client_ca_file.empty()) {
    r.Fail(r.At(n, "client_auth_type"),
           YamlReader::Join(path, "client_auth_type"),
           "RequireAndVerifyClientCert needs client_ca_file");
  }
  if (t.client_auth == ClientAuth::kNoClientCert && !t.client_ca_file.empty()) {
    r.Fail(r.At(n, "client_ca_file"), YamlReader::Join(path, "client_ca_file"),
           "is set but client_auth_type is not RequireAndVerifyClientCert");
  }
  return t;
}

std::map<std::string, std::string> LoadUsers(const YamlReader& r,
                                             const YAML::Node& root) {
  const std::string path = "basic_auth_users";
  const YAML::Node n = root[path];
  if (n.IsNull()) {
    r.Fail(r.At(root, path), path,
           "must not be empty; leave the key out to serve without "
           "authentication");
  }
  if (!n.IsMap()) r.Fail(n, path, "must be a mapping of user to bcrypt hash");
  if (n.size() == 0) {
    r.Fail(n, path,
           "must list at least one user; leave the key out to serve without "
           "authentication");
  }
  std::map<std::string, std::string> users;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) r.Fail(kv.first, path, "keys must be strings");
    const std::string user = kv.first.Scalar();
    const std::string up = YamlReader::Join(path, user);
    if (user.empty()) r.Fail(kv.first, path, "a user name must not be empty");
    if (user.find(':') != std::string::npos) {
      r.Fail(kv.first, up, "a user name must not contain ':'");
    }
    if (users.count(user)) r.Fail(kv.first, up, "duplicate key");
    // The value is never echoed: it may be a password pasted by mistake.
    const YAML::Node at = kv.second.IsNull() ? kv.first : kv.second;
    if (!kv.second.IsScalar() || !IsBcryptHash(kv.second.Scalar())) {
      r.Fail(at, up,
             "must be a bcrypt hash ($2y$, $2b$ or $2a$), e.g. from "
             "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`");
    }
    users[user] = kv.second.Scalar();
  }
  return users;
}

}  // namespace

WebConfig LoadWebConfigString(const std::string& text,
                              const std::string& file) {
  YamlReader r(file);
  const YAML::Node root = config::LoadYamlDocument(text, file);
  if (!root.IsDefined() || root.IsNull()) {
    throw ConfigError(file +
                      ":1:1: the file is empty (leave out --web.config.file "
                      "to serve plain HTTP without authentication)");
  }
  if (!root.IsMap()) {
    r.Fail(root, "", "the top level must be a mapping (key: value lines)");
  }
  r.ExpectMap(root, "", {"tls_server_config", "basic_auth_users"});

  WebConfig cfg;
  cfg.file = file;
  if (const YAML::Node t = root["tls_server_config"]; t.IsDefined()) {
    const std::string path = "tls_server_config";
    if (t.IsNull()) {
      r.Fail(r.At(root, path), path,
             "must not be empty; leave the key out to serve plain HTTP");
    }
    cfg.tls = LoadTls(r, t, path);
    std::string key, reason;
    cfg.tls_material = TlsMaterial::Load(*cfg.tls, &key, &reason);
    if (!cfg.tls_material) {
      r.Fail(r.At(t, key), YamlReader::Join(path, key), reason);
    }
  }
  if (root["basic_auth_users"].IsDefined()) {
    cfg.basic_auth_users = LoadUsers(r, root);
  }
  return cfg;
}

WebConfig LoadWebConfigFile(const std::string& path) {
  std::string text;
  try {
    text = ReadRegularFile(path, kMaxFileBytes);
  } catch (const std::exception& e) {
    throw ConfigError(path + ": web config file: " + e.what());
  }
  return LoadWebConfigString(text, path);
}

// ------------------------------------------------------------------- bcrypt

bool IsBcryptHash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' ||
      h[6] != '$') {
    return false;
  }
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(h[4])) ||
      !std::isdigit(static_cast<unsigned char>(h[5]))) {
    return false;
  }
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/';
  });
}

bool BcryptVerify(std::string_view password, const std::string& hash) {
  if (!IsBcryptHash(hash)) return false;
  if (password.find('\0') != std::string_view::npos) return false;
  std::string pw(password);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(pw.c_str(), hash.c_str(), data.get(),
                             static_cast<int>(sizeof(crypt_data)));
  bool ok = out != nullptr && out[0] != '*' &&
            std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(pw.data(), pw.size());
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

// ------------------------------------------------------------- basic auth

bool ParseBasicAuthorization(std::string_view header, std::string* user,
                             std::string* password) {
  constexpr std::string_view kScheme = "basic";
  if (header.size() <= kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) {
      return false;
    }
  }
  std::string_view b64 = header.substr(kScheme.size());
  if (b64.front() != ' ') return false;
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  if (b64.empty() || b64.size() % 4 != 0) return false;
  std::string decoded;
  decoded.reserve(b64.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : b64) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++pad;
      continue;
    } else {
      return false;
    }
    if (pad > 0) return false;  // data after padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      decoded.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2) return false;
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) {
    OPENSSL_cleanse(decoded.data(), decoded.size());
    return false;
  }
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// SHA-256 of user, password and hash, lengths first so that no two
// (user, password) pairs collide. False if OpenSSL fails.
bool CredentialKey(std::string_view user, std::string_view password,
                   const std::string& hash, BasicAuthenticator::Key* key) {
  MdCtx md(EVP_MD_CTX_new());
  const uint64_t lens[2] = {user.size(), password.size()};
  unsigned int n = 0;
  return md && EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) == 1 &&
         EVP_DigestUpdate(md.get(), lens, sizeof(lens)) == 1 &&
         EVP_DigestUpdate(md.get(), user.data(), user.size()) == 1 &&
         EVP_DigestUpdate(md.get(), password.data(), password.size()) == 1 &&
         EVP_DigestUpdate(md.get(), hash.data(), hash.size()) == 1 &&
         EVP_DigestFinal_ex(md.get(), key->data(), &n) == 1 && n == key->size();
}

}  // namespace

BasicAuthenticator::Pending::~Pending() {
  OPENSSL_cleanse(password_.data(), password_.size());
}
BasicAuthenticator::Pending::Pending(Pending&& o) noexcept
    : password_(std::move(o.password_)),
      hash_(o.hash_),
      known_(o.known_),
      cacheable_(o.cacheable_),
      key_(o.key_) {
  OPENSSL_cleanse(o.password_.data(), o.password_.size());
  o.password_.clear();
}
BasicAuthenticator::Pending& BasicAuthenticator::Pending::operator=(
    Pending&& o) noexcept {
  if (this != &o) {
    OPENSSL_cleanse(password_.data(), password_.size());
    password_ = std::move(o.password_);
    OPENSSL_cleanse(o.password_.data(), o.password_.size());
    o.password_.clear();
    hash_ = o.hash_;
    known_ = o.known_;
    cacheable_ = o.cacheable_;
    key_ = o.key_;
  }
  return *this;
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users,
                                       std::chrono::seconds ttl)
    : users_(std::move(users)), ttl_(ttl) {}

BasicAuthenticator::Cached BasicAuthenticator::Lookup(
    std::string_view authorization, Pending* pending) {
  std::string user, password;
  if (!ParseBasicAuthorization(authorization, &user, &password)) {
    return Cached::kDenied;
  }
  const Cached c = LookupUser(user, password, pending);
  OPENSSL_cleanse(password.data(), password.size());
  return c;
}

BasicAuthenticator::Cached BasicAuthenticator::LookupUser(
    const std::string& user, std::string_view password, Pending* pending) {
  if (users_.empty()) return Cached::kDenied;
  const auto it = users_.find(user);
  pending->known_ = it != users_.end();
  // An unknown user is checked against a configured hash all the same, so
  // that the time taken does not tell which users exist.
  pending->hash_ = pending->known_ ? &it->second : &users_.begin()->second;
  pending->password_.assign(password);
  pending->cacheable_ =
      CredentialKey(user, password, *pending->hash_, &pending->key_);
  if (!pending->cacheable_) return Cached::kUnknown;
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (auto a = allowed_.find(pending->key_);
      a != allowed_.end() && now < a->second) {
    a->second = now + ttl_;  // sliding: a regular scraper stays verified
    return Cached::kAllowed;
  }
  if (auto d = denied_.find(pending->key_);
      d != denied_.end() && now < d->second) {
    return Cached::kDenied;
  }
  return Cached::kUnknown;
}

bool BasicAuthenticator::Verify(Pending& p) {
  if (p.hash_ == nullptr) return false;
  const bool ok = BcryptVerify(p.password_, *p.hash_) && p.known_;
  OPENSSL_cleanse(p.password_.data(), p.password_.size());
  p.password_.clear();
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  ++bcrypt_runs_;
  if (p.cacheable_) Remember(ok ? allowed_ : denied_, p.key_, now + ttl_, now);
  return ok;
}

void BasicAuthenticator::Remember(std::map<Key, Clock::time_point>& cache,
                                  const Key& key, Clock::time_point expires,
                                  Clock::time_point now) {
  if (cache.size() >= kMaxEntries) {
    std::erase_if(cache, [&](const auto& e) { return now >= e.second; });
    if (cache.size() >= kMaxEntries) cache.clear();
  }
  cache[key] = expires;
}

bool BasicAuthenticator::Check(std::string_view authorization) {
  Pending p;
  switch (Lookup(authorization, &p)) {
    case Cached::kAllowed:
      return true;
    case Cached::kDenied:
      return false;
    case Cached::kUnknown:
      break;
  }
  return Verify(p);
}

bool BasicAuthenticator::CheckUser(const std::string& user,
                                   std::string_view password) {
  Pending p;
  switch (LookupUser(user, password, &p)) {
    case Cached::kAllowed:
      return true;
    case Cached::kDenied:
      return false;
    case Cached::kUnknown:
      break;
  }
  return Verify(p);
}

uint64_t BasicAuthenticator::bcrypt_runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bcrypt_runs_;
}

}  // namespace cdc
