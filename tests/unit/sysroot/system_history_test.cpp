#include "sysroot/system_history.hpp"

#include <gtest/gtest.h>

#include "core/file.hpp"

using namespace mos;
using namespace mos::sysroot;

TEST(SystemHistory, CommitsReadsAndLogs) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto git = dir->path() / "manifest.git";
  EXPECT_FALSE(SystemHistory::open(git, false));
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
  EXPECT_FALSE(history->read(*first, 2));  // over the limit

  auto log = history->log();
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].commit, *second);
  EXPECT_EQ((*log)[0].message, "Second");
  EXPECT_EQ((*log)[1].commit, *first);
  EXPECT_NE((*log)[0].tree, (*log)[1].tree);

  // A lock file left by a killed writer would block the next ref update; recover() removes it.
  ASSERT_TRUE(write_file_atomic(git / ".git/refs/heads/master.lock", "junk"));
  EXPECT_FALSE(history->commit({{"manifest.json", "three\n"}}, "Third"));
  ASSERT_TRUE(write_file_atomic(git / "manifest.json", "edited by hand"));
  ASSERT_TRUE(history->recover());
  EXPECT_EQ(*read_file(git / "manifest.json"), "two\n");
  EXPECT_TRUE(history->commit({{"manifest.json", "three\n"}}, "Third"));

  // Reopening sees the same history.
  auto again = SystemHistory::open(git, false);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->log()->size(), 3u);
}
