#pragma once
// The relay between qemu and a TPM 2.0 swtpm: qemu connects to it as to swtpm's control channel;
// it passes the control channel and the data channel that qemu hands over on it (CMD_SET_DATAFD)
// through, and answers the PCR allocation query with the active banks only (tpm_pcr_banks.hpp).
// It is a forked copy of the calling program (no exec, no supervisor) that lives exactly as long
// as both its ends: it ends when qemu or swtpm closes its control channel, and swtpm, started
// with --terminate, ends once the relay closes its own.
#include <filesystem>

#include "core/result.hpp"

namespace mos::machine {

struct TpmRelayFiles {
  std::filesystem::path listen;  // where qemu connects
  std::filesystem::path swtpm;   // swtpm's control socket, which must be listening
  std::filesystem::path log;     // the relay's errors, appended
};

// Returns once `listen` accepts qemu's connection and the relay holds swtpm's control channel.
Status start_tpm_relay(const TpmRelayFiles& files);

}  // namespace mos::machine
