#include "boot/initramfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <string_view>

#include "boot/elf_dependencies.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "core/unique_fd.hpp"
#include "tpm/cpio_archive.hpp"

namespace mos::boot {

namespace fs = std::filesystem;

void sort_archive_entries(std::vector<tpm::CpioEntry>& entries) {
  std::sort(entries.begin(), entries.end(), [](const tpm::CpioEntry& a, const tpm::CpioEntry& b) {
    std::string_view x = a.name, y = b.name;
    while (true) {
      auto xs = x.find('/'), ys = y.find('/');
      std::string_view xc = x.substr(0, xs), yc = y.substr(0, ys);
      if (xc != yc) return xc < yc;
      if (xs == std::string_view::npos || ys == std::string_view::npos)
        return xs == std::string_view::npos && ys != std::string_view::npos;
      x.remove_prefix(xs + 1);
      y.remove_prefix(ys + 1);
    }
  });
}

std::vector<tpm::CpioEntry> take_subtree(std::vector<tpm::CpioEntry>& entries,
                                         std::string_view directory) {
  std::string prefix(directory.starts_with('/') ? directory.substr(1) : directory);
  prefix += '/';
  std::vector<tpm::CpioEntry> taken, kept;
  for (auto& entry : entries) {
    if (entry.name.starts_with(prefix)) {
      entry.name.erase(0, prefix.size());
      taken.push_back(std::move(entry));
    } else {
      kept.push_back(std::move(entry));
    }
  }
  entries = std::move(kept);
  return taken;
}

namespace {

using tpm::CpioEntry;

constexpr std::size_t kMaxCopiedFile = 1u << 30;
constexpr auto kToolTimeout = std::chrono::minutes(2);

// The archive's entries by name (relative, no leading '/'), each added once.
class Tree {
 public:
  // The same path twice is fine when both are the same entry (a library two programs need);
  // two different entries at one path are an error naming what wanted each.
  Status add(CpioEntry entry, std::string_view origin) {
    MOS_TRY(add_parents(entry.name, origin));
    return put(std::move(entry), origin);
  }

  // Busybox's applet links give way to anything else at their path (a real program there).
  Status add_unless_taken(CpioEntry entry, std::string_view origin) {
    if (entries_.contains(entry.name)) return {};
    return add(std::move(entry), origin);
  }

  // In sort_archive_entries' order. The entries move out (their contents are the archive's
  // bytes: tens of MB).
  std::vector<CpioEntry> sorted() && {
    std::vector<CpioEntry> out;
    out.reserve(entries_.size());
    for (auto& [name, entry] : entries_) out.push_back(std::move(entry.entry));
    sort_archive_entries(out);
    return out;
  }

 private:
  struct Placed {
    CpioEntry entry;
    std::string origin;
  };

  static bool same(const CpioEntry& a, const CpioEntry& b) {
    return a.directory == b.directory && a.permissions == b.permissions && a.data == b.data &&
           a.link_target == b.link_target && a.char_device == b.char_device &&
           a.device_major == b.device_major && a.device_minor == b.device_minor;
  }

  Status put(CpioEntry entry, std::string_view origin) {
    auto it = entries_.find(entry.name);
    if (it == entries_.end()) {
      std::string name = entry.name;
      entries_.emplace(std::move(name), Placed{std::move(entry), std::string(origin)});
      return {};
    }
    if (same(it->second.entry, entry)) return {};
    return fail("initramfs path /{} is wanted twice with different contents: by {} and by {}",
                entry.name, it->second.origin, origin);
  }

  Status add_parents(const std::string& name, std::string_view origin) {
    for (auto slash = name.find('/'); slash != std::string::npos;
         slash = name.find('/', slash + 1)) {
      CpioEntry dir;
      dir.name = name.substr(0, slash);
      dir.directory = true;
      dir.permissions = 0755;
      MOS_TRY(put(std::move(dir), origin));
    }
    return {};
  }

