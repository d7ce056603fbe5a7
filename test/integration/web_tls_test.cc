// Runs the real cdc-sentinel binary with --web.config.file and checks it with
// real TLS clients (cpp-httplib's SSLClient, curl, openssl s_client):
// TLS 1.2 and 1.3, basic auth, min_version TLS13, client certificates,
// reload of the web config. Then plants a unique password in every secret
// the exporter reads and looks for it everywhere the exporter writes.
//
// Certificates are made with the openssl CLI in a temp dir (a CA, a server
// certificate for IP:127.0.0.1, a client certificate, and an unrelated
// self-signed one). The secrets test starts a private MariaDB server
// (Debian's mariadbd) so that the source password is really used; without
// mariadbd it points the source at a closed port instead.

#include <crypt.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace cdc::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const char* kBinary = CDC_BINARY_DIR "/exporter/cdc-sentinel";
constexpr char kUser[] = "prometheus";
// How long the tests wait for a condition.
constexpr auto kWaitLimit = milliseconds(15000);

std::string RandomHex(int n) {
  static std::mt19937_64 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back("0123456789abcdef"[rng() & 15]);
  return s;
}

std::string Bcrypt(const std::string& password) {
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  const char* salt = crypt_gensalt_rn("$2b$", 5, nullptr, 0, data.setting,
                                      sizeof(data.setting));
  const char* h =
      salt ? crypt_rn(password.c_str(), salt, &data, sizeof(data)) : nullptr;
  return h ? h : "";
}

// A CA, a server certificate (SAN IP:127.0.0.1), a second one for rotation,
// a client certificate from the CA, and a self-signed "rogue" client one.
class Certs {
 public:
  static const Certs& Get() {
    static Certs* certs = new Certs();
    return *certs;
  }
  fs::path dir;
  bool ok = false;
  std::string log;

 private:
  Certs() {
    dir = fs::temp_directory_path() /
          ("cdc-web-tls-certs-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    // Removed when the test process exits (each test is its own process).
    static fs::path cleanup;
    cleanup = dir;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(cleanup, ec);
    });
    const std::string d = dir.string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    auto leaf = [&](const std::string& name, const std::string& cn,
                    const std::string& ext) {
      WriteFile(dir / (name + ".ext"), ext);
      return "openssl req " + ec + " -keyout " + d + "/" + name +
             "-key.pem -out " + d + "/" + name + ".csr -subj /CN=" + cn +
             " && openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d +
             "/ca.pem -CAkey " + d + "/ca-key.pem -CAcreateserial -days 2 " +
             "-sha256 -extfile " + d + "/" + name + ".ext -out " + d + "/" +
             name + ".pem";
    };
    const std::string cmd =
        "openssl req -x509 " + ec + " -keyout " + d + "/ca-key.pem -out " + d +
        "/ca.pem -days 2 -subj /CN=cdc-web-test-ca -addext "
        "basicConstraints=critical,CA:TRUE -addext "
        "keyUsage=critical,keyCertSign,cRLSign && " +
        leaf("server", "cdc-web-server",
             "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
             "subjectAltName=IP:127.0.0.1\n") +
        " && " +
        leaf("server2", "cdc-web-server-rotated",
             "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
             "subjectAltName=IP:127.0.0.1\n") +
        " && " +
        leaf("client", "cdc-web-client",
             "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n") +
        " && openssl req -x509 " + ec + " -keyout " + d +
        "/rogue-key.pem -out " + d + "/rogue.pem -days 2 -subj /CN=rogue";
    ok = RunCommand(cmd, &log) == 0;
  }
};

// The exporter with --web.config.file=`web_config`; stopped on destruction.
class Exporter : public ExporterProcess {
 public:
  Exporter(const fs::path& config, const fs::path& web_config,
           const fs::path& log)
      : ExporterProcess(
            kBinary, config, log,
            ExporterOptions{
                .flags = {"--web.config.file=" + web_config.string()},
                .start_within = std::chrono::seconds(10)}) {}
};

struct ClientOptions {
  std::string password;  // "" for no Authorization header
  int max_tls = 0;       // TLS1_2_VERSION to pin 1.2
  bool client_cert = false;
  bool rogue_cert = false;
};

