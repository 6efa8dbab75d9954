#include "image/tool_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/file.hpp"

extern char** environ;

namespace mos::image {

Result<std::string> run_tool(const ToolRun& run) {
  if (run.argv.empty()) return fail("no program to run");
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    bool drop = false;
    for (const auto& name : run.unset_env)
      if (entry.starts_with(name + "=")) drop = true;
    for (const auto& set : run.set_env)
      if (entry.starts_with(set.substr(0, set.find('=') + 1))) drop = true;
    if (!drop) env.emplace_back(entry);
  }
  env.insert(env.end(), run.set_env.begin(), run.set_env.end());
  std::vector<char*> argv, envp;
  for (const auto& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail("pipe: {}", errno_message(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return fail("cannot run {}: {}", run.argv[0], errno_message(rc));
  }
  std::string output;
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
    if (output.size() > 65536) output.erase(0, output.size() - 65536);
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string how = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                        : fmt::format("was killed by signal {}", WTERMSIG(status));
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    return fail("{} {}{}{}", run.argv[0], how, output.empty() ? "" : ": ", output);
  }
  return output;
}

}  // namespace mos::image