  std::map<std::string, Placed> entries_;
};

// "/usr/bin/curl" -> "usr/bin/curl"; refuses what is not a plain absolute path.
Result<std::string> archive_name(const fs::path& path) {
  std::string text = path.generic_string();
  fs::path normal = path.lexically_normal();
  if (!path.is_absolute() || normal != path || text.size() < 2 || text.back() == '/' ||
      text.find("/..") != std::string::npos)
    return fail("initramfs path '{}' is not a normalised absolute path (like /etc/mos/x)", text);
  return text.substr(1);
}

CpioEntry file_entry(std::string name, std::string data, unsigned mode) {
  CpioEntry entry;
  entry.name = std::move(name);
  entry.permissions = mode;
  entry.data = std::move(data);
  return entry;
}

CpioEntry link_entry(std::string name, std::string target) {
  CpioEntry entry;
  entry.name = std::move(name);
  entry.link_target = std::move(target);
  return entry;
}

// The file's bytes without debug information (objcopy --strip-debug into a temp file, when it
// has any), or as they are.
Result<std::string> elf_contents(const fs::path& file, bool strip_debug) {
  if (strip_debug) {
    MOS_TRY_ASSIGN(strip_debug, elf_has_debug_sections(file));
  }
  if (!strip_debug) return read_file(file, kMaxCopiedFile);
  MOS_TRY_ASSIGN(TempDir temp, TempDir::create({}, "mos-strip-"));
  fs::path out = temp.path() / "stripped";
  auto stripped = run_checked(ProcessRun{
      .argv = {"objcopy", "--strip-debug", file.string(), out.string()}, .timeout = kToolTimeout});
  if (!stripped) return context("stripping " + file.string(), stripped.error());
  return read_file(out, kMaxCopiedFile);
}

// Busybox as /bin/busybox; its applet links ("bin/sh", "sbin/modprobe", "usr/bin/[", as
// `busybox --list-full` names them) are returned, to be added last where nothing else is.
Result<std::vector<CpioEntry>> add_busybox(Tree& tree, const fs::path& busybox) {
  std::error_code ec;
  if (!fs::is_regular_file(busybox, ec))
    return fail("busybox {} is missing (install busybox-static): the initramfs needs it",
                busybox.string());
  MOS_TRY_ASSIGN(std::string data, read_file(busybox, kMaxCopiedFile));
  MOS_TRY(tree.add(file_entry("bin/busybox", std::move(data), 0755), "busybox"));
  auto list =
      run_checked(ProcessRun{.argv = {busybox.string(), "--list-full"}, .timeout = kToolTimeout});
  if (!list) return context("listing the applets of " + busybox.string(), list.error());
  std::vector<CpioEntry> links;
  std::string_view rest = *list;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
    if (line.empty() || line == "bin/busybox") continue;
    MOS_TRY_ASSIGN(std::string name, archive_name(fs::path("/" + std::string(line))));
    links.push_back(link_entry(std::move(name), "/bin/busybox"));
  }
  if (links.empty()) return fail("{} --list-full lists no applets", busybox.string());
  return links;
}

// A program at `path` inside (its own path on this machine, or another for a placed program), its
// libraries at their real paths, and a symlink for every other path the loader opens one by.
Status add_program(Tree& tree, const fs::path& program, const fs::path& path, bool strip_debug) {
  std::string origin = "program " + program.string();
  MOS_TRY_ASSIGN(std::string name, archive_name(path));
  std::error_code ec;
  if (!fs::is_regular_file(program, ec))
    return fail("program {} for the initramfs is not on this machine", program.string());
  auto deps = elf_dependencies(program);
  if (!deps) return context("finding the libraries of " + program.string(), deps.error());
  MOS_TRY_ASSIGN(std::string data, elf_contents(fs::canonical(program, ec), strip_debug));
  MOS_TRY(tree.add(file_entry(name, std::move(data), 0755), origin));
  for (const auto& library : deps->libraries) {
    MOS_TRY_ASSIGN(std::string file_name, archive_name(library.file));
    MOS_TRY_ASSIGN(std::string contents, elf_contents(library.file, strip_debug));
    // The dynamic loader is executable whether this object names it as its interpreter (a
    // program) or only needs it (a library given as a program, such as a dlopen()ed TCTI).
    bool loader = library.interpreter || library.file.filename().string().starts_with("ld-linux");
    MOS_TRY(tree.add(file_entry(file_name, std::move(contents), loader ? 0755 : 0644), origin));
    for (const auto& looked_up : library.looked_up_as) {
      if (looked_up == library.file) continue;
      MOS_TRY_ASSIGN(std::string link_name, archive_name(looked_up));
      MOS_TRY(tree.add(link_entry(link_name, library.file.generic_string()), origin));
    }
  }
  return {};
}

std::string module_name_of(const std::string& relative_path) {
  std::string base = fs::path(relative_path).filename().string();
  return base.substr(0, base.find(".ko"));
}

// The kernel's modules.alias lines of the modules named in `names` (as the kernel names them:
// '_' for '-'), for busybox's modprobe to load a device's driver by its modalias.
std::string aliases_of(std::string_view modules_alias, const std::set<std::string>& names) {
  std::string kept;
  for_each_line(modules_alias, [&](std::string_view line) {
    auto space = line.rfind(' ');
    if (line.starts_with("alias ") && space != std::string_view::npos &&
        names.contains(std::string(line.substr(space + 1))))
      kept.append(line).push_back('\n');
  });
  return kept;
}

// The module files that only the modules named in `apart` need: `all` (the closure of `names`)
// less the closure of the names not apart.
Result<std::set<std::string>> modules_only_for(const KernelFiles& kernel,
                                               const std::vector<std::string>& names,
                                               const std::vector<std::string>& all,
                                               const std::vector<std::string>& apart) {
  std::set<std::string> apart_names;
  for (const auto& name : apart) apart_names.insert(canonical_module_name(name));
  std::vector<std::string> kept;
  for (const auto& name : names)
    if (!apart_names.erase(canonical_module_name(name))) kept.push_back(name);
  if (!apart_names.empty())
    return fail("module {} is to be kept apart but is not among the initramfs's modules",
                *apart_names.begin());
  std::vector<std::string> kept_order;
  if (!kept.empty()) {
    MOS_TRY_ASSIGN(kept_order, module_load_order(kernel, kept));
  }
  std::set<std::string> only(all.begin(), all.end());
  for (const auto& path : kept_order) only.erase(path);
  return only;
}

// The closure of the modules under lib/modules/RELEASE/, with a modules.dep of just those (for
// busybox's modprobe), their lines of the kernel's modules.alias (modprobe by a device's
// modalias), the kernel's modules.builtin, and lib/modules/load-order. Those spec.modules_apart
// alone need are files under spec.modules_apart_dir, linked from their places.
Status add_modules(Tree& tree, const InitramfsSpec& spec) {
  const auto& kernel = spec.kernel;
  const auto& names = spec.modules;
  if (kernel.release.empty() || kernel.modules_dir.empty())
    return fail("the initramfs wants kernel modules ({}) but no kernel was given", names.front());
  MOS_TRY_ASSIGN(auto order, module_load_order(kernel, names));
  std::set<std::string> apart;
  std::string apart_dir;
  if (!spec.modules_apart.empty()) {
    MOS_TRY_ASSIGN(apart, modules_only_for(kernel, names, order, spec.modules_apart));
    MOS_TRY_ASSIGN(apart_dir, archive_name(fs::path(spec.modules_apart_dir)));
  }
  std::string base = "lib/modules/" + kernel.release + "/";
  std::string origin = "the modules of kernel " + kernel.release;
  std::string modules_dep;
  std::string load_order;
  std::set<std::string> kernel_names;
  for (const auto& path : order) {
    std::string name = module_name_of(path);
    std::ranges::replace(name, '-', '_');
    kernel_names.insert(std::move(name));
    MOS_TRY_ASSIGN(std::string data, read_file(kernel.modules_dir / path, kMaxCopiedFile));
    if (apart.contains(path)) {
      std::string elsewhere = apart_dir + "/" + path;
      MOS_TRY(tree.add(file_entry(elsewhere, std::move(data), 0644), origin));
      MOS_TRY(tree.add(CpioEntry::symlink(base + path, "/" + elsewhere), origin));
    } else {
      MOS_TRY(tree.add(file_entry(base + path, std::move(data), 0644), origin));
    }
    // depmod's convention: the dependency loaded last comes first.
    MOS_TRY_ASSIGN(auto own_order, module_load_order(kernel, {module_name_of(path)}));
    modules_dep += path + ":";
    for (auto dep = own_order.rbegin(); dep != own_order.rend(); ++dep)
      if (*dep != path) modules_dep += " " + *dep;
    modules_dep += "\n";
    load_order += path + "\n";
  }
  MOS_TRY(tree.add(file_entry(base + "modules.dep", std::move(modules_dep), 0644), origin));
  std::error_code ec;
  if (fs::is_regular_file(kernel.modules_dir / "modules.alias", ec)) {
    MOS_TRY_ASSIGN(std::string all,
                   read_file(kernel.modules_dir / "modules.alias", kMaxCopiedFile));
    MOS_TRY(
        tree.add(file_entry(base + "modules.alias", aliases_of(all, kernel_names), 0644), origin));
  }
  if (fs::is_regular_file(kernel.modules_dir / "modules.builtin", ec)) {
    MOS_TRY_ASSIGN(std::string builtin,
                   read_file(kernel.modules_dir / "modules.builtin", kMaxCopiedFile));
    MOS_TRY(tree.add(file_entry(base + "modules.builtin", std::move(builtin), 0644), origin));
  }
  return tree.add(file_entry("lib/modules/load-order", std::move(load_order), 0644), origin);
}

}  // namespace

