#include "atomfs/shifted_copy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::atomfs {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class ShiftedCopy : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown)";
    dir_ = fs::path(testing::TempDir()) / "shifted-copy-test";
    fs::remove_all(dir_);
    fs::create_directories(source_ / "etc");
    std::ofstream(source_ / "etc" / "passwd") << "root:x:0:0::/:/bin/sh\n";
    std::ofstream(source_ / "tool") << "set-id program";
    ASSERT_EQ(::chmod((source_ / "tool").c_str(), 04755), 0);
    ASSERT_EQ(::chown((source_ / "tool").c_str(), 33, 34), 0);
    ASSERT_EQ(::chmod((source_ / "tool").c_str(), 04755), 0);
    fs::create_symlink("etc/passwd", source_ / "link");
  }
  static struct stat stat_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
  }
  fs::path dir_;
  fs::path source_ = fs::path(testing::TempDir()) / "shifted-copy-test" / "source";
};

TEST_F(ShiftedCopy, MovesEveryOwnerUpAndKeepsSetIdBits) {
  auto tree = shifted_copy(source_, dir_ / "cache", "sha256:one", IdShift{100000, 65536});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(stat_of(*tree).st_uid, 100000u);
  EXPECT_EQ(stat_of(*tree / "etc" / "passwd").st_uid, 100000u);
  EXPECT_EQ(stat_of(*tree / "link").st_uid, 100000u);
  EXPECT_TRUE(S_ISLNK(stat_of(*tree / "link").st_mode));
  auto tool = stat_of(*tree / "tool");
  EXPECT_EQ(tool.st_uid, 100033u);
  EXPECT_EQ(tool.st_gid, 100034u);
  EXPECT_EQ(tool.st_mode & 07777, 04755u);
  // The source is untouched.
  EXPECT_EQ(stat_of(source_ / "tool").st_uid, 33u);
}

TEST_F(ShiftedCopy, IsMadeOncePerKeyAndShift) {
  auto first = shifted_copy(source_, dir_ / "cache", "sha256:one", IdShift{100000, 65536});
  ASSERT_TRUE(first);
  std::ofstream(*first / "marker") << "kept";
  auto again = shifted_copy(source_, dir_ / "cache", "sha256:one", IdShift{100000, 65536});
  ASSERT_TRUE(again);
  EXPECT_TRUE(fs::exists(*again / "marker"));  // reused, not copied again
  auto other = shifted_copy(source_, dir_ / "cache", "sha256:two", IdShift{100000, 65536});
  ASSERT_TRUE(other);
  EXPECT_FALSE(fs::exists(*other / "marker"));  // another image: a fresh copy
  auto moved = shifted_copy(source_, dir_ / "cache", "sha256:two", IdShift{200000, 65536});
  ASSERT_TRUE(moved);
  EXPECT_EQ(stat_of(*moved / "etc").st_uid, 200000u);
  EXPECT_FALSE(fs::exists(dir_ / "cache" / "tree.new"));
}

TEST_F(ShiftedCopy, RefusesOwnersOutsideTheRange) {
  ASSERT_EQ(::chown((source_ / "etc" / "passwd").c_str(), 70000, 0), 0);
  auto tree = shifted_copy(source_, dir_ / "cache", "sha256:one", IdShift{100000, 65536});
  EXPECT_THAT(test::error_of(tree), HasSubstr("outside the range"));
  EXPECT_FALSE(fs::exists(dir_ / "cache" / "tree"));
}

}  // namespace
}  // namespace mos::atomfs
