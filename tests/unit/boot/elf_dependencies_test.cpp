// The shared-library closure of real programs, against what ldd (the loader itself) says.
#include "boot/elf_dependencies.hpp"

#include <cstdlib>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

// ldd's "name => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)" lines: the paths the
// loader opened, linux-vdso (inside the kernel) left out.
std::set<fs::path> ldd_paths(const fs::path& program) {
  auto out = run_checked(ProcessRun{.argv = {"ldd", program.string()}});
  EXPECT_TRUE(out) << out.error().message;
  std::set<fs::path> paths;
  std::string_view rest = out ? std::string_view(*out) : std::string_view{};
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
    if (line.find("linux-vdso") != std::string_view::npos) continue;
    auto arrow = line.find("=> ");
    std::string_view path = arrow == std::string_view::npos ? line : line.substr(arrow + 3);
    while (!path.empty() && (path.front() == '\t' || path.front() == ' ')) path.remove_prefix(1);
    path = path.substr(0, path.find(" ("));
    if (!path.empty()) paths.insert(fs::path(std::string(path)));
  }
  return paths;
}

void expect_same_as_ldd(const fs::path& program) {
  auto deps = elf_dependencies(program);
  ASSERT_TRUE(deps) << deps.error().message;
  auto expected = ldd_paths(program);
  ASSERT_FALSE(expected.empty());
  std::set<fs::path> ours;
  std::set<fs::path> looked_up;
  for (const auto& library : deps->libraries) {
    ours.insert(library.file);
    EXPECT_EQ(library.file, fs::canonical(library.file));
    for (const auto& path : library.looked_up_as) {
      looked_up.insert(path);
      EXPECT_EQ(fs::canonical(path), library.file) << path;
    }
  }
  std::set<fs::path> theirs;
  for (const auto& path : expected) {
    theirs.insert(fs::canonical(path));
    EXPECT_THAT(looked_up, Contains(path)) << "ldd opens " << path;
  }
  EXPECT_EQ(ours, theirs) << program;
  EXPECT_EQ(deps->interpreter, "/lib64/ld-linux-x86-64.so.2");
  std::size_t interpreters = 0;
  for (const auto& library : deps->libraries) {
    if (!library.interpreter) continue;
    ++interpreters;
    EXPECT_THAT(library.looked_up_as, Contains(fs::path("/lib64/ld-linux-x86-64.so.2")));
  }
  EXPECT_EQ(interpreters, 1u);
}

TEST(ElfDependencies, ThisTestProgramMatchesLdd) {
  expect_same_as_ldd(fs::canonical("/proc/self/exe"));
}

TEST(ElfDependencies, CurlMatchesLdd) {
  if (!fs::exists("/usr/bin/curl")) GTEST_SKIP() << "/usr/bin/curl is not installed";
  expect_same_as_ldd("/usr/bin/curl");
}

// MOS_TEST_PROGRAM: another program to compare (mosctl of a build).
TEST(ElfDependencies, GivenProgramMatchesLdd) {
  const char* program = std::getenv("MOS_TEST_PROGRAM");
  if (!program) GTEST_SKIP() << "MOS_TEST_PROGRAM is not set";
  expect_same_as_ldd(program);
}

TEST(ElfDependencies, StaticBusyboxNeedsNothing) {
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "/bin/busybox (busybox-static) is absent";
  auto deps = elf_dependencies("/bin/busybox");
  ASSERT_TRUE(deps) << deps.error().message;
  EXPECT_TRUE(deps->interpreter.empty());
  EXPECT_TRUE(deps->libraries.empty());
}

TEST(ElfDependencies, SearchDirsIncludeMultiarch) {
  auto dirs = default_library_dirs();
  EXPECT_THAT(dirs, Contains(fs::path("/lib/x86_64-linux-gnu")));
  EXPECT_THAT(dirs, Contains(fs::path("/usr/lib/x86_64-linux-gnu")));
}

