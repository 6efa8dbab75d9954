#pragma once
// What the server does with sockets beyond Beast: blob answers from disk (sendfile(2) on plain
// TCP, batches of records through OpenSSL under TLS), the TLS context, the descriptor limit.
#include <chrono>
#include <filesystem>
#include <memory>

#include "core/result.hpp"
#include "registry/asio_prelude.hpp"
#include "registry/http_types.hpp"

namespace mos::registry {

// Sends `range` of a file; `ec` is set when the client went away or stopped reading for `idle`.
asio::awaitable<void> send_file(beast::tcp_stream& stream, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec);
asio::awaitable<void> send_file(TlsStream& stream, const HttpResponse::FileRange& range,
                                std::chrono::seconds idle, beast::error_code& ec);

// The TLS context from PEM files, refusing anything older than TLS 1.2.
Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const std::filesystem::path& cert,
                                                             const std::filesystem::path& key);

// What the log says once at a TLS server's start about kernel TLS (these machines have no `tls`
// module; where one exists it is still not used: OpenSSL hands a connection to the kernel only
// when it drives the socket from the handshake on, and Asio's SSL stream does not).
std::string kernel_tls_note();

// Raises the open-file limit so thousands of connections do not run out of descriptors.
void raise_file_limit();

}  // namespace mos::registry
