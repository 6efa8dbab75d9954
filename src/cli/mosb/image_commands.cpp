// mosb image: build squashfs+verity images, verify their layers, mount and unmount them
// (docs/image.md). The mounting goes through mos::atomfs so that mosctl can call the same code.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "atomfs/mount_image.hpp"
#include "cli/common/access_flags.hpp"
#include "cli/mosb/commands.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "image/build_image.hpp"
#include "image/verity.hpp"
#include "oci/layout_store.hpp"
#include "oci/open.hpp"

namespace mos::cli {
namespace {

using namespace mos::oci;

// --entrypoint/--cmd take either a JSON array ('["/bin/httpd","-f"]') or words split on spaces.
Result<std::vector<std::string>> command_words(const std::string& option, const std::string& text) {
  if (!text.empty() && text.front() == '[') {
    MOS_TRY_ASSIGN(auto json, parse_json_strict(text, option));
    if (!json.is_array()) return fail("{}: expected a JSON array of strings", option);
    std::vector<std::string> out;
    for (const auto& v : json) {
      if (!v.is_string())
        return fail("{}: every element of the JSON array must be a string", option);
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

struct BuildArgs {
  std::string from, to;
  std::optional<std::string> entrypoint, cmd, workdir, user;
  std::vector<std::string> env, tags;
  bool keep_owners = false, xattrs = false;
};

Status build_command(const AccessFlags& flags, const BuildArgs& args) {
  MOS_TRY_ASSIGN(auto ref, Reference::parse(args.to));
  if (ref.digest) return fail("--to {}: give a tag, not a digest", args.to);
  image::ImageBuildOptions options;
  options.from = args.from;
  MOS_TRY_ASSIGN(options.timestamp, image::source_date_epoch());
  options.keep_owners = args.keep_owners;
  options.xattrs = args.xattrs;
  if (args.entrypoint) {
    MOS_TRY_ASSIGN(options.config.entrypoint, command_words("--entrypoint", *args.entrypoint));
  }
  if (args.cmd) {
    MOS_TRY_ASSIGN(options.config.cmd, command_words("--cmd", *args.cmd));
  }
  for (const auto& e : args.env) {
    if (e.find('=') == std::string::npos || e.front() == '=')
      return fail("--env {}: expected NAME=VALUE", e);
    options.config.env.push_back(e);
  }
  options.config.workdir = args.workdir;
  options.config.user = args.user;
  std::vector<std::string> tags{ref.tag.value_or("latest")};
  for (const auto& t : args.tags)
    if (t != tags.front()) tags.push_back(t);
  MOS_TRY_ASSIGN(auto open, open_options(flags, true));
  MOS_TRY_ASSIGN(auto repo, open_repository(ref, open));
  MOS_TRY_ASSIGN(auto result, image::build_image(options, *repo, tags));
  spdlog::info("built {} into {} (tags: {})", result.manifest.digest.str(), repo->describe(),
               fmt::join(tags, ", "));
  std::printf("%s\nlayer %s root hash %s\n", result.manifest.digest.str().c_str(),
              result.layer.digest.str().c_str(), image::hex_encode(result.root_hash).c_str());
  return {};
}

Result<std::unique_ptr<LayoutStore>> open_layout(const std::string& text, Reference& ref) {
  MOS_TRY_ASSIGN(ref, Reference::parse(text));
  if (!ref.is_layout())
    return fail(
        "{}: mounting and verifying need an oci: layout reference (copy the image into one first "
        "with "
        "mosb oci copy)",
        text);
  return LayoutStore::open(ref.layout_dir, false);
}

Status verify_command(const std::string& text, bool allow_missing) {
  Reference ref;
  MOS_TRY_ASSIGN(auto store, open_layout(text, ref));
  MOS_TRY_ASSIGN(auto doc, store->get_manifest(ref.tag_or_digest()));
  MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
  for (const auto& layer : manifest.layers) {
    MOS_TRY_ASSIGN(auto path, store->blob_path(layer.digest));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("opening {}: {}", path.string(), errno_message(errno));
    auto check = atomfs::check_layer(fd, layer, allow_missing);
    ::close(fd);
    if (!check) return std::unexpected(check.error());
    std::printf("%s %s\n", layer.digest.str().c_str(),
                check->verity_verified ? "verity OK" : "digest OK (no verity)");
  }
  return {};
}

struct MountArgs {
  std::string ref, dest, scratch, run_dir{atomfs::kDefaultRunDir};
  bool read_only = false, allow_missing = false;
};

Status mount_command(const MountArgs& args) {
  Reference ref;
  MOS_TRY_ASSIGN(auto store, open_layout(args.ref, ref));
  atomfs::MountOptions options;
  options.read_only = args.read_only;
  options.allow_missing_verity = args.allow_missing;
  options.run_dir = args.run_dir;
  if (!args.scratch.empty()) {
    if (args.read_only) return fail("--scratch holds the writable upper: it does not go with --ro");
    options.scratch = std::filesystem::absolute(args.scratch);
  }
  MOS_TRY_ASSIGN(auto mounted,
                 atomfs::mount_image(*store, ref.tag_or_digest(), args.dest, options));
  spdlog::info("mounted {} ({}, {}) at {}", mounted.manifest_digest,
               count_of(mounted.layer_mounts.size(), "layer"),
               args.read_only ? "read-only" : "writable", mounted.dest.string());
  return {};
}

// veritysetup-style tools on a plain file, for checks by hand and bench/verity.sh.
Status verity_format_command(const std::string& file, const std::string& salt_hex) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) return fail("{}: {}", file, ec.message());
  if (size == 0 || size % image::kVerityBlockSize != 0)
    return fail("{} is {} bytes: the data must be a non-zero multiple of 4096 bytes", file, size);
  image::VerityParams params;
  params.salt.resize(image::kVeritySaltSize);
  if (salt_hex.empty()) {
    if (RAND_bytes(params.salt.data(), static_cast<int>(params.salt.size())) != 1 ||
        RAND_bytes(params.uuid.data(), static_cast<int>(params.uuid.size())) != 1)
      return fail("no random bytes for the salt");
  } else {
    MOS_TRY_ASSIGN(auto salt, image::parse_root_hash(salt_hex));
    params.salt.assign(salt.begin(), salt.end());
    params.uuid = image::derived_verity_params(params.salt).uuid;
  }
  MOS_TRY_ASSIGN(auto root, image::append_verity(file, size, params));
  std::printf("hash offset %ju\nroot hash %s\n", static_cast<std::uintmax_t>(size),
              image::hex_encode(root).c_str());
  return {};
}

Status verity_verify_command(const std::string& file, const std::string& root_hex,
                             std::uint64_t hash_offset) {
  MOS_TRY_ASSIGN(auto root, image::parse_root_hash(root_hex));
  MOS_TRY(image::verify_verity(file, hash_offset, root));
  std::printf("%s: verity OK\n", file.c_str());
  return {};
}

}  // namespace

void add_image_commands(Program& program) {
  auto* image =
      program.app().add_subcommand("image", "Build, verify and mount squashfs+verity images");
  image->require_subcommand(1);
  program.examples(image, {{"Build the service image of the walkthrough and push it",
                            "mosb image build --from rootfs --to "
                            "docker://127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs "
                            "--entrypoint /usr/bin/start-zot"},
                           {"Mount an image of a layout, every layer verified first",
                            "mosb image mount oci:/tmp/images:demo /mnt/demo"}});

  auto* build =
      image->add_subcommand("build",
                            "Build an image from a directory or tar: one squashfs layer with "
                            "dm-verity data, reproducible with SOURCE_DATE_EPOCH");
  static BuildArgs build_args;
  static AccessFlags build_flags;
  build
      ->add_option("--from", build_args.from,
                   "Directory, or tar archive of one, holding the root filesystem")
      ->option_text("DIR|TAR");
  build
      ->add_option("--to", build_args.to,
                   "Destination: oci:DIR[:TAG] or HOST/REPO[:TAG] (tag default: latest); with -f, "
                   "the output layout oci:DIR")
      ->type_name("REF");
  build
      ->add_option("--entrypoint", build_args.entrypoint,
                   "Entrypoint: a JSON array or words separated by spaces")
      ->type_name("COMMAND");
  build->add_option("--cmd", build_args.cmd, "Cmd: a JSON array or words separated by spaces")
      ->type_name("ARGS");
  build
      ->add_option("--env", build_args.env,
                   "Environment variable NAME=VALUE (repeatable; PATH defaults)")
      ->option_text("NAME=VALUE");
  build->add_option("--workdir", build_args.workdir, "Working directory of the image config")
      ->type_name("DIR");
  build->add_option("--user", build_args.user, "User of the image config (USER[:GROUP])")
      ->option_text("USER[:GROUP]");
  build->add_option("--tag", build_args.tags, "Additional tag (repeatable)")->type_name("TAG");
  build->add_flag("--keep-owners", build_args.keep_owners,
                  "Keep the directory's uid/gid (default: all files 0:0)");
  build->add_flag("--xattrs", build_args.xattrs, "Store extended attributes (default: none)");
  add_tls_flags(build, build_flags);  // --tls-verify, --plain-http (--insecure), --cacert
  build->add_option("--creds", build_flags.creds, "Registry credentials as USER:PASS")
      ->option_text("USER:PASS");
  build->add_option("--authfile", build_flags.authfile,
                    "Registry credentials file (containers auth.json format)");
  program.examples(build, {{"The walkthrough's service image, pushed to the registry",
                            "mosb image build --from rootfs --to "
                            "docker://127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs "
                            "--entrypoint /usr/bin/start-zot"},
                           {"From a tar archive into a layout, reproducibly, with an extra tag",
                            "SOURCE_DATE_EPOCH=0 mosb image build --from rootfs.tar --to "
                            "oci:/tmp/images:demo --tag 1.0 --env LANG=C.UTF-8"},
                           {"The walkthrough's stacker build, into ./oci",
                            "mosb image build -f stacker.yaml --layer-type squashfs "
                            "--substitute ROOTFS_VERSION=v0.0.19.231225"}});
  auto* stacker_file = add_stacker_file_options(build);
  build->get_option("--from")->excludes(stacker_file);
  program.on_run(build, [stacker_file]() -> Status {
    if (stacker_file->count() > 0) return run_stacker_file_build(build_flags, build_args.to);
    if (build_args.from.empty() || build_args.to.empty())
      return fail("give --from DIR|TAR and --to REF, or -f stacker.yaml");
    return build_command(build_flags, build_args);
  });
  add_stacker_publish_command(program, image);

  auto* verify = image->add_subcommand(
      "verify", "Verify every layer of an image in a layout against its root hash");
  static std::string verify_ref;
  static bool verify_allow = false;
  verify->add_option("REF", verify_ref, "oci:DIR[:TAG|@DIGEST]")->required();
  verify->add_flag("--allow-missing-verity", verify_allow,
                   "Accept layers without verity data (digest checked)");
  program.examples(verify, {{"Check every layer of an image against its root hash",
                             "mosb image verify oci:/tmp/images:demo"},
                            {"The service image copied from the registry",
                             "mosb image verify oci:/tmp/mirror:demo-zot"}});
  program.on_run(verify, [] { return verify_command(verify_ref, verify_allow); });

  auto* mount = image->add_subcommand(
      "mount", "Mount an image verified: squashfs layers stacked with overlayfs");
  static MountArgs mount_args;
  mount->add_option("REF", mount_args.ref, "oci:DIR[:TAG|@DIGEST]")->required();
  mount->add_option("DEST", mount_args.dest, "Existing directory to mount on")->required();
  mount->add_flag("--ro", mount_args.read_only, "Read-only (no writable upper)");
  mount
      ->add_option("--scratch", mount_args.scratch,
                   "Directory for the writable upper (kept after umount)")
      ->type_name("DIR");
  mount->add_flag("--allow-missing-verity", mount_args.allow_missing,
                  "Mount layers without verity data");
  mount->add_option("--run-dir", mount_args.run_dir, "Where mount state lives")
      ->capture_default_str();
  program.examples(
      mount, {{"Mount an image read-write (a throw-away upper layer)",
               "mosb image mount oci:/tmp/images:demo /mnt/demo"},
              {"Mount it read-only", "mosb image mount --ro oci:/tmp/images:demo /mnt/demo"},
              {"Keep what is written in a directory of your own",
               "mosb image mount --scratch /var/tmp/demo-upper oci:/tmp/images:demo /mnt/demo"}});
  program.on_run(mount, [] { return mount_command(mount_args); });

  auto* umount = image->add_subcommand("umount", "Unmount an image mounted by mosb image mount");
  static std::string umount_dest;
  static std::string umount_run_dir{atomfs::kDefaultRunDir};
  umount->add_option("DEST", umount_dest, "Mount point")->required();
  umount->add_option("--run-dir", umount_run_dir, "Where mount state lives")->capture_default_str();
  program.examples(umount, {{"Unmount what mosb image mount mounted on /mnt/demo",
                             "mosb image umount /mnt/demo"},
                            {"The same, for a mount made with another --run-dir",
                             "mosb image umount --run-dir /tmp/mos-run /mnt/demo"}});
  program.on_run(umount, [] { return atomfs::unmount_image(umount_dest, umount_run_dir); });

  auto* vformat = image->add_subcommand("verity-format",
                                        "Append a dm-verity superblock and hash tree to FILE "
                                        "(as veritysetup format FILE FILE --hash-offset=SIZE)");
  static std::string vformat_file, vformat_salt;
  vformat->add_option("FILE", vformat_file, "Data file (a multiple of 4096 bytes)")->required();
  vformat->add_option("--salt", vformat_salt, "Salt, 64 hex characters (default: random)")
      ->type_name("HEX");
  program.examples(vformat, {{"Append verity data; prints the root hash and the hash offset",
                              "mosb image verity-format layer.squashfs"},
                             {"With a fixed salt, as veritysetup format --salt does",
                              "mosb image verity-format --salt "
                              "$(printf '%064d' 0) layer.squashfs"}});
  program.on_run(vformat, [] { return verity_format_command(vformat_file, vformat_salt); });

  auto* vverify = image->add_subcommand("verity-verify",
                                        "Verify FILE's appended verity data against ROOT_HASH "
                                        "(as veritysetup verify FILE FILE ROOT --hash-offset=N)");
  static std::string vverify_file, vverify_root;
  static std::uint64_t vverify_offset = 0;
  vverify->add_option("FILE", vverify_file, "File with verity data appended")->required();
  vverify->add_option("ROOT_HASH", vverify_root, "Expected root hash (64 hex)")->required();
  vverify->add_option("--hash-offset", vverify_offset, "Byte offset of the verity superblock")
      ->type_name("N")
      ->required();
  program.examples(
      vverify, {{"Check a file that verity-format extended, with what it printed",
                 "mosb image verity-verify layer.squashfs \"$ROOT_HASH\" --hash-offset 1048576"},
                {"Format and verify in one go",
                 "mosb image verity-format layer.squashfs > verity.txt && mosb image "
                 "verity-verify layer.squashfs \"$(sed -n 's/^root hash //p' verity.txt)\" "
                 "--hash-offset \"$(sed -n 's/^hash offset //p' verity.txt)\""}});
  program.on_run(vverify,
                 [] { return verity_verify_command(vverify_file, vverify_root, vverify_offset); });
}

}  // namespace mos::cli
