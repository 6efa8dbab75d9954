#pragma once
// A VM's life: start (disks, NVRAM, TPM, qemu, checked until QMP says it runs), status read from
// disk alone (qemu's locked pidfile, its log), and stop (ACPI power button, then quit, then
// SIGKILL; swtpm follows qemu). No daemon holds any of it: every command works from any shell,
// after any restart of the tool.
#include <sys/types.h>

#include <chrono>
#include <string>

#include "core/result.hpp"
#include "machine/machine_definition.hpp"
#include "machine/machine_paths.hpp"

namespace mos::machine {

enum class VmState { stopped, running, failed };
const char* state_name(VmState state);

struct VmStatus {
  VmState state = VmState::stopped;
  pid_t qemu_pid = 0;  // when running
  std::string reason;  // when failed: qemu's last error line
};

VmStatus vm_status(const MachinePaths& paths);

struct StartOptions {
  bool wait_for_console = false;  // also wait for the guest's first console output
  std::chrono::seconds timeout{60};
};

// Starts the VM and returns once qemu runs it, or fails with qemu's own error (and leaves
// nothing running). The caller holds the machine's lock.
Status start_vm(const MachineHome& home, const MachineDefinition& definition,
                const MachinePaths& paths, const StartOptions& options);

struct StopOptions {
  bool force = false;                // quit at once instead of the ACPI power button
  std::chrono::seconds timeout{30};  // how long the guest may take to power off
};

// Stops the VM and its swtpm; returns once both are gone. A stopped VM is left as it is.
Status stop_vm(const MachinePaths& paths, const StopOptions& options);

}  // namespace mos::machine
