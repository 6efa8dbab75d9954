#include "boot/elf_dependencies.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "core/file.hpp"
#include "core/text.hpp"
#include "core/unique_fd.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

// Only the headers, the interpreter's name, the dynamic section and its strings are read
// (pread at their offsets), never a library's code: a bootkit build looks at ~150 of them.
constexpr std::uint64_t kMaxDynamicBytes = 1u << 20;
constexpr std::uint64_t kMaxDynamicStrings = 16u << 20;

struct ElfInfo {
  unsigned char elf_class = 0;
  std::uint16_t machine = 0;
  std::string interpreter;
  std::vector<std::string> needed;
  std::vector<std::string> rpath;    // DT_RPATH, split at ':'
  std::vector<std::string> runpath;  // DT_RUNPATH, split at ':'
};

std::vector<std::string> split_path_list(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    auto colon = text.find(':');
    if (!text.substr(0, colon).empty()) out.emplace_back(text.substr(0, colon));
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  return out;
}

// Only the first bytes: is it an ELF file of this class and machine at all?
std::optional<std::pair<unsigned char, std::uint16_t>> elf_identity(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  Elf64_Ehdr header;
  auto got = ::pread(fd, &header, sizeof header, 0);
  ::close(fd);
  if (got < static_cast<ssize_t>(EI_NIDENT + 4) || std::memcmp(header.e_ident, ELFMAG, SELFMAG))
    return std::nullopt;
  if (header.e_ident[EI_CLASS] != ELFCLASS64) return std::pair{header.e_ident[EI_CLASS], 0};
  if (got != sizeof header) return std::nullopt;
  return std::pair{header.e_ident[EI_CLASS], header.e_machine};
}

