#pragma once
// A layer's imports (spec: stacker.md §3), made ready for its build: the ones without `dest`
// copied into one directory that the run script sees read-only under /stacker/imports; each one
// with `dest` turned into a tree of its own, holding it at its destination, which becomes a layer
// of the image. URLs are downloaded with the registry code's HTTP client and kept by URL;
// `hash` is checked for every kind of source.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "stacker/stacker_file.hpp"

namespace mos::stacker {

struct ImportSources {
  std::filesystem::path download_cache;  // downloaded URLs, one directory per URL
  bool require_hash = false;             // every URL import must carry a hash
  // Copies `path` of the built image `image` to `dest` (stacker://IMAGE/PATH).
  std::function<Status(const std::string& image, const std::string& path,
                       const std::filesystem::path& dest)>
      from_built;
};

struct StagedImports {
  std::filesystem::path dir;                      // mounted under /stacker
  std::vector<std::filesystem::path> dest_trees;  // one per dest import, in the file's order
  std::string fingerprint;  // sha256 over every import's name, attributes and content
};

// The local file or directory `source` names: itself (a path; "does not exist" otherwise), its
// download (an http(s) URL, kept in the download cache by URL; with `hash`, a kept copy is used
// only while it still has that hash), or a copy of stacker://IMAGE/PATH made in `scratch`.
Result<std::filesystem::path> fetch_source(const std::string& source,
                                           const std::optional<std::string>& hash,
                                           const std::filesystem::path& scratch,
                                           const ImportSources& sources);

// Stages the imports of `layer` into `stage` (made afresh) and `stage`-dest-N trees.
Result<StagedImports> stage_imports(const LayerSpec& layer, const std::filesystem::path& stage,
                                    const ImportSources& sources);

// sha256 (hex) over a file or directory tree: names, types, modes, owners, link targets and
// file contents, in name order. Modification times are left out, as stacker leaves them out.
Result<std::string> tree_fingerprint(const std::filesystem::path& path);

}  // namespace mos::stacker