httplib::Result TlsGet(int port, const std::string& path,
                       const ClientOptions& o) {
  const Certs& c = Certs::Get();
  std::unique_ptr<httplib::SSLClient> cli;
  if (o.client_cert || o.rogue_cert) {
    const std::string n = o.client_cert ? "client" : "rogue";
    cli = std::make_unique<httplib::SSLClient>(
        "127.0.0.1", port, (c.dir / (n + ".pem")).string(),
        (c.dir / (n + "-key.pem")).string());
  } else {
    cli = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  }
  cli->set_ca_cert_path((c.dir / "ca.pem").c_str());
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5, 0);
  cli->set_read_timeout(5, 0);
  if (o.max_tls) SSL_CTX_set_max_proto_version(cli->ssl_context(), o.max_tls);
  if (!o.password.empty()) cli->set_basic_auth(kUser, o.password.c_str());
  return cli->Get(path);
}

// curl over TLS; returns the HTTP status ("000" if no response) and sets
// *exit_code.
std::string Curl(int port, const std::string& path, const std::string& args,
                 int* exit_code = nullptr) {
  std::string out;
  const int rc = RunCommand(
      "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "
      "--cacert " +
          (Certs::Get().dir / "ca.pem").string() + " " + args +
          " https://127.0.0.1:" + std::to_string(port) + path,
      &out);
  if (exit_code) *exit_code = rc;
  return out.size() >= 3 ? out.substr(out.size() - 3) : out;
}

// openssl s_client sends a GET with basic auth; returns its whole output
// (handshake summary from -brief, then the HTTP response).
std::string SClient(int port, const std::string& version_flag,
                    const std::string& password,
                    const std::string& extra = "") {
  const std::string request =
      "GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Basic " +
      Base64(std::string(kUser) + ":" + password) +
      "\\r\\nConnection: close\\r\\n\\r\\n";
  std::string out;
  RunCommand("printf '" + request +
                 "' | timeout 10 openssl s_client -connect 127.0.0.1:" +
                 std::to_string(port) + " " + version_flag + " -CAfile " +
                 (Certs::Get().dir / "ca.pem").string() +
                 " -verify_return_error -brief -ign_eof " + extra,
             &out);
  return out;
}

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

class WebTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Certs::Get().ok) << Certs::Get().log;
    dir_ = FreshTestDir("cdc-web-tls-test-");
    password_ = "web-Pw-" + RandomHex(16);
    connect_password_ = "connect-Pw-" + RandomHex(16);
    WriteFile(dir_ / "connect-password", connect_password_ + "\n");
    connect_ = std::make_unique<FakeConnect>(
        "monitor", std::vector<std::string>{connect_password_});
    WriteFile(dir_ / "config.yaml",
              "connect_clusters:\n  - name: main\n    url: http://127.0.0.1:" +
                  std::to_string(connect_->port()) +
                  "\n    interval: 1s\n    timeout: 800ms\n"
                  "    basic_auth: {username: monitor, password_file: "
                  "connect-password}\n");
  }
  void TearDown() override {
    connect_.reset();
    fs::remove_all(dir_);
  }

  // A web config with TLS (server.pem unless `cert` says otherwise) and one
  // user, plus `extra` lines under tls_server_config.
  fs::path WriteWebConfig(const std::string& extra = "",
                          const std::string& cert = "server",
                          const std::string& password = "") {
    const fs::path d = Certs::Get().dir;
    WriteFile(
        dir_ / "web.yml",
        "tls_server_config:\n  cert_file: " + (d / (cert + ".pem")).string() +
            "\n  key_file: " + (d / (cert + "-key.pem")).string() + "\n" +
            extra + "basic_auth_users:\n  " + kUser + ": " +
            Bcrypt(password.empty() ? password_ : password) + "\n");
    return dir_ / "web.yml";
  }

  std::unique_ptr<Exporter> Start(const fs::path& web) {
    auto e = std::make_unique<Exporter>(dir_ / "config.yaml", web,
                                        dir_ / "exporter.log");
    EXPECT_NE(e->port(), 0) << "exit status " << e->exit_status() << "\n"
                            << e->Log();
    return e;
  }

  fs::path dir_;
  std::string password_, connect_password_;
  std::unique_ptr<FakeConnect> connect_;
};

