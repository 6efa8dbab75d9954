#pragma once
// Media types and annotation keys of the OCI image spec, Docker v2 and Project Machine.
#include <string_view>

namespace mos::oci::media_type {

inline constexpr std::string_view kImageManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kImageIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kImageConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kImageLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kImageLayerTarGzip =
    "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kLayoutHeader = "application/vnd.oci.layout.header.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// Project Machine artifacts.
inline constexpr std::string_view kMachineInstall = "application/vnd.machine.install";
inline constexpr std::string_view kMachinePubkeyCert = "application/vnd.machine.pubkeycrt";
inline constexpr std::string_view kMachineSignature = "application/vnd.machine.signature";

// The Accept header every manifest request sends (Docker's registry hides OCI manifests from
// requests that do not name their type).
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

inline bool is_manifest(std::string_view t) {
  return t == kImageManifest || t == kDockerManifest;
}
inline bool is_index(std::string_view t) {
  return t == kImageIndex || t == kDockerManifestList;
}

}  // namespace mos::oci::media_type

namespace mos::oci::annotation {
inline constexpr std::string_view kRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kTitle = "org.opencontainers.image.title";
inline constexpr std::string_view kCreated = "org.opencontainers.image.created";
}  // namespace mos::oci::annotation

namespace mos::oci {
// The empty descriptor's content "{}" (image-spec v1.1).
inline constexpr std::string_view kEmptyJson = "{}";
inline constexpr std::string_view kEmptyJsonDigest =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
// Largest manifest accepted from anywhere (distribution-spec: registries SHOULD accept 4 MB).
inline constexpr std::size_t kMaxManifestBytes = 4 * 1024 * 1024;
}  // namespace mos::oci
