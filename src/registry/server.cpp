// Boost.Beast transport for the registry (see server.hpp): accepting, TLS handshakes, and
// handing each connection to a Connection (connection.hpp) on a strand of its own.
//
// One io_context per I/O thread, each run by its thread alone; the acceptor (on the first) hands
// connections out round-robin. A connection then lives on one thread: no lock of a shared
// io_context is taken, no other thread woken, per request (with one shared context, the futex
// calls of its scheduler cost as much as the request's own socket calls).
#include "registry/server.hpp"

#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "registry/asio_prelude.hpp"
#include "registry/connection.hpp"
#include "registry/socket_io.hpp"

namespace mos::registry {

using namespace std::chrono_literals;

namespace {
constexpr auto kHandshakeTimeout = 10s;
}  // namespace

struct Server::Impl {
  ServerOptions options;
  // contexts[0] also holds the acceptor and the signals.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  std::size_t next_context = 0;
  asio::io_context& io;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::unique_ptr<asio::ssl::context> tls;  // null: plain http
  asio::thread_pool auth_pool{1};           // slow password checks
  std::atomic<int> pending_checks{0};
  ConnectionContext context;

  Impl(Registry& registry, ServerOptions o)
      : options(std::move(o)),
        contexts(make_contexts(options.threads)),
        io(*contexts.front()),
        context{registry, options, auth_pool, pending_checks} {
    for (auto& c : contexts) keep_running.push_back(asio::make_work_guard(*c));
  }

  static std::vector<std::unique_ptr<asio::io_context>> make_contexts(int threads) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < std::max(1, threads); ++i)
      out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

  asio::io_context& next() { return *contexts[next_context++ % contexts.size()]; }

  asio::awaitable<void> listen() {
    for (;;) {
      beast::error_code ec;
      // Each connection gets its own strand: its coroutine, Beast's deadline timer and the
      // sendfile timer then never run at the same time on different threads.
      auto socket = co_await acceptor.async_accept(asio::any_io_executor(asio::make_strand(next())),
                                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        // Out of descriptors: give connections time to close instead of spinning.
        asio::steady_timer pause(io, 50ms);
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    std::string peer = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await Connection<beast::tcp_stream>(context, stream, peer).run();
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    TlsStream stream(beast::tcp_stream(std::move(socket)), *tls);
    if (!co_await handshake(stream, peer)) co_return;
    co_await Connection<TlsStream>(context, stream, peer).run();
    beast::get_lowest_layer(stream).expires_after(5s);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<bool> handshake(TlsStream& stream, const std::string& peer) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return true;
    spdlog::info("{} TLS handshake failed: {}", peer, ec.message());
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
      // Plain http to the TLS port: say so instead of closing without a word.
      static constexpr std::string_view kAnswer =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: "
          "close\r\nContent-Length: 49\r\n\r\n"
          "This registry speaks TLS: use https:// instead.\r\n";
      co_await asio::async_write(beast::get_lowest_layer(stream),
                                 asio::buffer(kAnswer.data(), kAnswer.size()),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return false;
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::create(Registry& registry, const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(registry, options);
  if (options.tls_cert.has_value() != options.tls_key.has_value())
    return fail("TLS needs both a certificate and a key");
  if (options.tls_cert) {
    MOS_TRY_ASSIGN(impl->tls, make_tls_context(*options.tls_cert, *options.tls_key));
  }
  beast::error_code ec;
  auto address =
      asio::ip::make_address(options.address == "localhost" ? "127.0.0.1" : options.address, ec);
  if (ec) return fail("invalid listen address \"{}\": {}", options.address, ec.message());
  tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on {}:{}: {}", options.address, options.port, ec.message());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::stop() {
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    for (auto& guard : impl->keep_running) guard.reset();
    for (auto& c : impl->contexts) c->stop();
  });
}

Status Server::run() {
  raise_file_limit();
  std::signal(SIGPIPE, SIG_IGN);
  impl_->signals.async_wait([this](const beast::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {} received, stopping", signal);
    stop();
  });
  asio::co_spawn(impl_->io, impl_->listen(), asio::detached);
  spdlog::info("listening on {}:{}{}", impl_->options.address, port(), impl_->tls ? " (TLS)" : "");
  if (impl_->tls) spdlog::info("{}", kernel_tls_note());
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->contexts.size(); ++i)
    threads.emplace_back([c = impl_->contexts[i].get()] { c->run(); });
  impl_->io.run();
  for (auto& t : threads) t.join();
  impl_->auth_pool.stop();  // a check still running finishes; its answer has nobody to go to
  impl_->auth_pool.join();
  spdlog::info("stopped");
  return {};
}

}  // namespace mos::registry
