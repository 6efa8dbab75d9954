// Boost.Beast transport for the registry (see server.hpp).
// GCC 12 flags Boost 1.74's coroutine frame allocator (operator new/delete pairs it cannot
// match up through the recycling allocator): a false positive in Boost's headers.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it
#if defined(__clang__)
// Boost 1.74 detects C++20 coroutines on GCC only; clang (the fuzz build) has them as well.
#include <coroutine>
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#include "registry/server.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <csignal>
#include <limits>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "registry/auth.hpp"
#include "oci/media_types.hpp"

namespace mos::registry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr auto kHandshakeTimeout = 10s;
constexpr std::size_t kTlsFileChunk = 256 * 1024;
constexpr int kMaxPendingChecks = 64;  // password checks queued for the authentication thread

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Raises the open-file limit so thousands of connections do not run out of descriptors.
void raise_file_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Body>
void apply_headers(http::response<Body>& res, const HttpResponse& answer, bool keep_alive) {
  res.version(11);
  res.result(static_cast<unsigned>(answer.status));
  for (const auto& [k, v] : answer.headers) res.insert(beast::string_view(k.data(), k.size()), beast::string_view(v.data(), v.size()));
  res.keep_alive(keep_alive);
}

// Plain TCP: sendfile(2) from the page cache. The socket's own wait has no deadline, so a timer
// on the same strand cancels it when the client stops reading for `idle`.
asio::awaitable<void> send_file(beast::tcp_stream& stream, int fd, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec) {
  auto& socket = stream.socket();
  socket.native_non_blocking(true, ec);
  asio::steady_timer deadline(socket.get_executor());
  off_t offset = static_cast<off_t>(range.offset);
  std::uint64_t left = range.length;
  while (left > 0 && !ec) {
    ssize_t n = ::sendfile(socket.native_handle(), fd, &offset, std::min<std::uint64_t>(left, 8 << 20));
    if (n > 0) {
      left -= static_cast<std::uint64_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      // `waiting` outlives this frame in the timer's handler, which touches the socket only
      // while the wait below is still pending.
      auto waiting = std::make_shared<bool>(true);
      deadline.expires_after(idle);
      deadline.async_wait([waiting, &socket](const beast::error_code& timer_ec) {
        if (!timer_ec && *waiting) {
          beast::error_code ignored;
          socket.cancel(ignored);
        }
      });
      co_await socket.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      *waiting = false;
      deadline.cancel();
      if (ec == asio::error::operation_aborted) ec = beast::error::timeout;
    } else {
      ec = n == 0 ? beast::error_code(asio::error::eof) : beast::error_code(errno, beast::system_category());
    }
  }
}

// TLS: the bytes go through OpenSSL, read from the file in pieces; the stream's deadline applies.
asio::awaitable<void> send_file(TlsStream& stream, int fd, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec) {
  std::vector<char> piece(std::min<std::uint64_t>(kTlsFileChunk, std::max<std::uint64_t>(range.length, 1)));
  std::uint64_t offset = range.offset, left = range.length;
  while (left > 0 && !ec) {
    ssize_t n = ::pread(fd, piece.data(), std::min<std::uint64_t>(left, piece.size()), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n == 0 ? beast::error_code(asio::error::eof) : beast::error_code(errno, beast::system_category());
      break;
    }
    beast::get_lowest_layer(stream).expires_after(idle);
    co_await asio::async_write(stream, asio::buffer(piece.data(), static_cast<std::size_t>(n)),
                               asio::redirect_error(asio::use_awaitable, ec));
    offset += static_cast<std::uint64_t>(n);
    left -= static_cast<std::uint64_t>(n);
  }
}

template <class Stream>
asio::awaitable<void> send_file(Stream& stream, const HttpResponse::FileRange& range, std::chrono::seconds idle,
                                beast::error_code& ec) {
  int fd = ::open(range.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = beast::error_code(errno, beast::system_category());
    co_return;
  }
  co_await send_file(stream, fd, range, idle, ec);
  ::close(fd);
}

// The TLS context from PEM files, refusing anything older than TLS 1.2.
Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const std::filesystem::path& cert,
                                                             const std::filesystem::path& key) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                       ec);
  context->use_certificate_chain_file(cert.string(), ec);
  if (ec) return fail("TLS certificate {}: {} (expected a PEM certificate chain)", cert.string(), ec.message());
  context->use_private_key_file(key.string(), asio::ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH)
    return fail("TLS key {} does not belong to the certificate {}", key.string(), cert.string());
  if (ec) return fail("TLS key {}: {} (expected a PEM private key)", key.string(), ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    return fail("TLS key {} does not belong to the certificate {}", key.string(), cert.string());
  return context;
}
// The user a request names in its Basic credentials, for the log line ("-" for none, as in
// the common log format): printable ASCII only and at most 64 characters, so a client cannot
// forge or flood log lines with it.
std::string log_user(const HttpRequest& request) {
  auto header = request.header("authorization");
  auto credentials = header ? parse_basic_authorization(*header) : std::nullopt;
  if (!credentials || credentials->user.empty()) return "-";
  std::string user = credentials->user.substr(0, 64);
  for (auto& c : user)
    if (c < 0x21 || c > 0x7e) c = '?';
  return user;
}

}  // namespace

