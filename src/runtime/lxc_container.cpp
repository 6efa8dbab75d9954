#include "runtime/lxc_container.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <lxc/lxccontainer.h>

#include "core/file.hpp"
#include "core/unique_fd.hpp"
#include "runtime/container_monitor.hpp"
#include "runtime/container_reaper.hpp"

namespace mos::runtime {
namespace {

struct ContainerPut {
  void operator()(lxc_container* c) const { lxc_container_put(c); }
};
using ContainerHandle = std::unique_ptr<lxc_container, ContainerPut>;

ContainerHandle open_container(const std::string& name, const std::filesystem::path& lxc_dir) {
  return ContainerHandle(lxc_container_new(name.c_str(), lxc_dir.c_str()));
}

// In the forked child: only what a child of a possibly threaded parent may do until it execs the
// monitor program.
[[noreturn]] void exec_monitor(const ContainerStart& start, pid_t boot, char* const* argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != boot) ::_exit(kContainerNotStarted);  // boot died before the line above
  // boot blocks the signals it reads through a signalfd and may ignore others (SIGPIPE); both
  // would pass through exec to the container's init, which must get SIGTERM and the service
  // default dispositions.
  struct sigaction default_action{};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) ::sigaction(signal, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(start.output_fd, 1) < 0 ||
      ::dup2(start.output_fd, 2) < 0)
    ::_exit(kContainerNotStarted);
  ::close_range(3, ~0U, 0);  // boot's sockets, pipes and signalfd are not the monitor's
  ::execv(start.monitor.c_str(), argv);
  ::dprintf(2, "mos: cannot run the container monitor %s: %s\n", start.monitor.c_str(),
            ::strerror(errno));
  ::_exit(kContainerNotStarted);
}

}  // namespace

Result<pid_t> start_container(const ContainerStart& start) {
  if (start.argv.empty()) return fail("container {}: nothing to run", start.name);
  if (start.monitor.empty())
    return fail(
        "container {}: the monitor program {} was not found (beside this program, in "
        "../libexec/mos or in $PATH)",
        start.name, kContainerMonitorProgram);
  std::vector<std::string> words = {start.monitor.string(),
                                    start.name,
                                    start.lxc_dir.string(),
                                    start.config.string(),
                                    start.reaper.empty() ? "-" : start.reaper.string(),
                                    "--"};
  words.insert(words.end(), start.argv.begin(), start.argv.end());
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  pid_t boot = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return fail("starting container {}: fork: {}", start.name, errno_message(errno));
  if (pid == 0) exec_monitor(start, boot, argv.data());
  return pid;
}

std::string first_lxc_error(const std::filesystem::path& lxc_log) {
  UniqueFd fd(::open(lxc_log.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string head(64 * 1024, '\0');
  ssize_t got = ::pread(fd.get(), head.data(), head.size(), 0);
  if (got <= 0) return {};
  head.resize(static_cast<std::size_t>(got));
  // "lxc NAME TIME ERROR module - file:line - function: message"
  auto at = head.find(" ERROR ");
  if (at == std::string::npos) return {};
  auto begin = head.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  auto end = head.find('\n', at);
  std::string line = head.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  if (auto message = line.rfind(" - "); message != std::string::npos) line.erase(0, message + 3);
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return line.substr(0, 300);
}

pid_t container_init_pid(pid_t monitor, const std::string& name,
                         const std::filesystem::path& lxc_dir) {
  // The reaper's command line: PATH NUL INIT_PID NUL.
  if (auto cmdline = read_file(fmt::format("/proc/{}/cmdline", monitor), 4096)) {
    auto program_end = cmdline->find('\0');
    if (program_end != std::string::npos &&
        std::filesystem::path(cmdline->substr(0, program_end)).filename() ==
            kContainerReaperProgram) {
      pid_t pid = static_cast<pid_t>(std::atol(cmdline->c_str() + program_end + 1));
      return pid > 1 ? pid : 0;
    }
  }
  auto c = open_container(name, lxc_dir);
  if (!c || !c->is_running(c.get())) return 0;
  pid_t pid = c->init_pid(c.get());
  return pid > 0 ? pid : 0;
}

}  // namespace mos::runtime
