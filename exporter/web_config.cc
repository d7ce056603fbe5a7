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

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr MemBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

// Every PEM certificate in `pem`, in order.
std::vector<X509*> ReadCertificates(const std::string& pem) {
  std::vector<X509*> out;
  BioPtr bio = MemBio(pem);
  if (!bio) return out;
  while (X509* x =
             PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    out.push_back(x);
  }
  ERR_clear_error();  // the end of the input reads as an error
  return out;
}

}  // namespace

// ---------------------------------------------------------------- TlsMaterial

struct TlsMaterial::Handles {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* ca_store = nullptr;
  STACK_OF(X509_NAME) * ca_names = nullptr;
  ~Handles() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(ca_store);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
  }
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
  std::vector<X509*> certs = ReadCertificates(pem);
  if (certs.empty()) {
    return fail("cert_file", "no PEM certificate in " + cfg.cert_file);
  }
  h->cert = certs[0];
  h->chain = sk_X509_new_null();
  for (std::size_t i = 1; i < certs.size(); ++i) {
    sk_X509_push(h->chain, certs[i]);
  }

  try {
    pem = ReadRegularFile(cfg.key_file, kMaxFileBytes);
  } catch (const std::exception& e) {
    return fail("key_file", e.what());
  }
  {
    BioPtr bio = MemBio(pem);
    h->key =
        bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
            : nullptr;
    OPENSSL_cleanse(pem.data(), pem.size());
  }
  if (h->key == nullptr) {
    return fail("key_file", "no usable PEM private key in " + cfg.key_file +
                                " (encrypted keys are not supported): " +
                                OpensslError("unknown error"));
  }
  if (X509_check_private_key(h->cert, h->key) != 1) {
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
    std::vector<X509*> cas = ReadCertificates(pem);
    if (cas.empty()) {
      return fail("client_ca_file",
                  "no PEM certificate in " + cfg.client_ca_file);
    }
    h->ca_store = X509_STORE_new();
    h->ca_names = sk_X509_NAME_new_null();
    for (X509* ca : cas) {
      X509_STORE_add_cert(h->ca_store, ca);  // takes its own reference
      sk_X509_NAME_push(h->ca_names, X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
  }
  ERR_clear_error();
  return std::shared_ptr<const TlsMaterial>(new TlsMaterial(cfg, std::move(h)));
}

bool TlsMaterial::ApplyTo(SSL* ssl) const {
  const int min = cfg_.min_version == TlsMinVersion::kTls13 ? TLS1_3_VERSION
                                                            : TLS1_2_VERSION;
  if (SSL_set_min_proto_version(ssl, min) != 1) return false;
  if (SSL_use_cert_and_key(ssl, h_->cert, h_->key, h_->chain, 1) != 1) {
    return false;
  }
  if (cfg_.client_auth == ClientAuth::kRequireAndVerifyClientCert) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                   nullptr);
    if (SSL_set1_verify_cert_store(ssl, h_->ca_store) != 1) return false;
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(h_->ca_names));
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

namespace {}  // namespace

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

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users,
                                       std::chrono::seconds ttl)
    : users_(std::move(users)), ttl_(ttl) {}

bool BasicAuthenticator::Check(std::string_view authorization) {
  std::string user, password;
  if (!ParseBasicAuthorization(authorization, &user, &password)) return false;
  const bool ok = CheckUser(user, password);
  OPENSSL_cleanse(password.data(), password.size());
  return ok;
}

bool BasicAuthenticator::CheckUser(const std::string& user,
                                   std::string_view password) {
  if (users_.empty()) return false;
  const auto it = users_.find(user);
  const bool known = it != users_.end();
  // An unknown user is checked against a configured hash all the same, so
  // that the time taken does not tell which users exist.
  const std::string& hash = known ? it->second : users_.begin()->second;

  Key key;
  {
    // Lengths first, so that no two (user, password) pairs collide.
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    const uint64_t lens[2] = {user.size(), password.size()};
    unsigned int n = 0;
    const bool ok =
        md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) == 1 &&
        EVP_DigestUpdate(md, lens, sizeof(lens)) == 1 &&
        EVP_DigestUpdate(md, user.data(), user.size()) == 1 &&
        EVP_DigestUpdate(md, password.data(), password.size()) == 1 &&
        EVP_DigestUpdate(md, hash.data(), hash.size()) == 1 &&
        EVP_DigestFinal_ex(md, key.data(), &n) == 1 && n == key.size();
    EVP_MD_CTX_free(md);
    if (!ok) return known && BcryptVerify(password, hash);  // no cache
  }
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = cache_.find(key);
    if (c != cache_.end() && now < c->second.expires) return c->second.ok;
  }
  const bool ok = BcryptVerify(password, hash) && known;
  std::lock_guard<std::mutex> lock(mu_);
  ++bcrypt_runs_;
  if (cache_.size() >= kMaxEntries) {
    std::erase_if(cache_, [&](const auto& e) {
      return now >= e.second.expires || !e.second.ok;
    });
    if (cache_.size() >= kMaxEntries) cache_.clear();
  }
  cache_[key] = Entry{ok, now + ttl_};
  return ok;
}

uint64_t BasicAuthenticator::bcrypt_runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bcrypt_runs_;
}

}  // namespace cdc
