#pragma once
// Boot counting: a system that an update installs is on trial until a boot of it comes up.
//
//   config/boot-trial.json   {"previous": "<commit>", "boots": 0 | 1}
//
// - update writes the marker before its commit, naming the system it starts from (the one
//   rollback returns to). A kill between the two leaves a marker whose "previous" is still HEAD:
//   stale, removed by the next boot.
// - create-boot-fs (the initramfs) counts the boot: 0 becomes 1 and the new system boots. A boot
//   that finds 1 comes after a boot of it that never came up: it rolls back to "previous" first.
// - mosctl boot confirms once every service is started: the marker goes.
// - rollback and install remove it; gc keeps the system it names.
// - a marker that cannot be read is set aside (boot-trial.json.malformed) by the boot that finds
//   it, said on the console, and the system in place boots: no marker is worth a dead machine.
// A system that boots but whose mosctl boot fails is rebooted by the hostfs's init, so a machine
// returns to its previous system without anybody at its console.
#include <filesystem>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::sysroot {

struct BootTrial {
  std::string previous;  // the commit a failed trial returns to
  int boots = 0;         // boots of the trial system begun (0 or 1)
};

std::filesystem::path boot_trial_path(const SysrootPaths& paths);
// nullopt when there is no marker; a malformed one is an error naming the file.
Result<std::optional<BootTrial>> read_boot_trial(const SysrootPaths& paths);
// Callers hold the manifest lock for writing.
Status write_boot_trial(const SysrootPaths& paths, const BootTrial& trial);
Status remove_boot_trial(const SysrootPaths& paths);

enum class BootTrialStep { none, first_boot, rolled_back };
struct BootTrialReport {
  BootTrialStep step = BootTrialStep::none;
  std::string summary;  // one line for the console; empty for none
};

// At boot, before the hostfs is mounted (create-boot-fs). When the system a failed trial would
// return to cannot be verified any more, the trial system boots again (step none, said in the
// summary).
Result<BootTrialReport> count_boot(const SysrootOptions& options);
// This boot of the trial system failed before it came up (its hostfs did not mount): back to the
// previous system now. step none when no trial is running.
Result<BootTrialReport> abandon_trial(const SysrootOptions& options);
// The boot came up (mosctl boot, every service started): true when a trial ended.
Result<bool> confirm_boot(const SysrootOptions& options);

}  // namespace mos::sysroot
