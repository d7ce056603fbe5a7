// Tests of --web.config.file: the parser (one bad config per error, the whole
// message compared), bcrypt verification with libcrypt, the Authorization
// header, the verification cache and the TLS material.

#include "exporter/web_config.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"
#include "exporter/flags.h"

namespace cdc {
namespace {

namespace fs = std::filesystem;
using config::LoadYamlDocument;

// A bcrypt hash of `password` made here with libcrypt (cost 4: fast).
std::string MakeBcrypt(const std::string& password,
                       const char* prefix = "$2b$") {
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* salt = crypt_gensalt_rn(prefix, 4, nullptr, 0, data.setting,
                                      sizeof(data.setting));
  EXPECT_NE(salt, nullptr);
  const char* h = crypt_rn(password.c_str(), salt, &data, sizeof(data));
  EXPECT_NE(h, nullptr);
  return h ? h : "";
}

std::string Base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()),
                      static_cast<int>(s.size()));
  out.resize(n);
  return out;
}

void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

// A self-signed P-256 certificate and its key, as PEM.
struct Pem {
  std::string cert, key;
};
Pem SelfSigned(const std::string& cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  Pem out;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  out.cert.assign(p, n);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(b, &p);
  out.key.assign(p, n);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cdc-web-config-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "tls");
    const Pem server = SelfSigned("server");
    const Pem other = SelfSigned("other");
    WriteFile(dir_ / "tls/server.pem", server.cert);
    WriteFile(dir_ / "tls/server-key.pem", server.key);
    WriteFile(dir_ / "tls/other-key.pem", other.key);
    WriteFile(dir_ / "tls/ca.pem", other.cert);
    WriteFile(dir_ / "tls/not-pem.txt", "hello\n");
    file_ = (dir_ / "web.yml").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `yaml` to web.yml and returns the error message ("" if it loads),
  // with the file's path replaced by FILE and the folder by DIR.
  std::string Error(const std::string& yaml) {
    WriteFile(file_, yaml);
    try {
      LoadWebConfigFile(file_);
    } catch (const config::ConfigError& e) {
      std::string m = e.what();
      for (auto [from, to] : {std::pair{file_, std::string("FILE")},
                              std::pair{dir_.string(), std::string("DIR")}}) {
        for (auto at = m.find(from); at != std::string::npos;
             at = m.find(from)) {
          m.replace(at, from.size(), to);
        }
      }
      return m;
    }
    return "";
  }
  WebConfig Load(const std::string& yaml) {
    WriteFile(file_, yaml);
    return LoadWebConfigFile(file_);
  }

  fs::path dir_;
  std::string file_;
};

TEST_F(WebConfigTest, LoadsTlsAndUsers) {
  const std::string hash = MakeBcrypt("pw");
  WebConfig c = Load(
      "tls_server_config:\n"
      "  cert_file: tls/server.pem\n"
      "  key_file: tls/server-key.pem\n"
      "  client_ca_file: tls/ca.pem\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS13\n"
      "basic_auth_users:\n"
      "  prometheus: " +
      hash + "\n  other: '" + hash + "'\n");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->cert_file, (dir_ / "tls/server.pem").string());
  EXPECT_EQ(c.tls->key_file, (dir_ / "tls/server-key.pem").string());
  EXPECT_EQ(c.tls->client_ca_file, (dir_ / "tls/ca.pem").string());
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c.tls->min_version, TlsMinVersion::kTls13);
  ASSERT_TRUE(c.tls_material);
  EXPECT_EQ(c.tls_material->config(), *c.tls);
  EXPECT_EQ(c.basic_auth_users.size(), 2u);
  EXPECT_EQ(c.basic_auth_users.at("prometheus"), hash);
}

TEST_F(WebConfigTest, Defaults) {
  WebConfig c = Load(
      "tls_server_config: {cert_file: tls/server.pem, key_file: "
      "tls/server-key.pem}\n");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kNoClientCert);
  EXPECT_EQ(c.tls->min_version, TlsMinVersion::kTls12);
  EXPECT_TRUE(c.tls->client_ca_file.empty());
  EXPECT_TRUE(c.basic_auth_users.empty());

  c = Load("basic_auth_users: {u: " + MakeBcrypt("x", "$2y$") + "}\n");
  EXPECT_FALSE(c.tls);
  EXPECT_FALSE(c.tls_material);
  EXPECT_EQ(c.basic_auth_users.size(), 1u);
  // Explicit defaults are accepted too.
  c = Load(
      "tls_server_config: {cert_file: tls/server.pem, key_file: "
      "tls/server-key.pem, client_auth_type: NoClientCert, min_version: "
      "TLS12}\n");
  EXPECT_EQ(c.tls->client_auth, ClientAuth::kNoClientCert);
}

