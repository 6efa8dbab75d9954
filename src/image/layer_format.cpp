#include "image/layer_format.hpp"

#include <cstring>

namespace mos::image {
namespace {

std::uint64_t le(std::span<const std::byte> in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(in[at + i]);
  return v;
}

}  // namespace

LayerFilesystem layer_filesystem(std::string_view media_type) {
  if (media_type.starts_with(layer_media_type::kSquashfsPrefix) ||
      media_type == layer_media_type::kSquashfsLegacyOci)
    return LayerFilesystem::squashfs;
  if (media_type.starts_with(layer_media_type::kErofsPrefix)) return LayerFilesystem::erofs;
  return LayerFilesystem::other;
}

bool media_type_says_verity(std::string_view media_type) {
  return media_type.ends_with("verity");
}

Result<std::optional<Sha256Bytes>> layer_root_hash(const oci::Descriptor& layer) {
  std::optional<Sha256Bytes> found;
  for (auto key : {layer_annotation::kRootHash, layer_annotation::kRootHashPrevious}) {
    auto it = layer.annotations.find(std::string(key));
    if (it == layer.annotations.end()) continue;
    auto parsed = parse_root_hash(it->second);
    if (!parsed)
      return context(fmt::format("layer {} annotation {}", layer.digest.str(), key),
                     parsed.error());
    if (found && *found != *parsed)
      return fail("layer {} has two different root hashes under {} and {}", layer.digest.str(),
                  layer_annotation::kRootHash, layer_annotation::kRootHashPrevious);
    found = *parsed;
  }
  return found;
}

Result<SquashfsSuperblock> parse_squashfs_superblock(std::span<const std::byte> in) {
  if (in.size() < kSquashfsSuperblockSize)
    return fail("squashfs superblock needs {} bytes, got {}", kSquashfsSuperblockSize, in.size());
  if (std::memcmp(in.data(), "hsqs", 4) != 0)
    return fail("not a squashfs filesystem (magic \"hsqs\" missing)");
  SquashfsSuperblock sb;
  sb.inodes = static_cast<std::uint32_t>(le(in, 4, 4));
  sb.mkfs_time = static_cast<std::uint32_t>(le(in, 8, 4));
  sb.block_size = static_cast<std::uint32_t>(le(in, 12, 4));
  sb.compression = static_cast<std::uint16_t>(le(in, 20, 2));
  sb.major = static_cast<std::uint16_t>(le(in, 28, 2));
  sb.minor = static_cast<std::uint16_t>(le(in, 30, 2));
  sb.bytes_used = le(in, 40, 8);
  if (sb.major != 4 || sb.minor != 0)
    return fail("squashfs version {}.{} is not supported (expected 4.0)", sb.major, sb.minor);
  if (sb.block_size < 4096 || sb.block_size > (1u << 20) ||
      (sb.block_size & (sb.block_size - 1)) != 0)
    return fail("squashfs block size {} is invalid", sb.block_size);
  if (sb.bytes_used < kSquashfsSuperblockSize || sb.bytes_used > (std::uint64_t{1} << 52))
    return fail("squashfs size {} is invalid", sb.bytes_used);
  return sb;
}

}  // namespace mos::image
