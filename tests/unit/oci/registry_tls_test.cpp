// How the registry client picks http or https and what it says when the pick is wrong. A raw
// TCP server on 127.0.0.1 stands for a plain http registry: it answers a request with a canned
// answer and a TLS ClientHello (first byte 0x16) with "400 Bad Request" in plain text, which is
// what Go's net/http (docker-registry) and mos-registry do with bytes that are not HTTP. The
// TLS side (a loopback TLS registry found without hints, certificate errors, plain http to a
// TLS port) is tested against real mos-registry and docker-registry in
// tests/e2e/registry_tls_conventions.bats.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oci/http_transport.hpp"
#include "oci/registry_client.hpp"
#include "unit/support/test_support.hpp"

namespace mos::oci {
namespace {

using test::error_of;
using ::testing::HasSubstr;
using ::testing::Not;

// One connection at a time; each gets the answer `answer(first bytes)`, then is closed.
class RawServer {
 public:
  explicit RawServer(std::function<std::string(const std::string&)> answer)
      : answer_(std::move(answer)) {
    fd_ = test::listen_on_loopback(16, port_);
    thread_ = std::thread([this] { loop(); });
  }
  ~RawServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  // What each connection sent first.
  std::vector<std::string> received() {
    std::lock_guard lock(mutex_);
    return received_;
  }

 private:
  void loop() {
    while (!stopping_) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      std::string got;
      char buffer[65536];
      // A request's head, or a ClientHello (one record, one read is enough on loopback).
      for (;;) {
        ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
        if (static_cast<unsigned char>(got[0]) == 0x16 || got.find("\r\n\r\n") != std::string::npos)
          break;
      }
      {
        std::lock_guard lock(mutex_);
        received_.push_back(got);
      }
      std::string out = answer_(got);
      ::send(client, out.data(), out.size(), MSG_NOSIGNAL);
      ::shutdown(client, SHUT_WR);
      while (::recv(client, buffer, sizeof buffer, 0) > 0) {
      }
      ::close(client);
    }
  }

  std::function<std::string(const std::string&)> answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> received_;
};

bool is_tls(const std::string& first) {
  return !first.empty() && static_cast<unsigned char>(first[0]) == 0x16;
}

// A plain http registry: /v2/ is 200 {}, anything else 404; TLS gets a plain-text 400.
std::string plain_registry(const std::string& got) {
  if (is_tls(got))
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
           "400 Bad Request";
  if (got.starts_with("GET /v2/ "))
    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
  return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

// A TLS port as seen over plain http: mos-registry's answer to a plain request.
std::string tls_port(const std::string&) {
  return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: 49\r\n\r\nThis registry speaks TLS: use https:// instead.\r\n";
}

RegistryClientOptions quick() {
  RegistryClientOptions o;
  o.max_attempts = 1;
  o.connect_timeout_seconds = 5;
  o.request_timeout_seconds = 10;
  return o;
}

TEST(RegistryTls, LoopbackHosts) {
  for (const char* host : {"127.0.0.1:5000", "127.0.0.1", "127.1.2.3:80", "localhost",
                           "localhost:5000", "::1", "[::1]:5000", "[::1]"})
    EXPECT_TRUE(is_loopback_host(host)) << host;
  for (const char* host : {"128.0.0.1:5000", "10.0.0.1", "registry.example.com:5000",
                           "localhost.example.com", "[::2]:5000", "126.255.255.255"})
    EXPECT_FALSE(is_loopback_host(host)) << host;
}

TEST(RegistryTls, ConflictingOptionsAreRefused) {
  auto o = quick();
  o.plain_http = true;
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THAT(error_of(RegistryClient::create("127.0.0.1:5000", o)),
              HasSubstr("--cacert (https) and --plain-http exclude each other"));
  o.ca_file.reset();
  o.tls_verify = false;
  EXPECT_THAT(error_of(RegistryClient::create("127.0.0.1:5000", o)),
              HasSubstr("--tls-verify=false (https) and --plain-http exclude each other"));
  o.plain_http = false;
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  EXPECT_THAT(error_of(RegistryClient::create("127.0.0.1:5000", o)),
              HasSubstr("--cacert and --tls-verify=false exclude each other"));
}

TEST(RegistryTls, SchemeBeforeTheFirstRequest) {
  auto o = quick();
  auto loopback = RegistryClient::create("127.0.0.1:5000", o);
  ASSERT_TRUE(loopback);
  EXPECT_EQ((*loopback)->base_url(), "http://127.0.0.1:5000");  // until found to speak TLS
  auto remote = RegistryClient::create("registry.example.com", o);
  ASSERT_TRUE(remote);
  EXPECT_EQ((*remote)->base_url(), "https://registry.example.com");
  o.ca_file = "/etc/ssl/certs/ca-certificates.crt";
  auto with_ca = RegistryClient::create("127.0.0.1:5000", o);
  ASSERT_TRUE(with_ca);
  EXPECT_EQ((*with_ca)->base_url(), "https://127.0.0.1:5000");
  o.ca_file.reset();
  o.plain_http = true;
  auto plain = RegistryClient::create("registry.example.com", o);
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)->base_url(), "http://registry.example.com");
}

