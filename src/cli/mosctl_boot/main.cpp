// mosctl-boot: mosctl's service commands (boot, activate, stop, logs) in a program linked only
// against the libraries they use: what a machine's init runs as its service manager, and what
// `mosctl boot` becomes when it finds this program beside it or in ../libexec/mos. mosctl loads
// 76 libraries and resolves curl's, libarchive's and the TPM's symbols it never calls here; under
// TCG that start-up alone took 0.96 s, and every service's monitor would otherwise map the same
// (docs/services.md).
#include "cli/mosctl/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mosctl", "Run and supervise the services of the installed system");
  mos::cli::add_service_commands(program, false);
  return program.run(argc, argv);
}