// An open ELF file, read at offsets checked against its size.
class ElfFile {
 public:
  static Result<ElfFile> open(const fs::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open {}: {}", file.string(), errno_message(errno));
    UniqueFd owned(fd);
    struct stat st{};
    if (::fstat(fd, &st) != 0)
      return fail("cannot stat {}: {}", file.string(), errno_message(errno));
    if (!S_ISREG(st.st_mode)) return fail("{} is not a regular file", file.string());
    return ElfFile(file, std::move(owned), static_cast<std::uint64_t>(st.st_size));
  }
  bool in_file(std::uint64_t offset, std::uint64_t size) const {
    return offset <= size_ && size <= size_ - offset;
  }
  // size bytes at offset into out (which must hold them); the caller checked in_file.
  Status read(std::uint64_t offset, std::uint64_t size, void* out) const {
    auto* to = static_cast<char*>(out);
    while (size > 0) {
      ssize_t n = ::pread(fd_.get(), to, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("cannot read {}: {}", path_.string(), errno_message(errno));
      if (n == 0) return fail("{} ended while it was read", path_.string());
      to += n;
      offset += static_cast<std::uint64_t>(n);
      size -= static_cast<std::uint64_t>(n);
    }
    return {};
  }
  Result<std::string> read_string(std::uint64_t offset, std::uint64_t size) const {
    std::string out(size, '\0');
    MOS_TRY(read(offset, size, out.data()));
    return out;
  }

 private:
  ElfFile(fs::path path, UniqueFd fd, std::uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}
  fs::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
};

Result<ElfInfo> read_elf(const fs::path& file) {
  MOS_TRY_ASSIGN(ElfFile elf, ElfFile::open(file));
  auto bad = [&](std::string_view why) {
    return fail("{} {} (expected a 64-bit little-endian ELF program or library)", file.string(),
                why);
  };
  Elf64_Ehdr header;
  if (!elf.in_file(0, sizeof header)) return bad("is not an ELF file");
  MOS_TRY(elf.read(0, sizeof header, &header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) return bad("is not an ELF file");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    return bad("is not a 64-bit little-endian ELF file");
  if (header.e_phentsize != sizeof(Elf64_Phdr) ||
      !elf.in_file(header.e_phoff, std::uint64_t{header.e_phnum} * sizeof(Elf64_Phdr)))
    return bad("has a damaged program header table");
  ElfInfo info;
  info.elf_class = ELFCLASS64;
  info.machine = header.e_machine;
  std::vector<Elf64_Phdr> segments(header.e_phnum);
  if (header.e_phnum)
    MOS_TRY(elf.read(header.e_phoff, header.e_phnum * sizeof(Elf64_Phdr), segments.data()));
  // A virtual address of the loaded image as an offset in the file, through the PT_LOAD that
  // maps it.
  auto file_offset = [&](std::uint64_t address) -> std::optional<std::uint64_t> {
    for (const auto& s : segments)
      if (s.p_type == PT_LOAD && address >= s.p_vaddr && address - s.p_vaddr < s.p_filesz)
        return s.p_offset + (address - s.p_vaddr);
    return std::nullopt;
  };
  const Elf64_Phdr* dynamic = nullptr;
  for (const auto& s : segments) {
    if (s.p_type == PT_INTERP) {
      if (!elf.in_file(s.p_offset, s.p_filesz) || s.p_filesz > PATH_MAX)
        return bad("has a PT_INTERP outside the file");
      MOS_TRY_ASSIGN(std::string text, elf.read_string(s.p_offset, s.p_filesz));
      info.interpreter = text.substr(0, text.find('\0'));
    } else if (s.p_type == PT_DYNAMIC) {
      dynamic = &s;
    }
  }
  if (!dynamic) return info;
  if (!elf.in_file(dynamic->p_offset, dynamic->p_filesz) || dynamic->p_filesz > kMaxDynamicBytes)
    return bad("has a PT_DYNAMIC outside the file");
  std::vector<Elf64_Dyn> entries(dynamic->p_filesz / sizeof(Elf64_Dyn));
  if (!entries.empty())
    MOS_TRY(elf.read(dynamic->p_offset, entries.size() * sizeof(Elf64_Dyn), entries.data()));
  std::optional<std::uint64_t> strtab;
  std::uint64_t strsz = 0;
  for (const auto& entry : entries) {
    if (entry.d_tag == DT_NULL) break;
    if (entry.d_tag == DT_STRTAB) strtab = entry.d_un.d_ptr;
    if (entry.d_tag == DT_STRSZ) strsz = entry.d_un.d_val;
  }
  if (!strtab) return bad("has a dynamic section without DT_STRTAB");
  auto strings_at = file_offset(*strtab);
  if (!strings_at || !elf.in_file(*strings_at, strsz) || strsz > kMaxDynamicStrings)
    return bad("has a DT_STRTAB outside its loaded segments");
  MOS_TRY_ASSIGN(std::string string_table, elf.read_string(*strings_at, strsz));
  std::string_view strings(string_table);
  for (const auto& entry : entries) {
    if (entry.d_tag == DT_NULL) break;
    if (entry.d_tag != DT_NEEDED && entry.d_tag != DT_RPATH && entry.d_tag != DT_RUNPATH) continue;
    if (entry.d_un.d_val >= strings.size()) return bad("has a dynamic string outside DT_STRTAB");
    std::string_view text = strings.substr(entry.d_un.d_val);
    auto end = text.find('\0');
    if (end == std::string_view::npos) return bad("has an unterminated dynamic string");
    text = text.substr(0, end);
    if (entry.d_tag == DT_NEEDED) info.needed.emplace_back(text);
    if (entry.d_tag == DT_RPATH) info.rpath = split_path_list(text);
    if (entry.d_tag == DT_RUNPATH) info.runpath = split_path_list(text);
  }
  return info;
}

// $ORIGIN is the directory of the object (as opened, like the loader's l_origin); entries with
// other dynamic string tokens ($LIB, $PLATFORM) are dropped: their expansion is the loader's.
std::vector<fs::path> expand_origin(const std::vector<std::string>& dirs, const fs::path& object) {
  std::vector<fs::path> out;
  std::string origin = object.parent_path().string();
  for (std::string dir : dirs) {
    for (std::string_view token : {"${ORIGIN}", "$ORIGIN"})
      for (auto at = dir.find(token); at != std::string::npos; at = dir.find(token))
        dir.replace(at, token.size(), origin);
    if (dir.find('$') != std::string::npos) continue;
    out.emplace_back(dir);
  }
  return out;
}

bool is_debug_section(std::string_view name) {
  for (std::string_view prefix :
       {".debug", ".zdebug", ".stab", ".gnu.debuglto_", ".line", ".gnu.linkonce.wi."})
    if (name.starts_with(prefix)) return true;
  return false;
}

}  // namespace

Result<bool> elf_has_debug_sections(const fs::path& file) {
  MOS_TRY_ASSIGN(ElfFile elf, ElfFile::open(file));
  Elf64_Ehdr header;
  if (!elf.in_file(0, sizeof header)) return false;
  MOS_TRY(elf.read(0, sizeof header, &header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64)
    return false;
  auto damaged = [&] {
    return fail("{} has a damaged section header table (expected a 64-bit ELF file)",
                file.string());
  };
  if (header.e_shnum == 0) return false;
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shstrndx >= header.e_shnum ||
      !elf.in_file(header.e_shoff, std::uint64_t{header.e_shnum} * sizeof(Elf64_Shdr)))
    return damaged();
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  MOS_TRY(elf.read(header.e_shoff, header.e_shnum * sizeof(Elf64_Shdr), sections.data()));
  const auto& names = sections[header.e_shstrndx];
  if (!elf.in_file(names.sh_offset, names.sh_size) || names.sh_size > kMaxDynamicStrings)
    return damaged();
  MOS_TRY_ASSIGN(std::string name_table, elf.read_string(names.sh_offset, names.sh_size));
  for (const auto& section : sections) {
    if (section.sh_name >= name_table.size()) return damaged();
    if (is_debug_section(name_table.c_str() + section.sh_name)) return true;
  }
  return false;
}

std::vector<fs::path> default_library_dirs() {
  std::vector<fs::path> dirs;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& dir) {
    if (dir.is_absolute() && seen.insert(dir.lexically_normal()).second)
      dirs.push_back(dir.lexically_normal());
  };
  std::vector<fs::path> conf_files;
  std::error_code ec;
  for (fs::directory_iterator it("/etc/ld.so.conf.d", ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".conf") conf_files.push_back(it->path());
  std::sort(conf_files.begin(), conf_files.end());
  for (const auto& conf : conf_files) {
    auto text = read_file(conf, 1 << 20);
    if (!text) continue;  // an unreadable file adds nothing, as for ldconfig
    for_each_line(*text, [&](std::string_view line) {
      line = line.substr(0, line.find('#'));
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
        line.remove_prefix(1);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.remove_suffix(1);
      if (line.empty() || line.starts_with("include")) return;
      add(fs::path(std::string(line)));
    });
  }
  for (const char* dir : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
                          "/usr/lib64", "/lib", "/usr/lib"})
    add(dir);
  return dirs;
}

