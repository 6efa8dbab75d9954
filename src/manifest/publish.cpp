#include "manifest/publish.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "manifest/install_artifacts.hpp"
#include "manifest/manifest.hpp"
#include "oci/copy.hpp"
#include "oci/media_types.hpp"
#include "trust/keyset.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"

namespace mos::manifest {

namespace {

namespace mt = oci::media_type;
namespace fs = std::filesystem;

// A target's source, opened and resolved: the digest and size install.json will pin.
struct ResolvedSource {
  std::unique_ptr<oci::Repository> repository;
  oci::Descriptor image;
};

// Pins a target to the digest and size of its source image manifest (pins already in the YAML
// must match). Nothing is written anywhere.
Result<ResolvedSource> pin_target(Target& target, const oci::OpenOptions& open) {
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
  return ResolvedSource{std::move(*repo), *found};
}

// Copies a pinned target's image to DEST/mos:<hex>.
Status copy_target(const Target& target, ResolvedSource& source, oci::Repository& images,
                   bool progress) {
  const auto& digest = source.image.digest;
  spdlog::info("copying {} ({}) to {}:{}", target.source, digest.str(), images.describe(),
               digest.hex());
  oci::CopyOptions copy_options;
  copy_options.progress = progress;
  auto copied =
      oci::copy_image(*source.repository, digest.str(), images, digest.hex(), copy_options);
  if (!copied)
    return fail("target {}: copying {}: {}", target.service_name, target.source,
                copied.error().message);
  return {};
}

// What the tag holds today, when it is something else than this install.json: an overwrite.
Result<std::optional<oci::Digest>> replaced_manifest(oci::Repository& repo,
                                                     const std::string& tag) {
  auto existing = repo.resolve(tag);
  if (!existing) return std::optional<oci::Digest>{};  // no such tag (or no repository yet)
  return std::optional<oci::Digest>{existing->digest};
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

namespace {

// The keyset's hostfs (first) and bootkit (last) as targets, as the original adds them, each
// unless the manifest names its own: what a machine of the keyset boots. A keyset without
// bootkit images (made with --no-bootkit) gets neither, with a warning.
void add_bootkit_targets(Manifest& manifest, std::string_view keyset, const fs::path& keyset_dir) {
  auto layout = keyset_dir / trust::kBootkitLayoutDir;
  if (!fs::exists(layout / "index.json")) {
    spdlog::warn(
        "keyset {} has no bootkit (trust keyset bootkit {} builds it); publishing without hostfs "
        "and bootkit targets (pass --skip-bootkit to say so)",
        keyset, keyset);
    return;
  }
  auto source = [&](std::string_view tag) {
    return fmt::format("oci:{}:{}", layout.string(), tag);
  };
  if (!manifest.find_target("hostfs")) {
    Target hostfs;
    hostfs.service_name = "hostfs";
    hostfs.source = source(trust::kHostfsImageTag);
    hostfs.version = MOS_VERSION;
    hostfs.service_type = ServiceType::hostfs;
    manifest.targets.insert(manifest.targets.begin(), std::move(hostfs));
  }
  if (!manifest.find_target("bootkit")) {
    Target bootkit;
    bootkit.service_name = "bootkit";
    bootkit.source = source(trust::kBootkitImageTag);
    bootkit.version = "1.0.0";
    bootkit.service_type = ServiceType::fs_only;
    manifest.targets.push_back(std::move(bootkit));
  }
}

}  // namespace

Result<PublishResult> publish_manifest(const PublishOptions& options) {
  MOS_TRY_ASSIGN(auto manifest, read_manifest_yaml(options.manifest_path));
  MOS_TRY_ASSIGN(auto project_ref, trust::ProjectRef::parse(options.project));
  MOS_TRY_ASSIGN(auto project, trust::load_project(project_ref));
  MOS_TRY_ASSIGN(auto destination, publish_destination(options.repo, options.name));

  if (!options.skip_bootkit) add_bootkit_targets(manifest, project.keyset, project.keyset_dir);

  // Every source is resolved before anything is written, so a missing image leaves the
  // destination as it was.
  std::vector<ResolvedSource> sources;
  for (auto& target : manifest.targets) {
    MOS_TRY_ASSIGN(auto resolved, pin_target(target, options.open));
    sources.push_back(std::move(resolved));
  }
  MOS_TRY_ASSIGN(auto install_json, encode_install_json(manifest));

  oci::OpenOptions create = options.open;
  create.create = true;
  MOS_TRY_ASSIGN(auto repo, oci::open_repository(destination.install, create));
  PublishResult result;
  result.install_reference = destination.install.str();
  result.install_json = oci::digest_of(install_json);
  const std::string tag = *destination.install.tag;
  bool unchanged = is_already_published(*repo, tag, result.install_json);
  if (!unchanged) {
    MOS_TRY_ASSIGN(result.replaced, replaced_manifest(*repo, tag));
    if (result.replaced && options.no_overwrite)
      return fail("{} already holds another install manifest ({}); not replaced (--no-overwrite)",
                  result.install_reference, result.replaced->str());
  }
  MOS_TRY_ASSIGN(auto images, oci::open_repository(destination.images, create));
  for (std::size_t i = 0; i < manifest.targets.size(); ++i)
    MOS_TRY(copy_target(manifest.targets[i], sources[i], *images, options.progress));

  if (unchanged) {
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
  auto artifacts = make_install_artifacts(install_json, project.cert_pem, signature,
                                          created_timestamp(options.created_epoch));
  MOS_TRY(push_install_artifacts(*repo, tag, install_json, project.cert_pem, signature, artifacts));
  result.install_manifest = artifacts.install.digest;
  if (result.replaced)
    spdlog::warn("{} held another install manifest ({}); the tag now names {}",
                 result.install_reference, result.replaced->str(), artifacts.install.digest.str());
  spdlog::info("published {} ({}) with its certificate and signature", result.install_reference,
               artifacts.install.digest.str());
  return result;
}

}  // namespace mos::manifest
