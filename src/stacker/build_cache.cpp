// The build cache file.
#include "stacker/build_cache.hpp"

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/json.hpp"

namespace mos::stacker {
namespace {

// Changes whenever what goes into a key changes, so that old entries are never matched.
constexpr int kCacheVersion = 1;
constexpr std::size_t kMaxCacheFile = 16 << 20;

}  // namespace

BuildCache BuildCache::load(const std::filesystem::path& file) {
  BuildCache cache;
  cache.file_ = file;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return cache;
  auto text = read_file(file, kMaxCacheFile);
  auto json =
      text ? parse_json_strict(*text, file.string()) : Result<Json>(std::unexpected(text.error()));
  if (!json || !json->is_object() || json->value("version", 0) != kCacheVersion ||
      !(*json)["images"].is_object()) {
    spdlog::warn("{}: not a build cache of this version: starting an empty one", file.string());
    return cache;
  }
  for (const auto& [image, entry] : (*json)["images"].items()) {
    if (!entry.is_object() || !entry["key"].is_string() || !entry["manifests"].is_object())
      continue;
    CacheEntry e;
    e.key = entry["key"].get<std::string>();
    for (const auto& [type, digest] : entry["manifests"].items())
      if (digest.is_string()) e.manifests[type] = digest.get<std::string>();
    cache.entries_[image] = std::move(e);
  }
  return cache;
}

std::optional<CacheEntry> BuildCache::find(const std::string& image, const std::string& key) const {
  auto it = entries_.find(image);
  if (it == entries_.end() || it->second.key != key) return std::nullopt;
  return it->second;
}

Status BuildCache::store(const std::string& image, CacheEntry entry) {
  entries_[image] = std::move(entry);
  OrderedJson images = OrderedJson::object();
  for (const auto& [name, e] : entries_) {
    OrderedJson j = OrderedJson::object();
    j["key"] = e.key;
    j["manifests"] = e.manifests;
    images[name] = std::move(j);
  }
  OrderedJson doc = OrderedJson::object();
  doc["version"] = kCacheVersion;
  doc["images"] = std::move(images);
  return write_file_atomic(file_, doc.dump(1) + "\n");
}

}  // namespace mos::stacker