Result<std::vector<CpioEntry>> initramfs_entries(const InitramfsSpec& spec) {
  Tree tree;
  MOS_TRY_ASSIGN(auto applet_links, add_busybox(tree, spec.busybox));
  for (const char* dir : {"dev", "proc", "sys", "run", "tmp"}) {
    CpioEntry entry;
    entry.name = dir;
    entry.directory = true;
    entry.permissions = 0755;
    MOS_TRY(tree.add(std::move(entry), "the initramfs layout"));
  }
  CpioEntry console;  // the kernel opens it for init's stdin/stdout/stderr before any devtmpfs
  console.name = "dev/console";
  console.char_device = true;
  console.permissions = 0600;
  console.device_major = 5;
  console.device_minor = 1;
  MOS_TRY(tree.add(std::move(console), "the initramfs layout"));
  for (const auto& program : spec.programs)
    MOS_TRY(add_program(tree, program, program, spec.strip_debug));
  for (const auto& placed : spec.placed_programs)
    MOS_TRY(add_program(tree, placed.source, fs::path(placed.path), spec.strip_debug));
  if (!spec.modules.empty()) MOS_TRY(add_modules(tree, spec));
  for (const auto& file : spec.files) {
    MOS_TRY_ASSIGN(std::string name, archive_name(fs::path(file.path)));
    MOS_TRY(tree.add(file_entry(name, file.data, file.mode), "file " + file.path));
  }
  for (const auto& dir : spec.directories) {
    MOS_TRY_ASSIGN(std::string name, archive_name(fs::path(dir)));
    CpioEntry entry;
    entry.name = std::move(name);
    entry.directory = true;
    entry.permissions = 0755;
    MOS_TRY(tree.add(std::move(entry), "directory " + dir));
  }
  for (const auto& [path, target] : spec.links) {
    MOS_TRY_ASSIGN(std::string name, archive_name(fs::path(path)));
    if (target.empty()) return fail("initramfs link {} has no target", path);
    MOS_TRY(tree.add(link_entry(std::move(name), target), "link " + path));
  }
  for (auto& link : applet_links) MOS_TRY(tree.add_unless_taken(std::move(link), "busybox"));
  return std::move(tree).sorted();
}

