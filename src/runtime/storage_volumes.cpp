#include "runtime/storage_volumes.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "atomfs/loop_device.hpp"
#include "atomfs/mount_image.hpp"
#include "core/file.hpp"
#include "core/lock.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;

struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

Result<Owner> owner_of(const VolumeSpec& volume) {
  if (!volume.ids) return Owner{};
  // uid_t is 32 bits and -1 means "unchanged" to chown.
  if (volume.ids->hostid >= 0xFFFFFFFFull)
    return fail("nsgroup {}: host id {} is outside the 32-bit id space", volume.ids->nsgroup,
                volume.ids->hostid);
  auto id = static_cast<std::uint32_t>(volume.ids->hostid);
  return Owner{id, id};
}

std::uint32_t le32(const std::array<unsigned char, 1024>& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
         static_cast<std::uint32_t>(b[at + 2]) << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}

// The size the filesystem itself claims (blocks count × block size), not the file's: a grow
// interrupted between the truncate and resize2fs leaves a bigger file over the old filesystem,
// and the next mount must still finish it.
Result<std::uint64_t> filesystem_bytes(int fd, const fs::path& image) {
  std::array<unsigned char, 1024> sb{};
  if (::pread(fd, sb.data(), sb.size(), 1024) != static_cast<ssize_t>(sb.size()))
    return fail("{} is too short for an ext4 superblock", image.string());
  if ((sb[0x38] | sb[0x39] << 8) != 0xEF53)
    return fail("{} holds no ext4 filesystem (no superblock magic)", image.string());
  std::uint32_t log_block = le32(sb, 24);
  if (log_block > 6) return fail("{}: implausible ext4 block size", image.string());
  std::uint64_t blocks = le32(sb, 4);
  constexpr std::uint32_t kIncompat64Bit = 0x80;
  if (le32(sb, 0x60) & kIncompat64Bit) blocks |= std::uint64_t{le32(sb, 0x150)} << 32;
  return blocks * (std::uint64_t{1024} << log_block);
}

// The last non-empty lines of a tool's output on one line, for an error message.
std::string tail_lines(std::string_view text, std::size_t count) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    auto end = std::min(text.find('\n', start), text.size());
    auto line = text.substr(start, end - start);
    line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
    line.remove_suffix(line.size() - std::min(line.find_last_not_of(" \t") + 1, line.size()));
    if (!line.empty()) lines.push_back(line);
    start = end + 1;
  }
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i)
    out += fmt::format("{}{}", out.empty() ? "" : "; ", lines[i]);
  return out;
}

