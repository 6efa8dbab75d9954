#pragma once
// What a VM's firmware learns of its TPM's PCR banks. OVMF measures every firmware volume, image
// and variable with each hash the TPM's PCR allocation *lists* (TPM2_GetCapability(TPM_CAP_PCRS)),
// active or not, and libtpms lists SHA-1, SHA-256, SHA-384 and SHA-512 whatever swtpm_setup
// activated. Under TCG that hashing is most of what a TPM costs a boot (~2.8 s here, half of it
// in OVMF's 32-bit PEI). The relay between qemu and swtpm (tpm_relay.hpp) therefore answers that
// query with the active banks only: the machine has a TPM with SHA-256 PCRs, and the firmware,
// systemd-stub and the kernel measure with SHA-256 alone.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace mos::machine {

// The size a TPM command or response announces in its header (tag, size, code: 10 bytes), or
// nullopt while fewer than 10 bytes are known.
std::optional<std::size_t> tpm_frame_size(std::span<const std::uint8_t> frame);

// Whether a TPM 2.0 command asks for the PCR allocation (GetCapability, TPM_CAP_PCRS).
bool asks_pcr_allocation(std::span<const std::uint8_t> command);

// The response to that query with the banks that have no PCR selected left out (sizes fixed);
// nullopt when the response is not a well-formed successful answer to it, or lists no active
// bank: the caller then passes the TPM's own answer on.
std::optional<std::vector<std::uint8_t>> with_active_pcr_banks_only(
    std::span<const std::uint8_t> response);

}  // namespace mos::machine
