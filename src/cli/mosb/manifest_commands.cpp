// mosb manifest publish | verify | inspect.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/common/program.hpp"
#include "cli/mosb/commands.hpp"
#include "core/file.hpp"
#include "manifest/publish.hpp"
#include "manifest/verify.hpp"
#include "oci/media_types.hpp"
#include "oci/open.hpp"
#include "trust/keyset.hpp"

namespace mos::cli {

namespace {

struct VerifyArgs {
  std::string reference;
  std::string keyset;
  std::string ca_file;
  std::string product_uuid;
};

Result<manifest::TrustPolicy> trust_policy(const VerifyArgs& args) {
  manifest::TrustPolicy policy;
  if (!args.ca_file.empty()) {
    MOS_TRY_ASSIGN(policy.ca_pem, read_file(args.ca_file, 1024 * 1024));
  } else if (!args.keyset.empty()) {
    MOS_TRY_ASSIGN(auto dir, trust::find_keyset(args.keyset));
    MOS_TRY_ASSIGN(policy.ca_pem, read_file(dir / "manifest-ca" / "cert.pem", 1024 * 1024));
  } else {
    return fail("give the manifest CA with --keyset KEYSET or --ca FILE");
  }
  if (!args.product_uuid.empty()) policy.product_uuid = args.product_uuid;
  return policy;
}

struct OpenedInstall {
  oci::Reference reference;
  std::unique_ptr<oci::Repository> repository;
  std::unique_ptr<oci::Repository> targets;
};

Result<OpenedInstall> open_install(const std::string& text, const oci::OpenOptions& options) {
  OpenedInstall out;
  MOS_TRY_ASSIGN(out.reference, oci::Reference::parse(text));
  MOS_TRY_ASSIGN(out.repository, oci::open_repository(out.reference, options));
  MOS_TRY_ASSIGN(auto targets, manifest::targets_reference(out.reference));
  MOS_TRY_ASSIGN(out.targets, oci::open_repository(targets, options));
  return out;
}

Status run_verify(const VerifyArgs& args, const oci::OpenOptions& options) {
  MOS_TRY_ASSIGN(auto policy, trust_policy(args));
  MOS_TRY_ASSIGN(auto opened, open_install(args.reference, options));
  MOS_TRY_ASSIGN(auto verified,
                 manifest::verify_install(*opened.repository, opened.reference.tag_or_digest(),
                                          policy, opened.targets.get()));
  fmt::print("verified {}\n", opened.reference.str());
  fmt::print("  install manifest {}\n", verified.install_manifest.digest.str());
  fmt::print("  install.json     {} ({} bytes)\n", oci::digest_of(verified.install_json).str(),
             verified.install_json.size());
  fmt::print("  signed by        {} (valid until {})\n", verified.certificate_subject,
             verified.certificate_not_after);
  fmt::print("  product          {} (certificate product {})\n", verified.manifest.product,
             verified.product_uuid.value_or("none"));
  for (const auto& t : verified.manifest.targets)
    fmt::print("  target {} {} {} {} ({} bytes)\n", t.service_name, t.version,
               manifest::to_string(t.service_type), t.digest->str(), *t.size);
  return {};
}

std::string title_of(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(oci::annotation::kTitle));
  return it == d.annotations.end() ? std::string() : it->second;
}

Status run_inspect(const std::string& reference, const oci::OpenOptions& options) {
  MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(reference));
  MOS_TRY_ASSIGN(auto repo, oci::open_repository(ref, options));
  MOS_TRY_ASSIGN(auto doc, repo->get_manifest(ref.tag_or_digest()));
  fmt::print("{} (not verified: use mosb manifest verify)\n", ref.str());
  if (doc.is_index()) return fail("{} is an image index, not an install manifest", ref.str());
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  fmt::print("└─ {} {} ({} bytes)\n", doc.digest.str(),
             manifest.artifact_type.value_or(manifest.config.media_type), doc.bytes.size());
  for (const auto& layer : manifest.layers)
    fmt::print("   ├─ layer {} {} {} ({} bytes)\n", title_of(layer), layer.digest.str(),
               layer.media_type, layer.size);
  MOS_TRY_ASSIGN(auto referrers, repo->referrers(doc.digest, std::nullopt));
  for (const auto& r : referrers) {
    fmt::print("   ├─ referrer {} {}\n", r.digest.str(), r.artifact_type.value_or("?"));
    auto child = repo->get_manifest(r.digest.str());
    if (!child || child->is_index()) continue;
    auto parsed = oci::parse_image_manifest(child->bytes);
    if (!parsed) continue;
    for (const auto& layer : parsed->layers)
      fmt::print("   │  └─ layer {} {} ({} bytes)\n", title_of(layer), layer.digest.str(),
                 layer.size);
  }
  if (manifest.layers.size() == 1 &&
      manifest.layers[0].size <= static_cast<std::int64_t>(manifest::kMaxInstallJsonBytes)) {
    auto bytes = oci::fetch_small_blob(*repo, manifest.layers[0], manifest::kMaxInstallJsonBytes);
    if (bytes) {
      auto install = manifest::parse_install_json(*bytes);
      if (install) {
        fmt::print("   └─ install.json: product {}, update_type {}\n", install->product,
                   manifest::to_string(install->update_type));
        for (const auto& t : install->targets)
          fmt::print("      ├─ {} {} {} {} ({} bytes)\n", t.service_name, t.version,
                     manifest::to_string(t.service_type), t.digest->str(), *t.size);
      } else {
        fmt::print("   └─ install.json does not parse: {}\n", install.error().message);
      }
    }
  }
  return {};
}

}  // namespace

