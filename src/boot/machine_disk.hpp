#pragma once
// A machine's disk as `mosctl install --partition` makes it (docs/boot.md, "Installing a
// machine"): a GPT with the ESP and the partitions the initramfs finds by their filesystem labels
// (machine-config, machine-store, machine-scratch; the same GPT names and the original's type
// GUIDs), each formatted and mounted under an install root; then the installed system's bootkit
// (its signed shim and UKI) is written to the ESP where firmware looks for a disk's loader.
//
// sfdisk writes the table and mkfs.vfat / mkfs.ext4 the filesystems (util-linux, dosfstools,
// e2fsprogs: the tools made for it). Where the kernel makes no device per partition (a loop
// device without partition scanning, or a disk image file), each partition is reached through a
// loop device at its offset instead.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boot/disk_partitions.hpp"
#include "core/result.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::boot {

struct MachinePartition {
  std::string_view name;         // GPT partition name
  std::string_view type_guid;    // GPT partition type
  std::string_view filesystem;   // "vfat" or "ext4"
  std::string_view label;        // filesystem label (the initramfs's findfs)
  std::string_view mount_dir;    // under the install root ("" for the ESP: written, not kept)
  std::uint64_t mib = 0;         // size; 0: share of the rest
  unsigned percent_of_rest = 0;  // of what the fixed sizes leave (the last one takes the rest)
};

inline constexpr MachinePartition kMachinePartitions[] = {
    {"esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "vfat", "ESP", "", 256, 0},
    {"machine-config", "F79962B9-24E6-9948-9F94-E6BFDAD2771A", "ext4", "machine-config", "config",
     128, 0},
    {"machine-store", "F79962B9-24E6-9948-9F94-E6BFDAD2771B", "ext4", "machine-store",
     "atomfs-store", 0, 60},
    {"machine-scratch", "F79962B9-24E6-9948-9F94-E6BFDAD2771C", "ext4", "machine-scratch",
     "scratch-writes", 0, 100},
};

class MachineDisk {
 public:
  // Partitions and formats `device` (what it held is lost, except its factory partitions:
  // factory_partitions.hpp) and mounts config, store and scratch under `root`.
  static Result<MachineDisk> create(const std::filesystem::path& device,
                                    const std::filesystem::path& root);
  MachineDisk(MachineDisk&&) noexcept = default;
  MachineDisk& operator=(MachineDisk&&) = delete;
  ~MachineDisk();  // unmounts what is still mounted

  // From a bootkit image's bootkit/ directory: the shim to \EFI\BOOT\BOOTX64.EFI, the UKI
  // beside it as grubx64.efi, and beside them the initramfs's tools (initrd-tools.squashfs, in
  // every image our bootkits build; an older image's UKI does not need them).
  Status write_boot_files(const std::filesystem::path& bootkit_dir);
  // Flushes and unmounts everything; the disk is then complete.
  Status close();
  // Whether the disk's PBF and SBF were found and kept.
  bool factory_kept() const { return factory_kept_; }

 private:
  MachineDisk() = default;
  std::filesystem::path root_;
  std::string esp_device_;
  bool factory_kept_ = false;
  std::optional<PartitionDevices> parts_;
  std::vector<std::filesystem::path> mounts_;  // in mount order
};

struct DiskInstallReport {
  std::filesystem::path device;
  std::string summary;        // sysroot::install's
  bool factory_kept = false;  // its PBF and SBF were kept
};

// install --partition: the disk (`device`, or choose_install_disk()), made a machine's disk under
// options.root, the system at `url` installed into it (verified as any install), its bootkit on
// the ESP.
Result<DiskInstallReport> install_to_disk(sysroot::SysrootOptions options, std::string_view url,
                                          std::filesystem::path device);

}  // namespace mos::boot
