// Layers as overlayfs directories: unpacking (unsquashfs, GNU tar), whiteout conversion, and the
// tidying of a build container's upper directory.
#include "stacker/layer_tree.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/file.hpp"
#include "core/process.hpp"
#include "image/layer_format.hpp"
#include "stacker/user_namespace.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::size_t kToolOutput = 64 * 1024;

std::string_view overlay_prefix() {
  return overlay_marks_in_user_xattrs() ? "user.overlay." : "trusted.overlay.";
}

// Asked for every directory of a tree walk: a constant, not a string built each time.
const char* opaque_xattr() {
  return overlay_marks_in_user_xattrs() ? "user.overlay.opaque" : "trusted.overlay.opaque";
}

Status make_whiteout(const fs::path& path) {
  if (::mknod(path.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0 && errno != EEXIST)
    return fail("making the whiteout {}: {}", path.string(), errno_message(errno));
  return {};
}

Status set_opaque(const fs::path& dir) {
  if (::lsetxattr(dir.c_str(), opaque_xattr(), "y", 1, 0) != 0)
    return fail("marking {} opaque: {}", dir.string(), errno_message(errno));
  return {};
}

}  // namespace

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque_dir(const fs::path& dir) {
  char value[2] = {};
  ssize_t n = ::lgetxattr(dir.c_str(), opaque_xattr(), value, sizeof value);
  return n == 1 && value[0] == 'y';
}

bool overlay_marks_in_user_xattrs() {
  static const bool user = in_user_namespace();
  return user;
}

namespace {

// The entry `relative` as the lowers show it (top first): its stat, or nothing when a lower hides
// it (a whiteout, an opaque parent) or none has it.
std::optional<struct stat> lower_entry(const std::vector<fs::path>& lowers,
                                       const fs::path& relative) {
  for (const auto& lower : lowers) {
    struct stat st{};
    if (::lstat((lower / relative).c_str(), &st) == 0) {
      if (is_whiteout(st)) return std::nullopt;
      return st;
    }
    if (is_opaque_dir(lower / relative.parent_path())) return std::nullopt;
  }
  return std::nullopt;
}

// overlayfs's attributes other than opaque (origin, impure, redirect...) describe this host's
// upper, not the layer.
Status strip_overlay_xattrs(const fs::path& path) {
  std::vector<char> names(64 * 1024);
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n <= 0) return {};
  for (ssize_t i = 0; i < n;) {
    std::string name(&names[static_cast<std::size_t>(i)]);
    i += static_cast<ssize_t>(name.size()) + 1;
    if (name.starts_with(overlay_prefix()) && name != std::string_view(opaque_xattr()) &&
        ::lremovexattr(path.c_str(), name.c_str()) != 0)
      return fail("removing {} from {}: {}", name, path.string(), errno_message(errno));
  }
  return {};
}

// The names the layers `lowers` (top first) show in the directory `relative`.
Result<std::vector<std::string>> names_below(const std::vector<fs::path>& lowers,
                                             const fs::path& relative) {
  std::vector<std::string> seen, visible;
  for (const auto& lower : lowers) {
    fs::path dir = lower / relative;
    struct stat st{};
    if (::lstat(dir.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) break;  // a whiteout or a file hides every layer below
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      struct stat child{};
      if (::lstat(entry.path().c_str(), &child) == 0 && !is_whiteout(child))
        visible.push_back(name);
    }
    if (ec) return fail("reading {}: {}", dir.string(), ec.message());
    if (is_opaque_dir(dir)) break;
  }
  return visible;
}

// In a user namespace the opaque mark is user.overlay.opaque, which stacker's squashfs readers and
// a host's root overlay ignore: each opaque directory of the upper instead gets whiteouts of the
// names the layers below show there, which hides the same entries from whoever stacks this layer
// on them.
Status replace_opaque_dirs(const fs::path& upper, const std::vector<fs::path>& lowers) {
  std::vector<fs::path> opaque;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(upper, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec) && is_opaque_dir(it->path()))
      opaque.push_back(it->path());
  if (ec) return fail("walking {}: {}", upper.string(), ec.message());
  for (const auto& dir : opaque) {
    MOS_TRY_ASSIGN(auto names, names_below(lowers, dir.lexically_relative(upper)));
    for (const auto& name : names) {
      struct stat st{};
      if (::lstat((dir / name).c_str(), &st) != 0) MOS_TRY(make_whiteout(dir / name));
    }
    if (::lremovexattr(dir.c_str(), opaque_xattr()) != 0)
      return fail("removing {} from {}: {}", opaque_xattr(), dir.string(), errno_message(errno));
  }
  return {};
}

}  // namespace

Status convert_tar_whiteouts(const fs::path& dir) {
  std::vector<fs::path> markers;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename().string().starts_with(kWhiteoutPrefix)) markers.push_back(it->path());
  }
  if (ec) return fail("walking {}: {}", dir.string(), ec.message());
  for (const auto& marker : markers) {
    std::string name = marker.filename().string();
    if (::unlink(marker.c_str()) != 0)
      return fail("removing {}: {}", marker.string(), errno_message(errno));
    if (name == kOpaqueMarker) {
      MOS_TRY(set_opaque(marker.parent_path()));
    } else {
      MOS_TRY(make_whiteout(marker.parent_path() / name.substr(kWhiteoutPrefix.size())));
    }
  }
  return {};
}