TEST_F(WebTlsTest, MetricsOverTls12And13WithBasicAuth) {
  auto e = Start(WriteWebConfig());
  ASSERT_NE(e->port(), 0);
  EXPECT_TRUE(Has(e->Log(), "tls=on")) << e->Log();
  const int port = e->port();

  // httplib's SSLClient, default (TLS 1.3) and pinned to TLS 1.2.
  for (int max : {0, TLS1_2_VERSION}) {
    auto r = TlsGet(port, "/metrics", {password_, max});
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(Has(r->body, "cdc_exporter_build_info{"));
    EXPECT_TRUE(Has(r->body, "cdc_web_config_last_reload_successful 1"));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = TlsGet(port, "/metrics", {password_});
        return r && Has(r->body, "cdc_connect_up{connect_cluster=\"main\"} 1");
      },
      kWaitLimit));

  // curl, each version pinned.
  const std::string auth = std::string("-u ") + kUser + ":" + password_;
  EXPECT_EQ(Curl(port, "/metrics", "--tlsv1.2 --tls-max 1.2 " + auth), "200");
  EXPECT_EQ(Curl(port, "/metrics", "--tlsv1.3 " + auth), "200");
  // openssl s_client, each version, reports what was negotiated.
  std::string out = SClient(port, "-tls1_2", password_);
  EXPECT_TRUE(Has(out, "Protocol version: TLSv1.2")) << out;
  EXPECT_TRUE(Has(out, "HTTP/1.1 200")) << out;
  EXPECT_TRUE(Has(out, "cdc_exporter_build_info")) << out;
  out = SClient(port, "-tls1_3", password_);
  EXPECT_TRUE(Has(out, "Protocol version: TLSv1.3")) << out;
  EXPECT_TRUE(Has(out, "HTTP/1.1 200")) << out;
  EXPECT_TRUE(Has(out, "Peer certificate: CN = cdc-web-server")) << out;

  // Without or with a wrong password: 401 with a challenge, on every
  // endpoint, /-/healthy and reload included.
  for (const char* path :
       {"/metrics", "/", "/api/v1/status", "/-/healthy", "/-/ready"}) {
    for (const std::string& pw : {std::string(), std::string("wrong")}) {
      auto r = TlsGet(port, path, {pw});
      ASSERT_TRUE(r) << path;
      EXPECT_EQ(r->status, 401) << path;
      EXPECT_EQ(r->get_header_value("WWW-Authenticate"),
                "Basic realm=\"cdc-sentinel\"");
      EXPECT_FALSE(Has(r->body, "cdc_")) << path;
    }
    auto r = TlsGet(port, path, {password_});
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
  EXPECT_EQ(Curl(port, "/metrics", "-u prometheus:wrong"), "401");
  EXPECT_EQ(Curl(port, "/metrics", "-u other:" + password_), "401");
  EXPECT_EQ(Curl(port, "/-/reload", "-X POST"), "401");
  EXPECT_EQ(Curl(port, "/-/reload", "-X POST " + auth), "200");
  out = SClient(port, "-tls1_3", "wrong");
  EXPECT_TRUE(Has(out, "HTTP/1.1 401")) << out;

  // Plain HTTP to the TLS port gets no HTTP answer.
  httplib::Client plain("127.0.0.1", port);
  plain.set_read_timeout(5, 0);
  plain.set_basic_auth(kUser, password_.c_str());
  auto r = plain.Get("/metrics");
  EXPECT_FALSE(r && r->status == 200);
  int rc = 0;
  Curl(port, "/metrics", auth, &rc);
  EXPECT_EQ(rc, 0);
  std::string text;
  RunCommand("curl -sS --max-time 5 " + auth +
                 " http://127.0.0.1:" + std::to_string(port) + "/metrics",
             &text);
  EXPECT_FALSE(Has(text, "cdc_exporter_build_info")) << text;
  // An unverified TLS client is refused by the client itself (wrong CA).
  RunCommand("curl -sS --max-time 5 --cacert " +
                 (Certs::Get().dir / "rogue.pem").string() + " " + auth +
                 " https://127.0.0.1:" + std::to_string(port) + "/metrics",
             &text);
  EXPECT_FALSE(Has(text, "cdc_exporter_build_info"));

  // The healthcheck subcommand: 401 still means "alive".
  EXPECT_EQ(
      RunCommand(std::string(kBinary) + " healthcheck https://127.0.0.1:" +
                     std::to_string(port) + "/-/healthy",
                 &text),
      0)
      << text;
  EXPECT_EQ(e->Terminate(), 0);
}

