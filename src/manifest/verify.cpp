#include "manifest/verify.hpp"

#include <filesystem>

#include "core/text.hpp"
#include "oci/media_types.hpp"
#include "trust/certificate.hpp"
#include "trust/signing.hpp"

namespace mos::manifest {

namespace {

namespace mt = oci::media_type;

struct Artifact {
  oci::Digest manifest_digest;
  std::string content;
};

// Loads one referrer candidate: its manifest must name our subject, have the expected
// artifactType and exactly one layer, which is fetched with a size limit.
Result<Artifact> load_referrer(oci::Repository& repository, const oci::Descriptor& referrer,
                               const oci::Digest& subject, std::string_view artifact_type,
                               std::size_t limit) {
  MOS_TRY_ASSIGN(auto doc, repository.get_manifest(referrer.digest.str()));
  if (doc.is_index()) return fail("it is an index, not a manifest");
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  if (!manifest.subject || manifest.subject->digest != subject)
    return fail("its subject is {}, not the install manifest {}",
                manifest.subject ? manifest.subject->digest.str() : std::string("missing"),
                subject.str());
  if (manifest.artifact_type.value_or(manifest.config.media_type) != artifact_type)
    return fail("its artifactType is not {}", artifact_type);
  if (manifest.layers.size() != 1)
    return fail("it has {}, expected exactly one", count_of(manifest.layers.size(), "layer"));
  MOS_TRY_ASSIGN(auto content, oci::fetch_small_blob(repository, manifest.layers[0], limit));
  return Artifact{doc.digest, std::move(content)};
}

std::string short_digest(const oci::Digest& d) {
  return d.str().substr(0, 19);
}

}  // namespace

Result<trust::CertificateInfo> check_signing_certificate(std::string_view cert_pem,
                                                         const TrustPolicy& policy) {
  MOS_TRY_ASSIGN(auto info, trust::verify_certificate(cert_pem, policy.ca_pem));
  if (policy.product_uuid && info.product_uuid != policy.product_uuid)
    return fail("it is for product {}, expected {}", info.product_uuid.value_or("(none)"),
                *policy.product_uuid);
  return info;
}

Result<SignedInstall> verify_signed_install(std::string_view install_json,
                                            std::string_view signature, std::string_view cert_pem,
                                            const TrustPolicy& policy) {
  SignedInstall out;
  auto info = check_signing_certificate(cert_pem, policy);
  if (!info) return context("certificate", info.error());
  out.certificate = std::move(*info);
  if (auto ok = trust::verify_signature(cert_pem, signature, install_json); !ok)
    return context("signature", ok.error());
  MOS_TRY_ASSIGN(out.manifest, parse_install_json(install_json));
  return out;
}

Result<oci::Reference> targets_reference(const oci::Reference& install) {
  oci::Reference out;
  if (!install.is_layout()) {
    out.transport = oci::Reference::Transport::registry;
    out.registry = install.registry;
    out.repository = "mos";
    return out;
  }
  std::error_code ec;
  auto dir = std::filesystem::absolute(install.layout_dir, ec).lexically_normal();
  for (auto parent = dir.parent_path(); !parent.empty(); parent = parent.parent_path()) {
    if (std::filesystem::exists(parent / "mos" / "index.json", ec)) {
      out.transport = oci::Reference::Transport::layout;
      out.layout_dir = (parent / "mos").string();
      return out;
    }
    if (parent == parent.root_path()) break;
  }
  return fail("no \"mos\" layout holding the target images was found above {}", install.layout_dir);
}

Result<VerifiedInstall> verify_install(oci::Repository& repository, std::string_view reference,
                                       const TrustPolicy& policy, oci::Repository* targets) {
  const std::string where = fmt::format("{}:{}", repository.describe(), reference);
  VerifiedInstall out;
  {
    auto doc = repository.get_manifest(reference);
    if (!doc) return fail("{}: {}", where, doc.error().message);
    out.install_manifest = std::move(*doc);
  }
  const auto& subject = out.install_manifest.digest;
  if (out.install_manifest.is_index())
    return fail("{} is an image index, not an install manifest", where);
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(out.install_manifest.bytes));
  if (manifest.artifact_type != std::string(mt::kMachineInstall))
    return fail("{} is not an install manifest: artifactType is \"{}\", expected {}", where,
                manifest.artifact_type.value_or(""), mt::kMachineInstall);
  if (manifest.layers.size() != 1 || manifest.layers[0].media_type != mt::kMachineInstall)
    return fail("{}: an install manifest has exactly one layer of type {}", where,
                mt::kMachineInstall);
  {
    auto bytes = oci::fetch_small_blob(repository, manifest.layers[0], kMaxInstallJsonBytes);
    if (!bytes) return fail("{}: install.json: {}", where, bytes.error().message);
    out.install_json = std::move(*bytes);
  }

