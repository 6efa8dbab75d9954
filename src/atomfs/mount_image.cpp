// atomfs mounting and unmounting (see mount_image.hpp).
#include "atomfs/mount_image.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include <spdlog/spdlog.h>

#include "atomfs/loop_device.hpp"
#include "atomfs/shifted_copy.hpp"
#include "atomfs/verity_device.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "core/lock.hpp"
#include "image/layer_format.hpp"
#include "image/verity.hpp"
#include "oci/media_types.hpp"

namespace mos::atomfs {
namespace {

namespace fs = std::filesystem;
using image::LayerFilesystem;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

fs::path metadir_for(const fs::path& run_dir, const fs::path& dest) {
  // A digest of the path, not a mangled copy of it: "/a-b" and "/a/b" must not collide.
  return run_dir / oci::digest_of(dest.string()).hex().substr(0, 24);
}

Result<fs::path> canonical_dest(const fs::path& dest) {
  std::error_code ec;
  fs::path p = fs::canonical(dest, ec);
  if (ec) return fail("{}: {}", dest.string(), ec.message());
  if (!fs::is_directory(p, ec)) return fail("{} is not a directory", dest.string());
  return p;
}

// Overlay options separate paths with ':' and ','; such paths cannot be given safely.
Status overlay_safe(const fs::path& p) {
  if (p.string().find_first_of(":,\\") != std::string::npos)
    return fail("{}: paths with ':', ',' or '\\' cannot be used in an overlay mount", p.string());
  return {};
}

Status mount_overlay(const fs::path& dest, const std::string& dirs, bool read_only) {
  // As new atomfs: userxattr honours stacker's user.overlay.opaque; older kernels lack it.
  for (const char* extra : {"index=off,xino=on,userxattr,", "index=off,"}) {
    std::string options = extra + dirs;
    if (options.size() >= 4096)
      return fail("too many layers: overlay options exceed 4096 characters");
    if (::mount("overlay", dest.c_str(), "overlay", read_only ? MS_RDONLY : 0, options.c_str()) ==
        0)
      return {};
    if (errno != EINVAL)
      return fail("mounting the overlay at {}: {}", dest.string(), errno_message(errno));
  }
  return fail("mounting the overlay at {}: {}", dest.string(), errno_message(errno));
}

Status unmount_if_mounted(const fs::path& p) {
  MOS_TRY_ASSIGN(bool mounted, is_mount_point(p));
  if (!mounted) return {};
  if (::umount2(p.c_str(), UMOUNT_NOFOLLOW) != 0)
    return fail("unmounting {}: {}", p.string(), errno_message(errno));
  return {};
}

// Undoes a partial mount or a complete one: overlay first, then the layers, then the metadir.
Status tear_down(const fs::path& dest, bool overlay_mounted, const std::vector<fs::path>& layers,
                 const fs::path& metadir) {
  if (overlay_mounted) MOS_TRY(unmount_if_mounted(dest));
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) MOS_TRY(unmount_if_mounted(*it));
  std::error_code ec;
  fs::remove_all(metadir, ec);
  if (ec) return fail("removing {}: {}", metadir.string(), ec.message());
  return {};
}

std::string decode_mountinfo_path(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto octal = field.substr(i + 1, 3);
      if (octal.size() == 3 &&
          std::all_of(octal.begin(), octal.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out.push_back(
            static_cast<char>((octal[0] - '0') * 64 + (octal[1] - '0') * 8 + (octal[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

Status hash_whole(int fd, const oci::Descriptor& layer) {
  oci::Hasher hasher(layer.digest.algorithm());
  std::vector<std::byte> buffer(1 << 20);
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("reading layer {}: {}", layer.digest.str(), errno_message(errno));
    if (n == 0) break;
    hasher.update(std::span(buffer.data(), static_cast<std::size_t>(n)));
    at += n;
  }
  auto got = hasher.finish();
  if (got != layer.digest)
    return fail("layer blob has digest {}, expected {}: modified", got.str(), layer.digest.str());
  return {};
}

// overlayfs lists the top-most lower first; OCI lists the bottom layer first.
std::string overlay_lowers(const std::vector<fs::path>& layers) {
  std::string lower;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    if (!lower.empty()) lower += ':';
    lower += it->string();
  }
  return lower;
}

// The image's layers merged read-only, copied once with shifted owners (shifted_copy.hpp); the
// layers are unmounted after, the copy becomes the overlay's only lower layer.
Result<fs::path> copy_shifted(MountedImage& mounted, const fs::path& metadir,
                              const fs::path& cache_dir, const IdShift& shift) {
  auto source = metadir / "source";
  MOS_TRY(make_dirs(source, 0700));
  std::string lower = overlay_lowers(mounted.layer_mounts);
  if (mounted.layer_mounts.size() == 1) {
    MOS_TRY(make_dirs(metadir / "workaround", 0700));
    lower += fmt::format(":{}", (metadir / "workaround").string());
  }
  MOS_TRY(mount_overlay(source, fmt::format("lowerdir={}", lower), true));
  auto tree = shifted_copy(source, cache_dir, mounted.manifest_digest, shift);
  MOS_TRY(unmount_if_mounted(source));
  if (!tree) return std::unexpected(tree.error());
  for (const auto& layer : mounted.layer_mounts) MOS_TRY(unmount_if_mounted(layer));
  mounted.layer_mounts.clear();
  mounted.layer_verified.clear();
  return tree;
}

// Mounts one checked layer at target, read-only: from the squashfs area of a loop device over
// the verified file, or through dm-verity over the whole blob (squashfs and tree).
Status mount_layer(int fd, const oci::Descriptor& layer, const LayerCheck& check,
                   const fs::path& target) {
  auto loop = LoopDevice::attach_read_only(fd, check.kernel_root ? 0 : check.squashfs_size);
  if (!loop) return std::unexpected(loop.error());
  std::optional<VerityDevice> verity;
  if (check.kernel_root) {
    auto device = VerityDevice::activate(loop->path(), check.squashfs_size, *check.kernel_root,
                                         verity_device_name(layer.digest.hex()));
    if (!device) return fail("layer {}: {}", layer.digest.str(), device.error().message);
    verity.emplace(std::move(*device));
  }
  const std::string& source = verity ? verity->path() : loop->path();
  if (::mount(source.c_str(), target.c_str(), "squashfs", MS_RDONLY | MS_NODEV | MS_NOSUID,
              nullptr) != 0) {
    int e = errno;
    if (verity && (e == EIO || e == EINVAL))
      return fail(
          "mounting layer {} through dm-verity: {}: the kernel found a block that does "
          "not match the layer's root hash (modified or damaged)",
          layer.digest.str(), errno_message(e));
    return fail("mounting layer {} ({}) at {}: {}", layer.digest.str(), source, target.string(),
                errno_message(e));
  }
  // From here the mount holds the devices: both go away when it is unmounted.
  if (verity) {
    if (auto released = verity->release_when_unused(); !released) {
      ::umount2(target.c_str(), UMOUNT_NOFOLLOW);  // then the destructor removes the device
      return released;
    }
  }
  return {};
}

}  // namespace

Result<LayerCheck> check_layer(int fd, const oci::Descriptor& layer, bool allow_missing_verity,
                               unsigned threads, bool for_kernel) {
  auto where = [&](Error e) {
    return context(fmt::format("layer {}", layer.digest.str()), std::move(e));
  };
  struct stat st{};
  if (::fstat(fd, &st) != 0) return where(Error{errno_message(errno)});
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (static_cast<std::int64_t>(size) != layer.size)
    return where(Error{fmt::format("blob is {} bytes, the manifest says {}", size, layer.size)});
  std::array<std::byte, image::kSquashfsSuperblockSize> head{};
  if (::pread(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()))
    return where(Error{"too short for a squashfs superblock"});
  auto sb = image::parse_squashfs_superblock(head);
  if (!sb) return where(sb.error());
  LayerCheck check;
  check.squashfs_size = sb->padded_size();
  if (check.squashfs_size > size)
    return where(
        Error{fmt::format("squashfs claims {} bytes but the blob has {}", sb->bytes_used, size)});
  auto root = image::layer_root_hash(layer);
  if (!root) return where(root.error());
  bool has_verity = size > check.squashfs_size;
  if (has_verity && *root && for_kernel) {
    check.kernel_root = **root;
    return check;
  }
  if (has_verity && *root) {
    if (auto s = image::verify_verity_fd(fd, check.squashfs_size, **root, threads); !s)
      return where(s.error());
    check.verity_verified = true;
    return check;
  }
  if (*root)
    return where(
        Error{"asked for verity (the descriptor has a root hash) but the blob has no verity data"});
  if (!allow_missing_verity) {
    return where(
        Error{has_verity ? "verity data present but no root hash annotation; refusing to mount it "
                           "unverified (--allow-missing-verity)"
                         : "has no root hash (no verity data); refusing to mount without "
                           "--allow-missing-verity"});
  }
  // Allowed without verity: at least make sure the bytes are those the manifest names.
  if (auto s = hash_whole(fd, layer); !s) return where(s.error());
  return check;
}

Result<MountedImage> mount_image(oci::LayoutStore& store, std::string_view reference,
                                 const fs::path& dest_in, const MountOptions& options) {
  MOS_TRY_ASSIGN(fs::path dest, canonical_dest(dest_in));
  MOS_TRY(overlay_safe(dest));
  MOS_TRY(make_dirs(options.run_dir, 0700));
  MOS_TRY(overlay_safe(options.run_dir));
  // Loop devices and the run dir are shared by every mount of the host.
  MOS_TRY_ASSIGN(auto lock,
                 FileLock::acquire(options.run_dir / ".lock", FileLock::Mode::exclusive));
  fs::path metadir = metadir_for(options.run_dir, dest);
  std::error_code ec;
  if (fs::exists(metadir, ec))
    return fail("{} already has a mounted image (state in {}); unmount it first", dest.string(),
                metadir.string());
  MOS_TRY_ASSIGN(auto doc, store.get_manifest(reference));
  if (!oci::media_type::is_manifest(doc.media_type))
    return fail("{}:{} is a {}, not an image manifest", store.describe(), reference,
                doc.media_type);
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  if (manifest.layers.empty()) return fail("{}:{} has no layers", store.describe(), reference);

  bool kernel = options.verity == VerityCheck::kernel ||
                (options.verity == VerityCheck::automatic && device_mapper_available());
  if (options.verity == VerityCheck::kernel && !device_mapper_available())
    return fail(
        "verification by the kernel was asked for, but device-mapper is not available "
        "here (/dev/mapper/control does not open)");
  MOS_TRY(make_dirs(metadir / "layers", 0700));
  MountedImage mounted;
  mounted.dest = dest;
  mounted.metadir = metadir;
  mounted.manifest_digest = doc.digest.str();
  bool overlay_mounted = false;
  auto fail_cleanly = [&](Error e) -> Result<MountedImage> {
    if (auto s = tear_down(dest, overlay_mounted, mounted.layer_mounts, metadir); !s)
      e.message += fmt::format("; cleaning up also failed: {}", s.error().message);
    return std::unexpected(std::move(e));
  };

  UniqueFd userns;
  if (options.id_shift) {
    auto ns = user_namespace_for(*options.id_shift);
    if (!ns) return fail_cleanly(ns.error());
    userns = std::move(*ns);
  }
  for (std::size_t i = 0; i < manifest.layers.size(); ++i) {
    const auto& layer = manifest.layers[i];
    auto filesystem = image::layer_filesystem(layer.media_type);
    if (filesystem != LayerFilesystem::squashfs)
      return fail_cleanly(
          Error{fmt::format("layer {} has media type {}: only squashfs layers can be mounted",
                            layer.digest.str(), layer.media_type)});
    auto path = store.blob_path(layer.digest);
    if (!path) return fail_cleanly(path.error());
    Fd fd{::open(path->c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0)
      return fail_cleanly(
          Error{fmt::format("opening {}: {}", path->string(), errno_message(errno))});
    auto check = check_layer(fd.fd, layer, options.allow_missing_verity, options.threads, kernel);
    if (!check) return fail_cleanly(check.error());
    fs::path target =
        metadir / "layers" / fmt::format("{}-{}", i, layer.digest.hex().substr(0, 16));
    if (auto s = make_dirs(target, 0700); !s) return fail_cleanly(s.error());
    auto mounted_layer = mount_layer(fd.fd, layer, *check, target);
    if (!mounted_layer) return fail_cleanly(mounted_layer.error());
    mounted.layer_mounts.push_back(target);
    mounted.layer_verified.push_back(check->verity_verified || check->kernel_root);
    if (check->kernel_root) mounted.kernel_verity = true;
  }
  std::optional<fs::path> copied;
  if (options.id_shift) {
    bool copy = options.force_shifted_copy;
    for (std::size_t i = 0; i < mounted.layer_mounts.size() && !copy; ++i) {
      auto shifted = idmap_mount(mounted.layer_mounts[i], userns.get());
      if (shifted) continue;
      if (shifted.error().unsupported && i == 0 && options.shifted_copy_dir) {
        spdlog::info(
            "this kernel cannot idmap squashfs (Linux 6.6 and later can): using a copy "
            "with shifted owners in {}",
            options.shifted_copy_dir->string());
        copy = true;
        break;
      }
      Error e = std::move(shifted.error().error);
      if (shifted.error().unsupported)
        e.message += "; this kernel cannot idmap squashfs mounts (Linux 6.6 and later can)";
      return fail_cleanly(std::move(e));
    }
    if (copy) {
      if (!options.shifted_copy_dir)
        return fail_cleanly(Error{"a shifted copy needs a directory to keep it in"});
      auto tree = copy_shifted(mounted, metadir, *options.shifted_copy_dir, *options.id_shift);
      if (!tree) return fail_cleanly(tree.error());
      copied = *tree;
    }
  }

  std::string lower = copied ? copied->string() : overlay_lowers(mounted.layer_mounts);
  std::string dirs = fmt::format("lowerdir={}", lower);
  fs::path upper_parent = options.scratch ? *options.scratch : metadir;
  if (options.read_only) {
    if (mounted.layer_mounts.size() + (copied ? 1 : 0) ==
        1) {  // a read-only overlay needs two lowers
      if (auto s = make_dirs(metadir / "workaround", 0700); !s) return fail_cleanly(s.error());
      dirs += fmt::format(":{}", (metadir / "workaround").string());
    }
  } else {
    if (auto s = overlay_safe(upper_parent); !s) return fail_cleanly(s.error());
    for (const char* d : {"upper", "work"})
      if (auto s = make_dirs(upper_parent / d, 0755); !s) return fail_cleanly(s.error());
    if (options.id_shift) {
      auto owner = static_cast<uid_t>(options.id_shift->host_base);
      if (::chown((upper_parent / "upper").c_str(), owner, owner) != 0)
        return fail_cleanly(
            Error{fmt::format("giving {} to uid {}: {}", (upper_parent / "upper").string(), owner,
                              errno_message(errno))});
    }
    dirs += fmt::format(",upperdir={},workdir={}", (upper_parent / "upper").string(),
                        (upper_parent / "work").string());
  }
  if (auto s = mount_overlay(dest, dirs, options.read_only); !s) return fail_cleanly(s.error());
  overlay_mounted = true;

  OrderedJson state = OrderedJson::object();
  state["dest"] = dest.string();
  state["manifest"] = mounted.manifest_digest;
  state["read_only"] = options.read_only;
  state["layers"] = OrderedJson::array();
  for (const auto& l : mounted.layer_mounts) state["layers"].push_back(l.string());
  if (options.scratch) state["scratch"] = options.scratch->string();
  if (auto s = write_file_atomic(metadir / "mount.json", state.dump(2) + "\n", 0600); !s)
    return fail_cleanly(s.error());
  return mounted;
}

Status unmount_image(const fs::path& dest_in, const fs::path& run_dir) {
  MOS_TRY_ASSIGN(fs::path dest, canonical_dest(dest_in));
  fs::path metadir = metadir_for(run_dir, dest);
  std::error_code ec;
  if (!fs::exists(metadir / "mount.json", ec))
    return fail("no image mounted by mos at {} (no {})", dest.string(),
                (metadir / "mount.json").string());
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(run_dir / ".lock", FileLock::Mode::exclusive));
  auto text = read_file(metadir / "mount.json", 1 << 20);
  if (!text)
    return fail("no image mounted by mos at {} (no {})", dest.string(),
                (metadir / "mount.json").string());
  MOS_TRY_ASSIGN(auto state, parse_json_strict(*text, (metadir / "mount.json").string()));
  std::vector<fs::path> layers;
  if (!state.contains("layers") || !state["layers"].is_array())
    return fail("{}: no layers list", metadir.string());
  for (const auto& l : state["layers"]) {
    if (!l.is_string()) return fail("{}: bad layers list", metadir.string());
    fs::path p = l.get<std::string>();
    // Only our own mount points: a damaged state file must not make us unmount elsewhere.
    if (p.parent_path() != metadir / "layers")
      return fail("{}: layer {} is outside the metadir", metadir.string(), p.string());
    layers.push_back(p);
  }
  return tear_down(dest, true, layers, metadir);
}

Result<std::vector<fs::path>> mount_points() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return fail("cannot read /proc/self/mountinfo");
  std::vector<fs::path> out;
  std::string line;
  while (std::getline(in, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth space-separated field.
    std::size_t start = 0;
    for (int field = 0; field < 4; ++field) {
      start = line.find(' ', start);
      if (start == std::string::npos) break;
      ++start;
    }
    if (start == std::string::npos) continue;
    auto end = line.find(' ', start);
    auto field = std::string_view(line).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    out.emplace_back(decode_mountinfo_path(field));
  }
  return out;
}

Result<bool> is_mount_point(const fs::path& path) {
  MOS_TRY_ASSIGN(auto points, mount_points());
  for (const auto& p : points)
    if (p == path) return true;
  return false;
}

}  // namespace mos::atomfs
