// Boot media (see boot_media.hpp).
#include "boot/boot_media.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "boot/bootkit.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "manifest/publish.hpp"
#include "trust/keyset.hpp"

namespace mos::boot {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kEspInIso = "boot/esp.img";
constexpr auto kToolTime = std::chrono::minutes(5);

// The live system's install manifest: one fs-only target, the keyset's hostfs image.
std::string livecd_manifest_yaml(const BootMediaRequest& request, const BootkitPaths& kit) {
  return fmt::format(
      "version: 1\nproduct: {}\nupdate_type: complete\ntargets:\n"
      "  - service_name: {}\n    source: oci:{}:{}\n    version: 1.0.0\n"
      "    service_type: fs-only\n",
      request.project, kBootMediaLivecdTarget, kit.oci.string(), trust::kHostfsImageTag);
}

std::vector<std::string> epoch_env(std::int64_t epoch) {
  return {fmt::format("SOURCE_DATE_EPOCH={}", epoch), "TZ=UTC"};
}

// A FAT ESP of the shim (the removable-media loader) and the UKI beside it, sized to them.
Status write_esp(const fs::path& image, const BootkitPaths& kit, std::int64_t epoch) {
  std::error_code ec;
  auto payload = fs::file_size(kit.shim, ec) + fs::file_size(kit.uki, ec);
  if (ec) return fail("reading the bootkit's shim and UKI: {}", ec.message());
  // FAT's own structures and cluster slack: 5 % and 2 MiB spare.
  auto kib = (payload + payload / 20) / 1024 + 2048;
  MOS_TRY(make_dirs(image.parent_path()));
  auto env = epoch_env(epoch);
  MOS_TRY(run_checked({.argv = {"mkfs.vfat", "-C", image.string(), std::to_string(kib), "-n", "ESP",
                                "-i", "4f434942", "--invariant"},
                       .set_env = env,
                       .timeout = kToolTime,
                       .what = "mkfs.vfat"}));
  MOS_TRY(run_checked({.argv = {"mmd", "-i", image.string(), "::EFI", "::EFI/BOOT"},
                       .set_env = env,
                       .timeout = kToolTime,
                       .what = "mmd"}));
  for (const auto& [file, name] : {std::pair{kit.shim, "BOOTX64.EFI"}, {kit.uki, "grubx64.efi"}})
    MOS_TRY(run_checked({.argv = {"mcopy", "-m", "-i", image.string(), file.string(),
                                  fmt::format("::EFI/BOOT/{}", name)},
                         .set_env = env,
                         .timeout = kToolTime,
                         .what = "mcopy"}));
  return {};
}

// Every file and directory of the tree dated `epoch` (publish and the tools wrote them now).
Status set_times(const fs::path& tree, std::int64_t epoch) {
  timespec times[2] = {{epoch, 0}, {epoch, 0}};
  std::error_code ec;
  for (fs::recursive_directory_iterator it(tree, ec), end; !ec && it != end; it.increment(ec))
    if (::utimensat(AT_FDCWD, it->path().c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return fail("dating {}: {}", it->path().string(), errno_message(errno));
  if (ec) return fail("walking {}: {}", tree.string(), ec.message());
  if (::utimensat(AT_FDCWD, tree.c_str(), times, 0) != 0)
    return fail("dating {}: {}", tree.string(), errno_message(errno));
  return {};
}

}  // namespace

Result<std::int64_t> media_epoch(const fs::path& keyset_dir) {
  if (const char* env = std::getenv("SOURCE_DATE_EPOCH"); env && *env) {
    char* end = nullptr;
    long long value = std::strtoll(env, &end, 10);
    if (*end != '\0' || value < 0 || value > 4294967295LL)
      return fail("SOURCE_DATE_EPOCH=\"{}\" is not a number of seconds between 0 and 4294967295",
                  env);
    return value;
  }
  struct stat st{};
  auto uki = BootkitPaths::of_keyset(keyset_dir).uki;
  if (::stat(uki.c_str(), &st) != 0) return std::int64_t{0};  // build_boot_media says what lacks
  return static_cast<std::int64_t>(st.st_mtim.tv_sec);
}

std::string boot_action_json(const BootAction& action) {
  OrderedJson doc = OrderedJson::object();
  doc["action"] = action.action;
  if (action.action == kBootActionInstall) {
    doc["install_url"] = action.install_url;
    doc["plain_http"] = action.plain_http;
  }
  return doc.dump(2) + "\n";
}

Result<BootAction> parse_boot_action(std::string_view json, std::string_view where) {
  MOS_TRY_ASSIGN(auto doc, parse_json_strict(json, where));
  if (!doc.is_object()) return fail("{}: not a JSON object", where);
  for (const auto& [key, value] : doc.items())
    if (key != "action" && key != "install_url" && key != "plain_http")
      return fail("{}: unknown key \"{}\"", where, key);
  BootAction action;
  MOS_TRY_ASSIGN(action.action, json_string(doc, "action", where));
  if (action.action == kBootActionProvision) {
    if (doc.contains("install_url") || doc.contains("plain_http"))
      return fail("{}: a {} medium names no install manifest", where, kBootActionProvision);
    return action;
  }
  if (action.action != kBootActionInstall)
    return fail("{}: action \"{}\" is not one this system knows ({}, {})", where, action.action,
                kBootActionProvision, kBootActionInstall);
  MOS_TRY_ASSIGN(action.install_url, json_string(doc, "install_url", where));
  if (action.install_url.empty()) return fail("{}: install_url is empty", where);
  if (doc.contains("plain_http")) {
    if (!doc["plain_http"].is_boolean()) return fail("{}: plain_http is not true or false", where);
    action.plain_http = doc["plain_http"].get<bool>();
  }
  return action;
}

Result<BootMediaReport> build_boot_media(const BootMediaRequest& request) {
  BootAction action{request.action, request.install_url, request.plain_http};
  MOS_TRY(parse_boot_action(boot_action_json(action), "the medium's action"));
  auto kit = BootkitPaths::of_keyset(request.keyset_dir);
  std::error_code ec;
  for (const auto& part : {kit.shim, kit.uki, kit.initrd_tools, kit.oci})
    if (!fs::exists(part, ec))
      return fail("keyset {} has no bootkit ({} is missing): trust keyset bootkit {}",
                  request.keyset, part.string(), request.keyset);
  fs::path parent =
      request.output.parent_path().empty() ? fs::path(".") : request.output.parent_path();
  MOS_TRY(make_dirs(parent));
  MOS_TRY_ASSIGN(auto stage, TempDir::create(parent, ".mos-media-"));
  fs::path tree = stage.path() / "iso";
  MOS_TRY(make_dirs(tree / "mos"));

  // The live system, signed by the project as its publish would sign it.
  fs::path yaml = stage.path() / "livecd.yaml";
  MOS_TRY(write_file_atomic(yaml, livecd_manifest_yaml(request, kit)));
  manifest::PublishOptions publish;
  publish.manifest_path = yaml.string();
  publish.project = request.keyset + ":" + request.project;
  publish.repo = "oci:" + (tree / "oci").string();
  publish.name = std::string(kBootMediaLivecd);
  publish.skip_bootkit = true;
  publish.created_epoch = request.epoch;
  MOS_TRY_ASSIGN(auto published, manifest::publish_manifest(publish));

  MOS_TRY(write_file_atomic(tree / kBootMediaActionFile, boot_action_json(action)));
  // The initramfs's tools, which the UKI's init mounts from the medium (bootkit.hpp).
  fs::copy_file(kit.initrd_tools, tree / kInitrdToolsMediaPath, ec);
  if (ec) return fail("copying {} onto the medium: {}", kit.initrd_tools.string(), ec.message());
  MOS_TRY(write_esp(tree / kEspInIso, kit, request.epoch));
  MOS_TRY(set_times(tree, request.epoch));

  fs::path written = stage.path() / "media.iso";
  MOS_TRY(run_checked(
      {.argv = {"xorriso", "-as", "mkisofs", "-quiet", "-o", written.string(), "-V",
                std::string(kBootMediaLabel), "-r", "-iso-level", "3", "-e", std::string(kEspInIso),
                "-no-emul-boot", "-isohybrid-gpt-basdat", tree.string()},
       .set_env = epoch_env(request.epoch),
       .timeout = kToolTime,
       .what = "xorriso"}));
  MOS_TRY(fsync_file(written));
  if (::rename(written.c_str(), request.output.c_str()) != 0)
    return fail("moving the medium to {}: {}", request.output.string(), errno_message(errno));
  MOS_TRY(fsync_dir(parent));
  BootMediaReport report;
  report.output = request.output;
  report.size = fs::file_size(request.output, ec);
  report.livecd_digest = published.install_manifest.str();
  return report;
}

}  // namespace mos::boot
