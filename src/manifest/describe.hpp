#pragma once
// What `mosb manifest verify` and `mosb manifest inspect` report, as JSON documents with a
// stable, documented shape (docs/manifest.md): the programs print them with --json and render
// the same documents as text otherwise, so both outputs always say the same.
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"
#include "manifest/manifest.hpp"
#include "manifest/verify.hpp"
#include "oci/reference.hpp"
#include "oci/repository.hpp"

namespace mos::manifest {

// An install.json as JSON: {"product", "update_type", "storage": [...], "targets": [...]},
// each target with its digest, size, network and storage.
Json describe_manifest(const Manifest& manifest);

// A successful verification:
//   {"reference", "verified": true, "install_manifest": {"digest","size"},
//    "install_json": {"digest","size"},
//    "certificate": {"subject","not_after","product_uuid"}, "install": describe_manifest(...)}
Json describe_verification(const oci::Reference& reference, const VerifiedInstall& verified);

// The artifact tree of an install manifest, read without verifying anything:
//   {"reference", "verified": false, "manifest": {"digest","mediaType","artifactType","size"},
//    "layers": [{"title","digest","mediaType","size"}],
//    "referrers": [{"digest","artifactType","layers": [...]}],
//    "install": describe_manifest(...) | {"error": "..."}}   ("install" only with one layer)
Result<Json> inspect_install(oci::Repository& repository, const oci::Reference& reference);

}  // namespace mos::manifest
