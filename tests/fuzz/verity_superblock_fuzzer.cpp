// Fuzzes the readers of untrusted layer bytes: the verity superblock, the squashfs superblock
// and the root-hash annotation parser.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "image/layer_format.hpp"
#include "image/verity.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto bytes = std::as_bytes(std::span(data, size));
  if (auto sb = mos::image::parse_verity_superblock(bytes)) {
    // Whatever parses must encode back to the same 512 bytes.
    std::string again = mos::image::encode_verity_superblock(*sb);
    if (std::string_view(reinterpret_cast<const char*>(data), mos::image::kVeritySuperblockSize) !=
        again)
      __builtin_trap();
    (void)mos::image::verity_geometry(sb->data_blocks * mos::image::kVerityBlockSize,
                                      sb->data_blocks);
  }
  (void)mos::image::parse_squashfs_superblock(bytes);
  (void)mos::image::parse_root_hash(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
