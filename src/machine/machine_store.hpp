#pragma once
// The stored definitions: machine.yaml files read strictly and written atomically, and a
// machine's removal (definition, run directory with its disks and TPM, sockets).
#include "core/result.hpp"
#include "machine/machine_definition.hpp"
#include "machine/machine_paths.hpp"

namespace mos::machine {

Result<MachineDefinition> load_definition(const MachinePaths& paths);

// Writes machine.yaml (creating its folder) after validating the definition.
Status save_definition(const MachinePaths& paths, const MachineDefinition& definition);

// Makes the definition's paths absolute against `cwd` (the user's directory when they define it,
// so a later command from elsewhere finds the same files: the original resolved them against the
// client's directory in one place and the daemon's in another), and checks that the files it
// does not create exist: the cdrom, the firmware, and disks without a size.
Status resolve_definition_paths(MachineDefinition& definition, const std::filesystem::path& cwd);

// Removes everything of the machine; it must not be running.
Status remove_machine(const MachineHome& home, const MachinePaths& paths);

}  // namespace mos::machine
