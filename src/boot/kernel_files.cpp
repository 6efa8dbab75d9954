#include "boot/kernel_files.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "core/file.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxIndexFile = 64 << 20;
constexpr std::size_t kMaxModuleFile = 256 << 20;

// dpkg's order of non-digit characters: '~' before everything (even the end), then the end,
// then letters, then everything else.
int dpkg_char_order(char c) {
  if (c >= '0' && c <= '9') return 0;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return c;
  if (c == '~') return -1;
  if (c) return c + 256;
  return 0;
}

// dpkg's verrevcmp: alternating runs of non-digits (compared with dpkg_char_order) and digits
// (compared as numbers), so that "6.1.0-41" sorts after "6.1.0-9".
int compare_debian_versions(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    while ((i < a.size() && !is_digit(a[i])) || (j < b.size() && !is_digit(b[j]))) {
      int ac = dpkg_char_order(i < a.size() ? a[i] : '\0');
      int bc = dpkg_char_order(j < b.size() ? b[j] : '\0');
      if (ac != bc) return ac < bc ? -1 : 1;
      ++i;
      ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    while (i < a.size() && is_digit(a[i]) && j < b.size() && is_digit(b[j])) {
      if (!first_diff) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (i < a.size() && is_digit(a[i])) return 1;
    if (j < b.size() && is_digit(b[j])) return -1;
    if (first_diff) return first_diff < 0 ? -1 : 1;
  }
  return 0;
}

std::optional<fs::path> modules_dir_of(const fs::path& root, const std::string& release) {
  for (const char* base : {"lib/modules", "usr/lib/modules"}) {
    std::error_code ec;
    fs::path dir = root / base / release;
    if (fs::is_directory(dir, ec)) return dir;
  }
  return std::nullopt;
}

// The module name of a file as modules.dep and modules.builtin name it:
// "kernel/drivers/md/dm-verity.ko.xz" -> "dm_verity".
std::string module_name_of_path(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  auto dot = base.find(".ko");
  return canonical_module_name(base.substr(0, dot));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto at = text.find(separator);
    auto part = trim(text.substr(0, at));
    if (!part.empty()) out.push_back(part);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

struct ModuleIndex {
  std::map<std::string, std::string> path_of;               // name -> relative path
  std::map<std::string, std::vector<std::string>> deps_of;  // name -> dependency names
};

// The "depends=" field of a module's .modinfo section (an uncompressed ELF64 relocatable
// object), for a tree that depmod never ran on (an unpacked linux-image package has no
// modules.dep: the package's postinst makes it).
Result<std::vector<std::string>> modinfo_depends(const fs::path& file) {
  MOS_TRY_ASSIGN(std::string data, read_file(file, kMaxModuleFile));
  auto bad = [&](std::string_view why) {
    return fail("kernel module {} {} (expected an uncompressed ELF64 module)", file.string(), why);
  };
  Elf64_Ehdr header;
  if (data.size() < sizeof header || std::memcmp(data.data(), ELFMAG, SELFMAG) != 0)
    return bad("is not an ELF file");
  std::memcpy(&header, data.data(), sizeof header);
  if (header.e_ident[EI_CLASS] != ELFCLASS64) return bad("is not a 64-bit ELF file");
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shoff > data.size() ||
      (data.size() - header.e_shoff) / sizeof(Elf64_Shdr) < header.e_shnum ||
      header.e_shstrndx >= header.e_shnum)
    return bad("has a damaged section table");
  auto section = [&](std::size_t index) {
    Elf64_Shdr s;
    std::memcpy(&s, data.data() + header.e_shoff + index * sizeof s, sizeof s);
    return s;
  };
  auto contents = [&](const Elf64_Shdr& s) -> std::optional<std::string_view> {
    if (s.sh_type == SHT_NOBITS || s.sh_offset > data.size() ||
        s.sh_size > data.size() - s.sh_offset)
      return std::nullopt;
    return std::string_view(data).substr(s.sh_offset, s.sh_size);
  };
  auto names = contents(section(header.e_shstrndx));
  if (!names) return bad("has a damaged section name table");
  for (std::size_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr s = section(i);
    if (s.sh_name >= names->size()) continue;
    std::string_view name = names->substr(s.sh_name);
    name = name.substr(0, name.find('\0'));
    if (name != ".modinfo") continue;
    auto info = contents(s);
    if (!info) return bad("has a damaged .modinfo section");
    std::vector<std::string> depends;
    for (auto field : split(*info, '\0')) {
      if (!field.starts_with("depends=")) continue;
      for (auto dep : split(field.substr(8), ',')) depends.push_back(canonical_module_name(dep));
    }
    return depends;
  }
  return bad("has no .modinfo section");
}

Result<ModuleIndex> read_modules_dep(const fs::path& file) {
  MOS_TRY_ASSIGN(std::string text, read_file(file, kMaxIndexFile));
  ModuleIndex index;
  int line_number = 0;
  for (auto line : split(text, '\n')) {
    ++line_number;
    if (line.starts_with('#')) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("{} line {}: expected 'MODULE: DEPENDENCIES'", file.string(), line_number);
    std::string path(trim(line.substr(0, colon)));
    std::string name = module_name_of_path(path);
    std::vector<std::string> deps;
    for (auto dep : split(line.substr(colon + 1), ' ')) deps.push_back(module_name_of_path(dep));
    index.path_of.emplace(name, path);
    index.deps_of.emplace(name, std::move(deps));
  }
  return index;
}

// The module files of a tree without modules.dep, by name; dependencies are read on demand.
Result<ModuleIndex> scan_module_files(const fs::path& modules_dir) {
  ModuleIndex index;
  std::vector<std::string> paths;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(modules_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.find(".ko") == std::string::npos || !it->is_regular_file(ec)) continue;
    paths.push_back(fs::relative(it->path(), modules_dir).generic_string());
  }
  if (ec) return fail("cannot list the modules in {}: {}", modules_dir.string(), ec.message());
  std::sort(paths.begin(), paths.end());
  for (auto& path : paths) index.path_of.emplace(module_name_of_path(path), path);
  return index;
}

