// trust: keysets, projects, SUDI certificates and detached signatures (docs/trust.md). Command
// groups register themselves from their own files (commands.hpp).
#include "cli/trust/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program(
      "trust", "Keysets, projects, device identities and signatures of Project Machine");
  mos::cli::add_keyset_commands(program);
  mos::cli::add_project_commands(program);
  mos::cli::add_signature_commands(program);
  return program.run(argc, argv);
}
