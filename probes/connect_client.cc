#include "probes/connect_client.h"

#include <httplib.h>

#include <condition_variable>
#include <thread>

#include "cdc/common/thread_name.h"

namespace cdc::connect {
namespace {

// httplib takes whole seconds plus microseconds.
template <typename F>
void SetTimeout(F&& setter, std::chrono::steady_clock::duration d) {
  const auto us = std::max<int64_t>(
      1000, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  setter(static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000));
}

std::string DescribeError(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::Read:
      return "read failed or timed out";
    case httplib::Error::Write:
      return "write failed or timed out";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLServerVerification:
      return "TLS server certificate verification failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load TLS certificates";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    default:
      return httplib::to_string(e);
  }
}

}  // namespace

std::string ConnectClusterFingerprint(const config::ConnectCluster& c) {
  std::string f = c.name + "|" + c.url_text + "|" +
                  std::to_string(c.interval.count()) + "|" +
                  std::to_string(c.timeout.count()) + "|" +
                  std::to_string(c.max_response_bytes);
  if (c.basic_auth) {
    f += "|auth|" + c.basic_auth->username + "|" + c.basic_auth->password.value;
  }
  if (c.tls) {
    f += "|tls|" + c.tls->ca_file + "|" + c.tls->cert_file + "|" +
         c.tls->key_file + "|" + (c.tls->insecure_skip_verify ? "1" : "0");
  }
  return f;
}

std::string EncodePathSegment(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Stops the armed client's request when its deadline passes before Disarm().
// One long-lived thread per ConnectClient, armed once per request (requests
// of a client are serialised): no thread is created per request.
class ConnectClient::Watchdog {
 public:
  Watchdog()
      : thread_([this] {
          NameThisThread("cdc-rest-watch");
          Loop();
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Arm(httplib::Client* cli,
           std::chrono::steady_clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cli_ = cli;
      deadline_ = deadline;
      fired_ = false;
      ++generation_;
    }
    cv_.notify_all();
  }

  // Returns whether the deadline stopped the client. After it returns the
  // watchdog no longer touches the client.
  bool Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    cli_ = nullptr;
    cv_.notify_all();
    return fired_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (cli_ == nullptr) {
        cv_.wait(lock);
        continue;
      }
      const uint64_t generation = generation_;
      if (cv_.wait_until(lock, deadline_, [&] {
            return stop_ || cli_ == nullptr || generation_ != generation;
          })) {
        continue;
      }
      fired_ = true;
      cli_->stop();  // shuts the socket down; quick
      cli_ = nullptr;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  httplib::Client* cli_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  uint64_t generation_ = 0;
  bool fired_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

ConnectClient::ConnectClient(const config::ConnectCluster& cluster)
    : cluster_(cluster), watchdog_(std::make_unique<Watchdog>()) {}

ConnectClient::~ConnectClient() = default;

std::unique_ptr<httplib::Client> ConnectClient::MakeClient(
    std::chrono::steady_clock::duration budget) const {
  std::unique_ptr<httplib::Client> cli;
  const auto& tls = cluster_.tls;
  if (tls && !tls->cert_file.empty()) {
    cli = std::make_unique<httplib::Client>(cluster_.url.SchemeHostPort(),
                                            tls->cert_file, tls->key_file);
  } else {
    cli = std::make_unique<httplib::Client>(cluster_.url.SchemeHostPort());
  }
  if (cluster_.url.scheme == "https") {
    if (tls && !tls->ca_file.empty()) cli->set_ca_cert_path(tls->ca_file);
    cli->enable_server_certificate_verification(
        !(tls && tls->insecure_skip_verify));
  }
  if (cluster_.basic_auth) {
    cli->set_basic_auth(cluster_.basic_auth->username,
                        cluster_.basic_auth->password.value);
  }
  SetTimeout([&](time_t s, time_t us) { cli->set_connection_timeout(s, us); },
             budget);
  SetTimeout([&](time_t s, time_t us) { cli->set_read_timeout(s, us); },
             budget);
  SetTimeout([&](time_t s, time_t us) { cli->set_write_timeout(s, us); },
             budget);
  cli->set_keep_alive(false);
  cli->set_follow_location(false);
  return cli;
}

HttpResult ConnectClient::Send(const std::string& method,
                               const std::string& path,
                               std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> request_lock(request_mu_);
  HttpResult r;
  const auto budget = deadline - std::chrono::steady_clock::now();
  if (budget <= std::chrono::milliseconds(0)) {
    r.error = "deadline exceeded before the request";
    return r;
  }
  auto cli = MakeClient(budget);
  {
    std::lock_guard<std::mutex> lock(active_mu_);
    if (cancelled_) {
      r.error = "cancelled";
      return r;
    }
    active_ = cli.get();
  }
  const std::size_t limit = cluster_.max_response_bytes;
  bool too_big = false, too_slow = false;
  const httplib::Headers headers = {{"Accept", "application/json"}};
  const std::string full_path = cluster_.url.base_path + path;
  httplib::Result res{nullptr, httplib::Error::Unknown};
  // httplib's timeouts bound each socket read, not the request: a server
  // that trickles its status line and headers would hold it far past the
  // deadline.
  watchdog_->Arm(cli.get(), deadline);
  if (method == "GET") {
    res = cli->Get(
        full_path, headers,
        [&](const httplib::Response& resp) {
          r.status = resp.status;
          const auto len = resp.get_header_value("Content-Length");
          if (!len.empty() && std::strtoull(len.c_str(), nullptr, 10) > limit) {
            too_big = true;
            return false;
          }
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (r.body.size() + n > limit) {
            too_big = true;
            return false;
          }
          if (std::chrono::steady_clock::now() > deadline) {
            too_slow = true;
            return false;
          }
          r.body.append(data, n);
          return true;
        });
  } else {
    res = cli->Post(full_path, headers, "", "application/json");
    if (res) {
      r.status = res->status;
      r.body = res->body.substr(0, limit);
    }
  }
  const bool deadline_hit = watchdog_->Disarm();
  {
    std::lock_guard<std::mutex> lock(active_mu_);
    active_ = nullptr;
  }
  if (too_big) {
    r.error = "response body exceeds max_response_bytes (" +
              std::to_string(limit) + ")";
  } else if (too_slow || (!res && deadline_hit)) {
    r.error = "response not complete within the timeout";
  } else if (!res) {
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(active_mu_);
      cancelled = cancelled_;
    }
    r.error =
        cancelled ? "cancelled after the deadline" : DescribeError(res.error());
  } else {
    r.ok = true;
  }
  return r;
}

HttpResult ConnectClient::Get(const std::string& path,
                              std::chrono::steady_clock::time_point deadline) {
  return Send("GET", path, deadline);
}

HttpResult ConnectClient::Post(const std::string& path,
                               std::chrono::steady_clock::time_point deadline) {
  return Send("POST", path, deadline);
}

void ConnectClient::Cancel() {
  std::lock_guard<std::mutex> lock(active_mu_);
  cancelled_ = true;
  if (active_ != nullptr) active_->stop();
}

void ConnectClient::Reset() {
  std::lock_guard<std::mutex> lock(active_mu_);
  cancelled_ = false;
}

}  // namespace cdc::connect
