#pragma once
// The copy engine: copies a manifest or index (recursively, children first) with all its blobs
// from one Repository to another. Blobs move in parallel (each transfer on its own connection),
// are skipped when the destination has them, are mounted when source and destination are two
// repositories of one registry, and are verified on both sides. Manifest bytes are never
// re-encoded, so digests do not change. Memory stays bounded whatever the blob sizes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "oci/repository.hpp"

namespace mos::oci {

struct CopyOptions {
  int parallel = 4;        // blob transfers at once
  bool referrers = false;  // also copy the manifests that refer to the copied one
  bool progress = false;   // draw a progress line on stderr
};

struct CopyResult {
  Descriptor manifest;  // what was copied (top-level)
  int blobs_copied = 0;
  int blobs_skipped = 0;  // already present
  int blobs_mounted = 0;
  int manifests = 0;
  int referrers = 0;
  std::int64_t bytes_copied = 0;
};

// Copies src_reference (tag or digest) of src to dst, tagging it dst_tag there (untagged when
// nullopt).
Result<CopyResult> copy_image(Repository& src, std::string_view src_reference, Repository& dst,
                              const std::optional<std::string>& dst_tag,
                              const CopyOptions& options);

}  // namespace mos::oci