struct Server::Impl {
  Registry& registry;
  ServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::unique_ptr<asio::ssl::context> tls;  // null: plain http
  asio::thread_pool auth_pool{1};           // slow password checks
  std::atomic<int> pending_checks{0};

  Impl(Registry& r, ServerOptions o) : registry(r), options(std::move(o)), io(options.threads) {}

  asio::awaitable<void> listen() {
    for (;;) {
      beast::error_code ec;
      // Each connection gets its own strand: its coroutine, Beast's deadline timer and the
      // sendfile timer then never run at the same time on different threads.
      auto socket = co_await acceptor.async_accept(asio::any_io_executor(asio::make_strand(io)),
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
    std::string peer;
    {
      beast::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      peer = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    }
    beast::error_code ec;
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, peer);
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    TlsStream stream(beast::tcp_stream(std::move(socket)), *tls);
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      spdlog::info("{} TLS handshake failed: {}", peer, ec.message());
      if (ec.category() == asio::error::get_ssl_category() && ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
        // Plain http to the TLS port: say so instead of closing without a word.
        static constexpr std::string_view kAnswer =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 49\r\n\r\n"
            "This registry speaks TLS: use https:// instead.\r\n";
        co_await asio::async_write(beast::get_lowest_layer(stream), asio::buffer(kAnswer.data(), kAnswer.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return;
    }
    co_await serve(stream, peer);
    beast::get_lowest_layer(stream).expires_after(5s);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  // The HTTP/1.1 request loop of one connection, plain or TLS.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, const std::string& peer) {
    auto& transport = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    std::vector<char> chunk;  // allocated for the first request with a body: idle connections stay small
    for (;;) {
      beast::error_code ec;
      http::request_parser<http::buffer_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // limits are ours (4 MiB for non-blob bodies)
      parser.header_limit(64 * 1024);
      transport.expires_after(options.idle_timeout);
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof && ec != beast::error::timeout &&
            ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
          // Malformed request line or headers: answer 400 once and close.
          spdlog::info("{} malformed request: {}", peer, ec.message());
          HttpResponse bad = error_response(400, "UNSUPPORTED", "malformed HTTP request", ec.message());
          http::response<http::string_body> res;
          apply_headers(res, bad, false);
          res.body() = bad.body;
          res.prepare_payload();
          transport.expires_after(5s);
          co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
        }
        break;
      }
      auto started = std::chrono::steady_clock::now();
      auto& head = parser.get();
      HttpRequest request;
      request.method = std::string(head.method_string());
      request.target = std::string(head.target());
      for (const auto& field : head) {
        auto name = field.name_string();
        auto value = field.value();
        request.headers.emplace_back(lowercase(std::string_view(name.data(), name.size())),
                                     std::string(value.data(), value.size()));
      }
      Route route = parse_route(request.target);
      bool keep_alive = head.keep_alive();
      bool body_expected = !parser.is_done();
      // Answered before any body is read (the body is then left unread and the connection closed).
      std::optional<HttpResponse> early;
      if (request.header("transfer-encoding") && !parser.chunked()) {
        // Beast would take such a body for the next request: refuse rather than guess.
        early = error_response(400, "UNSUPPORTED", "Transfer-Encoding other than chunked is not supported");
      } else if (registry.credentials_check_is_slow(request)) {
        // bcrypt takes milliseconds on purpose: done on the authentication thread, so the I/O
        // threads keep serving anonymous requests and remembered users. The queue is bounded:
        // beyond it a client is told to come back rather than waiting behind a flood.
        if (pending_checks.fetch_add(1) >= kMaxPendingChecks) {
          early = error_response(429, "TOOMANYREQUESTS", "too many password checks at once; retry shortly");
        } else {
          request.credentials_accepted = co_await asio::co_spawn(
              auth_pool, [&]() -> asio::awaitable<bool> { co_return registry.accepts_credentials(request); },
              asio::use_awaitable);
        }
        pending_checks.fetch_sub(1);
      }
      if (!early) early = registry.refuse_unauthenticated(request);
      if (!early) request.credentials_accepted = true;  // checked once per request

      if (body_expected && !early) {
        if (auto expect = request.header("expect"); expect && lowercase(*expect) == "100-continue") {
          http::response<http::empty_body> cont{http::status::continue_, 11};
          transport.expires_after(options.idle_timeout);  // the credentials check may have taken a while
          co_await http::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
        }
      }

      // Content-Length read by hand: Beast's payload_size() trips GCC's maybe-uninitialized
      // warning on boost::optional under sanitizer builds.
      std::uint64_t declared = 0;
      if (auto text = request.header("content-length")) {
        std::from_chars(text->data(), text->data() + text->size(), declared);
      }

      // Reads the body in pieces, handing each to consume; false when the client went away.
      // What arrived before an error is handed over too: a cut-off upload resumes after it.
      auto read_body = [&](auto consume) -> asio::awaitable<bool> {
        if (!body_expected) co_return true;
        if (chunk.empty()) chunk.resize(kChunk);
        auto hand_over = [&](const void* data, std::size_t n) {
          return n == 0 || consume(std::span<const std::byte>(static_cast<const std::byte*>(data), n));
        };
        beast::error_code rec;
        if (!parser.chunked()) {
          // A body of known length goes straight from the socket into `chunk`, up to 1 MiB a
          // read, after what the header read buffered. (Beast's parser would read it 512 bytes
          // at a time into a small buffer and copy it: a recvmsg per 512 bytes.)
          std::uint64_t left = declared;
          auto buffered = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), left));
          if (!hand_over(buffer.data().data(), buffered)) co_return false;
          buffer.consume(buffered);
          left -= buffered;
          while (left > 0) {
            transport.expires_after(options.idle_timeout);
            std::size_t n = co_await stream.async_read_some(
                asio::buffer(chunk.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()))),
                asio::redirect_error(asio::use_awaitable, rec));
            left -= n;
            if (!hand_over(chunk.data(), n) || rec) co_return false;
          }
          co_return true;
        }
        buffer.reserve(64 * 1024);  // chunked: Beast reads up to 64 KiB at a time into it
        while (!parser.is_done()) {
          parser.get().body().data = chunk.data();
          parser.get().body().size = chunk.size();
          transport.expires_after(options.idle_timeout);
          co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, rec));
          if (rec == http::error::need_buffer) rec = {};
          if (!hand_over(chunk.data(), chunk.size() - parser.get().body().size) || rec) co_return false;
        }
        co_return true;
      };

      HttpResponse answer;
      bool body_unread = body_expected;
      if (early) {
        answer = std::move(*early);
      } else if (Registry::streams_body(request.method, route)) {
        auto begun = registry.begin_upload_body(request, route);
        if (auto* immediate = std::get_if<HttpResponse>(&begun)) {
          answer = std::move(*immediate);
        } else {
          auto& sink = *std::get<std::unique_ptr<UploadBody>>(begun);
          Status write_status;
          bool complete = co_await read_body([&](std::span<const std::byte> bytes) {
            write_status = sink.write(bytes);
            return bool(write_status);
          });
          body_unread = !complete;
          if (!write_status) {
            answer = error_response(500, "UNKNOWN", write_status.error().message);
          } else {
            answer = registry.finish_upload_body(request, route, sink, complete);
          }
          std::get<std::unique_ptr<UploadBody>>(begun).reset();
          if (!complete && write_status) {
            spdlog::info("{} {} \"{} {}\" client went away during the body", peer, log_user(request), request.method,
                         request.target);
            break;
          }
        }
      } else {
        if (declared > oci::kMaxManifestBytes) {
          answer = error_response(413, "SIZE_INVALID", fmt::format("request bodies are limited to {} bytes", oci::kMaxManifestBytes));
        } else {
          bool too_big = false;
          bool complete = co_await read_body([&](std::span<const std::byte> bytes) {
            if (request.body.size() + bytes.size() > oci::kMaxManifestBytes) {
              too_big = true;
              return false;
            }
            request.body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            return true;
          });
          if (too_big) {
            answer = error_response(413, "SIZE_INVALID", fmt::format("request bodies are limited to {} bytes", oci::kMaxManifestBytes));
          } else if (!complete) {
            break;
          } else {
            body_unread = false;
            answer = registry.handle(request, route);
          }
        }
      }
      // An unread body cannot be skipped reliably: answer, then close.
      if (body_unread) keep_alive = false;

      // HEAD answers (errors included) carry the headers a GET would, never a body.
      if (request.method == "HEAD") answer.head = true;
      transport.expires_after(options.idle_timeout);
      std::uint64_t length = answer.content_length();
      if (answer.head || answer.file) {
        http::response<http::empty_body> res;
        apply_headers(res, answer, keep_alive);
        res.content_length(length);
        http::response_serializer<http::empty_body> serializer{res};
        co_await http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec && answer.file && !answer.head) co_await send_file(stream, *answer.file, options.idle_timeout, ec);
      } else {
        http::response<http::string_body> res;
        apply_headers(res, answer, keep_alive);
        res.body() = std::move(answer.body);
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      }
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      spdlog::info("{} {} \"{} {}\" {} {} {:.1f}ms{}", peer, log_user(request), request.method, request.target,
                   answer.status, length, ms,
                   ec ? fmt::format(" (answer cut short: {})", ec.message()) : std::string());
      if (ec || !keep_alive) break;
    }
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
  auto address = asio::ip::make_address(options.address == "localhost" ? "127.0.0.1" : options.address, ec);
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
    impl->io.stop();
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
  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, impl_->options.threads); ++i) threads.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& t : threads) t.join();
  impl_->auth_pool.stop();  // a check still running finishes; its answer has nobody to go to
  impl_->auth_pool.join();
  spdlog::info("stopped");
  return {};
}

}  // namespace mos::registry
