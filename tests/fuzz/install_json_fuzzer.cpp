// libFuzzer target: install.json as fetched from a registry (before its signature is checked).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = mos::manifest::parse_install_json(bytes);
  if (m) {
    auto again = mos::manifest::encode_install_json(*m);
    if (!again) __builtin_trap();  // what parses and validates must encode
  }
  return 0;
}
