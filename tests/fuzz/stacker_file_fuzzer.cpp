// libFuzzer target: stacker.yaml as users write it, through the substitution pass and the parse.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stacker/stacker_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  mos::stacker::Substitutions values{{"A", "1"}, {"ZOT_VERSION", "2.0.0"}};
  auto substituted = mos::stacker::substitute(text, values, "fuzz.yaml");
  if (substituted) {
    auto file = mos::stacker::parse_stacker_file(*substituted, "/fuzz/stacker.yaml");
    if (file) {
      std::vector<mos::stacker::StackerFile> files{std::move(*file)};
      (void)mos::stacker::build_order(files);
    }
  }
  (void)mos::stacker::split_shell_words(text);
  return 0;
}