// One bad web config per error, the whole message compared.
TEST_F(WebConfigTest, Errors) {
  const std::string tls =
      "tls_server_config:\n  cert_file: tls/server.pem\n  key_file: "
      "tls/server-key.pem\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"",
       "FILE:1:1: the file is empty (leave out --web.config.file to "
       "serve plain HTTP without authentication)"},
      {"a: [\n", "FILE:2:1: invalid YAML: end of sequence flow not found"},
      {"- a\n",
       "FILE:1:1: the top level must be a mapping (key: value "
       "lines)"},
      // yaml-cpp 0.7's LoadAll loops forever on these (found by fuzzing).
      {",\n", "FILE:1:1: invalid YAML: unexpected character"},
      {"# comment\n,a:\n\x98", "FILE:2:1: invalid YAML: unexpected character"},
      {"basic_auth_users: {u: x}\n---\nb: 1\n",
       "FILE:3:1: a second YAML document (after ---) is not supported; put "
       "everything in one"},
      {"http_server_config: {http2: false}\n",
       "FILE:1:1: http_server_config: unknown key (known keys: "
       "tls_server_config, basic_auth_users)"},
      {"tls_server_config:\n",
       "FILE:1:1: tls_server_config: must not be empty; leave the key out to "
       "serve plain HTTP"},
      {"tls_server_config: yes\n",
       "FILE:1:20: tls_server_config: must be a mapping"},
      {tls + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
       "FILE:4:3: tls_server_config.cipher_suites: unknown key (known keys: "
       "cert_file, key_file, client_ca_file, client_auth_type, min_version)"},
      {tls + "  min_version: TLS12\n  min_version: TLS13\n",
       "FILE:5:3: tls_server_config.min_version: duplicate key"},
      {"tls_server_config:\n  key_file: tls/server-key.pem\n",
       "FILE:2:3: tls_server_config.cert_file: is required"},
      {"tls_server_config:\n  cert_file: tls/server.pem\n",
       "FILE:2:3: tls_server_config.key_file: is required"},
      {"tls_server_config:\n  cert_file:\n  key_file: tls/server-key.pem\n",
       "FILE:2:3: tls_server_config.cert_file: must not be empty"},
      {"tls_server_config:\n  cert_file: [a]\n  key_file: x\n",
       "FILE:2:14: tls_server_config.cert_file: must be a string"},
      {"tls_server_config:\n  cert_file: missing.pem\n  key_file: "
       "tls/server-key.pem\n",
       "FILE:2:14: tls_server_config.cert_file: cannot read file "
       "DIR/missing.pem: No such file or directory"},
      {"tls_server_config:\n  cert_file: tls\n  key_file: "
       "tls/server-key.pem\n",
       "FILE:2:14: tls_server_config.cert_file: cannot read file DIR/tls: it "
       "is a directory"},
      {"tls_server_config:\n  cert_file: tls/not-pem.txt\n  key_file: "
       "tls/server-key.pem\n",
       "FILE:2:14: tls_server_config.cert_file: no PEM certificate in "
       "DIR/tls/not-pem.txt"},
      {"tls_server_config:\n  cert_file: /dev/zero\n  key_file: "
       "tls/server-key.pem\n",
       "FILE:2:14: tls_server_config.cert_file: cannot read file /dev/zero: "
       "not a "
       "regular file"},
      {"tls_server_config:\n  cert_file: tls/server.pem\n  key_file: "
       "tls/server.pem\n",
       "FILE:3:13: tls_server_config.key_file: no usable PEM private key in "
       "DIR/tls/server.pem (encrypted keys are not supported): "
       "error:1E08010C:DECODER routines::unsupported"},
      {"tls_server_config:\n  cert_file: tls/server.pem\n  key_file: "
       "tls/other-key.pem\n",
       "FILE:3:13: tls_server_config.key_file: the key in "
       "DIR/tls/other-key.pem does not match the certificate in "
       "DIR/tls/server.pem"},
      {tls + "  client_ca_file: tls/not-pem.txt\n  client_auth_type: "
             "RequireAndVerifyClientCert\n",
       "FILE:4:19: tls_server_config.client_ca_file: no PEM certificate in "
       "DIR/tls/not-pem.txt"},
      {tls + "  client_auth_type: RequireAnyClientCert\n",
       "FILE:4:21: tls_server_config.client_auth_type: "
       "\"RequireAnyClientCert\" is not supported (use NoClientCert or "
       "RequireAndVerifyClientCert)"},
      {tls + "  client_auth_type: RequireAndVerifyClientCert\n",
       "FILE:4:21: tls_server_config.client_auth_type: "
       "RequireAndVerifyClientCert needs client_ca_file"},
      {tls + "  client_ca_file: tls/ca.pem\n",
       "FILE:4:19: tls_server_config.client_ca_file: is set but "
       "client_auth_type is not RequireAndVerifyClientCert"},
      {tls + "  min_version: TLS11\n",
       "FILE:4:16: tls_server_config.min_version: \"TLS11\" is not supported "
       "(use TLS12 or TLS13)"},
      {"basic_auth_users:\n",
       "FILE:1:1: basic_auth_users: must not be empty; leave the key out to "
       "serve without authentication"},
      {"basic_auth_users: {}\n",
       "FILE:1:19: basic_auth_users: must list at least one user; leave the "
       "key out to serve without authentication"},
      {"basic_auth_users: [a]\n",
       "FILE:1:19: basic_auth_users: must be a mapping of user to bcrypt "
       "hash"},
      {"basic_auth_users:\n  \"a:b\": x\n",
       "FILE:2:3: basic_auth_users.a:b: a user name must not contain ':'"},
      {"basic_auth_users:\n  u:\n",
       "FILE:2:3: basic_auth_users.u: must be a bcrypt hash ($2y$, $2b$ or "
       "$2a$), e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"},
      // A password pasted instead of a hash is never echoed.
      {"basic_auth_users:\n  u: hunter2-Planted\n",
       "FILE:2:6: basic_auth_users.u: must be a bcrypt hash ($2y$, $2b$ or "
       "$2a$), e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"},
      {"basic_auth_users:\n  u: {a: b}\n",
       "FILE:2:6: basic_auth_users.u: must be a bcrypt hash ($2y$, $2b$ or "
       "$2a$), e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"},
      {"basic_auth_users:\n  u: " + MakeBcrypt("a") +
           "\n  u: " + MakeBcrypt("b") + "\n",
       "FILE:3:3: basic_auth_users.u: duplicate key"},
  };
  for (const auto& [yaml, want] : cases) {
    EXPECT_EQ(Error(yaml), want) << yaml;
  }
}

