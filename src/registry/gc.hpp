#pragma once
// Opt-in garbage collection (storage.gc): removes blobs that no listed manifest references
// (directly, or through an index's children) once they are older than the delay, and upload
// files idle for longer than the delay. Manifests listed in index.json are never removed, so a
// referrer of a live subject (listed, untagged, as zot lists them) is never collected; a blob
// pushed moments ago for a manifest still to come is protected by the delay.
#include <chrono>
#include <cstdint>

#include "core/result.hpp"
#include "oci/layout_store.hpp"

namespace mos::registry {

struct GcReport {
  std::size_t blobs_removed = 0;
  std::size_t uploads_removed = 0;
  std::uint64_t bytes_freed = 0;
};

// One repository, under its index lock (a manifest push waits, then finds any blob it needs
// that was collected missing and is refused rather than left dangling).
Result<GcReport> collect_repository(oci::LayoutStore& store, std::chrono::seconds delay);
// Every repository of the root.
Result<GcReport> collect_garbage(oci::LayoutRoot& root, std::chrono::seconds delay);

}  // namespace mos::registry
