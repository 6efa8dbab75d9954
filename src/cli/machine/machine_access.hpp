#pragma once
// What every machine command starts from: the user's machine directories, one machine's paths,
// its lock (start, stop, edit and delete of one VM never interleave) and its definition.
#include <string>

#include "core/lock.hpp"
#include "machine/machine_definition.hpp"
#include "machine/machine_paths.hpp"

namespace mos::cli {

Result<machine::MachineHome> machine_home();

// The machine's paths; fails for a name that is not a valid machine name.
Result<machine::MachinePaths> machine_paths(const machine::MachineHome& home,
                                            const std::string& name);

// Locks the machine for a change (waiting for another command that holds it).
Result<FileLock> lock_machine(const machine::MachinePaths& paths);

// The same, for a machine that must be defined ("no machine named NAME" otherwise).
Result<FileLock> lock_defined_machine(const machine::MachinePaths& paths);

// Runs $EDITOR (else $VISUAL, else vi) on a file, on this terminal.
Status run_editor(const std::filesystem::path& file);

}  // namespace mos::cli