// The one-document YAML loading, with what LoadAll of yaml-cpp 0.7 never
// returns from (config_fuzzer and web_config_fuzzer found a stray ',').
TEST(LoadYamlDocumentTest, TerminatesAndChecksDocuments) {
  auto error = [](const std::string& text) -> std::string {
    try {
      LoadYamlDocument(text, "f.yml");
    } catch (const config::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_TRUE(LoadYamlDocument("", "f.yml").IsNull());
  EXPECT_TRUE(LoadYamlDocument("# only a comment\n", "f.yml").IsNull());
  EXPECT_TRUE(LoadYamlDocument("---\n", "f.yml").IsNull());
  EXPECT_TRUE(LoadYamlDocument("a: 1\n", "f.yml").IsMap());
  EXPECT_EQ(LoadYamlDocument("a: 1\n---\n", "f.yml")["a"].as<int>(), 1);
  EXPECT_EQ(LoadYamlDocument("a: 1\n...\n---\n...\n", "f.yml")["a"].as<int>(),
            1);
  EXPECT_EQ(error("a: 1\n---\nb: 2\n"),
            "f.yml:3:1: a second YAML document (after ---) is not supported; "
            "put everything in one");
  EXPECT_EQ(error("---\n---\n- x\n"),
            "f.yml:3:1: a second YAML document (after ---) is not supported; "
            "put everything in one");
  EXPECT_EQ(error(","), "f.yml:1:1: invalid YAML: unexpected character");
  EXPECT_EQ(error(",,"), "f.yml:1:1: invalid YAML: unexpected character");
  EXPECT_EQ(error("a: 1\n---\n,\n"),
            "f.yml:3:1: invalid YAML: unexpected character");
  EXPECT_EQ(error("a: [\n"),
            "f.yml:2:1: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(error("{:"), "f.yml:1:2: invalid YAML: unknown token");
}

TEST_F(WebConfigTest, FileItselfUnreadable) {
  try {
    LoadWebConfigFile((dir_ / "nope.yml").string());
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir_ / "nope.yml").string() + ": web config file: cannot read " +
                  (dir_ / "nope.yml").string() + ": No such file or directory");
  }
  try {
    LoadWebConfigFile("/dev/stdin");
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"),
              std::string::npos);
  }
}

TEST(BcryptTest, ShapeOfHashes) {
  const std::string h = MakeBcrypt("pw");
  EXPECT_TRUE(IsBcryptHash(h));
  EXPECT_EQ(h.substr(0, 7), "$2b$04$");
  EXPECT_TRUE(IsBcryptHash(MakeBcrypt("pw", "$2y$")));
  EXPECT_TRUE(IsBcryptHash(MakeBcrypt("pw", "$2a$")));
  EXPECT_FALSE(IsBcryptHash(""));
  EXPECT_FALSE(IsBcryptHash(h.substr(0, 59)));
  EXPECT_FALSE(IsBcryptHash(h + "x"));
  std::string bad = h;
  bad[2] = 'x';
  EXPECT_FALSE(IsBcryptHash(bad));
  bad = h;
  bad[4] = '0';
  bad[5] = '3';  // cost 03
  EXPECT_FALSE(IsBcryptHash(bad));
  bad = h;
  bad[4] = '3';
  bad[5] = '2';  // cost 32
  EXPECT_FALSE(IsBcryptHash(bad));
  bad = h;
  bad[20] = '$';
  EXPECT_FALSE(IsBcryptHash(bad));
  // Other crypt(3) schemes are not accepted.
  EXPECT_FALSE(IsBcryptHash("$6$saltsalt$" + std::string(49, 'a')));
}

TEST(BcryptTest, VerifiesWithLibcrypt) {
  for (const char* prefix : {"$2b$", "$2y$", "$2a$"}) {
    const std::string h = MakeBcrypt("correct horse", prefix);
    EXPECT_TRUE(BcryptVerify("correct horse", h)) << prefix;
    EXPECT_FALSE(BcryptVerify("correct horsf", h)) << prefix;
    EXPECT_FALSE(BcryptVerify("", h)) << prefix;
    // A NUL would end the C string early: never a match.
    EXPECT_FALSE(BcryptVerify(std::string("correct horse\0x", 15), h));
  }
  // A published test vector (OpenBSD / crypt_blowfish): "U*U".
  EXPECT_TRUE(BcryptVerify(
      "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_TRUE(BcryptVerify(
      "U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  EXPECT_FALSE(BcryptVerify(
      "U*V", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  // Not a bcrypt hash: refused without asking libcrypt (which would accept
  // DES or SHA-512 crypt).
  EXPECT_FALSE(BcryptVerify("pw", "aaqPiZY5xR5l."));
}

TEST(BasicAuthTest, ParsesAuthorizationHeader) {
  std::string u, p;
  ASSERT_TRUE(ParseBasicAuthorization("Basic " + Base64("user:pa:ss"), &u, &p));
  EXPECT_EQ(u, "user");
  EXPECT_EQ(p, "pa:ss");
  ASSERT_TRUE(ParseBasicAuthorization("basic  " + Base64("u:"), &u, &p));
  EXPECT_EQ(u, "u");
  EXPECT_EQ(p, "");
  ASSERT_TRUE(ParseBasicAuthorization("BASIC " + Base64("ab:c"), &u, &p));
  EXPECT_EQ(p, "c");
  EXPECT_FALSE(ParseBasicAuthorization("", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic ", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Bearer " + Base64("u:p"), &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basicx" + Base64("u:p"), &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic " + Base64("nocolon"), &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic dTpw*A==", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic dTp=wAA=", &u, &p));
  EXPECT_FALSE(ParseBasicAuthorization("Basic dTpwA", &u, &p));
}

TEST(BasicAuthTest, CachesVerificationsBriefly) {
  BasicAuthenticator auth(
      {{"prometheus", MakeBcrypt("right")}, {"other", MakeBcrypt("else")}});
  const std::string good = "Basic " + Base64("prometheus:right");
  EXPECT_TRUE(auth.Check(good));
  EXPECT_EQ(auth.bcrypt_runs(), 1u);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(auth.Check(good));
  EXPECT_EQ(auth.bcrypt_runs(), 1u) << "a repeated scrape ran bcrypt again";

  EXPECT_FALSE(auth.Check("Basic " + Base64("prometheus:wrong")));
  EXPECT_FALSE(auth.Check("Basic " + Base64("prometheus:wrong")));
  EXPECT_EQ(auth.bcrypt_runs(), 2u);
  // Unknown users cost a bcrypt too, and never pass (not even with the
  // password of the hash they are checked against).
  EXPECT_FALSE(auth.Check("Basic " + Base64("nobody:right")));
  EXPECT_FALSE(auth.Check("Basic " + Base64("nobody:else")));
  EXPECT_EQ(auth.bcrypt_runs(), 4u);
  EXPECT_FALSE(auth.Check(""));
  EXPECT_FALSE(auth.Check("Basic " + Base64("prometheus:")));
  EXPECT_TRUE(auth.Check("Basic " + Base64("other:else")));
  // Same user and password under another user name: not confused.
  EXPECT_FALSE(auth.Check("Basic " + Base64("other:right")));

  BasicAuthenticator no_cache({{"u", MakeBcrypt("p")}},
                              std::chrono::seconds(0));
  EXPECT_TRUE(no_cache.Check("Basic " + Base64("u:p")));
  EXPECT_TRUE(no_cache.Check("Basic " + Base64("u:p")));
  EXPECT_EQ(no_cache.bcrypt_runs(), 2u);

  BasicAuthenticator nobody({});
  EXPECT_FALSE(nobody.Check("Basic " + Base64("u:p")));
}

TEST(BasicAuthTest, CacheStaysBounded) {
  BasicAuthenticator auth({{"u", MakeBcrypt("p")}});
  EXPECT_TRUE(auth.Check("Basic " + Base64("u:p")));
  for (int i = 0; i < 300; ++i) {
    EXPECT_FALSE(auth.CheckUser("u", "wrong" + std::to_string(i)));
  }
  // Failures were evicted before the success.
  const uint64_t runs = auth.bcrypt_runs();
  EXPECT_TRUE(auth.Check("Basic " + Base64("u:p")));
  EXPECT_EQ(auth.bcrypt_runs(), runs);
}

TEST(WebConfigFlagTest, ParsesFlag) {
  Flags f;
  std::string error;
  const char* args[] = {"cdc-sentinel", "--config.file=c.yaml",
                        "--web.config.file=web.yml"};
  ASSERT_TRUE(ParseFlags(3, args, &f, &error)) << error;
  EXPECT_EQ(f.web_config_file, "web.yml");
  const char* empty[] = {"cdc-sentinel", "--config.file=c.yaml",
                         "--web.config.file="};
  Flags g;
  EXPECT_FALSE(ParseFlags(3, empty, &g, &error));
  EXPECT_EQ(error, "flag --web.config.file must not be empty");
  EXPECT_NE(Usage().find("--web.config.file=PATH"), std::string::npos);
}

TEST(WebConfigFlagTest, HttpLimitFlags) {
  Flags d;
  std::string error;
  const char* none[] = {"cdc-sentinel", "--config.file=c.yaml"};
  ASSERT_TRUE(ParseFlags(2, none, &d, &error)) << error;
  EXPECT_EQ(d.http_limits.read_header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(d.http_limits.max_header_bytes, 65536u);
  EXPECT_EQ(d.http_limits.max_connections, 1024);
  EXPECT_EQ(d.http_limits.max_requests, 40);

  Flags f;
  const char* args[] = {"cdc-sentinel",
                        "--config.file=c.yaml",
                        "--web.read-header-timeout=1500ms",
                        "--web.max-header-bytes",
                        "8192",
                        "--web.max-connections=10",
                        "--web.max-requests=0"};
  ASSERT_TRUE(ParseFlags(7, args, &f, &error)) << error;
  EXPECT_EQ(f.http_limits.read_header_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(f.http_limits.max_header_bytes, 8192u);
  EXPECT_EQ(f.http_limits.max_connections, 10);
  EXPECT_EQ(f.http_limits.max_requests, 0);

  const std::pair<const char*, const char*> bad[] = {
      {"--web.read-header-timeout=0s",
       "flag --web.read-header-timeout: \"0s\" is not a duration from 100ms "
       "to 10m"},
      {"--web.read-header-timeout=5", "flag --web.read-header-timeout: \"5\""},
      {"--web.max-header-bytes=512",
       "flag --web.max-header-bytes: \"512\" is not an integer from 1024 to "
       "16777216"},
      {"--web.max-connections=0", "flag --web.max-connections: \"0\""},
      {"--web.max-requests=-1", "flag --web.max-requests: \"-1\""},
      {"--web.max-requests=4x", "flag --web.max-requests: \"4x\""},
  };
  for (const auto& [arg, want] : bad) {
    Flags g;
    const char* argv[] = {"cdc-sentinel", "--config.file=c.yaml", arg};
    EXPECT_FALSE(ParseFlags(3, argv, &g, &error)) << arg;
    EXPECT_EQ(error.rfind(want, 0), 0u) << arg << ": " << error;
  }
  for (const char* flag :
       {"--web.read-header-timeout", "--web.max-header-bytes",
        "--web.max-connections", "--web.max-requests"}) {
    EXPECT_NE(Usage().find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace cdc
