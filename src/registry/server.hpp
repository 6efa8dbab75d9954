#pragma once
// The HTTP/1.1 server of mos-registry: Boost.Beast over a multi-threaded io_context, one
// coroutine per connection, each on its own strand. Blob bodies are streamed in 1 MiB pieces into
// the registry's upload sinks, blob answers go out with sendfile(2) (or 256 KiB reads under TLS),
// so memory stays bounded whatever the blob size. Optional TLS (certificate chain and key in PEM,
// TLS 1.2 or later). Stops cleanly on SIGTERM/SIGINT (or stop()).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "registry/registry.hpp"

namespace mos::registry {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 5000;  // 0: any free port (see port())
  int threads = 2;
  // A client that moves no byte for this long (reading a request or a blob) is dropped.
  std::chrono::seconds idle_timeout{60};
  // TLS: both or neither. The chain file starts with the server's certificate.
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;
};

class Server {
 public:
  // Loads the TLS certificate and key, binds the listening socket (so a bad key or a taken port
  // fails here, before run()).
  static Result<std::unique_ptr<Server>> create(Registry& registry, const ServerOptions& options);
  ~Server();
  std::uint16_t port() const;
  // Serves until SIGTERM/SIGINT or stop(); returns once every thread has finished.
  Status run();
  void stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mos::registry
