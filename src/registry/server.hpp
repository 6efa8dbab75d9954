#pragma once
// The HTTP/1.1 server of mos-registry: Boost.Beast over a multi-threaded io_context, one
// coroutine per connection. Blob bodies are streamed in 1 MiB pieces into the registry's upload
// sinks, blob answers go out with sendfile(2), so memory stays bounded whatever the blob size.
// Stops cleanly on SIGTERM/SIGINT (or stop()).
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "registry/registry.hpp"

namespace mos::registry {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 5000;  // 0: any free port (see port())
  int threads = 2;
};

class Server {
 public:
  // Binds the listening socket (so a taken port fails here, before run()).
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
