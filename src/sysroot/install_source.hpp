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
#include "oci/open.hpp"
#include "oci/reference.hpp"
#include "oci/repository.hpp"

namespace mos::sysroot {

struct InstallSource {
  oci::Reference reference;
  std::string tag_or_digest;
  std::unique_ptr<oci::Repository> install;  // holds the install manifest and its referrers
  std::unique_ptr<oci::Repository> targets;  // holds the target images
};

Result<InstallSource> open_install_source(std::string_view url, const oci::OpenOptions& options);

// Copies the image a target pins (manifest, config, layers) from `from` into the store with the
// copy engine (parallel, every blob verified, present blobs skipped); tags it with the digest's
// hex so skopeo and umoci can name it (oci:STORE:<hex>). Returns the bytes copied.
Result<std::int64_t> copy_target_image(oci::Repository& from, oci::LayoutStore& store,
                                       const manifest::Target& target);

}  // namespace mos::sysroot
