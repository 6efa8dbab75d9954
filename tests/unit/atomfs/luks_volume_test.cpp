#include "atomfs/luks_volume.hpp"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::atomfs;
using test::error_of;
using ::testing::HasSubstr;

namespace {

// A volume image: LUKS2 needs room for its header (16 MiB) and some data.
std::string make_image(const TempDir& dir) {
  auto path = dir.path() / "volume.img";
  std::ofstream(path).close();
  std::filesystem::resize_file(path, 32 << 20);
  return path.string();
}

}  // namespace

TEST(LuksVolume, TheFormattingPassphraseOpensItAndNoOtherDoes) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto image = make_image(*dir);
  std::string passphrase(40, 'a');
  auto formatted = format_luks2(image, passphrase, "sbf");
  ASSERT_TRUE(formatted) << formatted.error().message;
  auto opened = check_luks_passphrase(image, passphrase);
  EXPECT_TRUE(opened) << opened.error().message;
  EXPECT_THAT(error_of(check_luks_passphrase(image, std::string(40, 'b'))),
              HasSubstr("opens no keyslot of the LUKS volume on " + image));
}

TEST(LuksVolume, WhatIsNotLuks2IsNamed) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto image = make_image(*dir);
  EXPECT_THAT(error_of(check_luks_passphrase(image, "x")),
              HasSubstr(image + " holds no LUKS2 volume"));
  EXPECT_THAT(error_of(check_luks_passphrase((dir->path() / "absent").string(), "x")),
              HasSubstr("absent"));
}
