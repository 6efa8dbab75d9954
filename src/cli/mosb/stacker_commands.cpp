// Builds from stacker.yaml: `mosb image build -f FILE`, `mosb image publish`, and the same
// commands as the `stacker` program (mosb started under that name), so that the walkthrough's
// `stacker build --layer-type=squashfs --substitute ...` runs as written (docs/stacker.md).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/mosb/commands.hpp"
#include "oci/copy.hpp"
#include "oci/layout_store.hpp"
#include "oci/reference.hpp"
#include "stacker/stacker_build.hpp"
#include "stacker/user_namespace.hpp"

namespace mos::cli {
namespace {

namespace fs = std::filesystem;

struct StackerArgs {
  std::string file = "stacker.yaml";
  std::vector<std::string> substitute, substitute_files, layer_types;
  std::string stacker_dir = ".stacker", oci_dir = "oci", roots_dir = "roots";
  bool no_cache = false, require_hash = false, order_only = false;
  std::string annotations_namespace = "io.stackeroci";
  // publish
  std::string url;
  std::vector<std::string> tags, images;
  std::string username, password;
  bool skip_tls = false, show_only = false;
};

Result<stacker::StackerBuildOptions> build_options(const StackerArgs& args,
                                                   const AccessFlags& flags) {
  stacker::StackerBuildOptions options;
  options.file = args.file;
  options.substitute = args.substitute;
  for (const auto& f : args.substitute_files) options.substitute_files.emplace_back(f);
  for (const auto& t : args.layer_types) {
    MOS_TRY_ASSIGN(auto type, stacker::parse_layer_type(t));
    if (std::find(options.layer_types.begin(), options.layer_types.end(), type) ==
        options.layer_types.end())
      options.layer_types.push_back(type);
  }
  options.stacker_dir = args.stacker_dir;
  options.oci_dir = args.oci_dir;
  options.roots_dir = args.roots_dir;
  options.no_cache = args.no_cache;
  options.require_hash = args.require_hash;
  options.order_only = args.order_only;
  options.annotations_namespace = args.annotations_namespace;
  MOS_TRY_ASSIGN(options.open, open_options(flags, false));
  return options;
}

// An ordinary user's build runs as root of a user namespace (stacker/user_namespace.hpp); this
// process then only waits for it and exits as it did.
Status enter_user_namespace_unless_root() {
  if (::geteuid() == 0) return {};
  MOS_TRY_ASSIGN(auto exit_code, stacker::continue_in_user_namespace());
  if (exit_code) std::exit(*exit_code);
  return {};
}

Status stacker_build_command(const StackerArgs& args, const AccessFlags& flags) {
  MOS_TRY_ASSIGN(auto options, build_options(args, flags));
  if (!args.order_only) MOS_TRY(enter_user_namespace_unless_root());
  MOS_TRY_ASSIGN(auto built, stacker::build_stacker_file(options));
  for (const auto& image : built) {
    if (args.order_only) {
      std::printf("%s%s\n", image.name.c_str(), image.build_only ? " (build only)" : "");
      continue;
    }
    for (const auto& [tag, digest] : image.tags)
      std::printf("%s %s%s\n", tag.c_str(), digest.str().c_str(), image.cached ? " (cached)" : "");
  }
  return {};
}

Status stacker_clean_command(const StackerArgs& args) {
  MOS_TRY(enter_user_namespace_unless_root());  // an ordinary user's builds leave its sub-ids
  stacker::StackerBuildOptions options;
  options.stacker_dir = args.stacker_dir;
  options.oci_dir = args.oci_dir;
  options.roots_dir = args.roots_dir;
  return stacker::clean_stacker_dirs(options);
}

// stacker's publish naming: docker://H/p gives H/p/IMAGE:TAG[-squashfs]; oci:DIR gives
// DIR:IMAGE_TAG[-squashfs].
Result<std::string> publish_target(const std::string& url, const std::string& image,
                                   const std::string& tag, stacker::LayerType type) {
  std::string suffix = type == stacker::LayerType::squashfs ? "-squashfs" : "";
  if (url.starts_with("oci:")) return fmt::format("{}:{}_{}{}", url, image, tag, suffix);
  std::string base = url;
  while (base.ends_with('/')) base.pop_back();
  if (!base.starts_with("docker://")) base.insert(0, "docker://");
  return fmt::format("{}/{}:{}{}", base, image, tag, suffix);
}

Status stacker_publish_command(const StackerArgs& args, AccessFlags flags) {
  if (args.url.empty()) return fail("--url is required");
  if (args.tags.empty()) return fail("give at least one --tag");
  if (args.username.empty() != args.password.empty())
    return fail("--username and --password go together");
  if (!args.username.empty()) flags.creds = args.username + ":" + args.password;
  if (args.skip_tls) flags.tls_verify = false;
  MOS_TRY_ASSIGN(auto options, build_options(args, flags));
  options.order_only = true;
  options.missing_substitution = "dummy";  // as stacker's publish: only the names matter here
  MOS_TRY_ASSIGN(auto images, stacker::build_stacker_file(options));
  MOS_TRY_ASSIGN(auto layout, oci::LayoutStore::open(options.oci_dir, false));
  auto types =
      options.layer_types.empty() ? std::vector{stacker::LayerType::tar} : options.layer_types;
  MOS_TRY_ASSIGN(auto open, open_options(flags, true));
  for (const auto& image : images) {
    if (!args.images.empty() &&
        std::find(args.images.begin(), args.images.end(), image.name) == args.images.end())
      continue;
    if (image.build_only) {
      spdlog::info("{} is build only: will not publish", image.name);
      continue;
    }
    for (auto type : types) {
      std::string source_tag = stacker::image_tag(image.name, type);
      MOS_TRY_ASSIGN(auto found, layout->find_manifest(source_tag));
      if (!found)
        return fail("{} has no {}: build it first ({} build --layer-type {})", layout->describe(),
                    source_tag, "mosb image", stacker::layer_type_name(type));
      for (const auto& tag : args.tags) {
        MOS_TRY_ASSIGN(auto target, publish_target(args.url, image.name, tag, type));
        if (args.show_only) {
          std::printf("would publish %s to %s\n", source_tag.c_str(), target.c_str());
          continue;
        }
        MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(target));
        MOS_TRY_ASSIGN(auto dest, oci::open_repository(ref, open));
        oci::CopyOptions copy;
        MOS_TRY_ASSIGN(auto copied,
                       oci::copy_image(*layout, source_tag, *dest, ref.tag_or_digest(), copy));
        std::printf("%s %s\n", target.c_str(), copied.manifest.digest.str().c_str());
      }
    }
  }
  return {};
}

void add_build_options(CLI::App* cmd, StackerArgs& args) {
  cmd->add_option("--substitute", args.substitute, "Value of a ${{NAME}} placeholder (repeatable)")
      ->option_text("NAME=VALUE");
  cmd->add_option("--substitute-file", args.substitute_files,
                  "YAML file of NAME: value substitutions (--substitute wins)")
      ->type_name("FILE");
  cmd->add_option("--layer-type", args.layer_types,
                  "Layer type to build: tar (default, tag NAME) or squashfs (tag NAME-squashfs); "
                  "repeatable")
      ->type_name("TYPE");
  cmd->add_option("--annotations-namespace", args.annotations_namespace,
                  "Namespace of the stacker_yaml and stacker_version annotations")
      ->capture_default_str();
}

void add_dir_options(CLI::App* cmd, StackerArgs& args) {
  cmd->add_option("--stacker-dir", args.stacker_dir,
                  "Build cache, staged imports, downloads and unpacked layers")
      ->capture_default_str();
  cmd->add_option("--oci-dir", args.oci_dir, "The output OCI layout")->capture_default_str();
  cmd->add_option("--roots-dir", args.roots_dir, "Where images' changes are made")
      ->capture_default_str();
}

void define_build(Program& program, CLI::App* build, StackerArgs& args, AccessFlags& flags) {
  build->add_option("-f,--file", args.file, "The stacker file")->capture_default_str();
  add_build_options(build, args);
  build->add_flag("--no-cache", args.no_cache, "Build every image again (the cache is cleared)");
  build->add_flag("--require-hash", args.require_hash, "Every URL import must have a hash");
  build->add_flag("--order-only", args.order_only, "Print the build order and stop");
  add_tls_flags(build, flags);
  program.on_run(build, [&] { return stacker_build_command(args, flags); });
}

void define_publish(Program& program, CLI::App* publish, StackerArgs& args, AccessFlags& flags) {
  publish->add_option("-f,--file", args.file, "The stacker file")->capture_default_str();
  add_build_options(publish, args);
  publish->add_option("--url", args.url, "docker://HOST/PREFIX or oci:DIR")->required();
  publish->add_option("--tag", args.tags, "Tag to publish under (repeatable)")->required();
  publish->add_option("--image", args.images, "Publish only this image (repeatable)");
  publish->add_option("--username", args.username, "Registry user");
  publish->add_option("--password", args.password, "Registry password");
  publish->add_flag("--skip-tls", args.skip_tls, "Do not check the registry's certificate");
  publish->add_flag("--show-only", args.show_only, "Print what would be published");
  add_tls_flags(publish, flags);
  publish->add_option("--authfile", flags.authfile,
                      "Registry credentials file (containers auth.json format)");
  program.on_run(publish, [&] { return stacker_publish_command(args, flags); });
}

StackerArgs& shared_args() {
  static StackerArgs args;
  return args;
}

}  // namespace

