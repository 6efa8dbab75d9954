#include "oci/registry_repository.hpp"

#include <spdlog/spdlog.h>

#include "oci/blob_pipe.hpp"
#include "oci/registry_protocol.hpp"

namespace mos::oci {

std::string RegistryRepository::describe() const {
  return fmt::format("{}/{}", client_->host(), repo_);
}

Result<Descriptor> RegistryRepository::resolve(std::string_view reference) {
  MOS_TRY_ASSIGN(auto found, client_->head_manifest(repo_, reference));
  if (!found) return fail("{}:{}: no such manifest in the registry", describe(), reference);
  return *found;
}

Result<Document> RegistryRepository::get_manifest(std::string_view reference) {
  return client_->get_manifest(repo_, reference);
}

Result<std::optional<Document>> RegistryRepository::referrers_tag_index(const Digest& subject) {
  auto tag = referrers_tag(subject);
  MOS_TRY_ASSIGN(auto found, client_->head_manifest(repo_, tag));
  if (!found) return std::nullopt;
  MOS_TRY_ASSIGN(auto doc, client_->get_manifest(repo_, tag));
  return doc;
}

Status RegistryRepository::update_referrers_tag(const Document& doc, const Digest& subject) {
  auto what =
      fmt::format("updating the referrers tag {} of {}", referrers_tag(subject), describe());
  auto wrap = [&](Error e) { return Error{what + ": " + e.message}; };
  MOS_TRY_ASSIGN(auto entry, with_context(referrer_descriptor(doc), what));
  MOS_TRY_ASSIGN(auto current, with_context(referrers_tag_index(subject), what));
  std::optional<std::string> bytes;
  if (current) bytes = current->bytes;
  auto updated = add_to_referrers_index(bytes, entry);
  if (!updated && current) {
    // Spec: a tag that is not a valid index is treated as no referrers; we start afresh.
    spdlog::warn("{}: the existing tag is not a valid image index ({}); replacing it", what,
                 updated.error().message);
    updated = add_to_referrers_index(std::nullopt, entry);
  }
  if (!updated) return std::unexpected(wrap(updated.error()));
  if (!*updated) return {};  // already listed
  MOS_TRY_ASSIGN(auto index_doc, with_context(make_document(std::move(**updated)), what));
  MOS_TRY(with_context(client_->put_manifest(repo_, referrers_tag(subject), index_doc), what));
  return {};
}

Status RegistryRepository::put_manifest(const Document& doc,
                                        const std::optional<std::string>& tag) {
  MOS_TRY_ASSIGN(auto pushed, client_->put_manifest(repo_, tag ? *tag : doc.digest.str(), doc));
  if (pushed.subject_acknowledged) return {};
  std::optional<Descriptor> subject;
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    subject = index.subject;
  } else {
    MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
    subject = manifest.subject;
  }
  if (!subject) return {};
  return update_referrers_tag(doc, subject->digest);
}

Result<std::vector<std::string>> RegistryRepository::list_tags() {
  return client_->list_tags(repo_);
}

Result<std::vector<Descriptor>> RegistryRepository::referrers(
    const Digest& subject, const std::optional<std::string>& artifact_type) {
  MOS_TRY_ASSIGN(auto api, client_->referrers_api(repo_, subject, artifact_type));
  if (api) return std::move(*api);
  // No referrers API: the tag-schema index. A tag that is not a valid index means no referrers.
  MOS_TRY_ASSIGN(auto index_doc, referrers_tag_index(subject));
  if (!index_doc) return std::vector<Descriptor>{};
  auto index = parse_image_index(index_doc->bytes);
  if (!index) {
    spdlog::warn("{}: the referrers tag {} is not a valid image index ({}); assuming no referrers",
                 describe(), referrers_tag(subject), index.error().message);
    return std::vector<Descriptor>{};
  }
  return filter_referrers(std::move(index->manifests), artifact_type);
}

Result<bool> RegistryRepository::has_blob(const Descriptor& blob) {
  MOS_TRY_ASSIGN(auto size, client_->blob_size(repo_, blob.digest));
  return size.has_value();
}

Result<std::unique_ptr<BlobReader>> RegistryRepository::open_blob(const Descriptor& blob) {
  // The download runs on its own thread (curl pushes bytes); the caller pulls them through a
  // 2 MiB ring. The client is shared (thread-safe); the descriptor is copied for the thread.
  auto client = client_;
  // get_blob verifies size and digest before it returns success.
  return make_blob_pipe(
      [client, repo = repo_, blob](BlobSink& sink) { return client->get_blob(repo, blob, sink); },
      2 * 1024 * 1024, blob.digest);
}

Status RegistryRepository::fetch_blob(const Descriptor& blob, BlobSink& sink) {
  return client_->get_blob(repo_, blob, sink);
}

Status RegistryRepository::put_blob(const Descriptor& blob, BlobReader& source) {
  MOS_TRY(client_->put_blob(repo_, blob, source));
  return {};
}

Result<bool> RegistryRepository::put_blob_mounting(const Descriptor& blob, BlobReader& source,
                                                   const std::string& from_repo) {
  return client_->put_blob(repo_, blob, source, from_repo);
}

Status RegistryRepository::put_blob_bytes(const Descriptor& blob, std::string_view bytes) {
  return client_->put_blob_bytes(repo_, blob, bytes);
}

}  // namespace mos::oci
