// libFuzzer target: image configs as fetched with an image (before a container is started).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/image_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto config = mos::image::parse_image_config(bytes)) {
    auto command = mos::image::command_of(*config);
    std::size_t parts = config->entrypoint.value_or(std::vector<std::string>{}).size() +
                        config->cmd.value_or(std::vector<std::string>{}).size();
    if (command.size() != parts) __builtin_trap();  // Entrypoint then Cmd, nothing lost
  }
  return 0;
}