CLI::Option* add_stacker_file_options(CLI::App* build) {
  StackerArgs& args = shared_args();
  auto* file = build->add_option("-f,--file", args.file,
                                 "Build the images of a stacker file (stacker.yaml) instead");
  file->type_name("FILE");
  add_build_options(build, args);
  add_dir_options(build, args);
  build->add_flag("--no-cache", args.no_cache, "-f: build every image again");
  build->add_flag("--require-hash", args.require_hash, "-f: every URL import must have a hash");
  build->add_flag("--order-only", args.order_only, "-f: print the build order and stop");
  return file;
}

Status run_stacker_file_build(const AccessFlags& flags, const std::string& to) {
  StackerArgs& args = shared_args();
  if (!to.empty()) {
    // A build makes many images: --to names the layout they go to; registries take them from
    // there with publish, which names each one.
    MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(to));
    if (!ref.is_layout() || ref.tag || ref.digest)
      return fail(
          "--to {}: with -f, --to is the output layout (oci:DIR, no tag); push the images to a "
          "registry with mosb image publish --url docker://HOST/PREFIX --tag TAG",
          to);
    args.oci_dir = ref.layout_dir;
  }
  return stacker_build_command(args, flags);
}

void define_clean(Program& program, CLI::App* clean, StackerArgs& args) {
  program.on_run(clean, [&] { return stacker_clean_command(args); });
}

