#pragma once
// The one interface every OCI content location implements: an image layout directory
// (LayoutStore) or a repository in a registry (RegistryRepository). The copy engine, mosb and
// mosctl only talk to this interface.
//
// Every blob that crosses it is verified: readers and fetches check the digest and size of the
// bytes against the descriptor and fail on a mismatch; writers never make an unverified or
// partial blob visible.
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "oci/document.hpp"

namespace mos::oci {

// Pull side of a blob transfer. read() returns 0 at the end; the last read() (or the one that
// detects it) fails if the bytes do not match the descriptor's digest and size.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual Result<std::size_t> read(std::span<std::byte> buffer) = 0;
  // True when this reader checks the bytes against `digest` itself: read() returns 0 (the end)
  // only after they matched, an error otherwise. A store writing them under that digest may
  // then skip hashing them a second time.
  virtual bool verifies(const Digest& digest) const {
    (void)digest;
    return false;
  }
};

// Push side of a blob transfer.
class BlobSink {
 public:
  virtual ~BlobSink() = default;
  virtual Status write(std::span<const std::byte> bytes) = 0;
};

class Repository {
 public:
  virtual ~Repository() = default;

  // For messages: "127.0.0.1:5000/machine/install" or "oci:/tmp/layout".
  virtual std::string describe() const = 0;

  // Manifests. `reference` is a tag or a digest string. get_manifest verifies the bytes against
  // the digest when the reference is a digest and limits them to kMaxManifestBytes.
  virtual Result<Descriptor> resolve(std::string_view reference) = 0;
  virtual Result<Document> get_manifest(std::string_view reference) = 0;
  // Stores the exact bytes; with a tag, also points the tag at them. A manifest with a subject
  // becomes a referrer of that subject (a registry without the referrers API gets the
  // tag-schema index updated by the implementation).
  virtual Status put_manifest(const Document& doc, const std::optional<std::string>& tag) = 0;
  virtual Result<std::vector<std::string>> list_tags() = 0;
  // Manifests whose subject is `subject`, optionally only those of one artifactType.
  virtual Result<std::vector<Descriptor>> referrers(
      const Digest& subject, const std::optional<std::string>& artifact_type) = 0;

  // Blobs.
  virtual Result<bool> has_blob(const Descriptor& blob) = 0;
  virtual Result<std::unique_ptr<BlobReader>> open_blob(const Descriptor& blob) = 0;
  // Streams a blob into sink; fails (after the sink saw the bytes) on a digest or size mismatch.
  virtual Status fetch_blob(const Descriptor& blob, BlobSink& sink) = 0;
  // Stores a blob read from source (verified as it is written).
  virtual Status put_blob(const Descriptor& blob, BlobReader& source) = 0;
  // Stores a small blob held in memory (configs, install.json, certificates).
  virtual Status put_blob_bytes(const Descriptor& blob, std::string_view bytes) = 0;
};

}  // namespace mos::oci

namespace mos::oci {

// Fetches a small blob (certificates, signatures, install.json) into memory, refusing before any
// transfer when the descriptor announces more than `limit` bytes.
Result<std::string> fetch_small_blob(Repository& repository, const Descriptor& blob,
                                     std::size_t limit);

// A sink that keeps what it receives in memory, up to a limit.
class StringSink final : public BlobSink {
 public:
  explicit StringSink(std::size_t limit) : limit_(limit) {}
  Status write(std::span<const std::byte> bytes) override;
  std::string& data() { return data_; }

 private:
  std::size_t limit_;
  std::string data_;
};

}  // namespace mos::oci
