#pragma once
// Building the images of a stacker file (`mosb image build -f`, `stacker build`; spec: stacker.md
// §4-§7, docs/stacker.md): every image in dependency order, its base fetched or taken from this
// build, its imports staged, its run script executed in a build container, its changes packed as
// a layer of each requested type into the output OCI layout; a build cache keyed by every input.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "oci/digest.hpp"
#include "oci/open.hpp"
#include "stacker/layer_pack.hpp"

namespace mos::stacker {

struct StackerBuildOptions {
  std::filesystem::path file = "stacker.yaml";
  std::vector<std::string> substitute;                  // K=V
  std::vector<std::filesystem::path> substitute_files;  // YAML maps
  std::vector<LayerType> layer_types;                   // none: tar, as stacker
  std::filesystem::path stacker_dir = ".stacker";       // cache, imports, unpacked layers
  std::filesystem::path oci_dir = "oci";                // the output layout
  std::filesystem::path roots_dir = "roots";            // the images' upper directories
  bool no_cache = false;
  bool require_hash = false;
  bool order_only = false;  // print the build order, build nothing
  // A placeholder without a value becomes this instead of an error (publish: "dummy").
  std::optional<std::string> missing_substitution;
  std::string annotations_namespace = "io.stackeroci";
  oci::OpenOptions open;  // how docker:// bases are reached
};

struct BuiltImage {
  std::string name;
  bool build_only = false;
  bool cached = false;
  std::vector<std::pair<std::string, oci::Digest>> tags;  // tag (or, build_only, type) -> manifest
};

Result<std::vector<BuiltImage>> build_stacker_file(const StackerBuildOptions& options);

// stacker's clean: removes the roots, oci and stacker directories of `options` (a build running
// on them is waited for by no one: it holds the stacker directory's lock, and clean refuses).
Status clean_stacker_dirs(const StackerBuildOptions& options);

}  // namespace mos::stacker
