// mosb manifest publish | verify | inspect.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/common/program.hpp"
#include "cli/common/tree_text.hpp"
#include "cli/mosb/commands.hpp"
#include "core/file.hpp"
#include "manifest/describe.hpp"
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
  bool json = false;
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

std::string describe_target_line(const Json& t) {
  return fmt::format("target {} {} {} {} ({} bytes)", t["service_name"].get<std::string>(),
                     t["version"].get<std::string>(), t["service_type"].get<std::string>(),
                     t["digest"].get<std::string>(), t["size"].get<std::int64_t>());
}

std::string describe_storage_line(const Json& s) {
  return fmt::format("storage {} {} nsgroup {} {} MiB", s["label"].get<std::string>(),
                     s["persistent"].get<bool>() ? "persistent" : "recreated at boot",
                     s["nsgroup"].get<std::string>(), s["size_mib"].get<std::uint64_t>());
}

Status run_verify(const VerifyArgs& args, const oci::OpenOptions& options) {
  auto verified = [&]() -> Result<Json> {
    MOS_TRY_ASSIGN(auto policy, trust_policy(args));
    MOS_TRY_ASSIGN(auto opened, open_install(args.reference, options));
    MOS_TRY_ASSIGN(auto result,
                   manifest::verify_install(*opened.repository, opened.reference.tag_or_digest(),
                                            policy, opened.targets.get()));
    return manifest::describe_verification(opened.reference, result);
  }();
  if (args.json) {
    // A CI job reads the verdict from stdout and gates on the exit code.
    Json out = verified ? *verified
                        : Json{{"reference", args.reference},
                               {"verified", false},
                               {"error", verified.error().message}};
    fmt::print("{}\n", out.dump(2));
  }
  if (!verified) return std::unexpected(verified.error());
  if (args.json) return {};
  const Json& v = *verified;
  const Json& install = v["install"];
  fmt::print("verified {}\n", v["reference"].get<std::string>());
  fmt::print("  install manifest {}\n", v["install_manifest"]["digest"].get<std::string>());
  fmt::print("  install.json     {} ({} bytes)\n", v["install_json"]["digest"].get<std::string>(),
             v["install_json"]["size"].get<std::size_t>());
  fmt::print("  signed by        {} (valid until {})\n",
             v["certificate"]["subject"].get<std::string>(),
             v["certificate"]["not_after"].get<std::string>());
  const Json& uuid = v["certificate"]["product_uuid"];
  fmt::print("  product          {} (certificate product {})\n",
             install["product"].get<std::string>(),
             uuid.is_string() ? uuid.get<std::string>() : "none");
  for (const auto& s : install["storage"]) fmt::print("  {}\n", describe_storage_line(s));
  for (const auto& t : install["targets"]) fmt::print("  {}\n", describe_target_line(t));
  return {};
}

std::string describe_layer_line(const Json& l, bool with_media_type) {
  return fmt::format("layer {} {}{} ({} bytes)", l["title"].get<std::string>(),
                     l["digest"].get<std::string>(),
                     with_media_type ? " " + l["mediaType"].get<std::string>() : "",
                     l["size"].get<std::int64_t>());
}

std::string render_inspection(const Json& tree) {
  TreeNode root{fmt::format("{} (not verified: use mosb manifest verify)",
                            tree["reference"].get<std::string>()),
                {}};
  const Json& m = tree["manifest"];
  auto& top =
      root.add(fmt::format("{} {} ({} bytes)", m["digest"].get<std::string>(),
                           m["artifactType"].is_string() ? m["artifactType"].get<std::string>()
                                                         : m["mediaType"].get<std::string>(),
                           m["size"].get<std::size_t>()));
  for (const auto& l : tree["layers"]) top.add(describe_layer_line(l, true));
  for (const auto& r : tree["referrers"]) {
    auto& referrer = top.add(
        fmt::format("referrer {} {}", r["digest"].get<std::string>(),
                    r["artifactType"].is_string() ? r["artifactType"].get<std::string>() : "?"));
    for (const auto& l : r["layers"]) referrer.add(describe_layer_line(l, false));
  }
  if (tree.contains("install")) {
    const Json& install = tree["install"];
    if (install.contains("error")) {
      top.add(fmt::format("install.json does not parse: {}", install["error"].get<std::string>()));
    } else {
      auto& node = top.add(fmt::format("install.json: product {}, update_type {}",
                                       install["product"].get<std::string>(),
                                       install["update_type"].get<std::string>()));
      for (const auto& s : install["storage"]) node.add(describe_storage_line(s));
      for (const auto& t : install["targets"]) node.add(describe_target_line(t));
    }
  }
  return render_tree(root);
}

Status run_inspect(const std::string& reference, bool json, const oci::OpenOptions& options) {
  MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(reference));
  MOS_TRY_ASSIGN(auto repo, oci::open_repository(ref, options));
  MOS_TRY_ASSIGN(auto tree, manifest::inspect_install(*repo, ref));
  std::string text = json ? tree.dump(2) + "\n" : render_inspection(tree);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return {};
}

}  // namespace

