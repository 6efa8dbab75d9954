// mosctl: installs, updates and rolls back the signed system of a machine, and mounts its
// targets (docs/mosctl.md). Command groups register themselves from their own files.
#include "cli/mosctl/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mosctl", "Install, update and roll back a machine's signed system");
  mos::cli::add_system_commands(program);
  mos::cli::add_mount_commands(program);
  mos::cli::add_service_commands(program, true);
  mos::cli::add_tpm_commands(program);
  mos::cli::add_live_commands(program);
  program.examples(&program.app(),
                   {{"Install the walkthrough's system into /tmp/root",
                     "mosctl install --root /tmp/root 127.0.0.1:5000/machine/install:1.0.0"},
                    {"What is installed there", "mosctl --root /tmp/root status"},
                    {"Mount one of its targets", "mosctl mount --root /tmp/root -t zot"}});
  return program.run(argc, argv);
}