TEST(ElfDependencies, NamesTheLibraryItCannotFind) {
  fs::path self = fs::canonical("/proc/self/exe");
  EXPECT_THAT(test::error_of(elf_dependencies(self, {})),
              AllOf(HasSubstr(self.string() + " needs lib"), HasSubstr(".so."),
                    HasSubstr("which is in none of the library directories")));
}

TEST(ElfDependencies, RefusesWhatIsNotAnElfProgram) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  EXPECT_THAT(test::error_of(elf_dependencies(dir->path() / "missing")), HasSubstr("missing"));
  ASSERT_TRUE(write_file_atomic(dir->path() / "script", "#!/bin/sh\necho hi\n"));
  EXPECT_THAT(test::error_of(elf_dependencies(dir->path() / "script")),
              HasSubstr("is not an ELF file"));
  // Every truncation of a real program fails cleanly (or, past the headers, still parses).
  auto whole = read_file("/bin/ls");
  ASSERT_TRUE(whole) << whole.error().message;
  for (std::size_t size : {4, 20, 64, 100, 200, 1000, 4096}) {
    ASSERT_TRUE(write_file_atomic(dir->path() / "cut", whole->substr(0, size)));
    auto result = elf_dependencies(dir->path() / "cut");
    if (!result) {
      EXPECT_THAT(result.error().message, HasSubstr("cut")) << size;
    }
  }
  // A dynamic section pointing outside the file.
  std::string damaged = *whole;
  for (std::size_t i = 64; i + 8 <= damaged.size() && i < 64 + 13 * 56; i += 56)
    damaged.replace(i + 8, 8, std::string(8, '\xff'));  // every p_offset
  ASSERT_TRUE(write_file_atomic(dir->path() / "damaged", damaged));
  EXPECT_FALSE(elf_dependencies(dir->path() / "damaged"));
}

// Only a file with debug sections goes through objcopy: a program built with -g has them, the same
// program stripped of them and Debian's libraries have none, and a file that is not ELF has none.
TEST(ElfDependencies, TellsDebugSections) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  ASSERT_TRUE(write_file_atomic(dir->path() / "hello.c", "int main(void) { return 0; }\n"));
  auto built = run_checked(ProcessRun{.argv = {"gcc", "-g", "-o", (dir->path() / "hello").string(),
                                               (dir->path() / "hello.c").string()}});
  ASSERT_TRUE(built) << built.error().message;
  auto stripped =
      run_checked(ProcessRun{.argv = {"objcopy", "--strip-debug", (dir->path() / "hello").string(),
                                      (dir->path() / "stripped").string()}});
  ASSERT_TRUE(stripped) << stripped.error().message;
  auto debug = elf_has_debug_sections(dir->path() / "hello");
  ASSERT_TRUE(debug) << debug.error().message;
  EXPECT_TRUE(*debug);
  auto none = elf_has_debug_sections(dir->path() / "stripped");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  auto libc = elf_has_debug_sections(fs::canonical("/lib/x86_64-linux-gnu/libc.so.6"));
  ASSERT_TRUE(libc) << libc.error().message;
  EXPECT_FALSE(*libc);
  auto text = elf_has_debug_sections(dir->path() / "hello.c");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_FALSE(*text);
  EXPECT_THAT(test::error_of(elf_has_debug_sections(dir->path() / "missing")),
              HasSubstr("missing"));
  // A section header table past the end of the file.
  auto whole = read_file(dir->path() / "hello");
  ASSERT_TRUE(whole) << whole.error().message;
  ASSERT_TRUE(write_file_atomic(dir->path() / "cut", whole->substr(0, whole->size() / 2)));
  EXPECT_THAT(test::error_of(elf_has_debug_sections(dir->path() / "cut")),
              HasSubstr("damaged section header table"));
}

}  // namespace
}  // namespace mos::boot
