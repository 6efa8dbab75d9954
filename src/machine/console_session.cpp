#include "machine/console_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.hpp"
#include "core/unix_socket.hpp"

namespace mos::machine {
namespace {

// Puts a terminal in raw mode for the session and restores it however the session ends.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

Status write_out(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing the console: {}", errno_message(errno));
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::string console_tail(const MachinePaths& paths, std::size_t bytes) {
  auto log = read_file(paths.console_log, 64 << 20);
  if (!log || log->empty()) return {};
  if (log->size() <= bytes) return *log;
  auto tail = log->substr(log->size() - bytes);
  if (auto nl = tail.find('\n'); nl != std::string::npos) tail.erase(0, nl + 1);
  return tail;
}

Status attach_console(const MachinePaths& paths, int in, int out) {
  auto socket = connect_unix(paths.console_socket);
  if (!socket)
    return fail("machine {} has no console at {} ({}): is it running?", paths.name,
                paths.console_socket.string(), socket.error().message);
  auto recent = console_tail(paths, 4096);
  MOS_TRY(write_out(out, recent.data(), recent.size()));
  RawTerminal raw(in);
  char buffer[4096];
  bool in_open = true;
  for (;;) {
    pollfd fds[2] = {{socket->get(), POLLIN, 0}, {in, static_cast<short>(in_open ? POLLIN : 0), 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail("poll: {}", errno_message(errno));
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(socket->get(), buffer, sizeof buffer);
      if (n <= 0) return {};  // the VM ended
      MOS_TRY(write_out(out, buffer, static_cast<std::size_t>(n)));
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(in, buffer, sizeof buffer);
      if (n <= 0) return {};  // end of input: detach
      auto size = static_cast<std::size_t>(n);
      for (std::size_t i = 0; i < size; ++i)
        if (static_cast<unsigned char>(buffer[i]) == kDetachKey) {
          MOS_TRY(send_all(socket->get(), std::string_view(buffer, i)));
          return {};
        }
      MOS_TRY(send_all(socket->get(), std::string_view(buffer, size)));
    }
  }
}

}  // namespace mos::machine
