#include "stacker/user_namespace.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace mos::stacker {
namespace {

TEST(SubordinateRange, FoundByNameOrId) {
  constexpr std::string_view kFile =
      "alice:100000:65536\n"
      "1002:165536:1000\n"
      "bob:231072:65536\n";
  auto alice = find_subordinate_range(kFile, "alice", 1001);
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->first, 100000u);
  EXPECT_EQ(alice->count, 65536u);
  auto by_id = find_subordinate_range(kFile, "carol", 1002);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->first, 165536u);
  EXPECT_EQ(by_id->count, 1000u);
  EXPECT_FALSE(find_subordinate_range(kFile, "dave", 1003));
}

TEST(SubordinateRange, MalformedAndEmptyLinesAreSkipped) {
  constexpr std::string_view kFile =
      "\n"
      "alice\n"
      "alice:x:65536\n"
      "alice:100000:\n"
      "alice:100000:0\n"
      ":1:2\n"
      "alice:300000:10\n";
  auto alice = find_subordinate_range(kFile, "alice", 1001);
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->first, 300000u);
  EXPECT_EQ(alice->count, 10u);
  EXPECT_FALSE(find_subordinate_range("", "alice", 1001));
  EXPECT_FALSE(find_subordinate_range("alice:1:99999999999\n", "alice", 1001));
}

TEST(UserNamespace, AChildThatUnsharesOneIsInIt) {
  bool before = in_user_namespace();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(2);
    ::_exit(in_user_namespace() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "user namespaces cannot be made here";
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(in_user_namespace(), before);  // the parent's own is unchanged
}

}  // namespace
}  // namespace mos::stacker
