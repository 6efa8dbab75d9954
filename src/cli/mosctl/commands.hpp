#pragma once
// Command groups of mosctl. Each registers its subcommands on the program (main.cpp calls them).
#include <optional>

#include "cli/common/program.hpp"
#include "core/json.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::cli {

// mosctl install|update|rollback|status|gc (system_commands.cpp; docs/mosctl.md)
void add_system_commands(Program& program);

// mosctl mount|create-boot-fs|umount (mount_commands.cpp)
void add_mount_commands(Program& program);

// mosctl boot|activate|stop|logs (service_commands.cpp; docs/services.md). With
// become_boot_program, `boot` runs as the mosctl-boot program when one is installed beside this
// one (mosctl's sixty libraries are not the service manager's to carry; see mosctl_boot/main.cpp).
void add_service_commands(Program& program, bool become_boot_program);
// The status of the boot running for options.root (pid, control, commit, services); none when
// no boot runs there.
std::optional<Json> running_boot(const sysroot::SysrootOptions& options);
// A table of those services for people.
std::string format_services(const Json& services);
// After a committed update or rollback: the running boot (if any) restarts what changed.
void reload_running_boot(const sysroot::SysrootOptions& options);

// mosctl provision|initrd-setup|preinstall|extend-pcr7 (tpm_commands.cpp; the TPM's device side)
void add_tpm_commands(Program& program);

// mosctl live-action (live_commands.cpp; a boot medium's live system, docs/boot.md)
void add_live_commands(Program& program);

// --ca, --product-uuid and --no-wait, which every mosctl command takes, and -r/--root/--rfs, an
// option of mosctl itself (before or after the command) whose value reaches `options`.
void add_sysroot_options(CLI::App* command, sysroot::SysrootOptions& options);

}  // namespace mos::cli
