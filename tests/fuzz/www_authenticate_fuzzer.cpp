// libFuzzer target: WWW-Authenticate challenges as registries (or anything in between) send them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "oci/registry_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto challenges = mos::oci::parse_www_authenticate(text);
  if (challenges) {
    for (const auto& c : *challenges)
      if (c.scheme.empty()) __builtin_trap();  // every parsed challenge names its scheme
  }
  return 0;
}
