#pragma once
// A machine's factory partitions (original-trust.md §4 step 7), made by `mosctl provision --disk`
// before anything is installed, and kept by every later `install --partition`:
//
//   1  pbf  4 MiB + 64 MiB    ext4 "pbf": a copy of the keyset's pcr7data (pcr7data/), which a
//                             boot that finds no pcr7data of its own reads
//   2  sbf  68 MiB + 256 MiB  LUKS2 "sbf", keyed by the passphrase in TPM NV 0x01500030 (readable
//                             only under the keyset's luks policy), an ext4 "sbf" inside
//
// The GPT type GUIDs are the original's, so either system finds the other's partitions.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "boot/disk_partitions.hpp"
#include "core/result.hpp"

namespace mos::boot {

inline constexpr std::string_view kPbfTypeGuid = "01A3E19F-9FEA-ED47-92C2-E75639FF5601";
inline constexpr std::string_view kSbfTypeGuid = "01A3E19F-9FEA-ED47-92C2-E75639FF5602";
inline constexpr std::string_view kPbfName = "pbf";
inline constexpr std::string_view kSbfName = "sbf";
inline constexpr std::uint64_t kPbfStartMiB = 4, kPbfMiB = 64;
inline constexpr std::uint64_t kSbfStartMiB = 68, kSbfMiB = 256;
// Where the machine's own partitions may begin on a disk with factory partitions.
inline constexpr std::uint64_t kFactoryEndMiB = kSbfStartMiB + kSbfMiB;

struct FactoryPartitions {
  DiskPartition pbf, sbf;
};

// The PBF and SBF in a partition table: nullopt when it has neither; an error when it has one
// without the other, or more than one of either.
Result<std::optional<FactoryPartitions>> find_factory_partitions(
    const std::vector<DiskPartition>& table, const std::filesystem::path& device);

struct FactoryDiskRequest {
  std::filesystem::path device;    // a disk or a disk image; what it holds is lost
  std::filesystem::path pcr7data;  // the keyset's pcr7data directory
  std::string sbf_passphrase;      // what NV 0x01500030 will hold
};

// Writes a new GPT holding only the PBF and the SBF, formats both (the SBF's ext4 is made
// through dm-crypt, so where the kernel has no device-mapper this fails after the LUKS2 header
// is written, saying so). The rest of the disk is left for install --partition.
// Returns one line saying what was made.
Result<std::string> make_factory_partitions(const FactoryDiskRequest& request);

}  // namespace mos::boot
