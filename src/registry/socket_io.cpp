#include "registry/socket_io.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace mos::registry {

namespace {

constexpr std::size_t kTlsFileChunk = 256 * 1024;

// Plain TCP: sendfile(2) from the page cache. The socket's own wait has no deadline, so a timer
// on the same strand cancels it when the client stops reading for `idle`.
asio::awaitable<void> send_fd(beast::tcp_stream& stream, int fd,
                              const HttpResponse::FileRange& range, std::chrono::seconds idle,
                              beast::error_code& ec) {
  auto& socket = stream.socket();
  socket.native_non_blocking(true, ec);
  asio::steady_timer deadline(socket.get_executor());
  off_t offset = static_cast<off_t>(range.offset);
  std::uint64_t left = range.length;
  while (left > 0 && !ec) {
    ssize_t n =
        ::sendfile(socket.native_handle(), fd, &offset, std::min<std::uint64_t>(left, 8 << 20));
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
      co_await socket.async_wait(tcp::socket::wait_write,
                                 asio::redirect_error(asio::use_awaitable, ec));
      *waiting = false;
      deadline.cancel();
      if (ec == asio::error::operation_aborted) ec = beast::error::timeout;
    } else {
      ec = n == 0 ? beast::error_code(asio::error::eof)
                  : beast::error_code(errno, beast::system_category());
    }
  }
}

// TLS: the bytes go through OpenSSL, read from the file in pieces; the stream's deadline applies.
asio::awaitable<void> send_fd(TlsStream& stream, int fd, const HttpResponse::FileRange& range,
                              std::chrono::seconds idle, beast::error_code& ec) {
  std::vector<char> piece(
      std::min<std::uint64_t>(kTlsFileChunk, std::max<std::uint64_t>(range.length, 1)));
  std::uint64_t offset = range.offset, left = range.length;
  while (left > 0 && !ec) {
    ssize_t n = ::pread(fd, piece.data(), std::min<std::uint64_t>(left, piece.size()),
                        static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = n == 0 ? beast::error_code(asio::error::eof)
                  : beast::error_code(errno, beast::system_category());
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
asio::awaitable<void> send_path(Stream& stream, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec) {
  int fd = ::open(range.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = beast::error_code(errno, beast::system_category());
    co_return;
  }
  co_await send_fd(stream, fd, range, idle, ec);
  ::close(fd);
}

}  // namespace

asio::awaitable<void> send_file(beast::tcp_stream& stream, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec) {
  return send_path(stream, range, idle, ec);
}

asio::awaitable<void> send_file(TlsStream& stream, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec) {
  return send_path(stream, range, idle, ec);
}

Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const std::filesystem::path& cert,
                                                             const std::filesystem::path& key) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                       ec);
  context->use_certificate_chain_file(cert.string(), ec);
  if (ec)
    return fail("TLS certificate {}: {} (expected a PEM certificate chain)", cert.string(),
                ec.message());
  context->use_private_key_file(key.string(), asio::ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH)
    return fail("TLS key {} does not belong to the certificate {}", key.string(), cert.string());
  if (ec) return fail("TLS key {}: {} (expected a PEM private key)", key.string(), ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    return fail("TLS key {} does not belong to the certificate {}", key.string(), cert.string());
  // Said, not left to the library's default: a client may not renegotiate (a CPU cost it could
  // impose at will, and a source of past vulnerabilities); tests/e2e/registry_tls.bats checks it.
  SSL_CTX_set_options(context->native_handle(), SSL_OP_NO_RENEGOTIATION);
  return context;
}

void raise_file_limit() {
  struct rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace mos::registry