Result<ElfDependencies> elf_dependencies(const fs::path& program,
                                         const std::vector<fs::path>& search_dirs) {
  MOS_TRY_ASSIGN(ElfInfo main, read_elf(program));
  ElfDependencies result;
  result.interpreter = main.interpreter;
  std::map<fs::path, ElfLibrary> by_file;
  std::deque<std::pair<fs::path, ElfInfo>> pending;  // objects whose DT_NEEDED is still to follow

  auto add_library = [&](const fs::path& looked_up_as, bool interpreter) -> Result<bool> {
    std::error_code ec;
    fs::path file = fs::canonical(looked_up_as, ec);
    if (ec) return fail("cannot resolve {}: {}", looked_up_as.string(), ec.message());
    auto [it, added] = by_file.try_emplace(file, ElfLibrary{file, {}, interpreter});
    auto& paths = it->second.looked_up_as;
    if (std::find(paths.begin(), paths.end(), looked_up_as) == paths.end())
      paths.push_back(looked_up_as);
    it->second.interpreter = it->second.interpreter || interpreter;
    return added;
  };

  if (!main.interpreter.empty()) {
    fs::path interpreter(main.interpreter);
    std::error_code ec;
    if (!interpreter.is_absolute() || !fs::is_regular_file(interpreter, ec))
      return fail("{} needs the dynamic loader {}, which is not on this machine", program.string(),
                  main.interpreter);
    MOS_TRY_ASSIGN(bool added, add_library(interpreter, true));
    if (added) {
      auto info = read_elf(interpreter);
      if (!info) return context("reading the dynamic loader of " + program.string(), info.error());
      pending.emplace_back(interpreter, std::move(*info));
    }
  }
  // The loader takes the main program's $ORIGIN from its real path (/proc/self/exe).
  std::error_code canonical_ec;
  fs::path real_program = fs::canonical(program, canonical_ec);
  pending.emplace_front(canonical_ec ? program : real_program, std::move(main));

  while (!pending.empty()) {
    auto [object, info] = std::move(pending.front());
    pending.pop_front();
    std::vector<fs::path> dirs;
    if (info.runpath.empty()) dirs = expand_origin(info.rpath, object);
    for (auto& dir : expand_origin(info.runpath, object)) dirs.push_back(std::move(dir));
    dirs.insert(dirs.end(), search_dirs.begin(), search_dirs.end());
    for (const auto& name : info.needed) {
      std::optional<fs::path> found;
      if (name.find('/') != std::string::npos) {
        // A path is taken as it is, but only a regular file: a device or a FIFO named by a
        // crafted program must not be read (or block the build).
        std::error_code ec;
        if (fs::is_regular_file(name, ec)) found = fs::path(name);
      } else {
        for (const auto& dir : dirs) {
          fs::path candidate = dir / name;
          std::error_code ec;
          if (!fs::is_regular_file(candidate, ec)) continue;
          auto identity = elf_identity(candidate);
          if (identity && identity->first == info.elf_class && identity->second == info.machine) {
            found = candidate.lexically_normal();
            break;
          }
        }
      }
      if (!found)
        return fail("{} needs {}, which is in none of the library directories ({} searched)",
                    object.string(), name, dirs.size());
      MOS_TRY_ASSIGN(bool added, add_library(*found, false));
      if (!added) continue;
      auto needed_info = read_elf(*found);
      if (!needed_info)
        return context("reading what " + object.string() + " needs", needed_info.error());
      pending.emplace_back(*found, std::move(*needed_info));
    }
  }
  for (auto& [file, library] : by_file) {
    std::sort(library.looked_up_as.begin(), library.looked_up_as.end());
    result.libraries.push_back(std::move(library));
  }
  return result;
}

}  // namespace mos::boot
