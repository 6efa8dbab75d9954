#include "sysroot/booted_system.hpp"

#include <sys/stat.h>

#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::sysroot;
using test::error_of;
using ::testing::HasSubstr;

namespace {
const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";
}

TEST(BootedSystem, WrittenPrivateThenTakenOnce) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto file = dir->path() / "run" / "mos" / "booted-system.json";
  // A signature is binary: every file survives byte for byte.
  BootedSystem system{kCommit,
                      {{"manifest.json", "{\"format\":1}\n"},
                       {"a.json.signed", std::string("\x30\x45\x00\xff\x80", 5)}}};
  ASSERT_TRUE(write_booted_system(file, system));
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto taken = take_booted_system(file);
  ASSERT_TRUE(taken) << taken.error().message;
  ASSERT_TRUE(*taken);
  EXPECT_EQ((*taken)->commit, kCommit);
  EXPECT_EQ((*taken)->files, system.files);
  // For one plan only: the next start of mosctl boot reads the history.
  EXPECT_FALSE(std::filesystem::exists(file));
  auto again = take_booted_system(file);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(*again);
}

TEST(BootedSystem, MalformedRecordsAreErrorsAndAreRemoved) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto file = dir->path() / "booted-system.json";
  for (const std::string& text : std::vector<std::string>{
           "", "{", "[]", "{\"files\":{}}", "{\"commit\":\"abc\",\"files\":{}}",
           "{\"commit\":\"" + kCommit + "\"}", "{\"commit\":\"" + kCommit + "\",\"files\":[]}",
           "{\"commit\":\"" + kCommit + "\",\"files\":{\"a\":1}}",
           "{\"commit\":\"" + kCommit + "\",\"files\":{\"a\":\"not base64!\"}}"}) {
    ASSERT_TRUE(write_file_atomic(file, text));
    EXPECT_THAT(error_of(take_booted_system(file)), HasSubstr("booted-system.json")) << text;
    EXPECT_FALSE(std::filesystem::exists(file)) << text;
  }
}

TEST(BootedSystem, ItsFilesMustStillMakeASystem) {
  // No manifest.json, or files that do not parse: refused, as from the history.
  EXPECT_THAT(error_of(load_booted_system(BootedSystem{kCommit, {}})),
              HasSubstr("manifest.json is missing"));
  EXPECT_THAT(error_of(load_booted_system(BootedSystem{kCommit, {{"manifest.json", "{"}}})),
              HasSubstr("system 0123456789ab"));
}
