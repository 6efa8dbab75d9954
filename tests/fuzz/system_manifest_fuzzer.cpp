// libFuzzer target: the system manifest (config/manifest.git/manifest.json, the one unsigned file
// of a target) and the version and time strings anti-rollback orders.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "target/system_manifest.hpp"
#include "target/version_order.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto m = mos::target::parse_system_manifest(bytes)) {
    // What parses must encode to something that parses back to the same value.
    auto again = mos::target::parse_system_manifest(mos::target::encode_system_manifest(*m));
    if (!again || !(*again == *m)) __builtin_trap();
  }
  if (size < 256) {
    auto v = mos::target::parse_version(bytes);
    if (v && mos::target::compare_versions(*v, *v) != 0) __builtin_trap();
    (void)mos::target::parse_rfc3339(bytes);
  }
  return 0;
}
