// Reading the SbatLevel a shim measures from its .sbatlevel section.
#include "tpm/shim_sbat.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

namespace mos::tpm {
namespace {

using ::testing::HasSubstr;

void put_u32(std::string& image, std::size_t offset, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) image[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}
void put_u16(std::string& image, std::size_t offset, std::uint16_t value) {
  image[offset] = static_cast<char>(value & 0xff);
  image[offset + 1] = static_cast<char>(value >> 8);
}

// A .sbatlevel section as shim's sbat_var.S lays it out.
std::string sbatlevel(std::string_view automatic, std::string_view latest) {
  std::string section(12, '\0');
  put_u32(section, 4, 8);
  put_u32(section, 8, static_cast<std::uint32_t>(8 + automatic.size() + 1));
  section += automatic;
  section += '\0';
  section += latest;
  section += '\0';
  return section;
}

// A minimal PE image: one section ".text", then `name` with `data` (a long name goes through a
// COFF string table, as GNU ld writes ".sbatlevel").
std::string pe_image(std::string_view name, std::string_view data) {
  constexpr std::size_t kPe = 0x40, kOptional = 16, kTable = kPe + 24 + kOptional;
  std::string image(0x200, '\0');
  image[0] = 'M';
  image[1] = 'Z';
  put_u32(image, 0x3c, kPe);
  image.replace(kPe, 4, std::string("PE\0\0", 4));
  put_u16(image, kPe + 4 + 2, 2);  // sections
  put_u16(image, kPe + 4 + 16, kOptional);
  image.replace(kTable, 5, ".text");
  std::size_t data_offset = 0x200;
  std::size_t header = kTable + 40;
  if (name.size() <= 8) {
    image.replace(header, name.size(), name);
  } else {
    std::size_t strings = 0x180;  // string table: u32 size, then names
    put_u32(image, kPe + 4 + 8,
            static_cast<std::uint32_t>(strings));  // symbols at 0x180, 0 of them
    image.replace(strings + 4, name.size(), name);
    image.replace(header, 2, "/4");
  }
  put_u32(image, header + 8, static_cast<std::uint32_t>(data.size()));  // virtual size
  put_u32(image, header + 16, 0x200);                                   // raw size, aligned
  put_u32(image, header + 20, static_cast<std::uint32_t>(data_offset));
  image += data;
  image.resize(0x400, '\0');
  return image;
}

TEST(ShimSbat, ReadsBothLevelsOfASection) {
  std::string image = pe_image(".sbatlevel", sbatlevel("sbat,1,2025021800\nshim,4\n",
                                                       "sbat,1,2025051000\nshim,4\ngrub,5\n"));
  auto section = pe_section(image, ".sbatlevel", "shim.efi");
  ASSERT_TRUE(section) << section.error().message;
  auto levels = parse_sbatlevel_section(*section, "shim.efi");
  ASSERT_TRUE(levels) << levels.error().message;
  EXPECT_EQ(levels->automatic, "sbat,1,2025021800\nshim,4\n");
  EXPECT_EQ(levels->latest, "sbat,1,2025051000\nshim,4\ngrub,5\n");
  EXPECT_TRUE(pe_section(pe_image(".sbat", "x"), ".sbat", "f"));
}

TEST(ShimSbat, RefusesWhatIsNotAShimSection) {
  EXPECT_THAT(test::error_of(pe_section("ELF", ".sbatlevel", "f")), HasSubstr("no MZ header"));
  EXPECT_THAT(test::error_of(pe_section(pe_image(".sbat", "x"), ".sbatlevel", "f")),
              HasSubstr("f has no .sbatlevel section"));
  std::string cut = pe_image(".sbatlevel", "xy").substr(0, 0x201);
  EXPECT_THAT(test::error_of(pe_section(cut, ".sbatlevel", "f")), HasSubstr("past the end"));
  EXPECT_THAT(test::error_of(parse_sbatlevel_section("short", "f")), HasSubstr("12-byte header"));
  std::string version = sbatlevel("sbat,1,1\n", "sbat,1,2\n");
  version[0] = 1;
  EXPECT_THAT(test::error_of(parse_sbatlevel_section(version, "f")), HasSubstr("format version 1"));
  std::string far = sbatlevel("sbat,1,1\n", "sbat,1,2\n");
  put_u32(far, 8, 4000);
  EXPECT_THAT(test::error_of(parse_sbatlevel_section(far, "f")), HasSubstr("points past"));
  std::string unterminated = sbatlevel("sbat,1,1\n", "sbat,1,2\n");
  unterminated.pop_back();
  EXPECT_THAT(test::error_of(parse_sbatlevel_section(unterminated, "f")),
              HasSubstr("no terminating NUL"));
  EXPECT_THAT(test::error_of(parse_sbatlevel_section(sbatlevel("grub,1\n", "sbat,1,2\n"), "f")),
              HasSubstr("not an SbatLevel text"));
}

TEST(ShimSbat, DebiansShim161) {
  fs::path shim = "/usr/lib/shim/shimx64.efi";  // shim-unsigned (scripts/deps.txt)
  if (!fs::exists(shim)) GTEST_SKIP() << shim << " is not installed";
  auto levels = read_shim_sbat_levels(shim);
  ASSERT_TRUE(levels) << levels.error().message;
  // vm-facts.md: shim-unsigned 16.1-2~deb12u1.
  EXPECT_EQ(levels->automatic, "sbat,1,2025021800\nshim,4\ngrub,5\n");
  EXPECT_EQ(levels->latest, "sbat,1,2025051000\nshim,4\ngrub,5\ngrub.proxmox,2\n");
}

TEST(ShimSbat, LevelChoice) {
  EXPECT_EQ(*parse_sbat_level_choice("automatic"), SbatLevelChoice::automatic);
  EXPECT_EQ(*parse_sbat_level_choice("previous"), SbatLevelChoice::automatic);
  EXPECT_EQ(*parse_sbat_level_choice("latest"), SbatLevelChoice::latest);
  EXPECT_THAT(test::error_of(parse_sbat_level_choice("newest")), HasSubstr("automatic or latest"));
}

}  // namespace
}  // namespace mos::tpm
