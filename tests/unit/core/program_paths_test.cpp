// find_installed_companion / find_companion_program from this test program's own directory (the
// build's bin/, beside the project's programs), and become_program in a forked child.
#include "core/program_paths.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using ::testing::HasSubstr;

fs::path self_dir() {
  return fs::read_symlink("/proc/self/exe").parent_path();
}

TEST(FindCompanion, FindsAProgramBesideThisOne) {
  // The tests are built into bin/ with the programs.
  if (!fs::exists(self_dir() / "mosctl")) GTEST_SKIP() << "no mosctl beside this test";
  EXPECT_EQ(find_installed_companion("mosctl"), self_dir() / "mosctl");
  EXPECT_EQ(find_companion_program("mosctl"), self_dir() / "mosctl");
}

TEST(FindCompanion, FallsBackToPathOnlyWhenAsked) {
  EXPECT_TRUE(find_installed_companion("sh").empty());
  auto sh = find_companion_program("sh");
  EXPECT_FALSE(sh.empty());
  EXPECT_EQ(sh.filename(), "sh");
  EXPECT_TRUE(find_companion_program("no-such-program-of-mos").empty());
}

int exit_status_of_child_becoming(const fs::path& program) {
  pid_t pid = ::fork();
  if (pid == 0) {
    auto became = become_program(program);
    ::_exit(became ? 0 : 99);  // not reached when it became the program
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(BecomeProgram, ReplacesTheProcessOrSaysWhyNot) {
  // /bin/false exits 1 whatever its arguments (this test's own, passed on; services.bats runs
  // mosctl boot --root DIR through it).
  EXPECT_EQ(exit_status_of_child_becoming("/bin/false"), 1);
  EXPECT_EQ(exit_status_of_child_becoming("/bin/true"), 0);
  EXPECT_EQ(exit_status_of_child_becoming("/nonexistent/program"), 99);
  EXPECT_THAT(error_of(become_program("/nonexistent/program")),
              HasSubstr("cannot run /nonexistent/program"));
}

}  // namespace
}  // namespace mos
