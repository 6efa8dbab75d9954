// mosctl-initrd: the commands of mosctl that an initramfs runs (mount and create-boot-fs, the TPM
// steps), in a program linked only against the libraries they use. The bootkit installs it as
// the initramfs's `mosctl`: the UKI stays small (the whole UKI is read and hashed by shim before
// the kernel runs) and each call loads a few libraries instead of mosctl's sixty (docs/boot.md).
#include <cstdio>
#include <cstdlib>

#include "cli/mosctl/commands.hpp"

int main(int argc, char** argv) {
  mos::cli::Program program("mosctl",
                            "The initramfs's mosctl: mount a machine's verified system, "
                            "its TPM steps");
  mos::cli::add_mount_commands(program);
  mos::cli::add_tpm_commands(program);
  int code = program.run(argc, argv);
#if defined(__SANITIZE_ADDRESS__)
  return code;  // the leak check runs at exit
#else
  // Each of these programs runs on a boot's critical path, and tearing down what the libraries
  // set up (OpenSSL's providers, the command tree, the loggers) is ~1.5k blocks of new code, tens
  // of milliseconds under emulation, for memory the kernel frees anyway.
  std::fflush(nullptr);
  std::_Exit(code);
#endif
}