Status unpack_tar_layer(const fs::path& archive, const fs::path& dest) {
  // GNU tar finds gzip and zstd compression itself when reading a file. A user namespace cannot
  // write trusted.* (tar layers mark opaque directories with files, not attributes).
  const char* exclude = overlay_marks_in_user_xattrs() ? "--xattrs-exclude=trusted.*" : "--xattrs";
  ProcessRun tar{.argv = {"tar", "-x", "-f", archive.string(), "-C", dest.string(),
                          "--numeric-owner", "--same-owner", "--same-permissions", "--xattrs",
                          "--xattrs-include=*", exclude, "--delay-directory-restore"},
                 .max_output = kToolOutput,
                 .keep_tail = true,
                 .merge_stderr = true};
  if (auto out = run_checked(tar); !out)
    return context(fmt::format("unpacking {}", archive.string()), out.error());
  return convert_tar_whiteouts(dest);
}

Result<fs::path> unpacked_layer(oci::LayoutStore& store, const oci::Descriptor& layer,
                                const fs::path& cache_dir) {
  fs::path dest = cache_dir / layer.digest.hex();
  std::error_code ec;
  if (fs::is_directory(dest, ec)) return dest;
  MOS_TRY(make_dirs(cache_dir));
  MOS_TRY_ASSIGN(auto blob, store.blob_path(layer.digest));
  MOS_TRY_ASSIGN(auto staging, TempDir::create(cache_dir, ".unpack-"));
  fs::path tree = staging.path() / "tree";
  auto filesystem = image::layer_filesystem(layer.media_type);
  if (filesystem == image::LayerFilesystem::squashfs) {
    // unsquashfs reads the superblock's size and ignores the verity data after it. In a user
    // namespace it stops at the first trusted.* it cannot write (a root build's opaque marks):
    // only user.* attributes are unpacked there (docs/stacker.md says what that loses; layers
    // built by ordinary users carry whiteouts instead).
    ProcessRun unsquash{
        .argv = {"unsquashfs", overlay_marks_in_user_xattrs() ? "-user-xattrs" : "-xattrs",
                 "-no-progress", "-quiet", "-d", tree.string(), blob.string()},
        .max_output = kToolOutput,
        .keep_tail = true,
        .merge_stderr = true};
    if (auto out = run_checked(unsquash); !out)
      return context(fmt::format("unpacking layer {}", layer.digest.str()), out.error());
  } else if (filesystem == image::LayerFilesystem::other &&
             layer.media_type.find("tar") != std::string::npos) {
    MOS_TRY(make_dirs(tree));
    MOS_TRY(unpack_tar_layer(blob, tree));
  } else {
    return fail("layer {} has media type {}, which cannot be unpacked (squashfs and tar can)",
                layer.digest.str(), layer.media_type);
  }
  if (::rename(tree.c_str(), dest.c_str()) != 0 && !fs::is_directory(dest, ec))
    return fail("moving the unpacked layer to {}: {}", dest.string(), errno_message(errno));
  return dest;
}

Result<bool> tidy_upper(const fs::path& upper, const std::vector<fs::path>& lowers,
                        const std::vector<std::string>& created) {
  std::error_code ec;
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    fs::path path = upper / fs::path(*it).relative_path();
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if ((S_ISDIR(st.st_mode) && fs::is_empty(path, ec)) || (S_ISREG(st.st_mode) && st.st_size == 0))
      fs::remove(path, ec);
  }
  // overlayfs marks the upper's root too (trusted.overlay.uuid, impure): not part of the layer.
  MOS_TRY(strip_overlay_xattrs(upper));
  if (overlay_marks_in_user_xattrs()) MOS_TRY(replace_opaque_dirs(upper, lowers));
  // Deepest first, so that a directory emptied by the pruning of its children is seen empty.
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(upper, ec); !ec && it != fs::end(it);
       it.increment(ec))
    entries.push_back(it->path());
  if (ec) return fail("walking {}: {}", upper.string(), ec.message());
  std::sort(entries.begin(), entries.end(), [](const fs::path& a, const fs::path& b) {
    return std::distance(a.begin(), a.end()) > std::distance(b.begin(), b.end());
  });
  for (const auto& path : entries) {
    MOS_TRY(strip_overlay_xattrs(path));
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (!fs::is_empty(path, ec) || is_opaque_dir(path)) continue;
    auto below = lower_entry(lowers, path.lexically_relative(upper));
    if (below && S_ISDIR(below->st_mode) && below->st_mode == st.st_mode &&
        below->st_uid == st.st_uid && below->st_gid == st.st_gid)
      fs::remove(path, ec);
  }
  return !fs::is_empty(upper, ec);
}

}  // namespace mos::stacker
