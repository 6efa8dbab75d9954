// libFuzzer target: a boot medium's mos/boot.json, which the live system reads from the medium.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "boot/boot_media.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto action = mos::boot::parse_boot_action(text, "boot.json");
  // What parses writes back to what parses the same.
  if (action) {
    auto again = mos::boot::parse_boot_action(mos::boot::boot_action_json(*action), "again");
    if (!again || again->action != action->action || again->install_url != action->install_url ||
        again->plain_http != action->plain_http)
      __builtin_trap();
  }
  return 0;
}
