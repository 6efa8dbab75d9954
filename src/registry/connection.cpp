#include "registry/connection.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include <spdlog/spdlog.h>

#include "core/text.hpp"
#include "oci/media_types.hpp"
#include "registry/auth.hpp"
#include "registry/socket_io.hpp"

namespace mos::registry {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kChunk = 1 << 20;
constexpr int kMaxPendingChecks = 64;  // password checks queued for the authentication thread
// After an answer that left the body unread: how long to discard what the client still sends.
constexpr auto kLingerQuiet = 2s;   // without a byte
constexpr auto kLingerTotal = 10s;  // in all

template <class Body>
void apply_headers(http::response<Body>& res, const HttpResponse& answer, bool keep_alive) {
  res.version(11);
  res.result(static_cast<unsigned>(answer.status));
  for (const auto& [k, v] : answer.headers)
    res.insert(beast::string_view(k.data(), k.size()), beast::string_view(v.data(), v.size()));
  res.keep_alive(keep_alive);
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

bool client_left(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == beast::error::timeout || ec == asio::error::connection_reset ||
         ec == asio::error::operation_aborted;
}

HttpResponse body_too_large() {
  return error_response(
      413, "SIZE_INVALID",
      fmt::format("request bodies are limited to {} bytes", oci::kMaxManifestBytes));
}

}  // namespace

template <class Stream>
asio::awaitable<void> Connection<Stream>::run() {
  for (;;) {
    Exchange x;
    if (!co_await read_request(x)) co_return;
    std::optional<HttpResponse> answer = co_await authenticate(x);
    // Refused before "100 Continue": a client that waits for it never sends the body.
    if (!answer) answer = refuse_body(x);
    bool body_unread = x.body_expected;
    if (!answer) {
      if (!co_await send_continue(x)) co_return;
      answer = co_await dispatch(x, body_unread);
      if (!answer) co_return;  // the client went away during the body
    }
    // An unread body cannot be skipped reliably: answer, then close.
    bool keep_alive = x.keep_alive && !body_unread;
    // HEAD answers (errors included) carry the headers a GET would, never a body.
    if (x.request.method == "HEAD") answer->head = true;
    std::uint64_t length = answer->content_length();
    transport().expires_after(context_.options.idle_timeout);
    beast::error_code ec = co_await write_answer(*answer, keep_alive);
    log(x, answer->status, length, ec);
    if (!ec && body_unread) co_await linger();
    if (ec || !keep_alive) co_return;
  }
}

// Closing a socket with unread bytes makes the kernel send a reset, and a reset can destroy
// the answer in the client's receive buffer before it reads it (curl: "failed sending data").
// So, as web servers do, end our side and discard what the client still sends, until it closes
// or stops sending, for a bounded time.
template <class Stream>
asio::awaitable<void> Connection<Stream>::linger() {
  auto& socket = transport().socket();
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  buffer_.clear();
  // A small sink, not the 1 MiB body buffer: a refused request (a 401 before its body) has none,
  // and a lingering connection should cost no more than an idle one.
  std::array<char, 16 * 1024> discarded;
  auto until = std::chrono::steady_clock::now() + kLingerTotal;
  while (!ec && std::chrono::steady_clock::now() < until) {
    transport().expires_after(kLingerQuiet);
    co_await transport().async_read_some(asio::buffer(discarded),
                                         asio::redirect_error(asio::use_awaitable, ec));
  }
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::read_request(Exchange& x) {
  beast::error_code ec;
  // The limits on bodies are ours (4 MiB for non-blob bodies); blobs are streamed.
  x.parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  x.parser.header_limit(64 * 1024);
  transport().expires_after(context_.options.idle_timeout);
  co_await http::async_read_header(stream_, buffer_, x.parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    if (!client_left(ec)) {
      // Malformed request line or headers: answer 400 once and close.
      spdlog::info("{} malformed request: {}", peer_, ec.message());
      HttpResponse bad = error_response(400, "UNSUPPORTED", "malformed HTTP request", ec.message());
      transport().expires_after(5s);
      co_await write_answer(bad, false);
    }
    co_return false;
  }
  x.started = std::chrono::steady_clock::now();
  auto& head = x.parser.get();
  x.request.method = std::string(head.method_string());
  x.request.target = std::string(head.target());
  for (const auto& field : head) {
    auto name = field.name_string();
    auto value = field.value();
    x.request.headers.emplace_back(to_lower_ascii(std::string_view(name.data(), name.size())),
                                   std::string(value.data(), value.size()));
  }
  x.route = parse_route(x.request.target);
  x.keep_alive = head.keep_alive();
  x.body_expected = !x.parser.is_done();
  // Content-Length read by hand: Beast's payload_size() trips GCC's maybe-uninitialized
  // warning on boost::optional under sanitizer builds. Beast has already refused a malformed
  // one, so this parse cannot fail for a request that got here.
  if (auto text = x.request.header("content-length"))
    x.declared_length = parse_unsigned(*text).value_or(0);
  co_return true;
}

template <class Stream>
asio::awaitable<std::optional<HttpResponse>> Connection<Stream>::authenticate(Exchange& x) {
  auto& request = x.request;
  if (request.header("transfer-encoding") && !x.parser.chunked()) {
    // Beast would take such a body for the next request: refuse rather than guess.
    co_return error_response(400, "UNSUPPORTED",
                             "Transfer-Encoding other than chunked is not supported");
  }
  if (context_.registry.credentials_check_is_slow(request)) {
    // bcrypt takes milliseconds on purpose: done on the authentication thread, so the I/O
    // threads keep serving anonymous requests and remembered users. The queue is bounded:
    // beyond it a client is told to come back rather than waiting behind a flood.
    bool queued = context_.pending_checks.fetch_add(1) < kMaxPendingChecks;
    if (queued) {
      request.credentials_accepted = co_await asio::co_spawn(
          context_.auth_pool,
          [&]() -> asio::awaitable<bool> {
            co_return context_.registry.accepts_credentials(request);
          },
          asio::use_awaitable);
    }
    context_.pending_checks.fetch_sub(1);
    if (!queued)
      co_return error_response(429, "TOOMANYREQUESTS",
                               "too many password checks at once; retry shortly");
  }
  if (auto refusal = context_.registry.refuse_unauthenticated(request)) co_return refusal;
  request.credentials_accepted = true;  // checked once per request
  co_return std::nullopt;
}

template <class Stream>
std::optional<HttpResponse> Connection<Stream>::refuse_body(const Exchange& x) const {
  bool small_body = !Registry::streams_body(x.request.method, x.route);
  if (small_body && x.declared_length > oci::kMaxManifestBytes) return body_too_large();
  return std::nullopt;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::send_continue(Exchange& x) {
  auto expect = x.request.header("expect");
  if (!x.body_expected || !expect || !equals_ignoring_case(*expect, "100-continue")) co_return true;
  beast::error_code ec;
  http::response<http::empty_body> cont{http::status::continue_, 11};
  // A fresh deadline: the credentials check may have taken a while.
  transport().expires_after(context_.options.idle_timeout);
  co_await http::async_write(stream_, cont, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::read_body(Exchange& x, const Consume& consume) {
  if (!x.body_expected) co_return true;
  if (chunk_.empty()) chunk_.resize(kChunk);
  if (x.parser.chunked()) co_return co_await read_chunked(x, consume);
  co_return co_await read_known_length(x, consume);
}

// A body of known length goes straight from the socket into chunk_, up to 1 MiB a read, after
// what the header read buffered. (Beast's parser would read it 512 bytes at a time into a small
// buffer and copy it: a recvmsg per 512 bytes.)
template <class Stream>
asio::awaitable<bool> Connection<Stream>::read_known_length(Exchange& x, const Consume& consume) {
  auto hand_over = [&](const void* data, std::size_t n) {
    return n == 0 || consume(std::span(static_cast<const std::byte*>(data), n));
  };
  std::uint64_t left = x.declared_length;
  auto buffered = static_cast<std::size_t>(std::min<std::uint64_t>(buffer_.size(), left));
  if (!hand_over(buffer_.data().data(), buffered)) co_return false;
  buffer_.consume(buffered);
  left -= buffered;
  beast::error_code ec;
  while (left > 0) {
    transport().expires_after(context_.options.idle_timeout);
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk_.size()));
    std::size_t n = co_await stream_.async_read_some(asio::buffer(chunk_.data(), want),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    left -= n;
    if (!hand_over(chunk_.data(), n) || ec) co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<bool> Connection<Stream>::read_chunked(Exchange& x, const Consume& consume) {
  buffer_.reserve(64 * 1024);  // Beast reads up to 64 KiB at a time into it
  beast::error_code ec;
  while (!x.parser.is_done()) {
    x.parser.get().body().data = chunk_.data();
    x.parser.get().body().size = chunk_.size();
    transport().expires_after(context_.options.idle_timeout);
    co_await http::async_read(stream_, buffer_, x.parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    std::size_t n = chunk_.size() - x.parser.get().body().size;
    if ((n > 0 && !consume(std::span(reinterpret_cast<const std::byte*>(chunk_.data()), n))) || ec)
      co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<std::optional<HttpResponse>> Connection<Stream>::dispatch(Exchange& x,
                                                                          bool& body_unread) {
  if (Registry::streams_body(x.request.method, x.route))
    co_return co_await stream_upload(x, body_unread);
  co_return co_await read_small_body(x, body_unread);
}

template <class Stream>
asio::awaitable<std::optional<HttpResponse>> Connection<Stream>::stream_upload(Exchange& x,
                                                                               bool& body_unread) {
  auto begun = context_.registry.begin_upload_body(x.request, x.route);
  if (auto* immediate = std::get_if<HttpResponse>(&begun)) co_return std::move(*immediate);
  auto sink = std::move(std::get<std::unique_ptr<UploadBody>>(begun));
  Status written;
  bool complete = co_await read_body(x, [&](std::span<const std::byte> bytes) {
    written = sink->write(bytes);
    return bool(written);
  });
  body_unread = !complete;
  if (!written) co_return error_response(500, "UNKNOWN", written.error().message);
  HttpResponse answer = context_.registry.finish_upload_body(x.request, x.route, *sink, complete);
  if (!complete) {
    spdlog::info("{} {} \"{} {}\" client went away during the body", peer_, log_user(x.request),
                 x.request.method, x.request.target);
    co_return std::nullopt;
  }
  co_return answer;
}

template <class Stream>
asio::awaitable<std::optional<HttpResponse>> Connection<Stream>::read_small_body(
    Exchange& x, bool& body_unread) {
  bool too_big = false;
  bool complete = co_await read_body(x, [&](std::span<const std::byte> bytes) {
    if (x.request.body.size() + bytes.size() > oci::kMaxManifestBytes) {
      too_big = true;
      return false;
    }
    x.request.body.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return true;
  });
  if (too_big) co_return body_too_large();
  if (!complete) co_return std::nullopt;
  body_unread = false;
  co_return context_.registry.handle(x.request, x.route);
}

template <class Stream>
asio::awaitable<beast::error_code> Connection<Stream>::write_answer(HttpResponse& answer,
                                                                    bool keep_alive) {
  beast::error_code ec;
  if (answer.head || answer.file) {
    http::response<http::empty_body> res;
    apply_headers(res, answer, keep_alive);
    res.content_length(answer.content_length());
    http::response_serializer<http::empty_body> serializer{res};
    co_await http::async_write_header(stream_, serializer,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && answer.file && !answer.head)
      co_await send_file(stream_, *answer.file, context_.options.idle_timeout, ec);
  } else {
    http::response<http::string_body> res;
    apply_headers(res, answer, keep_alive);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    co_await http::async_write(stream_, res, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

template <class Stream>
void Connection<Stream>::log(const Exchange& x, int status, std::uint64_t length,
                             const beast::error_code& ec) const {
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - x.started)
                .count();
  spdlog::info("{} {} \"{} {}\" {} {} {:.1f}ms{}", peer_, log_user(x.request), x.request.method,
               x.request.target, status, length, ms,
               ec ? fmt::format(" (answer cut short: {})", ec.message()) : std::string());
}

template class Connection<beast::tcp_stream>;
template class Connection<TlsStream>;

}  // namespace mos::registry
