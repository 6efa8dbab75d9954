#pragma once
// A VM's TPM: swtpm with its state, its certificates' local CA and its logs all inside the VM's
// run directory (swtpm_setup's defaults write a CA under /var/lib/swtpm-localca, shared by every
// user and VM). swtpm runs with --terminate, so it ends when qemu closes its control channel:
// it lives exactly as long as its VM, with no supervisor and no fixed delay at stop.
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::machine {

struct TpmFiles {
  std::filesystem::path state_dir;
  std::filesystem::path socket;  // the control channel qemu connects to
  // swtpm's own control socket when a relay sits between it and qemu (TPM 2.0: tpm_relay.hpp);
  // empty: swtpm listens on `socket` itself.
  std::filesystem::path swtpm_socket;
  std::filesystem::path pidfile;
  std::string version = "2.0";  // "2.0" or "1.2"
};

// The argv of swtpm_setup's manufacturing run (EK and platform certificates, locked NVRAM).
std::vector<std::string> swtpm_setup_argv(const TpmFiles& tpm);
// The argv of the swtpm that serves the VM.
std::vector<std::string> swtpm_argv(const TpmFiles& tpm);

// Manufactures the TPM once (its state survives; a half-done setup is redone from scratch).
Status setup_tpm(const TpmFiles& tpm);

// Starts swtpm, and its relay for a TPM 2.0, and returns once `socket` accepts qemu (swtpm
// --daemon returns when it listens). An swtpm still serving this state (a VM that died and left
// it) is stopped first.
Result<pid_t> start_tpm(const TpmFiles& tpm);

// The running swtpm of this state directory, if any.
std::optional<pid_t> running_tpm(const TpmFiles& tpm);

}  // namespace mos::machine
