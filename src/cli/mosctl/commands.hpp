#pragma once
// Command groups of mosctl. Each registers its subcommands on the program (main.cpp calls them).
#include "cli/common/program.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::cli {

// mosctl install|update|rollback|status|gc (system_commands.cpp; docs/mosctl.md)
void add_system_commands(Program& program);

// mosctl mount|create-boot-fs|umount (mount_commands.cpp)
void add_mount_commands(Program& program);

// --ca, --product-uuid and --no-wait, which every mosctl command takes, and -r/--root/--rfs, an
// option of mosctl itself (before or after the command) whose value reaches `options`.
void add_sysroot_options(CLI::App* command, sysroot::SysrootOptions& options);

}  // namespace mos::cli
