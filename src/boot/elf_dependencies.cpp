#include "boot/elf_dependencies.hpp"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "core/file.hpp"
#include "core/text.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

// Dynamic sections and their strings are near the start; bounded so that a huge library (or
// a device named as one) is never read whole just for its headers.
constexpr std::size_t kMaxElfFile = 1u << 30;

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

Result<ElfInfo> read_elf(const fs::path& file) {
  MOS_TRY_ASSIGN(std::string data, read_file(file, kMaxElfFile));
  auto bad = [&](std::string_view why) {
    return fail("{} {} (expected a 64-bit little-endian ELF program or library)", file.string(),
                why);
  };
  Elf64_Ehdr header;
  if (data.size() < sizeof header || std::memcmp(data.data(), ELFMAG, SELFMAG) != 0)
    return bad("is not an ELF file");
  std::memcpy(&header, data.data(), sizeof header);
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    return bad("is not a 64-bit little-endian ELF file");
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phoff > data.size() ||
      (data.size() - header.e_phoff) / sizeof(Elf64_Phdr) < header.e_phnum)
    return bad("has a damaged program header table");
  ElfInfo info;
  info.elf_class = ELFCLASS64;
  info.machine = header.e_machine;
  std::vector<Elf64_Phdr> segments(header.e_phnum);
  if (header.e_phnum)
    std::memcpy(segments.data(), data.data() + header.e_phoff, header.e_phnum * sizeof(Elf64_Phdr));
  auto in_file = [&](std::uint64_t offset, std::uint64_t size) {
    return offset <= data.size() && size <= data.size() - offset;
  };
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
      if (!in_file(s.p_offset, s.p_filesz)) return bad("has a PT_INTERP outside the file");
      std::string_view text(data.data() + s.p_offset, s.p_filesz);
      info.interpreter = std::string(text.substr(0, text.find('\0')));
    } else if (s.p_type == PT_DYNAMIC) {
      dynamic = &s;
    }
  }
  if (!dynamic) return info;
  if (!in_file(dynamic->p_offset, dynamic->p_filesz))
    return bad("has a PT_DYNAMIC outside the file");
  std::vector<Elf64_Dyn> entries(dynamic->p_filesz / sizeof(Elf64_Dyn));
  if (!entries.empty())
    std::memcpy(entries.data(), data.data() + dynamic->p_offset,
                entries.size() * sizeof(Elf64_Dyn));
  std::optional<std::uint64_t> strtab;
  std::uint64_t strsz = 0;
  for (const auto& entry : entries) {
    if (entry.d_tag == DT_NULL) break;
    if (entry.d_tag == DT_STRTAB) strtab = entry.d_un.d_ptr;
    if (entry.d_tag == DT_STRSZ) strsz = entry.d_un.d_val;
  }
  if (!strtab) return bad("has a dynamic section without DT_STRTAB");
  auto strings_at = file_offset(*strtab);
  if (!strings_at || !in_file(*strings_at, strsz))
    return bad("has a DT_STRTAB outside its loaded segments");
  std::string_view strings(data.data() + *strings_at, strsz);
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

}  // namespace

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
