#pragma once
// mosb manifest publish: manifest.yaml → signed install manifest + certificate and signature
// referrers, with every target image copied next to it (repository "mos", tagged with the hex
// of its manifest digest, as the original does).
#include <optional>
#include <string>

#include "core/result.hpp"
#include "oci/digest.hpp"
#include "oci/open.hpp"

namespace mos::manifest {

struct PublishOptions {
  std::string manifest_path;
  std::string project;  // KEYSET:PROJECT
  std::string repo;     // HOST[:PORT], docker://HOST[:PORT] or oci:DIR
  std::string name;     // REPOSITORY:TAG
  bool skip_bootkit = false;
  // Refuse to move a tag that holds another install manifest (by default it moves, with a
  // warning: republishing a version during development is common; a release job sets this).
  bool no_overwrite = false;
  oci::OpenOptions open;  // credentials, TLS
  bool progress = false;  // progress bars while copying images
  // The install manifest's creation time (seconds since 1970); default SOURCE_DATE_EPOCH or now.
  std::optional<std::int64_t> created_epoch;
};

struct PublishResult {
  std::string install_reference;  // where the install manifest was published
  oci::Digest install_manifest = oci::digest_of("");
  oci::Digest install_json = oci::digest_of("");
  bool already_published = false;       // the tag already held this exact, signed install.json
  std::optional<oci::Digest> replaced;  // what the tag named before, when publishing moved it
};

Result<PublishResult> publish_manifest(const PublishOptions& options);

// Where publish puts things: DEST/NAME for the install manifest and DEST/mos for images.
struct PublishDestination {
  oci::Reference install;  // with the tag
  oci::Reference images;   // repository "mos"
};
Result<PublishDestination> publish_destination(std::string_view repo, std::string_view name);

}  // namespace mos::manifest
