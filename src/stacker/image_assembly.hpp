#pragma once
// The OCI image config and manifest of a built stacker image (spec: stacker.md §5): the base's
// config carried on and edited the way stacker edits it. Pure: no files, no processes.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "stacker/stacker_file.hpp"

namespace mos::stacker {

// An image while it is built: its layers, their diff_ids (the digest of the uncompressed
// content: for squashfs the layer's own digest) and its config document.
struct ImageState {
  std::vector<oci::Descriptor> layers;
  std::vector<std::string> diff_ids;
  std::string config;  // the config document's bytes (empty: no base config)
  oci::Annotations annotations;
};

struct NewLayer {
  oci::Descriptor descriptor;
  std::string diff_id;
  std::string created_by;  // history: "stacker build of NAME", "stacker overlay dir for NAME"
};

struct ConfigInputs {
  std::int64_t created = 0;
  std::string author;  // user@host, or "stacker" under SOURCE_DATE_EPOCH
  std::map<std::string, std::string> generated_labels;  // from generate_labels
};

// The config of `layer` over the base's: Env += environment (PATH added when absent), Cmd and
// Entrypoint always replaced (absent = cleared; full_command sets Entrypoint and clears Cmd),
// Labels and Volumes merged, WorkingDir and User when given, os/architecture, created, author,
// the diff_ids and one history entry per new layer plus stacker's empty-layer entry.
Result<std::string> assemble_config(const ImageState& base, const LayerSpec& layer,
                                    const std::vector<NewLayer>& added, const ConfigInputs& inputs);

// The manifest: base annotations, then the layer's, then <ns>.stacker.stacker_yaml and
// <ns>.stacker.stacker_version.
std::string assemble_manifest(const oci::Descriptor& config,
                              const std::vector<oci::Descriptor>& layers,
                              const oci::Annotations& base_annotations, const LayerSpec& layer,
                              std::string_view stacker_yaml,
                              std::string_view annotations_namespace);

}  // namespace mos::stacker
