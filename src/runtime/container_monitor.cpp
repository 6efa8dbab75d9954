#include "runtime/container_monitor.hpp"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "runtime/container_reaper.hpp"

namespace mos::runtime {
namespace {

// What the SIGWINCH handler needs, set before the helper exists: it may run at any point of
// liblxc's main loop, so it only formats a number and execs.
char* reaper_argv[3];
char init_pid_text[16];
volatile pid_t handover_helper = 0;

sigset_t only_sigwinch() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  return set;
}

void write_decimal(char* out, int value) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 15);
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

// SIGWINCH is one of the signals liblxc's monitor leaves unblocked (it has no terminal here), and
// a handler runs on the thread that cloned the container's init: the one thread whose execve
// keeps the init's parent, so the init's PDEATHSIG does not fire.
void hand_over(int, siginfo_t* info, void*) {
  if (info->si_code != SI_QUEUE || info->si_pid != handover_helper || info->si_value.sival_int <= 1)
    return;
  write_decimal(init_pid_text, info->si_value.sival_int);
  ::execv(reaper_argv[0], reaper_argv);
  static const char message[] = "mos: the container reaper could not run: liblxc's monitor stays\n";
  (void)!::write(2, message, sizeof message - 1);
}

// The helper: a child that asks liblxc's monitor (its parent, through its command socket) for the
// container's state until it runs, then sends it the init's pid. A process of its own, not a
// thread: liblxc clones the container's init from the monitor, which must not happen while
// another thread of it holds a lock.
[[noreturn]] void await_running(const char* name, const char* lxc_path, pid_t monitor) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != monitor) ::_exit(0);
  lxc_container* c = lxc_container_new(name, lxc_path);
  if (!c) ::_exit(0);
  // 10 ms steps for a second (a start takes a few hundred ms), then 100 ms.
  for (int step = 0;; ++step) {
    timespec pause{0, step < 100 ? 10'000'000L : 100'000'000L};
    ::nanosleep(&pause, nullptr);
    const char* state = c->state(c);
    if (!state || strcmp(state, "RUNNING") != 0) continue;
    pid_t init = c->init_pid(c);
    if (init <= 1) continue;
    sigval value{};
    value.sival_int = init;
    ::sigqueue(monitor, SIGWINCH, value);
    ::_exit(0);
  }
}

}  // namespace

int run_container_monitor(int argc, char** argv) {
  if (argc < 7 || strcmp(argv[5], "--") != 0) {
    fprintf(stderr,
            "usage: %s NAME LXCPATH CONFIG REAPER -- COMMAND [ARG...] (started by mosctl boot, one "
            "per service; REAPER \"-\" keeps the monitor to the container's end)\n",
            argc > 0 ? argv[0] : kContainerMonitorProgram);
    return kContainerNotStarted;
  }
  const char* name = argv[1];
  const char* lxc_path = argv[2];
  const char* config = argv[3];
  const char* reaper = argv[4];
  // liblxc prefers newuidmap/newgidmap when they are on PATH, and those refuse root without
  // /etc/subuid entries; as root it writes the maps itself when they are not found.
  setenv("PATH", "/usr/sbin:/sbin", 1);
  lxc_container* c = lxc_container_new(name, lxc_path);
  if (!c) {
    fprintf(stderr, "mos: liblxc could not create container %s\n", name);
    return kContainerNotStarted;
  }
  if (!c->load_config(c, config)) {
    fprintf(stderr, "mos: liblxc refused the config %s\n", config);
    lxc_container_put(c);
    return kContainerNotStarted;
  }
  if (strcmp(reaper, "-") != 0) {
    reaper_argv[0] = const_cast<char*>(reaper);
    reaper_argv[1] = init_pid_text;
    reaper_argv[2] = nullptr;
    struct sigaction action{};
    action.sa_sigaction = hand_over;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    sigaction(SIGWINCH, &action, nullptr);
    // Blocked until the handler knows the helper's pid, which its signal must come from.
    sigset_t winch = only_sigwinch(), before;
    sigprocmask(SIG_BLOCK, &winch, &before);
    pid_t monitor = ::getpid();
    pid_t helper = ::fork();
    if (helper == 0) await_running(name, lxc_path, monitor);
    handover_helper = helper;
    sigprocmask(SIG_SETMASK, &before, nullptr);
  }
  c->want_daemonize(c, false);
  c->want_close_all_fds(c, true);
  bool started = c->start(c, 1, argv + 6);
  // Here only when the container ended before the hand-over (or there was none): a late one
  // would find no container.
  if (handover_helper > 0) {
    sigset_t winch = only_sigwinch();
    sigprocmask(SIG_BLOCK, &winch, nullptr);
    ::kill(handover_helper, SIGKILL);
    ::waitpid(handover_helper, nullptr, 0);
  }
  // error_num is the wait status of the container's init.
  int status = c->error_num;
  lxc_container_put(c);
  if (!started) {
    fprintf(stderr, "mos: liblxc could not start %s (see its log under %s)\n", name, lxc_path);
    return kContainerNotStarted;
  }
  return container_status_code(status);
}

}  // namespace mos::runtime
