#pragma once
// `mosctl provision` as a whole (original-trust.md §4): the machine's factory partitions
// (factory_partitions.hpp) when a disk is given, then its TPM (tpm/tpm_provision.hpp).
//
// The disk comes first, keyed by a passphrase made here, and the TPM stores that passphrase
// last of all: the TPM's layout version, written at the very end, marks a complete provisioning.
// A run stopped anywhere before it leaves a TPM that is not provisioned, so running it again
// (without --wipe) makes the disk and the TPM afresh; an already provisioned machine is refused
// before its disk is touched.
#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "tpm/pcr7data.hpp"
#include "tpm/tpm_connection.hpp"
#include "tpm/tpm_provision.hpp"

namespace mos::boot {

inline constexpr std::string_view kAnyDisk = "any";

struct MachineProvisionRequest {
  tpm::ProvisionRequest tpm;       // the SUDI, --wipe
  std::filesystem::path pcr7data;  // copied to the PBF
  // The disk for the factory partitions, kAnyDisk for the one choose_install_disk() finds, or
  // empty for none (the TPM only).
  std::string disk;
};

struct MachineProvisionReport {
  tpm::ProvisionReport tpm;
  std::string disk_line;  // what was made on the disk; empty without one
};

Result<MachineProvisionReport> provision_machine(tpm::TpmConnection& tpm, const tpm::Pcr7Data& data,
                                                 MachineProvisionRequest request);

}  // namespace mos::boot
