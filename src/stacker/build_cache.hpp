#pragma once
// The build cache (STACKER_DIR/build.cache): per image, the key of its last build's inputs and the
// manifest it gave per layer type. An unchanged image is then not built again; its manifests are
// taken from the output layout (where they must still be). The file is rewritten whole, through a
// temporary and a rename, after each image; a malformed or older file is a cache that is empty.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace mos::stacker {

struct CacheEntry {
  std::string key;                               // sha256 hex of every input of the build
  std::map<std::string, std::string> manifests;  // layer type name -> manifest digest
};

class BuildCache {
 public:
  static BuildCache load(const std::filesystem::path& file);
  std::optional<CacheEntry> find(const std::string& image, const std::string& key) const;
  Status store(const std::string& image, CacheEntry entry);

 private:
  std::filesystem::path file_;
  std::map<std::string, CacheEntry> entries_;
};

}  // namespace mos::stacker
