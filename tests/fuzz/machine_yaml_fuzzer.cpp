// libFuzzer target: machine.yaml as users write it (machine init/edit), and its sizes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "machine/machine_definition.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = mos::machine::parse_machine_yaml(text, "fuzz.yaml")) {
    (void)mos::machine::validate_definition(*d);
    // What parses must print as YAML that parses back to the same definition.
    auto again =
        mos::machine::parse_machine_yaml(mos::machine::machine_yaml(*d, "stopped"), "again");
    if (!again || !(*again == *d)) __builtin_trap();
  }
  if (size < 64) (void)mos::machine::parse_size(text);
  return 0;
}
