#pragma once
// The three OCI artifacts of a published install manifest, exactly as the walkthrough shows
// them: the install manifest (artifactType application/vnd.machine.install, one layer titled
// index.json holding install.json) under its tag, and two untagged referrers whose subject is
// that manifest: the signing certificate (application/vnd.machine.pubkeycrt, layer cert.pem)
// and the signature (application/vnd.machine.signature, layer install.json.signed).
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "oci/document.hpp"
#include "oci/repository.hpp"

namespace mos::manifest {

struct InstallArtifacts {
  oci::Document install;
  oci::Document certificate;
  oci::Document signature;
};

// Builds the three manifests; `created` is their org.opencontainers.image.created annotation.
InstallArtifacts make_install_artifacts(std::string_view install_json, std::string_view cert_pem,
                                        std::string_view signature, const std::string& created);

// Uploads the blobs and the manifests (install tagged `tag` first, then its referrers).
Status push_install_artifacts(oci::Repository& repository, const std::string& tag,
                              std::string_view install_json, std::string_view cert_pem,
                              std::string_view signature, const InstallArtifacts& artifacts);

// True when `tag` already names an install manifest over exactly these install.json bytes with
// a certificate and a signature referrer: publishing again would only add duplicates.
bool is_already_published(oci::Repository& repository, const std::string& tag,
                          const oci::Digest& install_json);

// The org.opencontainers.image.created value: epoch (UTC) when given, else SOURCE_DATE_EPOCH
// (UTC) when set, else now in local time with its offset, as the original writes it.
std::string created_timestamp(std::optional<std::int64_t> epoch = std::nullopt);

}  // namespace mos::manifest
