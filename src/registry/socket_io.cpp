#include "registry/socket_io.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/file.hpp"

namespace mos::registry {

namespace {

constexpr std::size_t kTlsFileChunk = 256 * 1024;

// Waits until `socket` takes more bytes. The socket's own wait has no deadline, so a timer on the
// same strand cancels it when the client stops reading for `idle`.
asio::awaitable<void> wait_writable(tcp::socket& socket, asio::steady_timer& deadline,
                                    std::chrono::seconds idle, beast::error_code& ec) {
  // `waiting` outlives this frame in the timer's handler, which touches the socket only while
  // the wait below is still pending.
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
}

beast::error_code errno_code(ssize_t n) {
  return n == 0 ? beast::error_code(asio::error::eof)
                : beast::error_code(errno, beast::system_category());
}

// Plain TCP: sendfile(2) from the page cache.
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
      co_await wait_writable(socket, deadline, idle, ec);
    } else {
      ec = errno_code(n);
    }
  }
}

// Under TLS, asio's engine hands the socket one 16 KiB record per write. For a blob's body,
// OpenSSL's records instead go into a RecordBatch (a BIO put in place of the engine's for the
// body's duration) and a whole batch goes to the socket in one write: sixteen times fewer, larger
// segments through the kernel, whose cost per segment is most of a TLS blob's time after the
// cipher (bench/registry.sh, the TLS blob row).
class RecordBatch {
 public:
  explicit RecordBatch(SSL* ssl) : ssl_(ssl), bio_(BIO_new(method())) {
    bytes_.reserve(kTlsFileChunk + kTlsFileChunk / 8);
    if (!bio_) return;
    BIO_set_data(bio_, &bytes_);
    BIO_set_init(bio_, 1);
    engine_bio_ = SSL_get_wbio(ssl_);
    BIO_up_ref(engine_bio_);
    SSL_set0_wbio(ssl_, bio_);  // the SSL owns it now; the engine's BIO keeps our reference
  }
  ~RecordBatch() {
    if (engine_bio_) SSL_set0_wbio(ssl_, engine_bio_);  // frees ours, gives the reference back
  }
  RecordBatch(const RecordBatch&) = delete;
  RecordBatch& operator=(const RecordBatch&) = delete;

  bool ok() const { return engine_bio_ != nullptr; }

  // Encrypts `size` bytes into the batch (asio asks OpenSSL for partial writes: one record each).
  bool encrypt(const char* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      std::size_t written = 0;
      if (SSL_write_ex(ssl_, data + done, size - done, &written) != 1) return false;
      done += written;
    }
    return true;
  }

  std::vector<char>& bytes() { return bytes_; }

 private:
  static BIO_METHOD* method() {
    static BIO_METHOD* const kMethod = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mos tls batch");
      if (!m) return m;
      BIO_meth_set_write_ex(m, [](BIO* b, const char* data, size_t size, size_t* written) {
        auto* bytes = static_cast<std::vector<char>*>(BIO_get_data(b));
        bytes->insert(bytes->end(), data, data + size);
        *written = size;
        return 1;
      });
      BIO_meth_set_ctrl(
          m, [](BIO*, int cmd, long, void*) -> long { return cmd == BIO_CTRL_FLUSH ? 1 : 0; });
      return m;
    }();
    return kMethod;
  }

  SSL* ssl_;
  BIO* bio_;
  BIO* engine_bio_ = nullptr;
  std::vector<char> bytes_;
};

// TLS: the file is read in pieces, each encrypted into one batch of records and written at once;
// the client's pace is watched as on plain TCP.
asio::awaitable<void> send_fd(TlsStream& stream, int fd, const HttpResponse::FileRange& range,
                              std::chrono::seconds idle, beast::error_code& ec) {
  auto& socket = beast::get_lowest_layer(stream).socket();
  socket.native_non_blocking(true, ec);
  asio::steady_timer deadline(socket.get_executor());
  RecordBatch batch(stream.native_handle());
  if (!batch.ok()) {
    ec = beast::error_code(asio::error::no_memory);
    co_return;
  }
  std::vector<char> piece(
      std::min<std::uint64_t>(kTlsFileChunk, std::max<std::uint64_t>(range.length, 1)));
  std::uint64_t offset = range.offset, left = range.length;
  while (left > 0 && !ec) {
    ssize_t n = ::pread(fd, piece.data(), std::min<std::uint64_t>(left, piece.size()),
                        static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ec = errno_code(n);
      break;
    }
    if (!batch.encrypt(piece.data(), static_cast<std::size_t>(n))) {
      ec = beast::error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
      break;
    }
    offset += static_cast<std::uint64_t>(n);
    left -= static_cast<std::uint64_t>(n);
    auto& bytes = batch.bytes();
    for (std::size_t sent = 0; sent < bytes.size() && !ec;) {
      ssize_t w =
          ::send(socket.native_handle(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (w > 0)
        sent += static_cast<std::size_t>(w);
      else if (w < 0 && (errno == EAGAIN || errno == EINTR))
        co_await wait_writable(socket, deadline, idle, ec);
      else
        ec = errno_code(w);
    }
    bytes.clear();
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

std::string kernel_tls_note() {
  auto ulps = read_file("/proc/sys/net/ipv4/tcp_available_ulp", 4096);
  bool loaded = ulps && ulps->find("tls") != std::string::npos;
  bool loadable = false;
  if (!loaded) {
    struct utsname host{};
    if (::uname(&host) == 0) {
      auto deps = read_file(fmt::format("/lib/modules/{}/modules.dep", host.release), 64 << 20);
      loadable = deps && deps->find("/net/tls/tls.ko") != std::string::npos;
    }
  }
  const char* kernel = loaded     ? "available in this kernel, not used"
                       : loadable ? "this kernel's tls module is not loaded; not used"
                                  : "not in this kernel (no tls module)";
  return fmt::format(
      "TLS blobs: encrypted in user space, 16 records per socket write; kernel TLS: {}", kernel);
}

void raise_file_limit() {
  struct rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace mos::registry