// Removes a file on scope exit unless disarmed: an interrupted creation leaves no stray temp.
struct RemoveOnExit {
  fs::path path;
  ~RemoveOnExit() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

Status create_image(const fs::path& image, std::uint64_t bytes, Owner owner) {
  fs::path temp = image.parent_path() / fmt::format(".{}.new", image.filename().string());
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT)
    return fail("removing {}: {}", temp.string(), errno_message(errno));
  RemoveOnExit cleanup{temp};
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return fail("creating {}: {}", temp.string(), errno_message(errno));
    // Sparse: only what the filesystem writes takes space on the host.
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
      return fail("sizing {} to {} bytes: {}", temp.string(), bytes, errno_message(errno));
  }
  // -m 0: blocks reserved for host root are of no use to a container's root.
  MOS_TRY(with_context(
      run_checked({.argv = {"mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                            fmt::format("root_owner={}:{}", owner.uid, owner.gid), temp.string()},
                   .what = "mkfs.ext4"}),
      fmt::format("making the filesystem in {}", temp.string())));
  {
    UniqueFd fd(::open(temp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd || ::fsync(fd.get()) != 0)
      return fail("syncing {}: {}", temp.string(), errno_message(errno));
  }
  if (::rename(temp.c_str(), image.c_str()) != 0)
    return fail("renaming {} to {}: {}", temp.string(), image.string(), errno_message(errno));
  cleanup.path.clear();
  return fsync_dir(image.parent_path());
}

// e2fsck -p repairs what is safe to repair unattended and exits 4 when anything else is left.
Status check_filesystem(const fs::path& image, bool force) {
  MOS_TRY_ASSIGN(auto run, run_process({.argv = {"e2fsck", force ? "-fp" : "-p", image.string()},
                                        .merge_stderr = true,
                                        .what = "e2fsck"}));
  if (run.exit_code == 0) return {};
  if (run.exit_code < 4) {
    spdlog::warn("e2fsck repaired {}: {}", image.string(), tail_lines(run.out, 5));
    return {};
  }
  if (run.exit_code == 4)
    return fail(
        "{} has filesystem errors that e2fsck cannot repair unattended; repair it by hand "
        "(e2fsck {}) or remove it to start empty: {}",
        image.string(), image.string(), tail_lines(run.out, 5));
  return fail("e2fsck could not check {} (exit status {}): {}", image.string(), run.exit_code,
              tail_lines(run.out, 5));
}

// Checks an existing persistent image and grows it to the manifest's size; never shrinks it.
Status prepare_persistent(const std::string& label, const fs::path& image, std::uint64_t wanted) {
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return fail("opening {}: {}", image.string(), errno_message(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail("{}: {}", image.string(), errno_message(errno));
  if (!S_ISREG(st.st_mode)) return fail("{} is not a regular file", image.string());
  MOS_TRY_ASSIGN(std::uint64_t have, filesystem_bytes(fd.get(), image));
  bool grow = have < wanted;
  if (have > wanted)
    spdlog::warn(
        "storage volume {}: the manifest asks for {} MiB but {} already holds {} MiB; keeping it "
        "as it is, since shrinking could lose data",
        label, wanted / kMiB, image.string(), have / kMiB);
  // resize2fs wants a full check since the last mount before it changes anything.
  MOS_TRY(check_filesystem(image, grow));
  if (!grow) return {};
  if (static_cast<std::uint64_t>(st.st_size) < wanted &&
      (::ftruncate(fd.get(), static_cast<off_t>(wanted)) != 0 || ::fsync(fd.get()) != 0))
    return fail("growing {} to {} bytes: {}", image.string(), wanted, errno_message(errno));
  MOS_TRY(with_context(
      run_checked({.argv = {"resize2fs", image.string(), fmt::format("{}M", wanted / kMiB)},
                   .what = "resize2fs"}),
      fmt::format("growing the filesystem in {}", image.string())));
  spdlog::info("storage volume {}: grew {} from {} to {} MiB", label, image.string(), have / kMiB,
               wanted / kMiB);
  return {};
}

// The loop device the file is attached to, if any (its backing_file in sysfs names it).
std::optional<std::string> attached_loop(const fs::path& image) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/block", ec)) {
    auto name = entry.path().filename().string();
    if (!name.starts_with("loop")) continue;
    auto backing = read_file(entry.path() / "loop" / "backing_file", 4096);
    if (!backing) continue;  // a free device has none
    std::string_view b = *backing;
    if (b.ends_with('\n')) b.remove_suffix(1);
    if (b == image.string()) return fmt::format("/dev/{}", name);
  }
  return std::nullopt;
}

Status set_root_owner(const std::string& label, const fs::path& point, Owner owner) {
  struct stat st{};
  if (::lstat(point.c_str(), &st) != 0) return fail("{}: {}", point.string(), errno_message(errno));
  if (st.st_uid == owner.uid && st.st_gid == owner.gid) return {};
  // Only the root: what the services wrote inside stays as they left it.
  if (::lchown(point.c_str(), owner.uid, owner.gid) != 0)
    return fail("giving {} to {}:{}: {}", point.string(), owner.uid, owner.gid,
                errno_message(errno));
  spdlog::info("storage volume {}: root directory now owned by {}:{} (was {}:{})", label, owner.uid,
               owner.gid, st.st_uid, st.st_gid);
  return {};
}

Result<fs::path> mount_checked(const VolumeSpec& volume, const VolumeDirs& dirs) {
  const auto& item = volume.item;
  if (item.size_mib == 0) return fail("size must be at least 1 MiB");
  if (item.size_mib > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) / kMiB)
    return fail("size of {} MiB is too large", item.size_mib);
  const std::uint64_t wanted = item.size_mib * kMiB;
  MOS_TRY_ASSIGN(Owner owner, owner_of(volume));
  MOS_TRY(make_dirs(dirs.images, 0700));
  MOS_TRY(make_dirs(dirs.mounts / item.label, 0755));
  // Two boots of one root must not both make or check the same image.
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(dirs.images / ".lock", FileLock::Mode::exclusive));
  std::error_code ec;
  fs::path images = fs::canonical(dirs.images, ec);
  if (ec) return fail("{}: {}", dirs.images.string(), ec.message());
  fs::path point = fs::canonical(dirs.mounts / item.label, ec);
  if (ec) return fail("{}: {}", (dirs.mounts / item.label).string(), ec.message());
  fs::path image = images / fmt::format("{}.ext4", item.label);

  MOS_TRY_ASSIGN(bool mounted, atomfs::is_mount_point(point));
  if (mounted) return fail("already mounted at {}; unmount it first", point.string());
  if (auto loop = attached_loop(image))
    return fail(
        "{} is still attached to {} (mounted elsewhere, perhaps by a service still running)",
        image.string(), *loop);

  struct stat st{};
  bool exists = ::lstat(image.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) return fail("{}: {}", image.string(), errno_message(errno));
  if (exists && !item.persistent) {
    // A volume that must start empty: the old image goes before the new one takes space.
    if (::unlink(image.c_str()) != 0)
      return fail("removing {}: {}", image.string(), errno_message(errno));
    exists = false;
  }
  if (exists) {
    MOS_TRY(prepare_persistent(item.label, image, wanted));
  } else {
    MOS_TRY(create_image(image, wanted, owner));
  }

  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return fail("opening {}: {}", image.string(), errno_message(errno));
  MOS_TRY_ASSIGN(auto loop,
                 with_context(atomfs::LoopDevice::attach(fd.get(), 0, true), image.string()));
  // The services' root must not gain devices or setuid programs through a volume.
  if (::mount(loop.path().c_str(), point.c_str(), "ext4", MS_NODEV | MS_NOSUID, nullptr) != 0)
    return fail("mounting {} (through {}) at {}: {}", image.string(), loop.path(), point.string(),
                errno_message(errno));
  // An existing image keeps the owner it was made for; its nsgroup's range may have changed.
  if (auto owned = set_root_owner(item.label, point, owner); !owned) {
    (void)::umount2(point.c_str(), UMOUNT_NOFOLLOW);
    return std::unexpected(std::move(owned).error());
  }
  return point;
}

}  // namespace

