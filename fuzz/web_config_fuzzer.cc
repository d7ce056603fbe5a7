// libFuzzer target: the --web.config.file loader and the Authorization
// header parser. Any text must load or throw config::ConfigError. Runs in a
// private directory with a real certificate and key (tls/server.pem,
// tls/server-key.pem, tls/ca.pem) so that the TLS loading code runs too.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "exporter/web_config.h"
#include "fuzz/fuzz_paths.h"

namespace {

std::pair<std::string, std::string> SelfSigned() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz"), -1,
                             -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_sign(x, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b, &p);
    std::string s(p, n);
    BIO_free(b);
    return s;
  };
  std::string cert = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  std::string k = pem([&](BIO* b) {
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  X509_free(x);
  EVP_PKEY_free(key);
  return {cert, k};
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const auto [cert, key] = SelfSigned();
  cdc::fuzz::MakeWorkDir({{"work/tls/server.pem", cert},
                          {"work/tls/server-key.pem", key},
                          {"work/tls/ca.pem", cert},
                          {"work/tls/empty.pem", ""}});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string user, password;
  cdc::ParseBasicAuthorization(text, &user, &password);
  cdc::IsBcryptHash(text);
  if (!cdc::fuzz::SafeInput(text)) return 0;
  static const std::string file = cdc::fuzz::FuzzedFile("web.yml");
  try {
    cdc::WebConfig c = cdc::LoadWebConfigString(text, file);
    for (const auto& [u, hash] : c.basic_auth_users) {
      if (!cdc::IsBcryptHash(hash)) __builtin_trap();  // the loader's promise
    }
    if (c.tls.has_value() != (c.tls_material != nullptr)) __builtin_trap();
  } catch (const cdc::config::ConfigError&) {
  }
  return 0;
}
