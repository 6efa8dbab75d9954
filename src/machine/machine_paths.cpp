#include "machine/machine_paths.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "core/file.hpp"

namespace mos::machine {
namespace {

fs::path env_dir(const char* variable, const fs::path& home, const char* fallback) {
  const char* value = std::getenv(variable);
  if (value && *value && fs::path(value).is_absolute()) return value;
  return home / fallback;
}

}  // namespace

Result<MachineHome> MachineHome::from_environment() {
  const char* home_env = std::getenv("HOME");
  if (!home_env || !*home_env) return fail("HOME is not set: cannot find the machine definitions");
  fs::path home = home_env;
  MachineHome result;
  result.config_root = env_dir("XDG_CONFIG_HOME", home, ".config") / "machine" / "machines";
  result.state_root = env_dir("XDG_STATE_HOME", home, ".local/state") / "machine" / "machines";
  result.cache_dir = env_dir("XDG_CACHE_HOME", home, ".cache") / "machine";
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  std::error_code ec;
  if (runtime && *runtime && fs::path(runtime).is_absolute() && fs::is_directory(runtime, ec))
    result.socket_root = fs::path(runtime) / "machine";
  else
    result.socket_root = fs::path(fmt::format("/tmp/machine-{}", ::getuid()));
  return result;
}

MachinePaths::MachinePaths(const MachineHome& home, const std::string& machine_name)
    : name(machine_name),
      config_dir(home.config_root / machine_name),
      definition(config_dir / "machine.yaml"),
      run_dir(home.state_root / machine_name / machine_name),
      socket_dir(home.socket_root / machine_name),
      console_socket(socket_dir / "console.sock"),
      qmp_socket(socket_dir / "qmp.sock"),
      tpm_socket(socket_dir / "tpm.sock"),
      swtpm_socket(socket_dir / "swtpm.sock"),
      qemu_pidfile(run_dir / "qemu.pid"),
      qemu_log(run_dir / "qemu.log"),
      console_log(run_dir / "console.log"),
      uefi_code(run_dir / "uefi-code.fd"),
      uefi_vars(run_dir / "uefi-nvram.fd"),
      tpm_dir(run_dir / "tpm"),
      swtpm_pidfile(run_dir / "tpm" / "swtpm.pid"),
      lock(home.state_root / machine_name / ".lock") {}

std::vector<std::string> defined_machines(const MachineHome& home) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(home.config_root, ec), end; !ec && it != end; it.increment(ec)) {
    if (fs::is_regular_file(it->path() / "machine.yaml", ec))
      names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status prepare_socket_dir(const MachinePaths& paths) {
  for (const auto& dir : {paths.socket_dir.parent_path(), paths.socket_dir}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return fail("creating {}: {}", dir.string(), errno_message(errno));
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0)
      return fail("reading {}: {}", dir.string(), errno_message(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077) != 0)
      return fail("{} is not a private directory of this user (owner {}, mode {:o}): remove it",
                  dir.string(), st.st_uid, st.st_mode & 07777);
  }
  if (paths.console_socket.string().size() >= 108)
    return fail("socket path {} is longer than a unix socket allows (107 bytes)",
                paths.console_socket.string());
  return {};
}

}  // namespace mos::machine
