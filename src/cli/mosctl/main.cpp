// mosctl: installs, updates and rolls back the signed system of a machine, and mounts its
// targets (docs/mosctl.md). Command groups register themselves from their own files.
#include "cli/mosctl/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mosctl", "Install, update and roll back a machine's signed system");
  mos::cli::add_system_commands(program);
  mos::cli::add_mount_commands(program);
  return program.run(argc, argv);
}
