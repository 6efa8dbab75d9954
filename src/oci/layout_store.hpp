#pragma once
// OCI image layouts as content stores: one layout directory (LayoutStore) and a zot-shaped root
// holding one layout per repository (LayoutRoot: ROOT/<repo>/{oci-layout, index.json, blobs/}).
//
// Layout on disk, readable by zot, skopeo and umoci as is:
//   oci-layout, index.json        tags are org.opencontainers.image.ref.name annotations, one
//                                 descriptor per tag; untagged manifests are listed without it
//   blobs/<alg>/<hex>             every blob, manifests included
//   .uploads/                     staging files of blobs being written (zot's upload directory)
//   .mos-index.lock               flock guarding index.json and .referrers/ against writers
//   .referrers/                   referrers index: <alg>-<hex>.json per subject, plus a stamp
//                                 (the digest of the index.json it matches; rebuilt by a scan
//                                 when missing or stale, e.g. after zot or skopeo wrote)
//
// Blobs are staged in .uploads, hashed as written and linked into blobs/ only when digest and
// size match and their bytes are on disk, so a crash (or a power cut) leaves at most a stray
// staging file. index.json is replaced atomically under the lock, so readers never need the lock.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file.hpp"
#include "core/result.hpp"
#include "oci/repository.hpp"

namespace mos::oci {

// Largest index.json read (a few hundred thousand entries).
inline constexpr std::size_t kMaxLayoutIndexBytes = 64 * 1024 * 1024;

class LayoutStore;

// index.json as read: its manifest descriptors and any other top-level fields (annotations,
// mediaType, ...) kept so that a rewrite preserves them.
struct LayoutIndex {
  std::vector<Descriptor> manifests;
  Json other_fields = Json::object();
  std::string stamp;  // digest of the file's bytes: names this version of index.json
};

// A blob being written into a layout: a staging file in .uploads, hashed as it is written.
// commit() verifies digest (and size, when given) and links it into blobs/; destruction
// without commit() removes the staging file.
class StagedBlob {
 public:
  static Result<StagedBlob> create(const LayoutStore& store,
                                   DigestAlgorithm algorithm = DigestAlgorithm::sha256);
  // For bytes whose source checks them against the digest commit() will be given (see
  // BlobReader::verifies): staged without hashing them again.
  static Result<StagedBlob> create_source_verified(const LayoutStore& store);
  Status write(std::span<const std::byte> bytes);
  Status write(std::string_view bytes) {
    return write(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }
  Status commit(const Digest& expected, std::optional<std::int64_t> expected_size = std::nullopt);
  std::uint64_t size() const;

 private:
  StagedBlob(const LayoutStore& store, AtomicFileWriter writer, DigestAlgorithm algorithm,
             bool hashing);
  const LayoutStore* store_;
  AtomicFileWriter writer_;
  Hasher hasher_;
  bool hashing_;
};

class LayoutStore final : public Repository {
 public:
  // Opens the layout at dir. With create=true a missing layout reads as empty and is made
  // (oci-layout, empty index.json, blobs/) by the first write, so a command that fails before
  // writing anything leaves no empty layout behind.
  static Result<std::unique_ptr<LayoutStore>> open(const std::filesystem::path& dir, bool create);
  const std::filesystem::path& dir() const { return dir_; }
  // Makes the layout on disk now if it was opened missing (every write does it first anyway).
  Status ensure_exists() const;

  std::string describe() const override;
  Result<Descriptor> resolve(std::string_view reference) override;
  Result<Document> get_manifest(std::string_view reference) override;
  Status put_manifest(const Document& doc, const std::optional<std::string>& tag) override;
  Result<std::vector<std::string>> list_tags() override;
  Result<std::vector<Descriptor>> referrers(
      const Digest& subject, const std::optional<std::string>& artifact_type) override;
  Result<bool> has_blob(const Descriptor& blob) override;
  Result<std::unique_ptr<BlobReader>> open_blob(const Descriptor& blob) override;
  Status fetch_blob(const Descriptor& blob, BlobSink& sink) override;
  Status put_blob(const Descriptor& blob, BlobReader& source) override;
  Status put_blob_bytes(const Descriptor& blob, std::string_view bytes) override;

