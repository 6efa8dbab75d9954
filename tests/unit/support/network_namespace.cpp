// Network namespaces of a test's own, for the runtime tests that change interfaces and rules.
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit/support/test_support.hpp"

namespace mos::test {

std::string in_own_netns(const std::function<Status()>& body) {
  if (::geteuid() != 0) return "SKIP needs root";
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string message = "ok";
    if (::unshare(CLONE_NEWNET) != 0) {
      message = "SKIP unshare(CLONE_NEWNET) is not allowed here";
    } else if (auto done = body(); !done) {
      message = done.error().message;
    }
    (void)!::write(fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    out.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

}  // namespace mos::test
