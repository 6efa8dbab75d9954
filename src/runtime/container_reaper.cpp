#include "runtime/container_reaper.hpp"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mos::runtime {

int run_container_reaper(int argc, char** argv) {
  char* end = nullptr;
  long init = argc == 2 ? strtol(argv[1], &end, 10) : 0;
  if (argc != 2 || init <= 1 || *end != '\0') {
    fprintf(stderr, "usage: %s INIT_PID (what mos-lxc-monitor becomes; not a command for users)\n",
            argc > 0 ? argv[0] : kContainerReaperProgram);
    return kContainerGone;
  }
  // The monitor's descriptors (liblxc's sockets, namespace handles that would keep the
  // container's network alive) are not the reaper's: only the service's output stays.
  ::close_range(3, ~0U, 0);
  // Signals that reached the monitor while it became this program are still pending, blocked by
  // liblxc's mask, which exec keeps: they are read below, not lost.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  const pid_t init_pid = static_cast<pid_t>(init);
  for (;;) {
    int status = 0;
    pid_t done;
    // Every ended child, the init last: a SIGCHLD may stand for several.
    while ((done = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (done == init_pid) return container_status_code(status);
    if (done < 0 && errno == ECHILD) return kContainerGone;
    siginfo_t info;
    if (::sigwaitinfo(&all, &info) < 0) continue;
    if (info.si_signo != SIGCHLD) ::kill(init_pid, info.si_signo);
  }
}

}  // namespace mos::runtime