TEST_F(WebTlsTest, MinVersionTls13RefusesTls12) {
  auto e = Start(WriteWebConfig("  min_version: TLS13\n"));
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  auto r = TlsGet(port, "/metrics", {password_, TLS1_2_VERSION});
  EXPECT_FALSE(r) << "a TLS 1.2 client got an answer";
  r = TlsGet(port, "/metrics", {password_});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  const std::string auth = std::string("-u ") + kUser + ":" + password_;
  int rc = 0;
  EXPECT_EQ(Curl(port, "/metrics", "--tlsv1.2 --tls-max 1.2 " + auth, &rc),
            "000");
  EXPECT_NE(rc, 0);
  EXPECT_EQ(Curl(port, "/metrics", "--tlsv1.3 " + auth), "200");
  std::string out = SClient(port, "-tls1_2", password_);
  EXPECT_FALSE(Has(out, "HTTP/1.1 200")) << out;
  EXPECT_TRUE(Has(out, "alert protocol version")) << out;
  out = SClient(port, "-tls1_3", password_);
  EXPECT_TRUE(Has(out, "Protocol version: TLSv1.3")) << out;
  EXPECT_TRUE(Has(out, "HTTP/1.1 200")) << out;
}

TEST_F(WebTlsTest, RequiredClientCertificate) {
  const fs::path d = Certs::Get().dir;
  auto e = Start(WriteWebConfig("  client_ca_file: " + (d / "ca.pem").string() +
                                "\n  client_auth_type: "
                                "RequireAndVerifyClientCert\n"));
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  for (int max : {0, TLS1_2_VERSION}) {
    // No certificate, or one from another CA: no answer.
    auto r = TlsGet(port, "/metrics", {password_, max});
    EXPECT_FALSE(r && r->status == 200) << max;
    r = TlsGet(port, "/metrics", {password_, max, false, true});
    EXPECT_FALSE(r && r->status == 200) << max;
    // The CA's client certificate: served (and basic auth still applies).
    r = TlsGet(port, "/metrics", {password_, max, true});
    ASSERT_TRUE(r) << max << " " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    r = TlsGet(port, "/metrics", {"wrong", max, true});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  const std::string auth = std::string("-u ") + kUser + ":" + password_;
  const std::string cert = " --cert " + (d / "client.pem").string() +
                           " --key " + (d / "client-key.pem").string();
  EXPECT_NE(Curl(port, "/metrics", auth), "200");
  EXPECT_EQ(Curl(port, "/metrics", auth + cert), "200");
  EXPECT_EQ(Curl(port, "/metrics", "--tlsv1.2 --tls-max 1.2 " + auth + cert),
            "200");
  std::string out = SClient(port, "-tls1_3", password_);
  EXPECT_FALSE(Has(out, "HTTP/1.1 200")) << out;
  out = SClient(port, "-tls1_3", password_,
                "-cert " + (d / "client.pem").string() + " -key " +
                    (d / "client-key.pem").string());
  EXPECT_TRUE(Has(out, "HTTP/1.1 200")) << out;

  // The healthcheck subcommand: without a client certificate the handshake
  // is refused (unhealthy); with the CA's client certificate, from the flags
  // or from the environment the image's HEALTHCHECK reads, it is healthy. A
  // certificate without its key is a usage error, not a silent plain check.
  const std::string hc =
      std::string(kBinary) +
      " healthcheck https://127.0.0.1:" + std::to_string(port) + "/-/healthy";
  const std::string client = (d / "client.pem").string();
  const std::string client_key = (d / "client-key.pem").string();
  EXPECT_EQ(RunCommand(hc, &out), 1) << out;
  EXPECT_EQ(RunCommand(hc + " --tls.cert-file=" + client +
                           " --tls.key-file=" + client_key,
                       &out),
            0)
      << out;
  EXPECT_EQ(RunCommand("CDC_HEALTHCHECK_CERT_FILE=" + client +
                           " CDC_HEALTHCHECK_KEY_FILE=" + client_key + " " + hc,
                       &out),
            0)
      << out;
  EXPECT_EQ(RunCommand(hc + " --tls.cert-file=" + (d / "rogue.pem").string() +
                           " --tls.key-file=" + (d / "rogue-key.pem").string(),
                       &out),
            1)
      << out;
  EXPECT_EQ(RunCommand(hc + " --tls.cert-file=" + client, &out), 2) << out;
  EXPECT_TRUE(Has(out, "--tls.key-file")) << out;
  EXPECT_EQ(RunCommand(hc + " --tls.cert-file=" + client +
                           " --tls.key-file=/nonexistent/key.pem",
                       &out),
            2)
      << out;
  EXPECT_TRUE(Has(out, "/nonexistent/key.pem")) << out;
}

TEST_F(WebTlsTest, ReloadAppliesUsersAndCertificate) {
  const fs::path web = WriteWebConfig();
  auto e = Start(web);
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  std::string out = SClient(port, "-tls1_3", password_);
  EXPECT_TRUE(Has(out, "Peer certificate: CN = cdc-web-server\n")) << out;

  // New password and rotated certificate, by SIGHUP.
  const std::string new_password = "rotated-" + RandomHex(8);
  WriteWebConfig("", "server2", new_password);
  kill(e->pid(), SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = TlsGet(port, "/metrics", {new_password});
        return r && r->status == 200;
      },
      kWaitLimit))
      << e->Log();
  auto r = TlsGet(port, "/metrics", {password_});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  out = SClient(port, "-tls1_2", new_password);
  EXPECT_TRUE(Has(out, "Peer certificate: CN = cdc-web-server-rotated")) << out;
  EXPECT_TRUE(Has(out, "HTTP/1.1 200")) << out;

  // A broken web config: POST /-/reload fails with the reason, the running
  // one stays, and the gauge says so.
  WriteFile(web, "tls_server_config:\n  cert_file: " +
                     (Certs::Get().dir / "server.pem").string() +
                     "\n  key_file: " +
                     (Certs::Get().dir / "server-key.pem").string() +
                     "\n  bogus: 1\n");
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path((Certs::Get().dir / "ca.pem").c_str());
  cli.set_basic_auth(kUser, new_password.c_str());
  r = cli.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(
      Has(r->body, web.string() + ":4:3: tls_server_config.bogus: unknown key"))
      << r->body;
  r = TlsGet(port, "/metrics", {new_password});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(Has(r->body, "cdc_web_config_last_reload_successful 0"));
  EXPECT_TRUE(Has(r->body, "cdc_config_last_reload_successful 1"));

  // Turning TLS off needs a restart.
  WriteFile(web, "basic_auth_users:\n  prometheus: " + Bcrypt("x") + "\n");
  r = cli.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(Has(r->body, "turning it on or off needs a restart")) << r->body;

  // Fixed: back to 1.
  WriteWebConfig("", "server", new_password);
  r = cli.Post("/-/reload");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = TlsGet(port, "/metrics", {new_password});
  ASSERT_TRUE(r);
  EXPECT_TRUE(Has(r->body, "cdc_web_config_last_reload_successful 1"));
  EXPECT_EQ(e->Terminate(), 0);
}

