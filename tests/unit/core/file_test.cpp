#include "core/file.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "core/json.hpp"
#include "core/lock.hpp"

using namespace mos;

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
  int entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir->path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(File, AbandonedWriterLeavesNothing) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  {
    auto writer = AtomicFileWriter::create(dir->path() / "blob");
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->write("partial"));
  }
  EXPECT_TRUE(fs::is_empty(dir->path()));
}

TEST(File, ReadFileLimitsSize) {
  auto dir = TempDir::create();
  ASSERT_TRUE(write_file_atomic(dir->path() / "big", std::string(100, 'x')));
  auto r = read_file(dir->path() / "big", 10);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("limit"), std::string::npos);
  EXPECT_FALSE(read_file(dir->path() / "missing"));
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
  EXPECT_NE(second.error().message.find(std::to_string(::getpid())), std::string::npos)
      << second.error().message;
  first->release();
  EXPECT_TRUE(FileLock::acquire(path, FileLock::Mode::exclusive, FileLock::Wait::no_wait));
}

TEST(Json, RejectsDuplicateKeysAtAnyDepth) {
  EXPECT_TRUE(parse_json_strict(R"({"a":1,"b":{"a":2}})", "doc"));
  auto top = parse_json_strict(R"({"a":1,"a":2})", "doc");
  ASSERT_FALSE(top);
  EXPECT_NE(top.error().message.find("duplicate key \"a\""), std::string::npos);
  EXPECT_FALSE(parse_json_strict(R"({"x":[{"k":1,"k":1}]})", "doc"));
  // Same key in sibling objects is fine.
  EXPECT_TRUE(parse_json_strict(R"([{"k":1},{"k":2}])", "doc"));
}

TEST(Json, LimitsDepthAndSize) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(parse_json_strict(deep, "doc"));
  EXPECT_FALSE(parse_json_strict("{}", "doc", {.max_bytes = 1}));
  auto bad = parse_json_strict("{\"a\":", "index.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("index.json"), std::string::npos);
}
