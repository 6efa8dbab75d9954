#pragma once
// A client of qemu's machine protocol (QMP) on its unix socket: the greeting, capability
// negotiation, then commands answered in order (asynchronous events in between are skipped).
#include <chrono>
#include <filesystem>
#include <string>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "core/unix_socket.hpp"

namespace mos::machine {

class QmpClient {
 public:
  // Connects and negotiates, within the timeout.
  static Result<QmpClient> connect(const std::filesystem::path& socket,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Runs a command and returns its "return" value; an "error" answer becomes an error with qemu's
  // description.
  Result<Json> execute(const std::string& command, const Json& arguments = Json::object(),
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  explicit QmpClient(UniqueFd fd);
  UniqueFd fd_;
  LineReader reader_;
};

}  // namespace mos::machine
