// mosctl: installs, updates and rolls back the signed system of a machine (see docs/mosctl.md).
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/common/access_flags.hpp"
#include "cli/common/program.hpp"
#include "atomfs/target_mount.hpp"
#include "target/system_operations.hpp"

namespace {

using mos::target::TargetOptions;

// --root/--rfs/-r, --ca and --product-uuid, on every command.
void add_target_options(CLI::App* command, TargetOptions& options) {
  command->add_option("-r,--root,--rfs", options.root, "Root directory of the target system")
      ->capture_default_str();
  command->add_option("--ca,--capath", options.ca_file,
                      "Manifest CA certificate (default ROOT/factory/secure/manifestCA.pem)");
  command->add_option("--product-uuid", options.product_uuid,
                      "Product this machine runs (default ROOT/factory/secure/product-uuid)");
  command->add_flag("--no-wait", options.no_wait, "Fail at once when another mosctl holds the lock");
}

void print_change(const mos::target::ChangeReport& report) {
  for (const auto& d : report.downgrades) spdlog::warn("downgrade allowed: {}", d);
  if (!report.copied.empty())
    spdlog::info("copied {} ({} bytes)", fmt::join(report.copied, ", "), report.bytes_copied);
  std::printf("%s\n", report.summary.c_str());
  if (!report.commit.empty()) std::printf("system %s\n", report.commit.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  mos::cli::Program program("mosctl", "Install, update and roll back a machine's signed system");
  auto& app = program.app();
  TargetOptions options;
  std::string url;
  mos::cli::AccessFlags access;

  auto* install = app.add_subcommand("install", "Install a signed system (first install only)");
  add_target_options(install, options);
  install->add_option("url", url, "Install manifest: HOST:PORT/REPO:TAG, docker://..., oci:DIR:TAG")->required();
  mos::cli::add_access_flags(install, access);
  program.on_run(install, [&]() -> mos::Status {
    MOS_TRY_ASSIGN(options.source, mos::cli::open_options(access, false));
    MOS_TRY_ASSIGN(auto report, mos::target::install(options, url));
    print_change(report);
    return {};
  });

  auto* update = app.add_subcommand("update", "Update the installed system (complete or partial)");
  add_target_options(update, options);
  update->add_option("url", url, "Install manifest: HOST:PORT/REPO:TAG, docker://..., oci:DIR:TAG")->required();
  update->add_flag("--allow-downgrade", options.allow_downgrade,
                   "Accept lower target versions and older install manifests");
  mos::cli::add_access_flags(update, access);
  program.on_run(update, [&]() -> mos::Status {
    MOS_TRY_ASSIGN(options.source, mos::cli::open_options(access, false));
    MOS_TRY_ASSIGN(auto report, mos::target::update(options, url));
    print_change(report);
    return {};
  });

  auto* rollback = app.add_subcommand("rollback", "Return to the system before the current one");
  add_target_options(rollback, options);
  program.on_run(rollback, [&]() -> mos::Status {
    MOS_TRY_ASSIGN(auto report, mos::target::rollback(options));
    print_change(report);
    return {};
  });

  bool json = false;
  auto* status = app.add_subcommand("status", "Show the installed system (verified) and its history");
  add_target_options(status, options);
  status->add_flag("--json", json, "Print JSON for programs");
  program.on_run(status, [&]() -> mos::Status {
    MOS_TRY_ASSIGN(auto s, mos::target::status(options));
    std::string text = json ? s.dump(2) + "\n" : mos::target::format_status(s);
    std::fputs(text.c_str(), stdout);
    return {};
  });

  auto* gc = app.add_subcommand("gc", "Remove store content no kept system uses");
  add_target_options(gc, options);
  program.on_run(gc, [&]() -> mos::Status {
    MOS_TRY_ASSIGN(auto r, mos::target::gc(options));
    std::printf("kept %zu system(s); removed %zu manifest(s), %zu blob(s), %zu staging file(s); freed %llu bytes\n",
                r.kept_systems.size(), r.manifests_removed, r.blobs_removed, r.staging_files_removed,
                static_cast<unsigned long long>(r.bytes_freed));
    return {};
  });

  // Mounting installed targets (atomfs: every layer verified before it is mounted).
  std::string target_name;
  mos::atomfs::TargetMountOptions mount_options;
  std::string dest;
  auto add_mount_options = [&](CLI::App* command) {
    add_target_options(command, options);
    command->add_flag("--ro,--readonly", mount_options.read_only, "Mount read-only (no writable upper layer)");
    command->add_option("--dest", dest, "Mount point");
    command->add_flag("--allow-missing-verity", mount_options.allow_missing_verity,
                      "Accept layers without verity data (checked by their sha256 instead)");
  };
  auto run_mount = [&](std::string_view name) -> mos::Status {
    if (!dest.empty()) mount_options.dest = dest;
    MOS_TRY_ASSIGN(auto mounted, mos::atomfs::mount_target(options, name, mount_options));
    std::printf("mounted %s at %s\n", mounted.manifest_digest.c_str(), mounted.dest.c_str());
    return {};
  };

  auto* mount = app.add_subcommand("mount", "Mount an installed target (default at ROOT/mnt/mos/TARGET)");
  add_mount_options(mount);
  mount->add_option("-t,--target", target_name, "Target (service name) to mount")->required();
  program.on_run(mount, [&] { return run_mount(target_name); });

  auto* boot_fs = app.add_subcommand("create-boot-fs", "Mount the installed hostfs target (default at /sysroot)");
  add_mount_options(boot_fs);
  program.on_run(boot_fs, [&] {
    if (dest.empty()) dest = "/sysroot";
    return run_mount("");
  });

  auto* umount = app.add_subcommand("umount", "Unmount what mount or create-boot-fs mounted");
  add_target_options(umount, options);
  umount->add_option("-t,--target", target_name, "Target whose default mount point to unmount");
  umount->add_option("--dest", dest, "Mount point to unmount");
  program.on_run(umount, [&]() -> mos::Status {
    if (dest.empty() && target_name.empty()) return mos::fail("give --dest DIR or --target NAME");
    std::filesystem::path where = dest.empty() ? mos::atomfs::default_target_dest(options, target_name)
                                               : std::filesystem::path(dest);
    MOS_TRY(mos::atomfs::unmount_image(where, mount_options.run_dir));
    std::printf("unmounted %s\n", where.c_str());
    return {};
  });

  return program.run(argc, argv);
}