TEST_F(WebTlsTest, BadWebConfigStopsStartAndCheck) {
  WriteFile(dir_ / "web.yml",
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: x\n");
  Exporter e(dir_ / "config.yaml", dir_ / "web.yml", dir_ / "exporter.log");
  EXPECT_EQ(e.port(), 0);
  EXPECT_EQ(e.exit_status(), 2);
  EXPECT_TRUE(Has(e.Log(), (dir_ / "web.yml").string() +
                               ":2:14: tls_server_config.cert_file: cannot "
                               "read file " +
                               (dir_ / "nope.pem").string()))
      << e.Log();
  std::string out;
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --config.check --config.file=" +
                           (dir_ / "config.yaml").string() +
                           " --web.config.file=" + (dir_ / "web.yml").string(),
                       &out),
            2);
  EXPECT_TRUE(Has(out, "tls_server_config.cert_file: cannot read file"));
  WriteWebConfig();
  EXPECT_EQ(RunCommand(std::string(kBinary) + " --config.check --config.file=" +
                           (dir_ / "config.yaml").string() +
                           " --web.config.file=" + (dir_ / "web.yml").string(),
                       &out),
            0)
      << out;
  EXPECT_TRUE(
      Has(out, "web configuration is valid (TLS, 1 basic auth user(s))"))
      << out;
}