Result<std::set<std::string>> read_builtin(const fs::path& file) {
  std::set<std::string> builtin;
  std::error_code ec;
  if (!fs::exists(file, ec)) return builtin;
  MOS_TRY_ASSIGN(std::string text, read_file(file, kMaxIndexFile));
  for (auto line : split(text, '\n')) builtin.insert(module_name_of_path(line));
  return builtin;
}

}  // namespace

std::string canonical_module_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

Result<KernelFiles> find_kernel(const fs::path& root, const std::string& release) {
  std::vector<std::string> releases;
  std::error_code ec;
  for (fs::directory_iterator it(root / "boot", ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.starts_with("vmlinuz-") && name.size() > 8) releases.push_back(name.substr(8));
  }
  if (ec && ec != std::errc::no_such_file_or_directory)
    return fail("cannot list {}: {}", (root / "boot").string(), ec.message());
  std::sort(releases.begin(), releases.end(),
            [](const auto& a, const auto& b) { return compare_debian_versions(a, b) > 0; });
  for (const auto& candidate : releases) {
    if (!release.empty() && candidate != release) continue;
    auto modules_dir = modules_dir_of(root, candidate);
    if (!modules_dir) continue;
    return KernelFiles{candidate, root / "boot" / ("vmlinuz-" + candidate), *modules_dir};
  }
  if (!release.empty())
    return fail("no kernel {} in {}: expected boot/vmlinuz-{} and lib/modules/{}/", release,
                root.string(), release, release);
  return fail(
      "no kernel in {}: expected boot/vmlinuz-RELEASE and lib/modules/RELEASE/ (is a "
      "linux-image package installed or unpacked there?)",
      root.string());
}

int compare_kernel_releases(const std::string& a, const std::string& b) {
  return compare_debian_versions(a, b);
}

Result<std::vector<std::string>> module_load_order(const KernelFiles& kernel,
                                                   const std::vector<std::string>& names) {
  fs::path dep_file = kernel.modules_dir / "modules.dep";
  std::error_code ec;
  bool have_dep_file = fs::exists(dep_file, ec);
  auto index = have_dep_file ? read_modules_dep(dep_file) : scan_module_files(kernel.modules_dir);
  if (!index) return context("reading the modules of " + kernel.release, index.error());
  MOS_TRY_ASSIGN(auto builtin, read_builtin(kernel.modules_dir / "modules.builtin"));

  std::vector<std::string> order;
  std::set<std::string> done;
  std::set<std::string> visiting;
  // Depth first, dependencies before the module: each is loaded after all it needs.
  auto visit = [&](auto& self, const std::string& name, const std::string& wanted_by) -> Status {
    if (done.contains(name)) return {};
    auto path = index->path_of.find(name);
    if (path == index->path_of.end()) {
      if (builtin.contains(name)) return {};
      if (wanted_by.empty())
        return fail("kernel {} has no module '{}' (neither in {} nor built in)", kernel.release,
                    name, kernel.modules_dir.string());
      return fail("kernel {}: module '{}' needs '{}', which is neither a module nor built in",
                  kernel.release, wanted_by, name);
    }
    if (!visiting.insert(name).second)
      return fail("kernel {}: modules depend on each other in a cycle through '{}'", kernel.release,
                  name);
    if (!index->deps_of.contains(name)) {
      auto deps = modinfo_depends(kernel.modules_dir / path->second);
      if (!deps) return context("reading the dependencies of " + name, deps.error());
      index->deps_of.emplace(name, std::move(*deps));
    }
    // modules.dep lists the dependencies that load last first (modprobe walks it backwards).
    const auto& deps = index->deps_of.at(name);
    for (auto dep = deps.rbegin(); dep != deps.rend(); ++dep) MOS_TRY(self(self, *dep, name));
    visiting.erase(name);
    done.insert(name);
    order.push_back(path->second);
    return {};
  };
  for (const auto& name : names) MOS_TRY(visit(visit, canonical_module_name(name), {}));
  return order;
}

}  // namespace mos::boot
