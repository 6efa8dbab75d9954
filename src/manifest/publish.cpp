#include "manifest/publish.hpp"

#include <spdlog/spdlog.h>

#include "manifest/install_artifacts.hpp"
#include "manifest/manifest.hpp"
#include "oci/copy.hpp"
#include "oci/media_types.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"

namespace mos::manifest {

namespace {

namespace mt = oci::media_type;

// Pins a target to the digest and size of its source image manifest and copies the image to
// DEST/mos:<hex>.
Status pin_and_copy(Target& target, oci::Repository& images, const oci::OpenOptions& open,
                    bool progress) {
  MOS_TRY_ASSIGN(auto source, oci::Reference::parse(target.source));
  auto repo = oci::open_repository(source, open);
  if (!repo) return fail("target {}: {}", target.service_name, repo.error().message);
  auto found = (*repo)->resolve(source.tag_or_digest());
  if (!found)
    return fail("target {}: resolving {}: {}", target.service_name, target.source,
                found.error().message);
  if (target.digest && *target.digest != found->digest)
    return fail("target {}: {} is {}, but manifest.yaml pins digest {}", target.service_name,
                target.source, found->digest.str(), target.digest->str());
  if (target.size && *target.size != found->size)
    return fail("target {}: {} is {} bytes, but manifest.yaml pins size {}", target.service_name,
                target.source, found->size, *target.size);
  target.digest = found->digest;
  target.size = found->size;
  spdlog::info("copying {} ({}) to {}:{}", target.source, found->digest.str(), images.describe(),
               found->digest.hex());
  oci::CopyOptions copy_options;
  copy_options.progress = progress;
  auto copied =
      oci::copy_image(**repo, found->digest.str(), images, found->digest.hex(), copy_options);
  if (!copied)
    return fail("target {}: copying {}: {}", target.service_name, target.source,
                copied.error().message);
  return {};
}

}  // namespace

Result<PublishDestination> publish_destination(std::string_view repo, std::string_view name) {
  auto colon = name.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail("--name \"{}\" must be REPOSITORY:TAG (such as machine/install:1.0.0)", name);
  std::string repository(name.substr(0, colon));
  std::string tag(name.substr(colon + 1));
  if (!oci::is_valid_repository_name(repository))
    return fail("--name \"{}\": \"{}\" is not a valid repository name", name, repository);
  if (!oci::is_valid_tag(tag)) return fail("--name \"{}\": \"{}\" is not a valid tag", name, tag);
  PublishDestination out;
  if (repo.starts_with("oci:")) {
    std::string root(repo.substr(4));
    if (root.empty()) return fail("--repo oci: needs a directory (oci:DIR)");
    MOS_TRY_ASSIGN(out.install,
                   oci::Reference::parse(fmt::format("oci:{}/{}:{}", root, repository, tag)));
    MOS_TRY_ASSIGN(out.images, oci::Reference::parse(fmt::format("oci:{}/mos", root)));
    return out;
  }
  std::string host(repo);
  if (host.starts_with("docker://")) host = host.substr(9);
  while (host.ends_with('/')) host.pop_back();
  auto install = oci::Reference::parse(fmt::format("{}/{}:{}", host, repository, tag));
  if (!install)
    return fail("--repo \"{}\" must be HOST[:PORT] or oci:DIR: {}", repo, install.error().message);
  out.install = *install;
  MOS_TRY_ASSIGN(out.images, oci::Reference::parse(fmt::format("{}/mos", host)));
  return out;
}

Result<PublishResult> publish_manifest(const PublishOptions& options) {
  MOS_TRY_ASSIGN(auto manifest, read_manifest_yaml(options.manifest_path));
  MOS_TRY_ASSIGN(auto project_ref, trust::ProjectRef::parse(options.project));
  MOS_TRY_ASSIGN(auto project, trust::load_project(project_ref));
  MOS_TRY_ASSIGN(auto destination, publish_destination(options.repo, options.name));

  if (!options.skip_bootkit) {
    spdlog::warn(
        "keyset {} has no bootkit artifacts yet (they come with the boot tools); publishing "
        "without hostfs and bootkit targets (pass --skip-bootkit to say so)",
        project.keyset);
  }

  oci::OpenOptions create = options.open;
  create.create = true;
  MOS_TRY_ASSIGN(auto images, oci::open_repository(destination.images, create));
  for (auto& target : manifest.targets)
    MOS_TRY(pin_and_copy(target, *images, options.open, options.progress));

  MOS_TRY_ASSIGN(auto install_json, encode_install_json(manifest));
  MOS_TRY_ASSIGN(auto repo, oci::open_repository(destination.install, create));
  PublishResult result;
  result.install_reference = destination.install.str();
  result.install_json = oci::digest_of(install_json);
  const std::string tag = *destination.install.tag;
  if (is_already_published(*repo, tag, result.install_json)) {
    auto existing = repo->resolve(tag);
    if (existing) {
      result.install_manifest = existing->digest;
      result.already_published = true;
      spdlog::info("{} already holds this install manifest ({}); nothing to publish",
                   result.install_reference, existing->digest.str());
      return result;
    }
  }
  MOS_TRY_ASSIGN(auto signature, trust::sign_bytes(project.private_key_pem, install_json));
  auto artifacts =
      make_install_artifacts(install_json, project.cert_pem, signature, created_timestamp());
  MOS_TRY(push_install_artifacts(*repo, tag, install_json, project.cert_pem, signature, artifacts));
  result.install_manifest = artifacts.install.digest;
  spdlog::info("published {} ({}) with its certificate and signature", result.install_reference,
               artifacts.install.digest.str());
  return result;
}

}  // namespace mos::manifest
