#include "core/file.hpp"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/json.hpp"
#include "core/lock.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using test::error_of;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(File, AtomicWriteReplacesAndKeepsMode) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto path = dir->path() / "f";
  ASSERT_TRUE(write_file_atomic(path, "one", 0600));
  ASSERT_TRUE(write_file_atomic(path, "two", 0600));
  EXPECT_EQ(*read_file(path), "two");
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp files are left behind.
  EXPECT_THAT(test::dir_entries(dir->path()), ElementsAre("f"));
}

TEST(File, AbandonedWriterLeavesNothing) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  {
    auto writer = AtomicFileWriter::create(dir->path() / "blob");
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->write("partial"));
  }
  EXPECT_THAT(test::dir_entries(dir->path()), IsEmpty());
}

TEST(File, ReadFileLimitsSize) {
  auto dir = TempDir::create();
  ASSERT_TRUE(write_file_atomic(dir->path() / "big", std::string(100, 'x')));
  auto r = read_file(dir->path() / "big", 10);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("limit"));
  EXPECT_THAT(error_of(read_file(dir->path() / "missing")), HasSubstr("No such file or directory"));
}

TEST(File, ReadFileTakesAFileAtItsLimitAndFilesStatCannotSize) {
  auto dir = TempDir::create();
  std::string bytes(200000, 'y');
  bytes[199999] = 'z';
  ASSERT_TRUE(write_file_atomic(dir->path() / "exact", bytes));
  EXPECT_EQ(*read_file(dir->path() / "exact", bytes.size()), bytes);
  EXPECT_FALSE(read_file(dir->path() / "exact", bytes.size() - 1));
  // /proc files say they are empty; their bytes are read all the same, past the first guess.
  auto maps = read_file("/proc/self/maps");
  ASSERT_TRUE(maps);
  EXPECT_THAT(*maps, HasSubstr("[stack]"));
  auto limited = read_file("/proc/self/maps", 10);
  ASSERT_FALSE(limited);
  EXPECT_THAT(limited.error().message, HasSubstr("limit"));
}

TEST(File, NoReplaceCommitKeepsFirst) {
  auto dir = TempDir::create();
  auto path = dir->path() / "x";
  ASSERT_TRUE(write_file_atomic(path, "first"));
  auto writer = AtomicFileWriter::create(path);
  ASSERT_TRUE(writer->write("second"));
  ASSERT_TRUE(writer->commit(/*no_replace=*/true));
  EXPECT_EQ(*read_file(path), "first");
}

TEST(Lock, SecondExclusiveLockNamesHolder) {
  auto dir = TempDir::create();
  auto path = dir->path() / "lock";
  auto first = FileLock::acquire(path, FileLock::Mode::exclusive);
  ASSERT_TRUE(first);
  auto second = FileLock::acquire(path, FileLock::Mode::exclusive, FileLock::Wait::no_wait);
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message, HasSubstr(std::to_string(::getpid())));
  first->release();
  EXPECT_TRUE(FileLock::acquire(path, FileLock::Mode::exclusive, FileLock::Wait::no_wait));
}

TEST(Json, RejectsDuplicateKeysAtAnyDepth) {
  EXPECT_TRUE(parse_json_strict(R"({"a":1,"b":{"a":2}})", "doc"));
  auto top = parse_json_strict(R"({"a":1,"a":2})", "doc");
  ASSERT_FALSE(top);
  EXPECT_THAT(top.error().message, HasSubstr("duplicate key \"a\""));
  EXPECT_THAT(error_of(parse_json_strict(R"({"x":[{"k":1,"k":1}]})", "doc")),
              HasSubstr("duplicate key \"k\""));
  // Same key in sibling objects is fine.
  EXPECT_TRUE(parse_json_strict(R"([{"k":1},{"k":2}])", "doc"));
}

TEST(Json, LimitsDepthAndSize) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_THAT(error_of(parse_json_strict(deep, "doc")), HasSubstr("nesting deeper than"));
  EXPECT_THAT(error_of(parse_json_strict("{}", "doc", {.max_bytes = 1})),
              HasSubstr("doc is 2 bytes, more than the limit of 1 bytes"));
  auto bad = parse_json_strict("{\"a\":", "index.json");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("index.json"));
}
