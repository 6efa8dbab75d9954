#pragma once
// A repository in a registry (HOST/REPO) as a mos::oci::Repository, over a RegistryClient.
// Referrers come from the referrers API when the registry has it, else from the tag-schema index
// (sha256-<hex>), which put_manifest also maintains when the registry does not answer
// OCI-Subject to a manifest with a subject.
#include <memory>
#include <string>

#include "oci/registry_client.hpp"
#include "oci/repository.hpp"

namespace mos::oci {

class RegistryRepository final : public Repository {
 public:
  RegistryRepository(std::shared_ptr<RegistryClient> client, std::string repo)
      : client_(std::move(client)), repo_(std::move(repo)) {}

  const std::shared_ptr<RegistryClient>& client() const { return client_; }
  const std::string& repo() const { return repo_; }

  std::string describe() const override;
  Result<Descriptor> resolve(std::string_view reference) override;
  Result<Document> get_manifest(std::string_view reference) override;
  Status put_manifest(const Document& doc, const std::optional<std::string>& tag) override;
  Result<std::vector<std::string>> list_tags() override;
  Result<std::vector<Descriptor>> referrers(
      const Digest& subject, const std::optional<std::string>& artifact_type) override;
  Result<bool> has_blob(const Descriptor& blob) override;
  // A reader fed by a background download through a small bounded buffer (see blob_pipe.hpp).
  Result<std::unique_ptr<BlobReader>> open_blob(const Descriptor& blob) override;
  Status fetch_blob(const Descriptor& blob, BlobSink& sink) override;
  Status put_blob(const Descriptor& blob, BlobReader& source) override;
  Status put_blob_bytes(const Descriptor& blob, std::string_view bytes) override;

  // Uploads a blob, asking the registry first to mount it from another repository of itself;
  // true when it was mounted.
  Result<bool> put_blob_mounting(const Descriptor& blob, BlobReader& source,
                                 const std::string& from_repo);
  // The tag-schema index of subject, as stored (nullopt when the tag does not exist).
  Result<std::optional<Document>> referrers_tag_index(const Digest& subject);

 private:
  Status update_referrers_tag(const Document& doc, const Digest& subject);
  std::shared_ptr<RegistryClient> client_;
  std::string repo_;
};

}  // namespace mos::oci