// ------------------------------------------------------------------ secrets

// A private MariaDB server with a monitoring user whose password is planted.
class PrivateMariaDb {
 public:
  PrivateMariaDb(const fs::path& dir, const std::string& user,
                 const std::string& password) {
    if (access("/usr/sbin/mariadbd", X_OK) != 0) return;
    port_ = FreePort();
    const fs::path d = Certs::Get().dir;
    socket_ = (dir / "mysqld.sock").string();
    WriteFile(dir / "my.cnf",
              "[mariadbd]\ndatadir=" + (dir / "data").string() + "\nsocket=" +
                  socket_ + "\npid-file=" + (dir / "mariadbd.pid").string() +
                  "\nport=" + std::to_string(port_) +
                  "\nbind-address=127.0.0.1\nskip-name-resolve\n"
                  "log-bin=bin\nbinlog-format=ROW\nserver-id=1\n"
                  "innodb_buffer_pool_size=16M\nssl-ca=" +
                  (d / "ca.pem").string() +
                  "\nssl-cert=" + (d / "server.pem").string() +
                  "\nssl-key=" + (d / "server-key.pem").string() + "\n" +
                  (getuid() == 0 ? "user=root\n" : ""));
    std::string out;
    if (RunCommand(
            "mariadb-install-db --no-defaults --datadir=" +
                (dir / "data").string() +
                (getuid() == 0 ? " --user=root" : "") +
                " --auth-root-authentication-method=normal --skip-test-db",
            &out) != 0) {
      log_ = out;
      return;
    }
    mariadbd_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{
            "mariadbd", "--defaults-file=" + (dir / "my.cnf").string()},
        ChildOptions{.out = dir / "mariadbd.log",
                     .executable = "/usr/sbin/mariadbd"});
    const std::string root = "mariadb --no-defaults -uroot --socket=" + socket_;
    if (!WaitFor([&] { return RunCommand(root + " -e 'SELECT 1'") == 0; },
                 kWaitLimit)) {
      log_ = ReadFile(dir / "mariadbd.log");
      return;
    }
    WriteFile(dir / "grant.sql",
              "CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + password +
                  "';\nGRANT PROCESS, BINLOG MONITOR ON *.* TO '" + user +
                  "'@'%';\nGRANT SELECT ON performance_schema.* TO '" + user +
                  "'@'%';\nGRANT SELECT, INSERT, UPDATE, CREATE ON "
                  "cdc_canary.* TO '" +
                  user + "'@'%';\n");
    ok_ = RunCommand(root + " < " + (dir / "grant.sql").string(), &log_) == 0;
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  const std::string& log() const { return log_; }

 private:
  std::unique_ptr<ChildProcess> mariadbd_;  // stopped on destruction
  int port_ = 0;
  std::string socket_, log_;
  bool ok_ = false;
};

TEST_F(WebTlsTest, PlantedSecretsShowNowhere) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "Debian's librdkafka crashes ThreadSanitizer builds "
                  "(test/sanitizers.md); this test runs a Kafka consumer";
