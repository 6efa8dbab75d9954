#include "sysroot/system_history.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::sysroot;
using test::error_of;
using ::testing::HasSubstr;

TEST(SystemHistory, CommitsReadsAndLogs) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto git = dir->path() / "manifest.git";
  EXPECT_THAT(error_of(SystemHistory::open(git, false)), HasSubstr("no system is installed"));
  auto history = SystemHistory::open(git, true);
  ASSERT_TRUE(history) << history.error().message;
  EXPECT_FALSE(*history->head());

  auto first = history->commit({{"manifest.json", "one\n"}, {"a.json", "A"}}, "Initial commit");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*read_file(git / "a.json"), "A");
  auto second = history->commit({{"manifest.json", "two\n"}}, "Second");
  ASSERT_TRUE(second) << second.error().message;
  // The work tree follows HEAD: a.json left the system.
  EXPECT_FALSE(fs::exists(git / "a.json"));
  EXPECT_EQ(*read_file(git / "manifest.json"), "two\n");

  EXPECT_EQ(**history->head(), *second);
  auto old = history->read(*first, 1024);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->at("a.json"), "A");
  EXPECT_THAT(error_of(history->read(*first, 2)),
              HasSubstr("\"manifest.json\" is 4 bytes (limit 2)"));

  auto log = history->log();
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].commit, *second);
  EXPECT_EQ((*log)[0].message, "Second");
  EXPECT_EQ((*log)[1].commit, *first);
  EXPECT_NE((*log)[0].tree, (*log)[1].tree);

  // A lock file left by a killed writer would block the next ref update; recover() removes it.
  ASSERT_TRUE(write_file_atomic(git / ".git/refs/heads/master.lock", "junk"));
  EXPECT_THAT(error_of(history->commit({{"manifest.json", "three\n"}}, "Third")),
              HasSubstr("master.lock"));
  ASSERT_TRUE(write_file_atomic(git / "manifest.json", "edited by hand"));
  ASSERT_TRUE(history->recover());
  EXPECT_EQ(*read_file(git / "manifest.json"), "two\n");
  EXPECT_TRUE(history->commit({{"manifest.json", "three\n"}}, "Third"));

  // Reopening sees the same history.
  auto again = SystemHistory::open(git, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->log()->size(), 3u);
}
