#pragma once
// A disk's GPT partitions, read with sfdisk (util-linux, the tool made for it), and a block
// device for each: the kernel's node where it made one, else a loop device at the partition's
// offset (a loop device without partition scanning, or a disk image file, gets no nodes).
// Shared by the machine's disk (machine_disk.hpp) and its factory partitions
// (factory_partitions.hpp).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "atomfs/loop_device.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos::boot {

inline constexpr std::uint64_t kMiB = 1024 * 1024;
inline constexpr auto kDiskToolTime = std::chrono::minutes(10);

struct DiskPartition {
  std::string node;                   // the device name sfdisk gives it
  std::uint64_t start = 0, size = 0;  // bytes
  std::string type_guid;              // upper case, as sfdisk prints it
  std::string name;                   // GPT partition name
};

// The size in bytes of a block device or disk image file.
Result<std::uint64_t> device_size(const std::filesystem::path& device);
bool is_block_device(const std::filesystem::path& path);
// The partitions of `device`'s table, in table order; empty when it has no table.
Result<std::vector<DiskPartition>> read_partition_table(const std::filesystem::path& device);
// Runs sfdisk with `script` on its standard input and `args` before the device.
Status run_sfdisk(const std::filesystem::path& device, std::vector<std::string> args,
                  const std::string& script);

// Smallest disk install --partition takes (the partitions above, with room for a system).
inline constexpr std::uint64_t kMinimumInstallDisk = std::uint64_t{2} << 30;

// The disk to install to when none is named: the first (by name) of at least
// kMinimumInstallDisk that is writable and has no mounted filesystem. CD drives, loop, ram and
// device-mapper devices are never chosen; several candidates are an error naming them.
Result<std::filesystem::path> choose_install_disk();

// Block devices for the partitions of one disk, valid while this object lives.
class PartitionDevices {
 public:
  explicit PartitionDevices(std::filesystem::path device);
  PartitionDevices(PartitionDevices&&) noexcept = default;
  PartitionDevices& operator=(PartitionDevices&&) = default;

  // The partition's device. The kernel's nodes for a table just written appear while it
  // re-reads it: they are waited for up to 5 s from this object's creation.
  Result<std::string> open(const DiskPartition& partition);
  // Detaches the loop devices made so far.
  void release();

 private:
  std::filesystem::path device_;
  std::chrono::steady_clock::time_point deadline_;
  UniqueFd whole_;
  std::vector<atomfs::LoopDevice> loops_;
};

}  // namespace mos::boot
