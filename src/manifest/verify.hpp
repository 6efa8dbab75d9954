#pragma once
// Verification of a published install manifest: the one code path mosb (manifest verify) and
// mosctl (install, update) share. Nothing a target names is downloaded here; only manifests and
// the small install.json, certificate and signature blobs, each with a size limit.
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "manifest/manifest.hpp"
#include "oci/document.hpp"
#include "oci/reference.hpp"
#include "oci/repository.hpp"
#include "trust/certificate.hpp"

namespace mos::manifest {

struct TrustPolicy {
  std::string ca_pem;                       // the manifest CA (PEM, may hold several)
  std::optional<std::string> product_uuid;  // the product the certificate must name
};

struct VerifiedInstall {
  oci::Document install_manifest;  // the OCI manifest the tag points at
  std::string install_json;        // the exact signed bytes
  Manifest manifest;               // parsed and validated
  std::string certificate_pem;
  std::string signature;
  std::string certificate_subject;
  std::string certificate_not_after;
  std::optional<std::string> product_uuid;
};

// The checks on one signing certificate: it chains to the policy's CA, is valid now, allows code
// signing, and names the policy's product when one is required (CN "manifest PRODUCT:<uuid>").
// install.json's own `product` field is a name ("default" in the walkthrough), not the uuid, so
// the binding is between the certificate and the machine, not the certificate and the field.
Result<trust::CertificateInfo> check_signing_certificate(std::string_view cert_pem,
                                                         const TrustPolicy& policy);

struct SignedInstall {
  Manifest manifest;
  trust::CertificateInfo certificate;
};

// The offline check of a stored triple (install.json, its signature, its certificate): the
// certificate as above, the signature over the exact bytes, then install.json parsed strictly.
// verify_install runs the same checks on every candidate pair it fetches.
Result<SignedInstall> verify_signed_install(std::string_view install_json,
                                            std::string_view signature, std::string_view cert_pem,
                                            const TrustPolicy& policy);

// Where target images live for an install manifest reference: the repository "mos" of the same
// registry, or for a layout the "mos" layout in the nearest parent directory of the install
// layout (publish writes ROOT/NAME and ROOT/mos).
Result<oci::Reference> targets_reference(const oci::Reference& install);

// Fetches the install manifest `reference` from `repository`, its install.json and every
// certificate and signature referrer, and accepts only when some certificate chains to the CA,
// is valid now, allows code signing and names the expected product, and a signature by it
// verifies over install.json. With `targets`, every target digest must resolve there with the
// exact size. The error names the check that failed for each candidate.
Result<VerifiedInstall> verify_install(oci::Repository& repository, std::string_view reference,
                                       const TrustPolicy& policy, oci::Repository* targets);

// Limits on what verification reads before anything is trusted.
inline constexpr std::size_t kMaxCertificateBytes = 64 * 1024;
inline constexpr std::size_t kMaxSignatureBytes = 16 * 1024;
inline constexpr std::size_t kMaxReferrerCandidates = 16;

}  // namespace mos::manifest