void add_stacker_publish_command(Program& program, CLI::App* image) {
  auto* clean = image->add_subcommand(
      "clean", "Remove what stacker file builds made: the roots, oci and stacker directories");
  define_clean(program, clean, shared_args());
  add_dir_options(clean, shared_args());
  program.examples(clean, {{"Start the next build from nothing (an ordinary user's builds leave "
                            "files of its sub-ids that only this removes)",
                            "mosb image clean"}});
  static AccessFlags flags;
  auto* publish = image->add_subcommand(
      "publish", "Publish the images a stacker file built (stacker's publish: IMAGE:TAG names)");
  define_publish(program, publish, shared_args(), flags);
  add_dir_options(publish, shared_args());
  program.examples(publish, {{"Push the walkthrough's service image as demo-zot:0.0.4-squashfs",
                              "mosb image publish --layer-type squashfs --url "
                              "docker://127.0.0.1:5000/machine/bootkit --tag 0.0.4"}});
}

void add_stacker_program_commands(Program& program) {
  static AccessFlags build_flags, publish_flags;
  StackerArgs& args = shared_args();
  add_dir_options(&program.app(), args);
  program.examples(&program.app(),
                   {{"The walkthrough's build of demo-zot (stacker.yaml in this directory)",
                     "stacker build --layer-type=squashfs --substitute "
                     "ROOTFS_VERSION=v0.0.19.231225 --substitute ZOT_VERSION=2.0.0-rc5"},
                    {"Push what it built as machine/bootkit/demo-zot:0.0.4-squashfs",
                     "stacker publish --layer-type squashfs --url "
                     "docker://127.0.0.1:5000/machine/bootkit --tag 0.0.4"}});
  auto* build = program.app().add_subcommand("build", "Build the images of a stacker file");
  define_build(program, build, args, build_flags);
  program.examples(build, {{"The walkthrough's build of demo-zot",
                            "stacker build --layer-type=squashfs --substitute "
                            "ROOTFS_VERSION=v0.0.19.231225 --substitute ZOT_VERSION=2.0.0-rc5"}});
  auto* publish = program.app().add_subcommand(
      "publish", "Publish the images a stacker file built (IMAGE:TAG names)");
  define_publish(program, publish, args, publish_flags);
  program.examples(publish, {{"Push every image built as squashfs with tag 0.0.4",
                              "stacker publish --layer-type squashfs --url "
                              "docker://127.0.0.1:5000/machine/bootkit --tag 0.0.4"}});
  auto* clean = program.app().add_subcommand(
      "clean", "Remove what builds made: the roots, oci and stacker directories");
  define_clean(program, clean, args);
  program.examples(clean, {{"Start the next build from nothing (an ordinary user's builds leave "
                            "files of its sub-ids that only this removes)",
                            "stacker clean"}});
}

}  // namespace mos::cli
