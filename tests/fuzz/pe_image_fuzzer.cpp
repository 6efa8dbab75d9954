// libFuzzer target: EFI images (PE32+/PE32) as the boot chain reads and edits them — a shim or
// systemd stub from a package or a user's path — and the .vendor_cert table inside a shim.
//
// Every input is also fed to parse_shim_cert_table whole. An input that parses as a PE image has
// every section read, then (each on a fresh copy, since a refused edit may leave its image half
// changed) a section added and the first section with data replaced by shorter and by longer
// content; an edit that succeeds must give an image that parses again, with the new content.
// The corpus's seeds are small hand-made PE32+ images (tests/fuzz/corpus/pe_image_fuzzer).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boot/pe_image.hpp"
#include "boot/shim_vendor_cert.hpp"

namespace {

using mos::boot::PeImage;
using mos::boot::PeSection;

// The edited image parses again and `name` holds `data` (cut to its virtual size, like the
// loader maps it).
void check_edited(const PeImage& image, std::string_view name, std::string_view data) {
  auto again = PeImage::parse(image.bytes(), "edited");
  if (!again) __builtin_trap();
  if (again->sections().size() != image.sections().size()) __builtin_trap();
  auto content = again->section_data(name);
  if (!content || *content != data) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto table = mos::boot::parse_shim_cert_table(input, "fuzz")) {
    // A table that parses must serialize to one that parses back the same.
    auto again =
        mos::boot::parse_shim_cert_table(mos::boot::shim_cert_table_bytes(*table), "again");
    if (!again || again->authorized != table->authorized ||
        again->deauthorized != table->deauthorized)
      __builtin_trap();
  }
  auto image = PeImage::parse(std::string(input), "fuzz.efi");
  if (!image) return 0;
  const PeSection* with_data = nullptr;
  for (const auto& section : image->sections()) {
    if (image->find(section.name) == &section) {  // a repeated name reads the first one
      if (auto content = image->section_data(section.name))
        (void)mos::boot::parse_shim_cert_table(*content, "fuzz");
    }
    if (!with_data && section.raw_size != 0 && image->find(section.name) == &section)
      with_data = &section;
  }

  {
    const std::string added(300, 'A');
    PeImage copy = *image;
    if (copy.add_section(".fuzz", added)) {
      if (copy.sections().size() != image->sections().size() + 1) __builtin_trap();
      check_edited(copy, ".fuzz", added);
    }
  }
  if (with_data) {
    const std::uint32_t old_size = with_data->raw_size;
    const std::string shorter(old_size > 1 ? old_size / 2 : 1, 'S');
    const std::string longer(std::size_t{old_size} + 700, 'L');
    for (const std::string* content : {&shorter, &longer}) {
      PeImage copy = *image;
      if (copy.replace_section(with_data->name, *content))
        check_edited(copy, with_data->name, *content);
    }
  }
  return 0;
}
