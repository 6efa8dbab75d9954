#pragma once
// OVMF for a VM: the firmware code and the template of its variable store, as a matched pair
// (qemu maps both into one flash region: a 4 MiB code image with 2 MiB vars, or the reverse,
// boots garbage or nothing), and the VM's own NVRAM copied once from that template so enrolled
// keys and boot entries persist across starts.
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "machine/machine_definition.hpp"

namespace mos::machine {

struct Firmware {
  std::filesystem::path code;           // mapped read-only
  std::filesystem::path vars_template;  // copied to the VM's NVRAM when it has none
  bool secure_boot = false;
};

// The directories searched for Debian's (and other distributions') OVMF images.
std::vector<std::filesystem::path> default_firmware_dirs();

// The definition's uefi-code/uefi-vars, or the distribution's OVMF for its secure-boot setting
// (secure boot: OVMF_CODE_4M.secboot.fd with OVMF_VARS_4M.ms.fd; otherwise OVMF_CODE_4M.fd with
// OVMF_VARS_4M.fd), found in `dirs`. Relative paths are taken from `base` (the definition's
// folder). Refuses a missing file and a pair whose sizes do not make one flash.
Result<Firmware> select_firmware(const MachineConfig& config, const std::filesystem::path& base,
                                 const std::vector<std::filesystem::path>& dirs);

// Code and vars sizes that add up to one of OVMF's flash sizes (2 or 4 MiB).
bool firmware_pair_matches(std::uintmax_t code_size, std::uintmax_t vars_size);

// Copies the template to `nvram` when it does not exist yet (atomically); an existing NVRAM is
// kept, but refused when its size does not match the code's.
Status prepare_nvram(const Firmware& firmware, const std::filesystem::path& nvram);

}  // namespace mos::machine
