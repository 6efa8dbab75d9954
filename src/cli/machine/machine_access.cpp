#include "cli/machine/machine_access.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "core/file.hpp"

namespace mos::cli {

Result<machine::MachineHome> machine_home() {
  return machine::MachineHome::from_environment();
}

Result<machine::MachinePaths> machine_paths(const machine::MachineHome& home,
                                            const std::string& name) {
  machine::MachineDefinition probe;
  probe.name = probe.config.name = name;
  MOS_TRY(machine::validate_definition(probe));
  return machine::MachinePaths(home, name);
}

Result<FileLock> lock_machine(const machine::MachinePaths& paths) {
  MOS_TRY(make_dirs(paths.lock.parent_path(), 0700));
  return FileLock::acquire(paths.lock, FileLock::Mode::exclusive);
}

Result<FileLock> lock_defined_machine(const machine::MachinePaths& paths) {
  MOS_TRY_ASSIGN(auto lock, lock_machine(paths));
  std::error_code ec;
  if (!std::filesystem::exists(paths.definition, ec))
    return fail("no machine named {}", paths.name);
  return lock;
}

Status run_editor(const std::filesystem::path& file) {
  const char* editor = std::getenv("EDITOR");
  if (!editor || !*editor) editor = std::getenv("VISUAL");
  if (!editor || !*editor) editor = "vi";
  // Through the shell, as every tool that honours $EDITOR does ("code --wait", "emacs -nw").
  auto command = fmt::format("{} \"$1\"", editor);
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork: {}", errno_message(errno));
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), "sh", file.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("the editor ({}) failed on {}", editor, file.string());
  return {};
}

}  // namespace mos::cli
