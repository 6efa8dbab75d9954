#pragma once
// One HTTP/1.1 connection of mos-registry, plain or TLS: the request loop, in its steps (read
// the request head, authenticate, read or stream the body, dispatch to the Registry, write the
// answer, log it). Instantiated for beast::tcp_stream and TlsStream in connection.cpp.
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "registry/asio_prelude.hpp"
#include "registry/registry.hpp"
#include "registry/server.hpp"

namespace mos::registry {

// What every connection of a server shares.
struct ConnectionContext {
  Registry& registry;
  const ServerOptions& options;
  asio::thread_pool& auth_pool;      // slow password checks, off the I/O threads
  std::atomic<int>& pending_checks;  // checks queued there
};

template <class Stream>
class Connection {
 public:
  Connection(ConnectionContext& context, Stream& stream, std::string peer)
      : context_(context), stream_(stream), peer_(std::move(peer)) {}

  // Serves requests until the client goes away, keep-alive ends or a request breaks the stream.
  asio::awaitable<void> run();

 private:
  // One request and what is known of it.
  struct Exchange {
    http::request_parser<http::buffer_body> parser;
    HttpRequest request;
    Route route;
    bool keep_alive = false;
    bool body_expected = false;
    std::uint64_t declared_length = 0;  // Content-Length; 0 when absent or chunked
    std::chrono::steady_clock::time_point started;
  };
  using Consume = std::function<bool(std::span<const std::byte>)>;

  // False when the connection is over (client gone, idle, or a malformed head answered 400).
  asio::awaitable<bool> read_request(Exchange& x);
  // An answer given before any body is read (refused credentials, unsupported framing).
  asio::awaitable<std::optional<HttpResponse>> authenticate(Exchange& x);
  // An answer given before the body is read because of what the head says (a non-blob body
  // over the limit), so that no "100 Continue" invites it.
  std::optional<HttpResponse> refuse_body(const Exchange& x) const;
  // Tells a client waiting on "Expect: 100-continue" to send its body; false when it went away.
  asio::awaitable<bool> send_continue(Exchange& x);
  // Hands the body to `consume` piece by piece; false when the client went away or consume
  // refused. What arrived before an error is handed over too: a cut-off upload resumes after it.
  asio::awaitable<bool> read_body(Exchange& x, const Consume& consume);
  asio::awaitable<bool> read_known_length(Exchange& x, const Consume& consume);
  asio::awaitable<bool> read_chunked(Exchange& x, const Consume& consume);
  // The answer to a request whose credentials passed; nullopt when the client went away during
  // the body. `body_unread` says whether the body is still on the wire.
  asio::awaitable<std::optional<HttpResponse>> dispatch(Exchange& x, bool& body_unread);
  asio::awaitable<std::optional<HttpResponse>> stream_upload(Exchange& x, bool& body_unread);
  asio::awaitable<std::optional<HttpResponse>> read_small_body(Exchange& x, bool& body_unread);
  // Writes the answer (its body moved out) under the deadline the caller set.
  asio::awaitable<beast::error_code> write_answer(HttpResponse& answer, bool keep_alive);
  // Ends a connection whose request body was left unread without resetting it.
  asio::awaitable<void> linger();
  void log(const Exchange& x, int status, std::uint64_t length, const beast::error_code& ec) const;

  beast::tcp_stream& transport() { return beast::get_lowest_layer(stream_); }

  ConnectionContext& context_;
  Stream& stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::vector<char> chunk_;  // allocated for the first body: idle connections stay small
};

}  // namespace mos::registry
