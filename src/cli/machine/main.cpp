// machine: local VMs with OVMF (secure boot), a swtpm TPM 2.0, user networking with port
// forwards and a logged serial console (docs/machine.md). No daemon: every command finds its VM
// from the files under the machine's directories.
#include "cli/machine/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("machine", "Define, start, stop and reach local VMs");
  mos::cli::add_definition_commands(program);
  mos::cli::add_vm_commands(program);
  program.examples(&program.app(), {{"Define vm1 from a file", "machine init vm1 -f vm1.yaml"},
                                    {"What is defined, and what runs", "machine list"},
                                    {"Start it and attach to its serial console",
                                     "machine start vm1 && machine console vm1"}});
  return program.run(argc, argv);
}
