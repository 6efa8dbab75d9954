// A machine's disk (see machine_disk.hpp).
#include "boot/machine_disk.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "atomfs/mount_image.hpp"
#include "atomfs/target_mount.hpp"
#include "boot/bootkit.hpp"
#include "boot/factory_partitions.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "manifest/verify.hpp"
#include "sysroot/install_source.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

// GPT's own structures at both ends, and alignment.
constexpr std::uint64_t kTableSpareMiB = 4;

// sfdisk's script: sizes in MiB, the last partition takes what is left of `free_mib`.
Result<std::string> partition_script(std::uint64_t free_mib, const fs::path& device) {
  std::uint64_t fixed = kTableSpareMiB;
  for (const auto& p : kMachinePartitions) fixed += p.mib;
  if (free_mib < fixed + 512)
    return fail("{} has {} MiB free for the system; a machine's disk needs at least {} MiB",
                device.string(), free_mib, fixed + 512);
  std::uint64_t rest = free_mib - fixed;
  std::string script;
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

// "/dev/vda3" -> "3", "disk.img12" -> "12": sfdisk names partitions by their number.
std::string partition_number(const std::string& node) {
  auto digits = node.find_last_not_of("0123456789");
  return node.substr(digits == std::string::npos ? 0 : digits + 1);
}

// Writes the machine's partitions: after the factory partitions, which stay, when the disk has
// them (provision made them, and the TPM holds the SBF's key); else on a new table.
Status write_partitions(const fs::path& device, const std::vector<DiskPartition>& table,
                        bool keep_factory, const std::string& script) {
  if (!keep_factory)
    return run_sfdisk(device, {"--wipe", "always", "--wipe-partitions", "always"},
                      "label: gpt\n" + script);
  std::vector<std::string> remove{"sfdisk", "--quiet", "--delete", device.string()};
  const auto command_size = remove.size();
  for (const auto& p : table)
    if (p.type_guid != kPbfTypeGuid && p.type_guid != kSbfTypeGuid)
      remove.push_back(partition_number(p.node));
  if (remove.size() > command_size)
    MOS_TRY(run_checked({.argv = remove, .timeout = kDiskToolTime, .what = "sfdisk --delete"}));
  return run_sfdisk(device, {"--append", "--wipe-partitions", "always"}, script);
}

}  // namespace

Result<MachineDisk> MachineDisk::create(const fs::path& device, const fs::path& root) {
  MOS_TRY_ASSIGN(auto bytes, device_size(device));
  MOS_TRY_ASSIGN(auto before, read_partition_table(device));
  MOS_TRY_ASSIGN(auto factory, find_factory_partitions(before, device));
  std::uint64_t taken_mib = factory ? kFactoryEndMiB : 0;
  if (bytes / kMiB < taken_mib) return fail("{} is smaller than its partitions", device.string());
  MOS_TRY_ASSIGN(auto script, partition_script(bytes / kMiB - taken_mib, device));
  MOS_TRY(write_partitions(device, before, factory.has_value(), script));
  MOS_TRY_ASSIGN(auto table, read_partition_table(device));
  MachineDisk disk;
  disk.root_ = root;
  disk.factory_kept_ = factory.has_value();
  disk.parts_.emplace(device);
  for (const auto& spec : kMachinePartitions) {
    auto place = std::find_if(table.begin(), table.end(), [&](const DiskPartition& p) {
      return p.type_guid == spec.type_guid && p.name == spec.name;
    });
    if (place == table.end())
      return fail("{} has no {} partition after partitioning", device.string(), spec.name);
    MOS_TRY_ASSIGN(std::string part, disk.parts_->open(*place));
    std::vector<std::string> mkfs =
        spec.filesystem == "vfat"
            ? std::vector<std::string>{"mkfs.fat", "-n", std::string(spec.label), part}
            : std::vector<std::string>{"mkfs.ext4", "-q", "-F", "-L", std::string(spec.label),
                                       part};
    MOS_TRY(with_context(run_checked({.argv = mkfs, .timeout = kDiskToolTime, .what = mkfs[0]}),
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

Status MachineDisk::write_boot_files(const fs::path& bootkit_dir) {
  // mtools writes the FAT without a kernel driver for it (build hosts have none). On a real
  // partition it would compare the FAT's geometry with the disk's and refuse ("Cannot initialize
  // '::'") where they differ, which says nothing about the filesystem: skip that check.
  auto mtools = [&](std::vector<std::string> args) -> Status {
    args.insert(args.begin(), {"mtools", "-c"});
    MOS_TRY(run_checked({.argv = std::move(args),
                         .set_env = {"MTOOLS_SKIP_CHECK=1"},
                         .timeout = kDiskToolTime,
                         .what = "mtools"}));
    return {};
  };
  MOS_TRY(mtools({"mmd", "-i", esp_device_, "::EFI", "::EFI/BOOT"}));
  MOS_TRY(mtools(
      {"mcopy", "-i", esp_device_, (bootkit_dir / "shim.efi").string(), "::EFI/BOOT/BOOTX64.EFI"}));
  MOS_TRY(mtools({"mcopy", "-i", esp_device_, (bootkit_dir / "kernel.efi").string(),
                  "::EFI/BOOT/grubx64.efi"}));
  std::error_code ec;
  if (fs::path tools = bootkit_dir / kInitrdToolsFile; fs::exists(tools, ec))
    MOS_TRY(mtools({"mcopy", "-i", esp_device_, tools.string(), std::string(kInitrdToolsEspPath)}));
  return {};
}

Status MachineDisk::close() {
  ::sync();
  while (!mounts_.empty()) {
    if (::umount2(mounts_.back().c_str(), 0) != 0)
      return fail("unmounting {}: {}", mounts_.back().string(), errno_message(errno));
    mounts_.pop_back();
  }
  if (parts_) parts_->release();
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
  MOS_TRY(atomfs::mount_target(options, "bootkit", mount));
  auto written = disk.write_boot_files(bootkit / "bootkit");
  auto unmounted = atomfs::unmount_image(bootkit);
  MOS_TRY(written);
  MOS_TRY(unmounted);
  MOS_TRY(disk.close());
  return DiskInstallReport{device, report.summary, disk.factory_kept()};
}

}  // namespace mos::boot
