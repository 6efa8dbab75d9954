#include "machine/machine_store.hpp"

#include <cstdlib>

#include "core/file.hpp"

namespace mos::machine {

Result<MachineDefinition> load_definition(const MachinePaths& paths) {
  std::error_code ec;
  if (!fs::exists(paths.definition, ec)) return fail("no machine named {}", paths.name);
  MOS_TRY_ASSIGN(auto text, read_file(paths.definition, 1 << 20));
  MOS_TRY_ASSIGN(auto definition, parse_machine_yaml(text, paths.definition.string()));
  MOS_TRY(with_context(validate_definition(definition), paths.definition.string()));
  return definition;
}

Status save_definition(const MachinePaths& paths, const MachineDefinition& definition) {
  MOS_TRY(validate_definition(definition));
  MOS_TRY(make_dirs(paths.config_dir, 0755));
  return write_file_atomic(paths.definition, machine_yaml(definition), 0644);
}

Status resolve_definition_paths(MachineDefinition& definition, const fs::path& cwd) {
  auto& config = definition.config;
  auto absolute = [&](std::string& path, std::string_view what, bool must_exist) -> Status {
    if (path.empty()) return {};
    if (path.starts_with("~/")) {
      const char* home = std::getenv("HOME");
      if (home) path = (fs::path(home) / path.substr(2)).string();
    }
    if (!fs::path(path).is_absolute()) path = (cwd / path).lexically_normal().string();
    std::error_code ec;
    if (must_exist && !fs::exists(path, ec)) return fail("{} {} does not exist", what, path);
    return {};
  };
  MOS_TRY(absolute(config.cdrom, "cdrom", true));
  MOS_TRY(absolute(config.uefi_code, "uefi-code", true));
  MOS_TRY(absolute(config.uefi_vars, "uefi-vars", true));
  for (auto& disk : config.disks) {
    // A bare file name lives in the run directory (created there at the first start).
    if (disk.file.find('/') == std::string::npos) continue;
    MOS_TRY(absolute(disk.file, "disk", disk.size == 0));
  }
  return {};
}

Status remove_machine(const MachineHome& home, const MachinePaths& paths) {
  std::error_code ec;
  for (const auto& dir : {paths.socket_dir, home.state_root / paths.name, paths.config_dir}) {
    fs::remove_all(dir, ec);
    if (ec) return fail("removing {}: {}", dir.string(), ec.message());
  }
  return {};
}

}  // namespace mos::machine
