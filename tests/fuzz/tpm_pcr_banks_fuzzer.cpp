// Fuzzes the reader of swtpm's answers that the VM's TPM relay rewrites (TPM2_GetCapability of
// the PCR allocation): whatever it rewrites must be a whole frame listing only active banks.
#include <cstddef>
#include <cstdint>
#include <span>

#include "machine/tpm_pcr_banks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  (void)mos::machine::asks_pcr_allocation(bytes);
  if (auto answer = mos::machine::with_active_pcr_banks_only(bytes)) {
    if (mos::machine::tpm_frame_size(*answer) != answer->size() || answer->size() > size)
      __builtin_trap();
    // Rewriting again changes nothing.
    if (mos::machine::with_active_pcr_banks_only(*answer) != answer) __builtin_trap();
  }
  return 0;
}
