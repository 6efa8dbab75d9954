// libFuzzer target: the record of the system the initramfs verified and handed over
// (/run/mos/booted-system.json), which mosctl boot reads without verifying its files again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sysroot/booted_system.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto booted = mos::sysroot::parse_booted_system(bytes);
  if (!booted) return 0;
  // Whatever a record's files hold, they make a system or an error, never a crash.
  (void)mos::sysroot::load_booted_system(*booted);
  return 0;
}