#endif
  // One unique value per secret the exporter reads.
  const std::string tag = RandomHex(12);
  const std::string source_pw = "Planted-source-" + tag;
  const std::string kafka_pw = "Planted-kafka-" + tag;
  const std::string env_pw = "Planted-env-" + tag;
  const std::string web_pw = "Planted-web-" + tag;
  const std::string connect_pw = connect_password_;  // planted in SetUp
  const std::vector<std::string> secrets = {source_pw, kafka_pw, env_pw, web_pw,
                                            connect_pw};

  fs::create_directories(dir_ / "mysql");
  PrivateMariaDb db(dir_ / "mysql", "cdc_monitor", source_pw);
  if (!db.ok()) {
    std::cerr << "no private MariaDB (" << db.log()
              << "): the source points at a closed port\n";
  }
  const int db_port = db.ok() ? db.port() : FreePort();
  WriteFile(dir_ / "source-password", source_pw + "\n");
  WriteFile(dir_ / "kafka-password", kafka_pw + "\n");
  setenv("CDC_WEB_TLS_TEST_PW", env_pw.c_str(), 1);
  connect_->Allow(env_pw);
  const int kafka_port = FreePort();  // nothing listens
  const std::string config =
      "connect_clusters:\n  - name: main\n    url: http://127.0.0.1:" +
      std::to_string(connect_->port()) +
      "\n    interval: 1s\n    timeout: 800ms\n"
      "    basic_auth: {username: monitor, password_file: connect-password}\n"
      "  - name: env\n    url: http://127.0.0.1:" +
      std::to_string(connect_->port()) +
      "\n    interval: 1s\n    timeout: 800ms\n"
      "    basic_auth: {username: monitor, password_env: "
      "CDC_WEB_TLS_TEST_PW}\n"
      "sources:\n  - name: db\n    host: 127.0.0.1\n    port: " +
      std::to_string(db_port) +
      "\n    user: cdc_monitor\n    password_file: source-password\n"
      "    interval: 1s\n    timeout: 800ms\n"
      "kafka_clusters:\n  - name: k\n    bootstrap_servers: 127.0.0.1:" +
      std::to_string(kafka_port) +
      "\n    properties: {security.protocol: SASL_PLAINTEXT, sasl.mechanism: "
      "PLAIN, sasl.username: cdc}\n"
      "    secret_properties_files: {sasl.password: kafka-password}\n"
      "connectors:\n  - name: inventory\n    connect_cluster: main\n"
      "    source: db\n    kafka: k\n    topic_prefix: inv\n"
      "    binlog_user: debezium\n    marker: {interval: 1s, timeout: 2s}\n";
  WriteFile(dir_ / "config.yaml", config);
  const fs::path web = WriteWebConfig("", "server", web_pw);

  auto e = Start(web);
  ASSERT_NE(e->port(), 0);
  const int port = e->port();
  std::vector<std::pair<std::string, std::string>> seen;  // what, text

  // Let every probe run a few rounds: the secrets are in use.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = TlsGet(port, "/metrics", {web_pw});
        return r && r->status == 200 &&
               Has(r->body, "cdc_connect_up{connect_cluster=\"env\"} 1") &&
               Has(r->body, "cdc_connect_up{connect_cluster=\"main\"} 1") &&
               Has(r->body, "probe=\"marker\"");
      },
      kWaitLimit))
      << e->Log();
  EXPECT_GT(connect_->authorized(), 0);
  if (db.ok()) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto r = TlsGet(port, "/metrics", {web_pw});
          return r && Has(r->body,
                          "cdc_probe_runs_total{probe=\"marker\",target=\"db");
        },
        kWaitLimit))
        << e->Log();
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (const char* path : {"/metrics", "/", "/status", "/api/v1/status",
                           "/-/ready", "/-/healthy", "/nope"}) {
    auto r = TlsGet(port, path, {web_pw});
    ASSERT_TRUE(r) << path;
    seen.emplace_back(path, r->body);
    for (const auto& [k, v] : r->headers) seen.emplace_back(path, k + ": " + v);
  }
  auto r401 = TlsGet(port, "/metrics", {"wrong"});
  ASSERT_TRUE(r401);
  seen.emplace_back("401", r401->body);

  // Failing reloads: each error message is kept.
  httplib::SSLClient cli("127.0.0.1", port);
  cli.set_ca_cert_path((Certs::Get().dir / "ca.pem").c_str());
  cli.set_basic_auth(kUser, web_pw.c_str());
  auto reload_fails = [&](const std::string& what, const std::string& cfg,
                          const std::string& want) {
    WriteFile(dir_ / "config.yaml", cfg);
    auto r = cli.Post("/-/reload");
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 500) << what << ": " << r->body;
    EXPECT_TRUE(Has(r->body, want)) << what << ": " << r->body;
    seen.emplace_back("reload " + what, r->body);
  };
  auto replace = [](std::string s, const std::string& from,
                    const std::string& to) {
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  reload_fails("unreadable password_file",
               replace(config, "password_file: source-password",
                       "password_file: no-such-file"),
               "sources[0].password_file: cannot read file");
  reload_fails(
      "password_file is a directory",
      replace(config, "password_file: source-password", "password_file: mysql"),
      "it is a directory");
  reload_fails("inline password",
               replace(config, "password_file: source-password",
                       "password: " + source_pw),
               "inline passwords are not accepted");
  reload_fails("password in password_env",
               replace(config, "password_env: CDC_WEB_TLS_TEST_PW",
                       "password_env: " + env_pw),
               "must be the name of an environment variable");
  reload_fails("kafka secret in properties",
               replace(config, "sasl.username: cdc}",
                       "sasl.username: cdc, sasl.password: " + kafka_pw + "}"),
               "properties.sasl.password");
  reload_fails("bad YAML after a secret",
               replace(config, "password_file: source-password",
                       "password: " + source_pw + "\n    x: [a, b"),
               "invalid YAML");
  // The web config: a password pasted where the hash goes.
  const std::string web_text = ReadFile(web);
  WriteFile(dir_ / "config.yaml", config);
  WriteFile(web, "basic_auth_users:\n  prometheus: " + web_pw + "\n");
  {
    auto r = cli.Post("/-/reload");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_TRUE(Has(r->body,
                    "basic_auth_users.prometheus: must be a bcrypt "
                    "hash"))
        << r->body;
    seen.emplace_back("reload web config", r->body);
  }
  WriteFile(web, web_text);
  // Connect unreachable and a wrong source password: probes fail and log.
  const int closed = FreePort();
  std::string broken = replace(
      config, "url: http://127.0.0.1:" + std::to_string(connect_->port()),
      "url: http://127.0.0.1:" + std::to_string(closed));
  WriteFile(dir_ / "source-password", "wrong-" + source_pw.substr(8) + "\n");
  WriteFile(dir_ / "config.yaml", broken);
  {
    auto r = cli.Post("/-/reload");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = TlsGet(port, "/metrics", {web_pw});
        return r && Has(r->body, "cdc_connect_up{connect_cluster=\"main\"} 0");
      },
      kWaitLimit));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  for (const char* path : {"/metrics", "/", "/api/v1/status"}) {
    auto r = TlsGet(port, path, {web_pw});
    ASSERT_TRUE(r);
    seen.emplace_back(std::string("after failures ") + path, r->body);
  }
  // --config.check output too.
  std::string out;
  RunCommand(std::string(kBinary) + " --config.check --config.file=" +
                 (dir_ / "config.yaml").string() +
                 " --web.config.file=" + web.string(),
             &out);
  seen.emplace_back("config.check", out);
  EXPECT_EQ(e->Terminate(), 0);
  seen.emplace_back("log", e->Log());
  unsetenv("CDC_WEB_TLS_TEST_PW");

  // The log at debug level says something about each failure ...
  const std::string log = e->Log();
  EXPECT_TRUE(Has(log, "level=debug")) << log;
  EXPECT_TRUE(Has(log, "configuration reload failed")) << log;
  // ... and no secret appears anywhere, nor a recognisable part of one.
  for (const auto& [what, text] : seen) {
    for (const std::string& s : secrets) {
      EXPECT_FALSE(Has(text, s)) << s << " shows in " << what << ":\n" << text;
      EXPECT_FALSE(Has(text, s.substr(8))) << s << " (tail) shows in " << what;
    }
  }
}

}  // namespace
}  // namespace cdc::testing
