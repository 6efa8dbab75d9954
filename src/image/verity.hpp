#pragma once
// dm-verity hash trees (format version 1, sha256, 4096-byte blocks) appended to a data file, as
// `veritysetup format DATA DATA --hash-offset=D` writes them and stacker/atomfs expect them
// behind every squashfs layer (docs/image.md; spec: squashfs-verity-atomfs.md §3).
//
// Why our own implementation: libcryptsetup can write a tree (crypt_format(CRYPT_VERITY)), but
// it hashes on one core, needs a block device or loop set-up for most operations, and
// verification outside the kernel exists only as the veritysetup CLI; activation needs
// device-mapper, which these hosts lack. The format is small and fully specified, so we compute
// it with OpenSSL, hashing the data in parallel, and check it against veritysetup in the tests.
//
// Layout after the data [0, D) (D = data_blocks * 4096):
//   [D, D+512)             superblock (encode_verity_superblock)
//   [D+512, D+4096)        zeros (not covered by dm-verity)
//   then the hash levels, top level first, leaf level last; EOF right after the leaf level.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::image {

inline constexpr std::uint32_t kVerityBlockSize = 4096;
inline constexpr std::size_t kVeritySuperblockSize = 512;
inline constexpr std::size_t kVeritySaltSize = 32;  // what veritysetup and stacker use
inline constexpr std::size_t kVerityMaxSalt = 256;  // room in the superblock
inline constexpr std::size_t kVerityDigestSize = 32;

using Sha256Bytes = std::array<std::uint8_t, 32>;

struct VeritySuperblock {
  std::uint32_t version = 1;
  std::uint32_t hash_type = 1;
  std::array<std::uint8_t, 16> uuid{};
  std::string algorithm = "sha256";
  std::uint32_t data_block_size = kVerityBlockSize;
  std::uint32_t hash_block_size = kVerityBlockSize;
  std::uint64_t data_blocks = 0;
  std::vector<std::uint8_t> salt;
};

// The 512 superblock bytes (all integers little-endian).
std::string encode_verity_superblock(const VeritySuperblock& sb);
// Parses a superblock and refuses anything but what mos writes and reads: signature
// "verity\0\0", version 1, hash type 1, sha256, 4096-byte blocks, salt of at most 256 bytes,
// non-zero data blocks, zero padding.
Result<VeritySuperblock> parse_verity_superblock(std::span<const std::byte> bytes);

// Where each part of the verity area lies, for `data_blocks` blocks whose superblock is at
// hash_offset (bytes).
struct VerityGeometry {
  std::uint64_t hash_offset = 0;
  std::uint64_t data_blocks = 0;
  std::uint64_t tree_offset = 0;            // first byte of the top level
  std::vector<std::uint64_t> level_blocks;  // blocks per level, leaf level first
  std::uint64_t tree_bytes() const;
  std::uint64_t end() const { return tree_offset + tree_bytes(); }  // file size
};
VerityGeometry verity_geometry(std::uint64_t hash_offset, std::uint64_t data_blocks);

struct VerityParams {
  std::vector<std::uint8_t> salt;  // kVeritySaltSize bytes normally
  std::array<std::uint8_t, 16> uuid{};
  unsigned threads = 0;  // 0: one per core
};

// Deterministic salt and UUID derived from a digest of the data, for reproducible layers.
VerityParams derived_verity_params(std::span<const std::uint8_t> content_digest);

// Computes the tree of the first data_size bytes of `file` (a multiple of 4096, > 0), writes the
// superblock and tree at data_size, cuts the file after the tree and returns the root hash.
// The file is not fsynced: whoever makes it durable (LayoutStore::adopt_blob_file) does that.
Result<Sha256Bytes> append_verity(const std::filesystem::path& file, std::uint64_t data_size,
                                  const VerityParams& params);

// Checks `fd` (a file with verity data at hash_offset, data_blocks*4096 == hash_offset) against
// root_hash: the superblock, the whole data area, every stored hash block (including the zero
// tails), the zero gap after the superblock and the file size. Any flipped byte fails.
Status verify_verity_fd(int fd, std::uint64_t hash_offset, const Sha256Bytes& root_hash,
                        unsigned threads = 0);
Status verify_verity(const std::filesystem::path& file, std::uint64_t hash_offset,
                     const Sha256Bytes& root_hash, unsigned threads = 0);

// Root hash of the data alone (no tree written or read): for callers that only need the hash.
Result<Sha256Bytes> compute_verity_root(int fd, std::uint64_t data_blocks,
                                        const VerityParams& params);

std::string hex_encode(std::span<const std::uint8_t> bytes);
// 64 lowercase hex characters.
Result<Sha256Bytes> parse_root_hash(std::string_view hex);

}  // namespace mos::image
