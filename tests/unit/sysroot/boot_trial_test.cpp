#include "sysroot/boot_trial.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::sysroot;
using test::error_of;
using ::testing::HasSubstr;

TEST(BootTrial, WrittenReadAndRemoved) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  SysrootPaths paths(dir->path());
  ASSERT_TRUE(make_dirs(paths.config));
  auto none = read_boot_trial(paths);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);

  ASSERT_TRUE(write_boot_trial(paths, BootTrial{"0123abcd", 1}));
  EXPECT_EQ(*read_file(paths.config / "boot-trial.json"),
            "{\"boots\":1,\"previous\":\"0123abcd\"}\n");
  auto trial = read_boot_trial(paths);
  ASSERT_TRUE(trial && *trial);
  EXPECT_EQ((*trial)->previous, "0123abcd");
  EXPECT_EQ((*trial)->boots, 1);

  ASSERT_TRUE(remove_boot_trial(paths));
  EXPECT_FALSE(*read_boot_trial(paths));
  EXPECT_TRUE(remove_boot_trial(paths));  // nothing to remove is fine
}

TEST(BootTrial, MalformedMarkersAreErrorsNamingTheFile) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  SysrootPaths paths(dir->path());
  ASSERT_TRUE(make_dirs(paths.config));
  auto file = paths.config / "boot-trial.json";
  for (const char* text :
       {"{\"boots\":1", "[]", "{\"boots\":1}", "{\"boots\":7,\"previous\":\"a\"}",
        "{\"boots\":\"1\",\"previous\":\"a\"}"}) {
    ASSERT_TRUE(write_file_atomic(file, text));
    EXPECT_THAT(error_of(read_boot_trial(paths)), HasSubstr("boot-trial.json")) << text;
  }
}
