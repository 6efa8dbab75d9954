// libFuzzer target: manifest.yaml as users write it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "manifest/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)mos::manifest::parse_manifest_yaml(text, "fuzz.yaml");
  (void)mos::manifest::parse_size_mib(text);
  return 0;
}
