#pragma once
// A tiny HTTP/1.1 server for unit tests of the registry client, bound to 127.0.0.1:0. It exists
// only for protocol cases no real registry on this machine produces (token auth, referrers API
// answers, pagination, 416 on a chunk, 5xx bursts, truncated bodies, cross-host redirects); each
// test says which real behaviour it stands for. One request per connection (Connection: close),
// one thread per connection, all joined on destruction.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "unit/support/test_support.hpp"

namespace mos::oci::testing {

struct FakeRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string path() const { return target.substr(0, target.find('?')); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send only this many body bytes (Content-Length still announces the whole body), then close.
  std::size_t truncate_at = std::string::npos;
};

class FakeRegistry {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeRegistry(Handler handler) : handler_(std::move(handler)) {
    fd_ = test::listen_on_loopback(64, port_);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeRegistry() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  std::vector<FakeRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, client] { serve(client); });
    }
  }

  static bool read_more(int fd, std::string& buffer) {
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  void serve(int fd) {
    std::string buffer;
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, buffer)) return (void)::close(fd);
    FakeRequest req;
    std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        req.headers[name] = value;
      }
      pos = next + 2;
    }
    std::size_t length =
        req.headers.contains("content-length") ? std::stoul(req.headers["content-length"]) : 0;
    while (buffer.size() < length)
      if (!read_more(fd, buffer)) break;
    req.body = buffer.substr(0, length);
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(req);
    }
    FakeResponse res = handler_(req);
    std::string out = "HTTP/1.1 " + std::to_string(res.status) + " Fake\r\n";
    bool has_length = false;
    for (const auto& [k, v] : res.headers) {
      out += k + ": " + v + "\r\n";
      if (k == "Content-Length") has_length = true;
    }
    if (!has_length) out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    if (req.method != "HEAD") out += res.body.substr(0, std::min(res.truncate_at, res.body.size()));
    std::size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    char drain[1024];
    while (::recv(fd, drain, sizeof drain, 0) > 0) {
    }
    ::close(fd);
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<FakeRequest> requests_;
};

}  // namespace mos::oci::testing
