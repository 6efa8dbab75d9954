#include "boot/disk_partitions.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"

namespace mos::boot {

namespace fs = std::filesystem;

namespace {

std::string read_sys(const fs::path& file) {
  std::ifstream in(file);
  std::string value;
  std::getline(in, value);
  return value;
}

}  // namespace

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

bool is_block_device(const fs::path& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

Result<std::vector<DiskPartition>> read_partition_table(const fs::path& device) {
  MOS_TRY_ASSIGN(auto run, run_process({.argv = {"sfdisk", "-J", device.string()},
                                        .timeout = kDiskToolTime,
                                        .what = "sfdisk"}));
  // sfdisk fails on a disk without a table, saying so.
  if (run.exit_code != 0) {
    if (run.err.find("does not contain a recognized partition table") != std::string::npos)
      return std::vector<DiskPartition>{};
    return fail("sfdisk -J {} exited with status {}: {}", device.string(), run.exit_code, run.err);
  }
  MOS_TRY_ASSIGN(auto doc, parse_json_strict(run.out, "sfdisk -J " + device.string()));
  std::vector<DiskPartition> partitions;
  try {
    const auto& table = doc.at("partitiontable");
    std::uint64_t sector = table.value("sectorsize", std::uint64_t{512});
    if (table.value("label", std::string()) != "gpt") return partitions;
    for (const auto& p : table.at("partitions"))
      partitions.push_back({p.at("node").get<std::string>(),
                            p.at("start").get<std::uint64_t>() * sector,
                            p.at("size").get<std::uint64_t>() * sector,
                            p.value("type", std::string()), p.value("name", std::string())});
  } catch (const nlohmann::json::exception& e) {
    return fail("reading the partition table of {}: {}", device.string(), e.what());
  }
  return partitions;
}

Status run_sfdisk(const fs::path& device, std::vector<std::string> args,
                  const std::string& script) {
  args.insert(args.begin(), {"sfdisk", "--quiet"});
  args.push_back(device.string());
  MOS_TRY(run_checked(
      {.argv = std::move(args), .input = script, .timeout = kDiskToolTime, .what = "sfdisk"}));
  return {};
}

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

PartitionDevices::PartitionDevices(fs::path device)
    : device_(std::move(device)),
      deadline_(std::chrono::steady_clock::now() + std::chrono::seconds(5)) {}

Result<std::string> PartitionDevices::open(const DiskPartition& partition) {
  if (is_block_device(device_)) {
    while (!is_block_device(partition.node) && std::chrono::steady_clock::now() < deadline_)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (is_block_device(partition.node)) return partition.node;
  }
  if (!whole_) {
    whole_ = UniqueFd(::open(device_.c_str(), O_RDWR | O_CLOEXEC));
    if (!whole_) return fail("opening {}: {}", device_.string(), errno_message(errno));
  }
  MOS_TRY_ASSIGN(auto loop,
                 atomfs::LoopDevice::attach(whole_.get(), partition.size, true, partition.start));
  loops_.push_back(std::move(loop));
  return loops_.back().path();
}

void PartitionDevices::release() {
  loops_.clear();
}

}  // namespace mos::boot
