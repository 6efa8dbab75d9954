#include "target/install_source.hpp"

#include "manifest/verify.hpp"
#include "oci/media_types.hpp"
#include "target/crash_point.hpp"

namespace mos::target {
namespace {

Result<std::unique_ptr<oci::Repository>> open_repository_of(const oci::Reference& ref) {
  if (ref.is_layout()) {
    MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(ref.layout_dir, false));
    return std::unique_ptr<oci::Repository>(std::move(store));
  }
  return fail("{}: registry sources are not available in this build yet", ref.str());
}

}  // namespace

Result<InstallSource> open_install_source(std::string_view url) {
  InstallSource source;
  MOS_TRY_ASSIGN(source.reference, oci::Reference::parse(url));
  source.tag_or_digest = source.reference.tag_or_digest();
  MOS_TRY_ASSIGN(source.install, open_repository_of(source.reference));
  MOS_TRY_ASSIGN(auto targets_ref, manifest::targets_reference(source.reference));
  auto targets = open_repository_of(targets_ref);
  if (!targets) return context(fmt::format("opening the target images of {}", url), targets.error());
  source.targets = std::move(*targets);
  return source;
}

Status copy_target_image(oci::Repository& from, oci::LayoutStore& store, const manifest::Target& target) {
  const auto& digest = *target.digest;
  auto where = [&](const Error& e) {
    return context(fmt::format("copying target {} ({}) from {}", target.service_name, digest.str(), from.describe()), e);
  };
  auto doc = from.get_manifest(digest.str());
  if (!doc) return where(doc.error());
  if (doc->digest != digest || static_cast<std::int64_t>(doc->bytes.size()) != *target.size)
    return where(Error{fmt::format("the manifest is {} bytes with digest {}, the signed manifest says {} bytes",
                                   doc->bytes.size(), doc->digest.str(), *target.size)});
  if (doc->is_index()) return where(Error{"the image is an index; a target must be one image manifest"});
  auto image = oci::parse_image_manifest(doc->bytes);
  if (!image) return where(image.error());
  std::vector<oci::Descriptor> blobs{image->config};
  blobs.insert(blobs.end(), image->layers.begin(), image->layers.end());
  for (const auto& blob : blobs) {
    if (!blob.urls.empty()) continue;  // foreign layers are not ours to copy
    auto present = store.has_blob(blob);
    if (!present) return where(present.error());
    if (*present) continue;
    auto reader = from.open_blob(blob);
    if (!reader) return where(reader.error());
    if (auto s = store.put_blob(blob, **reader); !s) return where(s.error());
    crash_point("target-blob-copied");
  }
  if (auto s = store.put_manifest(*doc, digest.hex()); !s) return where(s.error());
  return {};
}

}  // namespace mos::target
