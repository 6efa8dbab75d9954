#include "sysroot/install_source.hpp"

#include "manifest/verify.hpp"
#include "oci/copy.hpp"
#include "oci/media_types.hpp"
#include "sysroot/crash_point.hpp"

namespace mos::sysroot {

Result<InstallSource> open_install_source(std::string_view url, const oci::OpenOptions& options) {
  InstallSource source;
  MOS_TRY_ASSIGN(source.reference, oci::Reference::parse(url));
  source.tag_or_digest = source.reference.tag_or_digest();
  oci::OpenOptions read_only = options;
  read_only.create = false;
  auto install = oci::open_repository(source.reference, read_only);
  if (!install) return context(fmt::format("opening {}", url), install.error());
  source.install = std::move(*install);
  MOS_TRY_ASSIGN(auto targets_ref, manifest::targets_reference(source.reference));
  auto targets = oci::open_repository(targets_ref, read_only);
  if (!targets)
    return context(fmt::format("opening the target images of {}", url), targets.error());
  source.targets = std::move(*targets);
  return source;
}

Result<std::int64_t> copy_target_image(oci::Repository& from, oci::LayoutStore& store,
                                       const manifest::Target& target) {
  const auto& digest = *target.digest;
  oci::CopyOptions options;
  options.parallel = 4;
  auto copied = oci::copy_image(from, digest.str(), store, digest.hex(), options);
  if (!copied)
    return context(fmt::format("copying target {} ({}) from {}", target.service_name, digest.str(),
                               from.describe()),
                   copied.error());
  if (copied->manifest.digest != digest || copied->manifest.size != *target.size)
    return fail("copying target {}: got {} ({} bytes), the signed manifest says {} ({} bytes)",
                target.service_name, copied->manifest.digest.str(), copied->manifest.size,
                digest.str(), *target.size);
  crash_point("target-image-copied");
  return copied->bytes_copied;
}

}  // namespace mos::sysroot
