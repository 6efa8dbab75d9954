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

namespace mos::runtime {
namespace {

using Clock = std::chrono::steady_clock;

Result<sockaddr_un> address_of(const std::filesystem::path& socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof(address.sun_path))
    return fail("{}: too long for a unix socket path", socket.string());
  std::memcpy(address.sun_path, socket.c_str(), socket.string().size());
  return address;
}

Result<UniqueFd> connect_to(const std::filesystem::path& socket) {
  MOS_TRY_ASSIGN(auto address, address_of(socket));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket: {}", errno_message(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    return fail("{}", errno_message(errno));
  return fd;
}

// Reads up to the first newline, within the deadline.
Result<std::string> read_line(int fd, Clock::time_point deadline) {
  std::string data;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail("timed out");
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return fail("poll: {}", errno_message(errno));
    if (ready == 0) return fail("timed out");
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("{}", errno_message(errno));
    if (n == 0)
      return data.empty() ? fail("the connection closed without an answer")
                          : Result<std::string>(data);
    data.append(buffer, static_cast<std::size_t>(n));
    if (auto nl = data.find('\n'); nl != std::string::npos) return data.substr(0, nl);
    if (data.size() > kControlMessageLimit)
      return fail("message over {} bytes", kControlMessageLimit);
  }
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("{}", errno_message(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<Json> ask_boot(const std::filesystem::path& socket, const Json& request,
                      const std::filesystem::path& root, std::chrono::milliseconds timeout) {
  auto fd = connect_to(socket);
  if (!fd)
    return fail("no mosctl boot is running for {} (nothing answers at {})", root.string(),
                socket.string());
  auto deadline = Clock::now() + timeout;
  if (auto s = write_all(fd->get(), request.dump() + "\n"); !s)
    return fail("sending to mosctl boot at {}: {}", socket.string(), s.error().message);
  auto line = read_line(fd->get(), deadline);
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
  return static_cast<bool>(connect_to(socket));
}

Result<UniqueFd> listen_for_control(const std::filesystem::path& socket) {
  if (boot_is_running(socket))
    return fail("a mosctl boot already runs here (it answers at {})", socket.string());
  MOS_TRY_ASSIGN(auto address, address_of(socket));
  ::unlink(socket.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail("socket: {}", errno_message(errno));
  mode_t old = ::umask(0077);
  int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  int bind_errno = errno;
  ::umask(old);
  if (bound != 0) return fail("binding {}: {}", socket.string(), errno_message(bind_errno));
  if (::listen(fd.get(), 16) != 0)
    return fail("listening on {}: {}", socket.string(), errno_message(errno));
  return fd;
}

Result<Json> read_request(int connection) {
  auto line = read_line(connection, Clock::now() + std::chrono::seconds(5));
  if (!line) return std::unexpected(line.error());
  MOS_TRY_ASSIGN(auto request, parse_json_strict(*line, "a control request"));
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string())
    return fail("a control request must be an object with a \"command\" string");
  return request;
}

void send_answer(int connection, const Json& answer) {
  (void)write_all(connection, answer.dump() + "\n");
}

}  // namespace mos::runtime
