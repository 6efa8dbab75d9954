#pragma once
// Building service images: a directory (or a tar of one) becomes a reproducible squashfs layer
// with dm-verity data appended, an OCI image config and an image manifest in any Repository,
// in the shape stacker writes (spec: squashfs-verity-atomfs.md §4; docs/image.md).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "image/image_config.hpp"
#include "image/verity.hpp"
#include "oci/document.hpp"
#include "oci/repository.hpp"

namespace mos::image {

struct SquashfsLayerOptions {
  std::int64_t timestamp = 0;  // every inode's mtime and the filesystem's mkfs time
  bool all_root = true;        // owners become 0:0 (else kept as on disk)
  bool xattrs = false;         // store extended attributes (dropped by default: not reproducible)
  unsigned threads = 0;        // verity hashing threads (0: one per core)
  // zstd's level for mksquashfs (0: mksquashfs's own default, 15). Images rebuilt at every
  // keyset add (the bootkit's) take a lower one: kFastSquashfsLevel.
  int compression_level = 0;
};

// zstd level 9: a tenth of level 15's CPU time for ~9 % more bytes (measured on the hostfs:
// 0.8 s against 6.2 s, 35.9 MB against 32.9 MB).
inline constexpr int kFastSquashfsLevel = 9;

struct BuiltLayer {
  std::filesystem::path file;  // squashfs + verity superblock + hash tree
  oci::Descriptor descriptor;  // media type, digest, size and the root-hash annotation
  Sha256Bytes root_hash{};
  std::uint64_t squashfs_size = 0;  // the padded squashfs part (= verity hash offset)
};

// A squashfs that is no image's layer (the bootkit's initramfs tools): LZ4 HC, no verity data.
// LZ4 decompresses several times faster than zstd for ~20 % more bytes; where the file is read
// at boot under emulation, that is what counts (the tools' 22 MB: 0.03 s of decompression against
// zstd's 0.2 s, measured in a TCG guest). No layer media type names LZ4: layers stay zstd.
// Reproducible as the bootkit's other images: every time 0, every owner root.
Status build_squashfs_file(const std::filesystem::path& rootfs,
                           const std::filesystem::path& output);

// Runs mksquashfs on rootfs into `output` (which must not exist) with reproducible options, then
// appends verity data whose salt and UUID derive from the squashfs content.
Result<BuiltLayer> build_squashfs_layer(const std::filesystem::path& rootfs,
                                        const std::filesystem::path& output,
                                        const SquashfsLayerOptions& options);

struct ImageBuildOptions {
  std::filesystem::path from;  // a directory, or a tar archive of one
  ImageConfigFields config;
  std::int64_t timestamp = 0;  // SOURCE_DATE_EPOCH; also the config's "created"
  bool keep_owners = false;    // directories: keep uid/gid (tars keep theirs when run as root)
  bool xattrs = false;
  unsigned threads = 0;
  int compression_level = 0;  // as SquashfsLayerOptions'
  std::filesystem::path
      temp_parent;  // scratch space for tar extraction and the layer (default: $TMPDIR)
};

struct ImageBuildResult {
  oci::Document manifest;
  oci::Descriptor config;
  oci::Descriptor layer;
  Sha256Bytes root_hash{};
};

// Builds the layer, config and manifest and stores them in dest, tagged with every tag given
// (untagged when none).
Result<ImageBuildResult> build_image(const ImageBuildOptions& options, oci::Repository& dest,
                                     const std::vector<std::string>& tags);

// SOURCE_DATE_EPOCH from the environment (0 when unset); a malformed value is an error.
Result<std::int64_t> source_date_epoch();
// The same, telling unset (nullopt) from 0.
Result<std::optional<std::int64_t>> source_date_epoch_if_set();

// "2023-11-14T22:13:20Z": times in image configs.
std::string rfc3339_utc(std::int64_t seconds);
// The host's OCI architecture name (amd64, arm64, ...).
std::string_view host_architecture();

// The image config document (Go field order, compact) for one layer.
std::string encode_image_config(const ImageConfigFields& fields, std::int64_t timestamp,
                                const oci::Digest& diff_id);

}  // namespace mos::image
