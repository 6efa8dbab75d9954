#pragma once
// Where an install or update comes from: the repository holding the install manifest (a
// registry HOST:PORT/REPO:TAG, docker://…, or an oci: layout) and the one holding its target
// images ("mos" beside it, manifest::targets_reference), and the copy of a target image from
// there into the machine's store with every blob verified.
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "manifest/manifest.hpp"
#include "oci/layout_store.hpp"
#include "oci/reference.hpp"
#include "oci/repository.hpp"

namespace mos::target {

struct InstallSource {
  oci::Reference reference;
  std::string tag_or_digest;
  std::unique_ptr<oci::Repository> install;  // holds the install manifest and its referrers
  std::unique_ptr<oci::Repository> targets;  // holds the target images
};

Result<InstallSource> open_install_source(std::string_view url);

// Copies the image a target pins (manifest, config, layers) from `from` into the store, skipping
// blobs already there, verifying each blob as it is written; tags it with the digest's hex so
// skopeo and umoci can name it (oci:STORE:<hex>).
Status copy_target_image(oci::Repository& from, oci::LayoutStore& store, const manifest::Target& target);

}  // namespace mos::target
