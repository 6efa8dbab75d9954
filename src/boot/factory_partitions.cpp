#include "boot/factory_partitions.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "atomfs/luks_volume.hpp"
#include "core/file.hpp"
#include "core/process.hpp"

namespace mos::boot {

namespace fs = std::filesystem;

namespace {

Status make_ext4(const std::string& device, std::string_view label, const fs::path& contents = {}) {
  std::vector<std::string> argv{"mkfs.ext4", "-q", "-F", "-L", std::string(label)};
  if (!contents.empty()) argv.insert(argv.end(), {"-d", contents.string()});
  argv.push_back(device);
  MOS_TRY(with_context(run_checked({.argv = argv, .timeout = kDiskToolTime, .what = "mkfs.ext4"}),
                       fmt::format("formatting {} ({})", label, device)));
  return {};
}

// The PBF's ext4, filled as it is made (mkfs.ext4 -d): nothing to mount on hosts without the
// filesystem's driver.
Status make_pbf(const std::string& device, const fs::path& pcr7data) {
  MOS_TRY_ASSIGN(auto staging, TempDir::create({}, "mos-pbf-"));
  std::error_code ec;
  fs::copy(pcr7data, staging.path() / "pcr7data", fs::copy_options::recursive, ec);
  if (ec) return fail("copying {} for the PBF: {}", pcr7data.string(), ec.message());
  return make_ext4(device, kPbfName, staging.path());
}

Status make_sbf(const std::string& device, const std::string& passphrase) {
  MOS_TRY(atomfs::format_luks2(device, passphrase, kSbfName));
  MOS_TRY_ASSIGN(auto opened, atomfs::LuksDevice::open(device, passphrase,
                                                       fmt::format("mos-sbf-{}", ::getpid())));
  MOS_TRY(make_ext4(opened.path(), kSbfName));
  return opened.close();
}

}  // namespace

Result<std::optional<FactoryPartitions>> find_factory_partitions(
    const std::vector<DiskPartition>& table, const fs::path& device) {
  std::vector<const DiskPartition*> pbf, sbf;
  for (const auto& p : table) {
    if (p.type_guid == kPbfTypeGuid) pbf.push_back(&p);
    if (p.type_guid == kSbfTypeGuid) sbf.push_back(&p);
  }
  if (pbf.empty() && sbf.empty()) return std::optional<FactoryPartitions>{};
  if (pbf.size() != 1 || sbf.size() != 1)
    return fail("{} has {} PBF and {} SBF partitions; a provisioned disk has one of each",
                device.string(), pbf.size(), sbf.size());
  return std::optional<FactoryPartitions>{FactoryPartitions{*pbf.front(), *sbf.front()}};
}

Result<std::string> make_factory_partitions(const FactoryDiskRequest& request) {
  if (request.sbf_passphrase.empty()) return fail("the SBF needs a passphrase");
  std::error_code ec;
  if (!fs::is_directory(request.pcr7data, ec))
    return fail("{}: no pcr7data directory to copy to the PBF", request.pcr7data.string());
  const auto& device = request.device;
  MOS_TRY_ASSIGN(auto bytes, device_size(device));
  if (bytes / kMiB < kFactoryEndMiB + 1)
    return fail("{} has {} MiB; its factory partitions alone need {} MiB", device.string(),
                bytes / kMiB, kFactoryEndMiB + 1);
  std::string script = fmt::format(
      "label: gpt\n"
      "start={}MiB, size={}MiB, type={}, name={}\n"
      "start={}MiB, size={}MiB, type={}, name={}\n",
      kPbfStartMiB, kPbfMiB, kPbfTypeGuid, kPbfName, kSbfStartMiB, kSbfMiB, kSbfTypeGuid, kSbfName);
  MOS_TRY(run_sfdisk(device, {"--wipe", "always", "--wipe-partitions", "always"}, script));
  MOS_TRY_ASSIGN(auto table, read_partition_table(device));
  MOS_TRY_ASSIGN(auto found, find_factory_partitions(table, device));
  if (!found || table.size() != 2)
    return fail("{}: sfdisk did not write the factory partitions asked for", device.string());
  PartitionDevices parts(device);
  MOS_TRY_ASSIGN(auto pbf, parts.open(found->pbf));
  MOS_TRY(make_pbf(pbf, request.pcr7data));
  MOS_TRY_ASSIGN(auto sbf, parts.open(found->sbf));
  MOS_TRY(with_context(make_sbf(sbf, request.sbf_passphrase), "making the SBF"));
  ::sync();
  return fmt::format("factory partitions on {}: PBF (pcr7data), SBF (LUKS2, ext4 inside)",
                     device.string());
}

}  // namespace mos::boot