  // Removes every index entry of the manifest (so its tags too), its blob, and its entry in the
  // referrers index of its subject.
  Status delete_manifest(const Digest& digest);
  // Removes the tag; the manifest stays listed (untagged) unless another tag still lists it.
  Status untag(std::string_view tag);
  Status delete_blob(const Digest& digest);
  // The file of a blob (fails when absent), for Range/sendfile serving.
  Result<std::filesystem::path> blob_path(const Digest& digest) const;

  // Finer-grained queries for the registry, which must tell "unknown" from I/O errors.
  // The descriptor a tag or digest names; nullopt when the layout does not have it.
  Result<std::optional<Descriptor>> find_manifest(std::string_view reference);
  // Size of a blob, nullopt when absent.
  Result<std::optional<std::int64_t>> blob_size(const Digest& digest) const;
  // Digests a manifest or index names (config, layers, children) that this layout lacks; the
  // subject is not checked (it may be pushed later). Layers with urls (foreign) are skipped.
  Result<std::vector<Digest>> missing_blobs(const Document& doc) const;
  // Moves a complete file (already verified by the caller against digest) into blobs/.
  Status adopt_blob_file(const std::filesystem::path& file, const Digest& digest);
  // The staging directory (<layout>/.uploads), created on demand.
  Result<std::filesystem::path> uploads_dir() const;
  // The flock file guarding index.json and the referrers index (garbage collection holds it
  // while it sweeps, so that no manifest push interleaves).
  std::filesystem::path lock_file() const { return dir_ / ".mos-index.lock"; }
  // index.json as parsed (shared, cached while the file is unchanged).
  Result<std::shared_ptr<const LayoutIndex>> read_index() const;

  // Durability of blobs. By default each committed blob is synced (file and directories) and
  // linked into blobs/ at once: what the registry needs, whose clients see a blob as soon as its
  // upload ends. A copy of many blobs instead calls defer_blob_sync(): committed blobs then wait,
  // verified but not synced, in .uploads (this store's own lookups see them), and the next index
  // change, flush_blobs() or the store's end makes them all durable with one syncfs(2) of the
  // layout's file system before linking them. One flush of the disk per image instead of three
  // per blob, and still no name in blobs/ whose bytes are not on disk.
  void defer_blob_sync() { defer_sync_ = true; }
  bool defers_blob_sync() const { return defer_sync_; }
  Status flush_blobs() const;
  ~LayoutStore() override;

 private:
  LayoutStore(std::filesystem::path dir, bool missing) : dir_(std::move(dir)), missing_(missing) {}
  // True while the layout was opened missing and nobody has made it since.
  bool still_missing() const;
  struct IndexUpdate;
  Status update_index(const std::function<Result<bool>(LayoutIndex&, IndexUpdate&)>& change);
  Status rebuild_referrers(const std::string& stamp, const LayoutIndex& index);
  Result<std::optional<std::vector<Descriptor>>> read_referrers_sidecar(
      const Digest& subject) const;
  Status write_referrers_sidecar(const Digest& subject, const std::vector<Descriptor>& list);
  // (subject, referrer descriptor) of every listed manifest that has a subject.
  Result<std::vector<std::pair<Digest, Descriptor>>> scan_referrers(const LayoutIndex& index) const;
  Result<Document> read_manifest_blob(const Descriptor& d) const;

  friend class StagedBlob;
  // A committed blob awaiting flush_blobs(), staged at `file`.
  void add_pending(const Digest& digest, std::filesystem::path file) const;
  // The file holding the blob: blobs/ALG/HEX, or its staging file while it is pending.
  std::filesystem::path blob_location(const Digest& digest) const;

  std::filesystem::path dir_;
  mutable std::atomic<bool> missing_;  // opened with create=true and not yet written
  mutable std::mutex create_mutex_;    // writers on several threads (the copy engine) race here
  bool defer_sync_ = false;
  mutable std::mutex pending_mutex_;
  mutable std::map<Digest, std::filesystem::path> pending_;  // committed, not yet durable
};

// A root directory holding one layout per repository, as zot stores them.
class LayoutRoot {
 public:
  static Result<LayoutRoot> open(const std::filesystem::path& root, bool create);
  // Validates name (distribution grammar: no "..", nothing absolute, lowercase components) and
  // refuses names that would nest inside another repository's layout.
  Result<std::unique_ptr<LayoutStore>> repository(std::string_view name, bool create);
  bool has_repository(std::string_view name) const;
  // Repository names, sorted.
  Result<std::vector<std::string>> catalog() const;
  const std::filesystem::path& root() const { return root_; }

 private:
  explicit LayoutRoot(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace mos::oci