void add_manifest_commands(Program& program) {
  auto access = std::make_shared<AccessFlags>();
  auto* group = program.app().add_subcommand(
      "manifest", "Publish, verify and inspect signed install manifests");
  group->require_subcommand(1);
  program.examples(
      group, {{"Compile, sign and publish manifest.yaml",
               "mosb manifest publish --project snakeoil:default --repo 127.0.0.1:5000 "
               "--name machine/install:1.0.0 manifest.yaml"},
              {"Verify what was published",
               "mosb manifest verify --keyset snakeoil 127.0.0.1:5000/machine/install:1.0.0"}});

  auto publish = std::make_shared<manifest::PublishOptions>();
  auto* p = group->add_subcommand(
      "publish", "Compile manifest.yaml into a signed install manifest and publish it");
  p->add_option("--project,--product", publish->project,
                "Keyset and project that sign: KEYSET:PROJECT")
      ->option_text("KEYSET:PROJECT")
      ->required();
  p->add_option("--repo", publish->repo,
                "Destination: HOST[:PORT] of a registry, or oci:DIR (a zot-shaped root)")
      ->type_name("DEST")
      ->required();
  p->add_option("--name", publish->name,
                "Repository and tag of the install manifest, such as machine/install:1.0.0")
      ->option_text("REPO:TAG")
      ->required();
  p->add_flag("--skip-bootkit,--skip-boot", publish->skip_bootkit,
              "Do not add the keyset's hostfs and bootkit targets");
  p->add_flag("--no-overwrite", publish->no_overwrite,
              "Refuse to move a tag that holds another install manifest (by default it moves, "
              "with a warning)");
  p->add_option("FILE", publish->manifest_path, "The manifest.yaml to compile")->required();
  program.examples(p,
                   {{"The walkthrough: sign with snakeoil's project default, publish to a registry",
                     "mosb manifest publish --project snakeoil:default --repo 127.0.0.1:5000 "
                     "--name machine/install:1.0.0 manifest.yaml"},
                    {"Publish into a zot-shaped directory instead of a registry",
                     "mosb manifest publish --project snakeoil:default --repo oci:/tmp/zot "
                     "--name machine/install:1.0.0 manifest.yaml"},
                    {"Log every step, and refuse to move a tag that is already taken",
                     "mosb --debug manifest publish --no-overwrite --project snakeoil:default "
                     "--repo 127.0.0.1:5000 --name machine/install:1.0.1 manifest.yaml"}});
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
  v->add_option("REF", verify->reference, "HOST:PORT/REPO:TAG, docker://... or oci:DIR:TAG")
      ->required();
  auto* keyset = v->add_option("--keyset", verify->keyset, "Trust the manifest CA of this keyset")
                     ->type_name("KEYSET");
  v->add_option("--ca", verify->ca_file, "Trust this manifest CA certificate (PEM)")
      ->type_name("FILE")
      ->excludes(keyset);
  v->add_option("--product-uuid", verify->product_uuid,
                "Require the certificate to name this product")
      ->type_name("UUID");
  program.examples(
      v, {{"Verify with the manifest CA of the keyset snakeoil",
           "mosb manifest verify --keyset snakeoil 127.0.0.1:5000/machine/install:1.0.0"},
          {"Verify as a machine does, with its CA and product, and print JSON",
           "mosb manifest verify --ca /tmp/root/factory/secure/manifestCA.pem "
           "--product-uuid \"$(trust keyset show snakeoil manifest:default uuid --value)\" "
           "--json 127.0.0.1:5000/machine/install:1.0.0"}});
  v->add_flag("--json", verify->json,
              "Print the verdict as JSON on stdout (also on failure; the exit code says which)");
  add_access_flags(v, *access);
  program.on_run(v, [verify, access]() -> Status {
    MOS_TRY_ASSIGN(auto options, open_options(*access, false));
    return run_verify(*verify, options);
  });

  auto inspect = std::make_shared<std::string>();
  auto inspect_json = std::make_shared<bool>(false);
  auto* i = group->add_subcommand(
      "inspect", "Print the artifact tree of an install manifest (without verifying)");
  i->add_option("REF", *inspect, "HOST:PORT/REPO:TAG, docker://... or oci:DIR:TAG")->required();
  program.examples(i, {{"The install manifest, install.json, its targets and referrers",
                        "mosb manifest inspect 127.0.0.1:5000/machine/install:1.0.0"},
                       {"The same as JSON, from a zot-shaped directory",
                        "mosb manifest inspect --json oci:/tmp/zot/machine/install:1.0.0"}});
  i->add_flag("--json", *inspect_json, "Print the tree as JSON");
  add_access_flags(i, *access);
  program.on_run(i, [inspect, inspect_json, access]() -> Status {
    MOS_TRY_ASSIGN(auto options, open_options(*access, false));
    return run_inspect(*inspect, *inspect_json, options);
  });
}

}  // namespace mos::cli
