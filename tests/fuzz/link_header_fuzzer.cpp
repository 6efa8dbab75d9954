// libFuzzer target: Link headers of paginated tag and referrers lists.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/registry_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto next = mos::oci::parse_next_link(text);
  if (next && *next && (*next)->empty()) __builtin_trap();  // a found target is never empty
  return 0;
}