// A plain registry on loopback costs no extra request: the first answer decides, once.
TEST(RegistryTls, LoopbackPlainRegistryIsDecidedByItsFirstAnswer) {
  RawServer server(plain_registry);
  auto client = RegistryClient::create(fmt::format("127.0.0.1:{}", server.port()), quick());
  ASSERT_TRUE(client);
  ASSERT_TRUE((*client)->ping());
  EXPECT_FALSE((*client)->head_manifest("a/b", "1").value_or(std::nullopt));
  auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].starts_with("GET /v2/ HTTP/1.1"));
  EXPECT_TRUE(got[1].starts_with("HEAD /v2/a/b/manifests/1 HTTP/1.1"));
  EXPECT_EQ((*client)->base_url(), fmt::format("http://127.0.0.1:{}", server.port()));
}

// A loopback server that says "speaks TLS" but does not (its TLS answer is no TLS either):
// after one TLS attempt the plain answer stands, and the client stays on http.
TEST(RegistryTls, LoopbackTlsHintWithoutTlsKeepsThePlainAnswer) {
  std::atomic<int> plain_requests{0};
  RawServer server([&](const std::string& got) {
    if (is_tls(got)) return plain_registry(got);
    ++plain_requests;
    return tls_port(got);
  });
  auto client = RegistryClient::create(fmt::format("127.0.0.1:{}", server.port()), quick());
  ASSERT_TRUE(client);
  auto message = error_of((*client)->ping());
  EXPECT_THAT(message, HasSubstr("does not answer as a registry"));
  auto got = server.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(is_tls(got[0]));
  EXPECT_TRUE(is_tls(got[1]));
  EXPECT_EQ((*client)->base_url(), fmt::format("http://127.0.0.1:{}", server.port()));
  // Decided once: the next request goes straight to http.
  EXPECT_FALSE((*client)->ping());
  EXPECT_EQ(server.received().size(), 3u);
  EXPECT_EQ(plain_requests.load(), 2);
}

// --plain-http to a TLS port: the answer names the fix.
TEST(RegistryTls, PlainHttpToATlsPortSaysDropPlainHttp) {
  RawServer server(tls_port);
  auto o = quick();
  o.plain_http = true;
  auto client = RegistryClient::create(fmt::format("127.0.0.1:{}", server.port()), o);
  ASSERT_TRUE(client);
  auto message = error_of((*client)->ping());
  EXPECT_THAT(message, HasSubstr("speaks TLS, not plain http"));
  EXPECT_THAT(message, HasSubstr("drop --plain-http"));
  EXPECT_THAT(message, HasSubstr("--cacert FILE or --tls-verify=false"));
  EXPECT_EQ(server.received().size(), 1u);  // no retries of a request that cannot work
}

// A host that is not loopback gets https only: against a plain http registry the error says
// --plain-http, and nothing is sent in plain http. (The name resolves to 127.0.0.1 through
// curl's --resolve, so no traffic leaves the machine.)
TEST(RegistryTls, OtherHostsGetHttpsOnlyAndThePlainHttpHint) {
  RawServer server(plain_registry);
  std::string host = fmt::format("registry.test:{}", server.port());
  auto o = quick();
  o.max_attempts = 4;  // a transient failure would be retried
  o.retry_delay = std::chrono::milliseconds(1);
  o.resolve = {fmt::format("{}:127.0.0.1", host)};
  auto client = RegistryClient::create(host, o);
  ASSERT_TRUE(client);
  auto message = error_of((*client)->ping());
  EXPECT_THAT(message, HasSubstr(fmt::format("https://{}/v2/", host)));
  EXPECT_THAT(message, HasSubstr("does not speak TLS: for a plain http registry use --plain-http"));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
  for (const auto& got : server.received()) EXPECT_TRUE(is_tls(got));
  EXPECT_EQ(server.received().size(), 1u);  // not retried: no TLS stays no TLS

  o.plain_http = true;
  auto plain = RegistryClient::create(host, o);
  ASSERT_TRUE(plain);
  EXPECT_TRUE((*plain)->ping());
}

// --tls-verify=false does not turn a plain registry into a TLS one.
TEST(RegistryTls, TlsVerifyFalseKeepsTheLoopbackDetection) {
  RawServer server(plain_registry);
  auto o = quick();
  o.tls_verify = false;
  auto client = RegistryClient::create(fmt::format("localhost:{}", server.port()), o);
  ASSERT_TRUE(client);
  EXPECT_TRUE((*client)->ping());
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_FALSE(is_tls(server.received()[0]));
}

// The transport sorts failures for those hints.
TEST(RegistryTls, TransportFailureKinds) {
  RawServer server(plain_registry);
  HttpSession session;
  TransportRequest request;
  request.url = fmt::format("https://127.0.0.1:{}/v2/", server.port());
  request.connect_timeout_seconds = 5;
  auto tls_to_plain = session.perform(request);
  ASSERT_FALSE(tls_to_plain);
  EXPECT_EQ(tls_to_plain.error().kind, TransportFailure::tls_protocol);
  EXPECT_FALSE(tls_to_plain.error().transient);

  RawServer garbage([](const std::string&) { return std::string("\x15\x03\x01\x00\x02\x02\x46"); });
  request.url = fmt::format("http://127.0.0.1:{}/v2/", garbage.port());
  auto not_http = session.perform(request);
  ASSERT_FALSE(not_http);
  EXPECT_EQ(not_http.error().kind, TransportFailure::not_http);

  int port = 0;
  {
    RawServer gone(plain_registry);
    port = gone.port();
  }
  request.url = fmt::format("http://127.0.0.1:{}/v2/", port);
  auto refused = session.perform(request);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, TransportFailure::connect);
}

}  // namespace
}  // namespace mos::oci
