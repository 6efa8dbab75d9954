#pragma once
// A directory in overlayfs's format packed as a layer of the requested type (spec: stacker.md
// §5), straight into the output layout's blobs.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "oci/layout_store.hpp"

namespace mos::stacker {

// squashfs: stacker's squashfs+zstd with dm-verity appended and the root-hash annotation, tagged
// NAME-squashfs. tar: gzip tar with .wh. whiteouts, tagged NAME.
enum class LayerType { tar, squashfs };

std::string_view layer_type_name(LayerType type);
Result<LayerType> parse_layer_type(std::string_view text);
// The tag stacker gives an image built as `type`.
std::string image_tag(std::string_view image, LayerType type);
// Whether a layer of `media_type` is already of `type` (so a base layer is reused as it is).
bool layer_is_of_type(std::string_view media_type, LayerType type);

struct PackOptions {
  std::int64_t timestamp = 0;  // every entry's mtime
  bool keep_owners = true;     // false: every entry owned by 0:0 (overlay_dirs)
};

struct PackedLayer {
  oci::Descriptor descriptor;
  std::string diff_id;  // digest of the uncompressed content
};

Result<PackedLayer> pack_layer(const std::filesystem::path& tree, LayerType type,
                               const PackOptions& options, oci::LayoutStore& store);

}  // namespace mos::stacker
