#include "runtime/lxc_container.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>
#include <lxc/lxccontainer.h>

#include "core/file.hpp"

namespace mos::runtime {
namespace {

struct ContainerPut {
  void operator()(lxc_container* c) const { lxc_container_put(c); }
};
using ContainerHandle = std::unique_ptr<lxc_container, ContainerPut>;

ContainerHandle open_container(const std::string& name, const std::filesystem::path& lxc_dir) {
  return ContainerHandle(lxc_container_new(name.c_str(), lxc_dir.c_str()));
}

// In the forked child: only what a child of a possibly threaded parent may do until liblxc
// takes over (it forks and execs itself from here on).
[[noreturn]] void run_monitor(const ContainerStart& start, std::vector<char*>& argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // boot blocks the signals it reads through a signalfd; liblxc hands the mask on to the
  // container's init, which must get SIGTERM.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(start.output_fd, 1) < 0 ||
      ::dup2(start.output_fd, 2) < 0)
    ::_exit(125);
  ::close_range(3, ~0U, 0);  // boot's sockets, pipes and signalfd are not the monitor's
  // liblxc prefers newuidmap/newgidmap when they are on PATH, and those refuse root without
  // /etc/subuid entries; as root it writes the maps itself when they are not found.
  ::setenv("PATH", "/usr/sbin:/sbin", 1);
  lxc_container* c = lxc_container_new(start.name.c_str(), start.lxc_dir.c_str());
  if (!c) {
    ::dprintf(2, "mos: liblxc could not create container %s\n", start.name.c_str());
    ::_exit(125);
  }
  if (!c->load_config(c, start.config.c_str())) {
    ::dprintf(2, "mos: liblxc refused the config %s\n", start.config.c_str());
    ::_exit(125);
  }
  c->want_daemonize(c, false);
  c->want_close_all_fds(c, true);
  bool started = c->start(c, 1, argv.data());
  if (!started) {
    ::dprintf(2, "mos: liblxc could not start %s (see its log under %s)\n", start.name.c_str(),
              start.lxc_dir.c_str());
    ::_exit(125);
  }
  // error_num is the wait status of the container's init.
  int status = c->error_num;
  ::_exit(WIFEXITED(status)     ? WEXITSTATUS(status)
          : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                : 125);
}

}  // namespace

Result<pid_t> start_container(const ContainerStart& start) {
  if (start.argv.empty()) return fail("container {}: nothing to run", start.name);
  std::vector<char*> argv;
  for (const auto& arg : start.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return fail("starting container {}: fork: {}", start.name, errno_message(errno));
  if (pid == 0) run_monitor(start, argv);
  return pid;
}

int container_exit_code(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

pid_t container_init_pid(const std::string& name, const std::filesystem::path& lxc_dir) {
  auto c = open_container(name, lxc_dir);
  if (!c || !c->is_running(c.get())) return 0;
  pid_t pid = c->init_pid(c.get());
  return pid > 0 ? pid : 0;
}

Status signal_container(const std::string& name, const std::filesystem::path& lxc_dir, int signal) {
  pid_t pid = container_init_pid(name, lxc_dir);
  if (pid == 0) return {};
  if (::kill(pid, signal) != 0 && errno != ESRCH)
    return fail("signalling container {} (pid {}): {}", name, pid, errno_message(errno));
  return {};
}

Status kill_container(const std::string& name, const std::filesystem::path& lxc_dir) {
  auto c = open_container(name, lxc_dir);
  if (!c) return fail("liblxc could not open container {} in {}", name, lxc_dir.string());
  if (c->is_running(c.get()) && !c->stop(c.get()))
    return fail("liblxc could not stop container {}", name);
  return {};
}

}  // namespace mos::runtime
