// libFuzzer target: the ELF headers of programs put into an initramfs (PT_INTERP, PT_DYNAMIC,
// DT_NEEDED, DT_RPATH, DT_RUNPATH), read by elf_dependencies.
//
// elf_dependencies reads a file, so each input is written to one file per process
// (/tmp/mos-elf-fuzz-PID/program, removed again after each input) and its dependencies looked up
// twice: with no library directories, and with a directory whose libc.so.6 is a symlink to that
// same file, so that an input needing libc.so.6 (as the seeds do) is read again as a library,
// through a symlink, and needs itself. The corpus's seeds are small programs built for this target
// (tests/fuzz/corpus/elf_dependencies_fuzzer), not copies of Debian's binaries.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "boot/elf_dependencies.hpp"

namespace {

namespace fs = std::filesystem;

// The scratch paths of this process; made before and removed after each input, so that nothing
// is left in /tmp however libFuzzer ends the process (short of a crash).
struct Scratch {
  fs::path dir = fs::path("/tmp") / ("mos-elf-fuzz-" + std::to_string(::getpid()));
  fs::path program = dir / "program";
  fs::path library_dir = dir / "lib";
};

void check(const mos::Result<mos::boot::ElfDependencies>& found) {
  if (!found) return;
  const auto& libraries = found->libraries;
  if (!std::is_sorted(libraries.begin(), libraries.end(),
                      [](const auto& a, const auto& b) { return a.file < b.file; }))
    __builtin_trap();
  bool has_interpreter = false;
  for (const auto& library : libraries) {
    if (library.looked_up_as.empty()) __builtin_trap();
    has_interpreter = has_interpreter || library.interpreter;
  }
  if (has_interpreter != !found->interpreter.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Scratch s;
  fs::remove_all(s.dir);  // left behind by a crashed run that had this pid
  fs::create_directories(s.library_dir);
  fs::create_symlink(s.program, s.library_dir / "libc.so.6");
  {
    std::ofstream out(s.program, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) __builtin_trap();  // the harness itself failed, not the code under test
  }
  check(mos::boot::elf_dependencies(s.program, {}));
  check(mos::boot::elf_dependencies(s.program, {s.library_dir}));
  fs::remove_all(s.dir);
  return 0;
}
