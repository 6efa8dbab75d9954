#pragma once
// The shared libraries an ELF program needs, found as glibc's dynamic loader finds them, so that
// the initramfs can hold a program with exactly what it runs with. Our own reader of the ELF64
// headers (PT_INTERP, PT_DYNAMIC: DT_NEEDED, DT_RUNPATH, DT_RPATH) rather than ldd, because ldd
// runs the program's loader on the building host and cannot look at a program it cannot run.
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::boot {

struct ElfLibrary {
  std::filesystem::path file;  // the library itself, every symlink resolved: what is copied
  // The paths the loader opens it by ("/lib/x86_64-linux-gnu/libc.so.6",
  // "/lib64/ld-linux-x86-64.so.2"), sorted; they differ from `file` when reached through
  // symlinks (Debian's merged /usr), and then become symlinks to `file` in the initramfs.
  std::vector<std::filesystem::path> looked_up_as;
  bool interpreter = false;  // the program's PT_INTERP (the dynamic loader)
};

struct ElfDependencies {
  std::filesystem::path interpreter;  // PT_INTERP; empty for a static program
  std::vector<ElfLibrary> libraries;  // the closure, interpreter included, sorted by file
};

// Where libraries are looked for after an object's DT_RPATH/DT_RUNPATH, in order: the
// directories of /etc/ld.so.conf.d/*.conf (what ld.so.cache is made of; includes are not
// followed), then the standard multiarch and legacy directories. The loader's cache is not read.
std::vector<std::filesystem::path> default_library_dirs();

// The DT_NEEDED closure of `program` (a 64-bit little-endian ELF executable or library) and its
// interpreter. Each name is looked for in the needing object's DT_RPATH (when it has no
// DT_RUNPATH), its DT_RUNPATH ($ORIGIN expanded), then `search_dirs`; a file of another ELF
// class or machine is passed over, as the loader does. A library found nowhere is an error
// naming it and the object that needs it.
Result<ElfDependencies> elf_dependencies(
    const std::filesystem::path& program,
    const std::vector<std::filesystem::path>& search_dirs = default_library_dirs());

// Whether an ELF file has sections that `objcopy --strip-debug` removes (.debug_*, .zdebug_*,
// .stab*, .line, .gnu.debuglto_*): Debian's libraries and a release build have none, and need no
// pass through objcopy. A file that is not a 64-bit ELF file has none.
Result<bool> elf_has_debug_sections(const std::filesystem::path& file);

}  // namespace mos::boot
