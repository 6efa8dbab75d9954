#pragma once
// Where an image of a stacker file starts (spec: stacker.md §4-§5): a docker or oci image fetched
// into STACKER_DIR/layer-bases and its layers carried into the output layout (repacked when
// their type is not the one asked for), a tarball, an image built before in this run, or nothing.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "oci/layout_store.hpp"
#include "oci/open.hpp"
#include "stacker/image_assembly.hpp"
#include "stacker/import_staging.hpp"
#include "stacker/layer_pack.hpp"
#include "stacker/stacker_file.hpp"

namespace mos::stacker {

struct BaseImage {
  std::string key;                               // identifies the base for the cache
  std::map<LayerType, ImageState> states;        // per requested type
  std::optional<std::filesystem::path> tarball;  // from tar: unpacked into the new layer
};

struct BaseSources {
  oci::LayoutStore& output;
  std::filesystem::path bases_dir;   // STACKER_DIR/layer-bases/oci
  std::filesystem::path layers_dir;  // unpacked layer trees, by digest
  const std::vector<LayerType>& types;
  oci::OpenOptions open;
  // The images built so far in this run: key and states.
  const std::map<std::string, BaseImage>& built;
  // How a tar base's URL is fetched (a path, http(s), stacker://IMAGE/PATH), as imports are;
  // stacker:// copies go to `tar_scratch`.
  const ImportSources& fetch;
  std::filesystem::path tar_scratch;
};

Result<BaseImage> resolve_base(const LayerSpec& layer, const BaseSources& sources);

// The state of an image from its manifest in `store` (a cached build, a base).
Result<ImageState> read_image_state(oci::Repository& store, std::string_view reference);

}  // namespace mos::stacker
