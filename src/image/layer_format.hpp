#pragma once
// What a squashfs layer looks like to readers and writers: the layer media types of every
// stacker/atomfs generation, the root-hash annotation keys (current and previous), and the
// squashfs superblock fields that locate the appended verity data (spec:
// squashfs-verity-atomfs.md §1-§3).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "image/verity.hpp"
#include "oci/descriptor.hpp"

namespace mos::image {

namespace layer_media_type {
// Written by mosb: the current stacker form (verity signalled only by the annotation).
inline constexpr std::string_view kSquashfsZstd =
    "application/vnd.stacker.image.layer.squashfs+zstd";
inline constexpr std::string_view kSquashfsGzip =
    "application/vnd.stacker.image.layer.squashfs+gzip";
// Read: every form stacker ever wrote, including "+zstd+verity" and the bare stacker type, and
// the pre-2020 "application/vnd.oci.image.layer.squashfs" (which current atomfs rejects).
inline constexpr std::string_view kSquashfsPrefix = "application/vnd.stacker.image.layer.squashfs";
inline constexpr std::string_view kSquashfsLegacyOci = "application/vnd.oci.image.layer.squashfs";
inline constexpr std::string_view kErofsPrefix = "application/vnd.stacker.image.layer.erofs";
}  // namespace layer_media_type

namespace layer_annotation {
inline constexpr std::string_view kRootHash =
    "io.stackeroci.stacker.atomfs_verity_root_hash";  // atomfs >= 1.2
inline constexpr std::string_view kRootHashPrevious =
    "io.stackeroci.stacker.squashfs_verity_root_hash";  // stacker <= 1.0
}  // namespace layer_annotation

enum class LayerFilesystem { squashfs, erofs, other };

LayerFilesystem layer_filesystem(std::string_view media_type);
// True for the "+verity" media types of stacker 1.0 (verity data is then expected).
bool media_type_says_verity(std::string_view media_type);

// The root hash a layer descriptor carries under either key; nullopt when it has none. Both
// keys with different values, or a value that is not 64 lowercase hex characters, are errors.
Result<std::optional<Sha256Bytes>> layer_root_hash(const oci::Descriptor& layer);

// The squashfs superblock fields mos needs (little-endian, 96 bytes).
struct SquashfsSuperblock {
  std::uint32_t inodes = 0;
  std::uint32_t mkfs_time = 0;
  std::uint32_t block_size = 0;
  std::uint16_t compression = 0;  // 1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
  std::uint64_t bytes_used = 0;
  // Where the verity data starts: bytes_used rounded up to 4096 (mksquashfs pads to 4K).
  std::uint64_t padded_size() const {
    return (bytes_used + kVerityBlockSize - 1) / kVerityBlockSize * kVerityBlockSize;
  }
};
inline constexpr std::size_t kSquashfsSuperblockSize = 96;

// Refuses a wrong magic, a version other than 4.0, a block size that is not a power of two
// between 4 KiB and 1 MiB, and bytes_used below the superblock size.
Result<SquashfsSuperblock> parse_squashfs_superblock(std::span<const std::byte> bytes);

}  // namespace mos::image
