// The services' copies read ahead at a boot: every regular file of each tree that exists, no
// link followed, up to the budget.
#include "runtime/tree_read_ahead.hpp"

#include <gtest/gtest.h>

#include "core/file.hpp"

namespace mos::runtime {
namespace {

TEST(TreeReadAhead, EveryRegularFileOfTheTreesUpToTheBudget) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto tree = dir->path() / "zot" / "tree";
  ASSERT_TRUE(make_dirs(tree / "usr" / "lib", 0755));
  ASSERT_TRUE(write_file_atomic(tree / "usr" / "program", std::string(10000, 'p')));
  ASSERT_TRUE(write_file_atomic(tree / "usr" / "lib" / "library.so", std::string(5000, 'l')));
  auto outside = dir->path() / "outside";
  ASSERT_TRUE(write_file_atomic(outside, std::string(70000, 'o')));
  fs::create_symlink(outside, tree / "link");
  fs::create_directory_symlink(dir->path(), tree / "loop");

  auto count = read_ahead_trees({tree, dir->path() / "missing" / "tree"}, 1 << 20);
  EXPECT_EQ(count.files, 2u);
  EXPECT_EQ(count.bytes, 15000u);

  count = read_ahead_trees({tree}, 12000);
  EXPECT_EQ(count.bytes, 12000u) << "the budget caps the last file";

  std::stop_source stop;
  stop.request_stop();
  EXPECT_EQ(read_ahead_trees({tree}, 1 << 20, stop.get_token()).files, 0u);
  // The thread's form returns at once and joins when it goes.
  {
    auto running = TreeReadAhead::start({tree}, 1 << 20);
  }
  {
    auto nothing = TreeReadAhead::start({dir->path() / "missing"}, 1 << 20);
  }
}

}  // namespace
}  // namespace mos::runtime
