#include "core/unix_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/file.hpp"

namespace mos {

Result<sockaddr_un> unix_address(const std::filesystem::path& socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof(address.sun_path))
    return fail("{}: too long for a unix socket path", socket.string());
  std::memcpy(address.sun_path, socket.c_str(), socket.string().size());
  return address;
}

Result<UniqueFd> connect_unix(const std::filesystem::path& socket) {
  MOS_TRY_ASSIGN(auto address, unix_address(socket));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket: {}", errno_message(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    return fail("{}", errno_message(errno));
  return fd;
}

Result<UniqueFd> listen_unix(const std::filesystem::path& socket, int backlog) {
  MOS_TRY_ASSIGN(auto address, unix_address(socket));
  ::unlink(socket.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail("socket: {}", errno_message(errno));
  mode_t old = ::umask(0077);
  int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  int bind_errno = errno;
  ::umask(old);
  if (bound != 0) return fail("binding {}: {}", socket.string(), errno_message(bind_errno));
  if (::listen(fd.get(), backlog) != 0)
    return fail("listening on {}: {}", socket.string(), errno_message(errno));
  return fd;
}

Status send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("{}", errno_message(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status send_with_descriptor(int socket, std::string_view data, int descriptor) {
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  iovec io{.iov_base = const_cast<char*>(data.data()), .iov_len = data.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
  ssize_t sent;
  do sent = ::sendmsg(socket, &message, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return fail("{}", errno_message(errno));
  if (static_cast<std::size_t>(sent) != data.size()) return fail("a partial message was sent");
  return {};
}

Result<std::string> LineReader::next(std::chrono::steady_clock::time_point deadline) {
  char chunk[4096];
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      auto line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (buffer_.size() > limit_) return fail("message over {} bytes", limit_);
    if (closed_) {
      if (buffer_.empty()) return fail("the connection closed without an answer");
      return std::exchange(buffer_, {});
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail("timed out");
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return fail("poll: {}", errno_message(errno));
    if (ready == 0) return fail("timed out");
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("{}", errno_message(errno));
    if (n == 0)
      closed_ = true;
    else
      buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace mos
