#include "machine/detached_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "core/file.hpp"

namespace mos::machine {

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const fs::path& log) {
  if (argv.empty()) return fail("no program to start");
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log_fd) return fail("opening {}: {}", log.string(), errno_message(errno));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork: {}", errno_message(errno));
  if (pid == 0) {
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(log_fd.get(), 1) < 0 ||
        ::dup2(log_fd.get(), 2) < 0)
      ::_exit(127);
    ::close_range(3, ~0U, 0);
    ::execvp(args[0], args.data());
    const char* message = "cannot run the program: ";
    (void)!::write(2, message, std::char_traits<char>::length(message));
    (void)!::write(2, args[0], std::char_traits<char>::length(args[0]));
    (void)!::write(2, "\n", 1);
    ::_exit(127);
  }
  return pid;
}

Result<UniqueFd> open_pidfd(pid_t pid) {
  // glibc 2.36 declares pidfd_open without C linkage: call the system call itself.
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) return fail("pidfd_open({}): {}", pid, errno_message(errno));
  return fd;
}

bool wait_for_exit(int pidfd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (ready > 0) return true;
    if (ready < 0 && errno == EINTR) continue;
    return false;
  }
}

std::optional<pid_t> live_pid_from_file(const fs::path& pidfile, std::string_view marker) {
  auto text = read_file(pidfile, 64);
  if (!text) return std::nullopt;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(*text));
  } catch (...) {
    return std::nullopt;
  }
  if (pid <= 0) return std::nullopt;
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid), 1 << 20);
  if (!cmdline) return std::nullopt;
  for (auto& c : *cmdline)
    if (c == '\0') c = ' ';
  if (cmdline->find(marker) == std::string::npos) return std::nullopt;
  return pid;
}

}  // namespace mos::machine