  auto referrers = repository.referrers(subject, std::nullopt);
  if (!referrers) return fail("{}: listing referrers: {}", where, referrers.error().message);
  std::vector<oci::Descriptor> certs, sigs;
  for (const auto& r : *referrers) {
    auto type = r.artifact_type.value_or("");
    if (type == mt::kMachinePubkeyCert) certs.push_back(r);
    if (type == mt::kMachineSignature) sigs.push_back(r);
  }
  if (certs.empty())
    return fail("{}: no certificate referrer ({}) found", where, mt::kMachinePubkeyCert);
  if (sigs.empty())
    return fail("{}: no signature referrer ({}) found", where, mt::kMachineSignature);
  if (certs.size() > kMaxReferrerCandidates || sigs.size() > kMaxReferrerCandidates)
    return fail("{}: too many certificate or signature referrers ({} and {}, at most {})", where,
                certs.size(), sigs.size(), kMaxReferrerCandidates);

  std::vector<Artifact> signatures;
  std::vector<std::string> problems;
  for (const auto& s : sigs) {
    auto sig = load_referrer(repository, s, subject, mt::kMachineSignature, kMaxSignatureBytes);
    if (!sig) {
      problems.push_back(
          fmt::format("signature {}: {}", short_digest(s.digest), sig.error().message));
      continue;
    }
    signatures.push_back(std::move(*sig));
  }
  bool verified = false;
  for (const auto& c : certs) {
    auto cert = load_referrer(repository, c, subject, mt::kMachinePubkeyCert, kMaxCertificateBytes);
    if (!cert) {
      problems.push_back(
          fmt::format("certificate {}: {}", short_digest(c.digest), cert.error().message));
      continue;
    }
    auto info = check_signing_certificate(cert->content, policy);
    if (!info) {
      problems.push_back(
          fmt::format("certificate {}: {}", short_digest(c.digest), info.error().message));
      continue;
    }
    for (const auto& sig : signatures) {
      auto ok = trust::verify_signature(cert->content, sig.content, out.install_json);
      if (!ok) {
        problems.push_back(fmt::format("signature {} with certificate {}: {}",
                                       short_digest(sig.manifest_digest), short_digest(c.digest),
                                       ok.error().message));
        continue;
      }
      out.certificate_pem = cert->content;
      out.signature = sig.content;
      out.certificate_subject = info->subject;
      out.certificate_not_after = trust::format_time(info->not_after);
      out.product_uuid = info->product_uuid;
      verified = true;
      break;
    }
    if (verified) break;
  }
  if (!verified)
    return fail("{}: signature verification failed: {}", where, fmt::join(problems, "; "));

  auto parsed = parse_install_json(out.install_json);
  if (!parsed) return fail("{}: {}", where, parsed.error().message);
  out.manifest = std::move(*parsed);

  if (targets) {
    // Fetching the (small) image manifest by digest checks its bytes, not just an index entry.
    for (const auto& t : out.manifest.targets) {
      auto found = targets->get_manifest(t.digest->str());
      if (!found)
        return fail("{}: target {} ({}) is not available in {}: {}", where, t.service_name,
                    t.digest->str(), targets->describe(), found.error().message);
      if (found->digest != *t.digest)
        return fail("{}: target {} in {} has digest {}, but the signed manifest says {}", where,
                    t.service_name, targets->describe(), found->digest.str(), t.digest->str());
      if (static_cast<std::int64_t>(found->bytes.size()) != *t.size)
        return fail("{}: target {} ({}) is {} bytes in {}, but the signed manifest says {}", where,
                    t.service_name, t.digest->str(), found->bytes.size(), targets->describe(),
                    *t.size);
      if (!mt::is_manifest(found->media_type))
        return fail("{}: target {} ({}) is a {}, not an image manifest", where, t.service_name,
                    t.digest->str(), found->media_type);
    }
  }
  return out;
}

}  // namespace mos::manifest