VolumeDirs volume_dirs(const BootPaths& paths) {
  return VolumeDirs{paths.volume_images, paths.volume_mounts};
}

Status check_volume_label(std::string_view label) {
  if (label.empty() || label == "." || label == ".." ||
      label.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos ||
      label.size() > 200)
    return fail(
        "storage label \"{}\" cannot name a file (empty, '.', '..', '/' or longer than 200 bytes)",
        label);
  return {};
}

fs::path volume_image(const VolumeDirs& dirs, std::string_view label) {
  return dirs.images / fmt::format("{}.ext4", label);
}

Result<fs::path> mount_volume(const VolumeSpec& volume, const VolumeDirs& dirs) {
  MOS_TRY(check_volume_label(volume.item.label));
  return with_context(mount_checked(volume, dirs),
                      fmt::format("storage volume {}", volume.item.label));
}

Status unmount_volume(const std::string& label, const VolumeDirs& dirs) {
  MOS_TRY(check_volume_label(label));
  std::error_code ec;
  fs::path point = fs::canonical(dirs.mounts / label, ec);
  if (ec == std::errc::no_such_file_or_directory) return {};
  if (ec)
    return fail("storage volume {}: {}: {}", label, (dirs.mounts / label).string(), ec.message());
  // A mount stacked by hand over ours would otherwise keep the volume alive.
  for (;;) {
    MOS_TRY_ASSIGN(bool mounted, atomfs::is_mount_point(point));
    if (!mounted) break;
    if (::umount2(point.c_str(), UMOUNT_NOFOLLOW) != 0) {
      int e = errno;
      return fail("storage volume {}: unmounting {}: {}{}", label, point.string(), errno_message(e),
                  e == EBUSY ? " (a process still uses it)" : "");
    }
  }
  if (::rmdir(point.c_str()) != 0 && errno != ENOENT)
    spdlog::warn("storage volume {}: leaving {}: {}", label, point.string(), errno_message(errno));
  return {};
}

}  // namespace mos::runtime
