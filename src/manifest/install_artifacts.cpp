#include "manifest/install_artifacts.hpp"

#include <cstdlib>
#include <ctime>

#include "oci/media_types.hpp"

namespace mos::manifest {

namespace {

namespace mt = oci::media_type;

oci::Descriptor blob_descriptor(std::string_view media_type, std::string_view bytes,
                                std::string_view title) {
  oci::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = oci::digest_of(bytes);
  d.size = static_cast<std::int64_t>(bytes.size());
  d.annotations[std::string(oci::annotation::kTitle)] = std::string(title);
  return d;
}

oci::Document artifact_manifest(std::string_view artifact_type, const oci::Descriptor& layer,
                                const std::optional<oci::Descriptor>& subject,
                                const std::string& created) {
  oci::ImageManifest m;
  m.media_type = std::string(mt::kImageManifest);
  m.artifact_type = std::string(artifact_type);
  m.config = oci::empty_descriptor();
  m.layers.push_back(layer);
  m.subject = subject;
  m.annotations[std::string(oci::annotation::kCreated)] = created;
  oci::Document doc;
  doc.media_type = std::string(mt::kImageManifest);
  doc.bytes = oci::encode_manifest(m);
  doc.digest = oci::digest_of(doc.bytes);
  return doc;
}

}  // namespace

InstallArtifacts make_install_artifacts(std::string_view install_json, std::string_view cert_pem,
                                        std::string_view signature, const std::string& created) {
  InstallArtifacts out;
  out.install = artifact_manifest(mt::kMachineInstall,
                                  blob_descriptor(mt::kMachineInstall, install_json, "index.json"),
                                  std::nullopt, created);
  auto subject = out.install.descriptor();
  out.certificate = artifact_manifest(mt::kMachinePubkeyCert,
                                      blob_descriptor(mt::kImageLayerTar, cert_pem, "cert.pem"),
                                      subject, created);
  out.signature = artifact_manifest(
      mt::kMachineSignature, blob_descriptor(mt::kImageLayerTar, signature, "install.json.signed"),
      subject, created);
  return out;
}

Status push_install_artifacts(oci::Repository& repository, const std::string& tag,
                              std::string_view install_json, std::string_view cert_pem,
                              std::string_view signature, const InstallArtifacts& artifacts) {
  MOS_TRY(repository.put_blob_bytes(oci::empty_descriptor(), oci::kEmptyJson));
  MOS_TRY(repository.put_blob_bytes(blob_descriptor(mt::kMachineInstall, install_json, ""),
                                    install_json));
  MOS_TRY(repository.put_blob_bytes(blob_descriptor(mt::kImageLayerTar, cert_pem, ""), cert_pem));
  MOS_TRY(repository.put_blob_bytes(blob_descriptor(mt::kImageLayerTar, signature, ""), signature));
  // The walkthrough's order: the tagged install manifest, then its two referrers.
  MOS_TRY(repository.put_manifest(artifacts.install, tag));
  MOS_TRY(repository.put_manifest(artifacts.certificate, std::nullopt));
  MOS_TRY(repository.put_manifest(artifacts.signature, std::nullopt));
  return {};
}

bool is_already_published(oci::Repository& repository, const std::string& tag,
                          const oci::Digest& install_json) {
  auto doc = repository.get_manifest(tag);
  if (!doc || doc->is_index()) return false;
  auto manifest = oci::parse_image_manifest(doc->bytes);
  if (!manifest || manifest->artifact_type != std::string(mt::kMachineInstall) ||
      manifest->layers.size() != 1 || manifest->layers[0].digest != install_json)
    return false;
  auto referrers = repository.referrers(doc->digest, std::nullopt);
  if (!referrers) return false;
  bool cert = false, sig = false;
  for (const auto& r : *referrers) {
    cert = cert || r.artifact_type == std::string(mt::kMachinePubkeyCert);
    sig = sig || r.artifact_type == std::string(mt::kMachineSignature);
  }
  return cert && sig;
}

std::string created_timestamp(std::optional<std::int64_t> given) {
  char buffer[64];
  if (const char* env = std::getenv("SOURCE_DATE_EPOCH"); !given && env && *env)
    given = std::strtoll(env, nullptr, 10);
  if (given) {
    std::time_t t = static_cast<std::time_t>(*given);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
  }
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S%z", &tm);
  std::string_view text = buffer;  // ...-0600 → ...-06:00 (RFC 3339)
  return fmt::format("{}:{}", text.substr(0, text.size() - 2), text.substr(text.size() - 2));
}

}  // namespace mos::manifest
