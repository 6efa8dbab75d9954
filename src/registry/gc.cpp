#include "registry/gc.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "core/lock.hpp"
#include "oci/media_types.hpp"

namespace mos::registry {

namespace {

using Clock = std::filesystem::file_time_type::clock;

// Adds the blobs a manifest or index names (and, for an index, its children's) to live.
void mark(oci::LayoutStore& store, const oci::Descriptor& d, std::set<oci::Digest>& live,
          int depth) {
  if (!live.insert(d.digest).second || depth > 8) return;
  if (!oci::media_type::is_manifest(d.media_type) && !oci::media_type::is_index(d.media_type))
    return;
  auto doc = store.get_manifest(d.digest.str());
  if (!doc) return;  // an unreadable manifest keeps only itself
  if (doc->is_index()) {
    if (auto index = oci::parse_image_index(doc->bytes))
      for (const auto& child : index->manifests) mark(store, child, live, depth + 1);
  } else if (auto manifest = oci::parse_image_manifest(doc->bytes)) {
    live.insert(manifest->config.digest);
    for (const auto& layer : manifest->layers) live.insert(layer.digest);
  }
}

bool older_than(const std::filesystem::directory_entry& entry, std::chrono::seconds delay) {
  std::error_code ec;
  auto when = entry.last_write_time(ec);
  return !ec && Clock::now() - when > delay;
}

}  // namespace

Result<GcReport> collect_repository(oci::LayoutStore& store, std::chrono::seconds delay) {
  GcReport report;
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(store.lock_file(), FileLock::Mode::exclusive));
  MOS_TRY_ASSIGN(auto index, store.read_index());
  std::set<oci::Digest> live;
  for (const auto& d : index->manifests) mark(store, d, live, 0);
  std::error_code ec;
  for (auto algorithm : {oci::DigestAlgorithm::sha256, oci::DigestAlgorithm::sha512}) {
    auto dir =
        store.dir() / "blobs" / (algorithm == oci::DigestAlgorithm::sha256 ? "sha256" : "sha512");
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      auto name = entry.path().filename().string();
      auto digest = oci::Digest::parse(fmt::format("{}:{}", dir.filename().string(), name));
      if (!digest || live.contains(*digest) || !entry.is_regular_file(ec) ||
          !older_than(entry, delay))
        continue;
      auto size = entry.file_size(ec);
      if (std::filesystem::remove(entry.path(), ec)) {
        ++report.blobs_removed;
        report.bytes_freed += ec ? 0 : size;
      }
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(store.dir() / ".uploads", ec)) {
    if (!entry.is_regular_file(ec) || !older_than(entry, delay)) continue;
    auto size = entry.file_size(ec);
    if (std::filesystem::remove(entry.path(), ec)) {
      ++report.uploads_removed;
      report.bytes_freed += ec ? 0 : size;
    }
  }
  return report;
}

Result<GcReport> collect_garbage(oci::LayoutRoot& root, std::chrono::seconds delay) {
  GcReport total;
  MOS_TRY_ASSIGN(auto names, root.catalog());
  for (const auto& name : names) {
    auto store = root.repository(name, false);
    if (!store) continue;
    auto report = collect_repository(**store, delay);
    if (!report) {
      spdlog::warn("gc of {}: {}", name, report.error().message);
      continue;
    }
    total.blobs_removed += report->blobs_removed;
    total.uploads_removed += report->uploads_removed;
    total.bytes_freed += report->bytes_freed;
    if (report->blobs_removed + report->uploads_removed > 0)
      spdlog::info("gc of {}: removed {} blobs and {} uploads ({} bytes)", name,
                   report->blobs_removed, report->uploads_removed, report->bytes_freed);
  }
  return total;
}

}  // namespace mos::registry