void add_manifest_commands(Program& program) {
  auto access = std::make_shared<AccessFlags>();
  auto* group = program.app().add_subcommand(
      "manifest", "Publish, verify and inspect signed install manifests");
  group->require_subcommand(1);

  auto publish = std::make_shared<manifest::PublishOptions>();
  auto* p = group->add_subcommand(
      "publish", "Compile manifest.yaml into a signed install manifest and publish it");
  p->add_option("--project,--product", publish->project,
                "Keyset and project that sign: KEYSET:PROJECT")
      ->required();
  p->add_option("--repo", publish->repo,
                "Destination: HOST[:PORT] of a registry, or oci:DIR (a zot-shaped root)")
      ->required();
  p->add_option("--name", publish->name,
                "Repository and tag of the install manifest, such as machine/install:1.0.0")
      ->required();
  p->add_flag("--skip-bootkit,--skip-boot", publish->skip_bootkit,
              "Do not add the keyset's hostfs and bootkit targets");
  p->add_flag("--no-overwrite", publish->no_overwrite,
              "Refuse to move a tag that holds another install manifest (by default it moves, "
              "with a warning)");
  p->add_option("manifest", publish->manifest_path, "The manifest.yaml to compile")->required();
  add_access_flags(p, *access);
  program.on_run(p, [publish, access, &program]() -> Status {
    MOS_TRY_ASSIGN(publish->open, open_options(*access, false));
    publish->progress = !program.quiet() && isatty(2);
    MOS_TRY_ASSIGN(auto result, manifest::publish_manifest(*publish));
    fmt::print("{}@{}\n", result.install_reference, result.install_manifest.str());
    return {};
  });

  auto verify = std::make_shared<VerifyArgs>();
  auto* v = group->add_subcommand(
      "verify", "Verify a published install manifest: certificate, signature, targets");
  v->add_option("reference", verify->reference, "HOST:PORT/REPO:TAG, docker://... or oci:DIR:TAG")
      ->required();
  auto* keyset = v->add_option("--keyset", verify->keyset, "Trust the manifest CA of this keyset");
  v->add_option("--ca", verify->ca_file, "Trust this manifest CA certificate (PEM)")
      ->excludes(keyset);
  v->add_option("--product-uuid", verify->product_uuid,
                "Require the certificate to name this product");
  add_access_flags(v, *access);
  program.on_run(v, [verify, access]() -> Status {
    MOS_TRY_ASSIGN(auto options, open_options(*access, false));
    return run_verify(*verify, options);
  });

  auto inspect = std::make_shared<std::string>();
  auto* i = group->add_subcommand(
      "inspect", "Print the artifact tree of an install manifest (without verifying)");
  i->add_option("reference", *inspect, "HOST:PORT/REPO:TAG, docker://... or oci:DIR:TAG")
      ->required();
  add_access_flags(i, *access);
  program.on_run(i, [inspect, access]() -> Status {
    MOS_TRY_ASSIGN(auto options, open_options(*access, false));
    return run_inspect(*inspect, options);
  });
}

}  // namespace mos::cli
