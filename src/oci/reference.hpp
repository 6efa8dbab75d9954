#pragma once
// Image references as users write them:
//   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   a registry (HOST must look like a host name)
//   HOST[:PORT]/REPO[:TAG|@DIGEST]            the same, as the walkthrough writes it
//   oci:DIR[:TAG|@DIGEST]                     an OCI image layout directory
// Repository names and tags follow the distribution-spec grammar.
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "oci/digest.hpp"

namespace mos::oci {

struct Reference {
  enum class Transport { registry, layout };
  Transport transport = Transport::registry;
  std::string registry;    // HOST[:PORT] (registry transport)
  std::string repository;  // REPO (registry transport)
  std::string layout_dir;  // DIR (layout transport)
  std::optional<std::string> tag;
  std::optional<Digest> digest;

  static Result<Reference> parse(std::string_view text);

  bool is_layout() const { return transport == Transport::layout; }
  // The digest if there is one, else the tag, else "latest".
  std::string tag_or_digest() const;
  // The canonical text: docker://HOST/REPO:TAG or oci:DIR:TAG.
  std::string str() const;
  // Where, without tag or digest: "HOST/REPO" or "oci:DIR".
  std::string location() const;
};

bool is_valid_repository_name(std::string_view name);
bool is_valid_tag(std::string_view tag);
// Tag or digest as used in /v2/<name>/manifests/<reference>.
Result<std::string> validate_tag_or_digest(std::string_view reference);

}  // namespace mos::oci
