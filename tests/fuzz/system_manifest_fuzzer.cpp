// libFuzzer target: the system manifest (config/manifest.git/manifest.json, the one unsigned file
// of a target) and the version and time strings anti-rollback orders.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sysroot/system_manifest.hpp"
#include "sysroot/version_order.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto m = mos::sysroot::parse_system_manifest(bytes)) {
    // What parses must encode to something that parses back to the same value.
    auto again = mos::sysroot::parse_system_manifest(mos::sysroot::encode_system_manifest(*m));
    if (!again || !(*again == *m)) __builtin_trap();
  }
  if (size < 256) {
    auto v = mos::sysroot::parse_version(bytes);
    if (v && mos::sysroot::compare_versions(*v, *v) != 0) __builtin_trap();
    (void)mos::sysroot::parse_rfc3339(bytes);
  }
  return 0;
}