Result<std::string> build_initramfs(const InitramfsSpec& spec) {
  MOS_TRY_ASSIGN(auto entries, initramfs_entries(spec));
  return tpm::newc_archive(entries);
}

namespace {

// A relative name of plain components: nothing that could leave the directory written to.
bool plain_relative_name(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  while (true) {
    auto slash = name.find('/');
    std::string_view component = name.substr(0, slash);
    if (component.empty() || component == "." || component == "..") return false;
    if (slash == std::string_view::npos) return true;
    name.remove_prefix(slash + 1);
  }
}

Status write_regular_file(const fs::path& path, const CpioEntry& entry) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail("creating {}: {}", path.string(), errno_message(errno));
  std::string_view rest = entry.data;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("writing {}: {}", path.string(), errno_message(errno));
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  // fchmod, not the open mode: the entry's permissions, whatever this process's umask.
  if (::fchmod(fd.get(), entry.permissions & 07777) != 0)
    return fail("setting the mode of {}: {}", path.string(), errno_message(errno));
  return {};
}

}  // namespace

Status write_entries_to_directory(const std::vector<CpioEntry>& entries, const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail("writing a tree into {}: not a directory", dir.string());
  // Only directories this call made are written into, so that no link of the tree (or anything
  // else already there) redirects a later entry.
  std::set<std::string, std::less<>> made;
  for (const auto& entry : entries) {
    if (!plain_relative_name(entry.name))
      return fail("tree entry '{}' is not a plain relative path", entry.name);
    auto slash = entry.name.rfind('/');
    if (slash != std::string::npos && !made.contains(entry.name.substr(0, slash)))
      return fail("tree entry '{}' comes before its directory (entries must list parents first)",
                  entry.name);
    fs::path path = dir / entry.name;
    if (entry.char_device) continue;  // devtmpfs provides devices on the booted system
    if (entry.directory) {
      if (::mkdir(path.c_str(), 0700) != 0)
        return fail("creating directory {}: {}", path.string(), errno_message(errno));
      if (::chmod(path.c_str(), entry.permissions & 07777) != 0)
        return fail("setting the mode of {}: {}", path.string(), errno_message(errno));
      made.insert(entry.name);
    } else if (!entry.link_target.empty()) {
      if (::symlink(entry.link_target.c_str(), path.c_str()) != 0)
        return fail("creating symbolic link {} -> {}: {}", path.string(), entry.link_target,
                    errno_message(errno));
    } else {
      MOS_TRY(write_regular_file(path, entry));
    }
  }
  return {};
}

}  // namespace mos::boot
