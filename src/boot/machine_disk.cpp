// A machine's disk (see machine_disk.hpp).
#include "boot/machine_disk.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "atomfs/mount_image.hpp"
#include "atomfs/target_mount.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"
#include "manifest/verify.hpp"
#include "sysroot/install_source.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr auto kToolTime = std::chrono::minutes(10);
// GPT's own structures at both ends, and alignment.
constexpr std::uint64_t kTableSpareMiB = 4;

std::string read_sys(const fs::path& file) {
  std::ifstream in(file);
  std::string value;
  std::getline(in, value);
  return value;
}

Result<std::uint64_t> device_size(const fs::path& device) {
  UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail("opening {}: {}", device.string(), errno_message(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail("{}: {}", device.string(), errno_message(errno));
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  if (!S_ISBLK(st.st_mode)) return fail("{} is neither a disk nor a disk image", device.string());
  std::uint64_t bytes = 0;
  if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0)
    return fail("reading the size of {}: {}", device.string(), errno_message(errno));
  return bytes;
}

// sfdisk's script: sizes in MiB, the last partition takes what is left.
Result<std::string> partition_script(std::uint64_t disk_bytes, const fs::path& device) {
  std::uint64_t fixed = kTableSpareMiB;
  for (const auto& p : kMachinePartitions) fixed += p.mib;
  std::uint64_t total = disk_bytes / kMiB;
  if (total < fixed + 512)
    return fail("{} has {} MiB; a machine's disk needs at least {} MiB", device.string(), total,
                fixed + 512);
  std::uint64_t rest = total - fixed;
  std::string script = "label: gpt\n";
  for (const auto& p : kMachinePartitions) {
    std::string size;
    if (p.mib)
      size = fmt::format("size={}MiB, ", p.mib);
    else if (p.percent_of_rest < 100)
      size = fmt::format("size={}MiB, ", rest * p.percent_of_rest / 100);
    script += fmt::format("{}type={}, name={}\n", size, p.type_guid, p.name);
  }
  return script;
}

struct PartitionPlace {
  std::string node;                   // the device sfdisk names for it
  std::uint64_t start = 0, size = 0;  // bytes
};

Result<std::vector<PartitionPlace>> read_partitions(const fs::path& device) {
  MOS_TRY_ASSIGN(auto out, run_checked({.argv = {"sfdisk", "-J", device.string()},
                                        .timeout = kToolTime,
                                        .what = "sfdisk"}));
  MOS_TRY_ASSIGN(auto doc, parse_json_strict(out, "sfdisk -J " + device.string()));
  std::vector<PartitionPlace> places;
  try {
    const auto& table = doc.at("partitiontable");
    std::uint64_t sector = table.value("sectorsize", std::uint64_t{512});
    for (const auto& p : table.at("partitions"))
      places.push_back({p.at("node").get<std::string>(),
                        p.at("start").get<std::uint64_t>() * sector,
                        p.at("size").get<std::uint64_t>() * sector});
  } catch (const nlohmann::json::exception& e) {
    return fail("reading the partition table of {}: {}", device.string(), e.what());
  }
  if (places.size() != std::size(kMachinePartitions))
    return fail("{} has {} partitions after partitioning, expected {}", device.string(),
                places.size(), std::size(kMachinePartitions));
  return places;
}

bool is_block_device(const fs::path& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

}  // namespace

Result<fs::path> choose_install_disk() {
  std::string mounts;
  if (auto text = read_file("/proc/mounts", 1 << 20)) mounts = *text;
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it("/sys/block", ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  std::vector<std::string> candidates;
  for (const auto& name : names) {
    if (name.starts_with("loop") || name.starts_with("ram") || name.starts_with("sr") ||
        name.starts_with("dm-") || name.starts_with("zram") || name.starts_with("nbd"))
      continue;
    fs::path sys = fs::path("/sys/block") / name;
    if (read_sys(sys / "ro") == "1") continue;
    std::uint64_t sectors = 0;
    try {
      sectors = std::stoull(read_sys(sys / "size"));
    } catch (const std::exception&) {
      continue;
    }
    if (sectors * 512 < kMinimumInstallDisk) continue;
    // In use: something on it (or on one of its partitions) is mounted.
    if (mounts.find("/dev/" + name) != std::string::npos) continue;
    candidates.push_back(name);
  }
  if (candidates.empty())
    return fail("no disk to install to: none of at least {} GiB is writable and unused",
                kMinimumInstallDisk >> 30);
  if (candidates.size() > 1)
    return fail("several disks could be the machine's ({}): name one with --disk",
                fmt::join(candidates, ", "));
  return fs::path("/dev") / candidates.front();
}

Result<MachineDisk> MachineDisk::create(const fs::path& device, const fs::path& root) {
  MOS_TRY_ASSIGN(auto bytes, device_size(device));
  MOS_TRY_ASSIGN(auto script, partition_script(bytes, device));
  MOS_TRY(run_checked({.argv = {"sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions",
                                "always", device.string()},
                       .input = script,
                       .timeout = kToolTime,
                       .what = "sfdisk"}));
  MOS_TRY_ASSIGN(auto places, read_partitions(device));
  MachineDisk disk;
  disk.root_ = root;
  UniqueFd whole;
  // The kernel's devices for the partitions appear once it has read the new table: 5 s in all
  // for them (a loop device without partition scanning never gets any).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (std::size_t i = 0; i < places.size(); ++i) {
    const auto& spec = kMachinePartitions[i];
    std::string part;
    if (is_block_device(device)) {
      while (!is_block_device(places[i].node) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (is_block_device(places[i].node)) part = places[i].node;
    }
    if (part.empty()) {
      if (!whole) {
        whole = UniqueFd(::open(device.c_str(), O_RDWR | O_CLOEXEC));
        if (!whole) return fail("opening {}: {}", device.string(), errno_message(errno));
      }
      MOS_TRY_ASSIGN(auto loop, atomfs::LoopDevice::attach(whole.get(), places[i].size, true,
                                                           places[i].start));
      part = loop.path();
      disk.loops_.push_back(std::move(loop));
    }
    std::vector<std::string> mkfs =
        spec.filesystem == "vfat"
            ? std::vector<std::string>{"mkfs.fat", "-n", std::string(spec.label), part}
            : std::vector<std::string>{"mkfs.ext4", "-q", "-F", "-L", std::string(spec.label),
                                       part};
    MOS_TRY(with_context(run_checked({.argv = mkfs, .timeout = kToolTime, .what = mkfs[0]}),
                         fmt::format("formatting {} ({})", spec.name, part)));
    if (spec.mount_dir.empty()) {
      disk.esp_device_ = part;
      continue;
    }
    fs::path where = root / spec.mount_dir;
    MOS_TRY(make_dirs(where, 0755));
    if (::mount(part.c_str(), where.c_str(), "ext4", MS_NOSUID | MS_NODEV, nullptr) != 0)
      return fail("mounting {} ({}) at {}: {}", spec.name, part, where.string(),
                  errno_message(errno));
    disk.mounts_.push_back(where);
  }
  return disk;
}

MachineDisk::~MachineDisk() {
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) ::umount2(it->c_str(), 0);
}

Status MachineDisk::write_boot_files(const fs::path& shim, const fs::path& uki) {
  // mtools writes the FAT without a kernel driver for it (build hosts have none). On a real
  // partition it would compare the FAT's geometry with the disk's and refuse ("Cannot initialize
  // '::'") where they differ, which says nothing about the filesystem: skip that check.
  auto mtools = [&](std::vector<std::string> args) -> Status {
    args.insert(args.begin(), {"mtools", "-c"});
    MOS_TRY(run_checked({.argv = std::move(args),
                         .set_env = {"MTOOLS_SKIP_CHECK=1"},
                         .timeout = kToolTime,
                         .what = "mtools"}));
    return {};
  };
  MOS_TRY(mtools({"mmd", "-i", esp_device_, "::EFI", "::EFI/BOOT"}));
  MOS_TRY(mtools({"mcopy", "-i", esp_device_, shim.string(), "::EFI/BOOT/BOOTX64.EFI"}));
  MOS_TRY(mtools({"mcopy", "-i", esp_device_, uki.string(), "::EFI/BOOT/grubx64.efi"}));
  return {};
}

Status MachineDisk::close() {
  ::sync();
  while (!mounts_.empty()) {
    if (::umount2(mounts_.back().c_str(), 0) != 0)
      return fail("unmounting {}: {}", mounts_.back().string(), errno_message(errno));
    mounts_.pop_back();
  }
  loops_.clear();
  return {};
}

Result<DiskInstallReport> install_to_disk(sysroot::SysrootOptions options, std::string_view url,
                                          fs::path device) {
  options.root_given = true;
  // What would be installed is verified before the disk is touched: a refused system (or one
  // that could not boot) leaves the disk as it was.
  MOS_TRY_ASSIGN(auto policy,
                 sysroot::load_trust_policy(sysroot::SysrootPaths(options.root), options));
  MOS_TRY_ASSIGN(auto source, sysroot::open_install_source(url, options.source));
  auto verified =
      manifest::verify_install(*source.install, source.tag_or_digest, policy, source.targets.get());
  if (!verified) return context(std::string(url), verified.error());
  if (!verified->manifest.find_target("bootkit"))
    return fail(
        "{} has no bootkit target: a disk made from it could not boot (publish it with a "
        "keyset that has a bootkit)",
        url);
  if (device.empty()) {
    MOS_TRY_ASSIGN(device, choose_install_disk());
  }
  MOS_TRY_ASSIGN(auto disk, MachineDisk::create(device, options.root));
  MOS_TRY_ASSIGN(auto report, sysroot::install(options, url));
  // The installed system's bootkit, as verified by the install, onto the ESP.
  fs::path bootkit = options.root / "mnt" / "bootkit";
  atomfs::TargetMountOptions mount;
  mount.read_only = true;
  mount.dest = bootkit;
  MOS_TRY_ASSIGN(auto mounted, atomfs::mount_target(options, "bootkit", mount));
  auto written =
      disk.write_boot_files(bootkit / "bootkit" / "shim.efi", bootkit / "bootkit" / "kernel.efi");
  auto unmounted = atomfs::unmount_image(bootkit);
  MOS_TRY(written);
  MOS_TRY(unmounted);
  MOS_TRY(disk.close());
  return DiskInstallReport{device, report.summary};
}

}  // namespace mos::boot
