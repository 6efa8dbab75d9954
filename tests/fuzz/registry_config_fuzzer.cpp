// libFuzzer target: zot config files given to `mos-registry serve`.
#include <cstddef>
#include <cstdint>
#include <string>

#include "registry/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)mos::registry::parse_registry_config(text, "fuzz.json");
  (void)mos::registry::parse_go_duration(text);
  return 0;
}
