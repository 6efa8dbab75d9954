#include "runtime/control_channel.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/file.hpp"
#include "core/unix_socket.hpp"

namespace mos::runtime {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

Result<Json> ask_boot(const std::filesystem::path& socket, const Json& request,
                      const std::filesystem::path& root, std::chrono::milliseconds timeout) {
  auto fd = connect_unix(socket);
  if (!fd)
    return fail("no mosctl boot is running for {} (nothing answers at {})", root.string(),
                socket.string());
  auto deadline = Clock::now() + timeout;
  if (auto s = send_all(fd->get(), request.dump() + "\n"); !s)
    return fail("sending to mosctl boot at {}: {}", socket.string(), s.error().message);
  auto line = LineReader(fd->get(), kControlMessageLimit).next(deadline);
  if (!line)
    return fail("reading the answer of mosctl boot at {}: {}", socket.string(),
                line.error().message);
  MOS_TRY_ASSIGN(auto answer, parse_json_strict(*line, "the answer of mosctl boot"));
  if (!answer.is_object() || !answer.contains("ok") || !answer["ok"].is_boolean())
    return fail("mosctl boot at {} answered something else than a result", socket.string());
  if (!answer["ok"].get<bool>()) {
    auto error = answer.value("error", std::string("(no reason given)"));
    return fail("{}", error);
  }
  return answer;
}

bool boot_is_running(const std::filesystem::path& socket) {
  return static_cast<bool>(connect_unix(socket));
}

Result<UniqueFd> listen_for_control(const std::filesystem::path& socket) {
  if (boot_is_running(socket))
    return fail("a mosctl boot already runs here (it answers at {})", socket.string());
  return listen_unix(socket, 16);
}

Result<Json> read_request(int connection) {
  auto line =
      LineReader(connection, kControlMessageLimit).next(Clock::now() + std::chrono::seconds(5));
  if (!line) return std::unexpected(line.error());
  MOS_TRY_ASSIGN(auto request, parse_json_strict(*line, "a control request"));
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string())
    return fail("a control request must be an object with a \"command\" string");
  return request;
}

void send_answer(int connection, const Json& answer) {
  (void)send_all(connection, answer.dump() + "\n");
}

}  // namespace mos::runtime
