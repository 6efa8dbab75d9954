// trust: keysets, projects, SUDI certificates, detached signatures and the TPM data of keysets
// (docs/trust.md). Command groups register themselves from their own files (commands.hpp).
#include "cli/trust/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program(
      "trust", "Keysets, projects, device identities and signatures of Project Machine");
  mos::cli::add_keyset_commands(program);
  mos::cli::add_project_commands(program);
  mos::cli::add_signature_commands(program);
  mos::cli::add_tpm_commands(program);
  mos::cli::add_bootkit_commands(program);
  mos::cli::add_launch_commands(program);
  program.examples(&program.app(),
                   {{"Create the walkthrough's keyset", "trust keyset add snakeoil"},
                    {"The uuid of its project default",
                     "trust keyset show snakeoil manifest:default uuid --value"},
                    {"Sign a file with that project's key",
                     "trust sign --project snakeoil:default install.json"}});
  return program.run(argc, argv);
}
