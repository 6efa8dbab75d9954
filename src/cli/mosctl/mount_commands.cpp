// mosctl mount, create-boot-fs and umount: installed targets mounted with every layer verified.
#include <cstdio>
#include <string>

#include "atomfs/target_mount.hpp"
#include "cli/mosctl/commands.hpp"
#include "core/file.hpp"
#include "sysroot/boot_trial.hpp"

namespace mos::cli {

void add_mount_commands(Program& program) {
  auto& app = program.app();
  static sysroot::SysrootOptions options;
  static std::string target_name;
  static atomfs::TargetMountOptions mount_options;
  static std::string dest;
  static std::string published;  // mount REF: a target of a published install manifest

  // Mounting installed targets (atomfs: every layer verified before it is mounted).
  auto add_mount_options = [](CLI::App* command) {
    add_sysroot_options(command, options);
    command->add_flag("--ro,--readonly", mount_options.read_only,
                      "Mount read-only (no writable upper layer)");
    command->add_option("--dest", dest, "Mount point")->type_name("DIR");
    command->add_flag("--allow-missing-verity", mount_options.allow_missing_verity,
                      "Accept layers without verity data (checked by their sha256 instead)");
  };
  static auto run_mount = [](std::string_view name) -> Status {
    if (!dest.empty()) mount_options.dest = dest;
    Result<atomfs::MountedImage> result;
    if (published.empty()) {
      result = atomfs::mount_target(options, name, mount_options);
    } else {
      // Not installed: verified against --ca (no machine's CA to default to) and mounted as is.
      if (!options.ca_file) return fail("mounting {} needs --ca FILE, the manifest CA", published);
      if (dest.empty()) return fail("mounting {} needs --dest DIR", published);
      manifest::TrustPolicy policy;
      MOS_TRY_ASSIGN(policy.ca_pem, read_file(*options.ca_file, 1024 * 1024));
      policy.product_uuid = options.product_uuid;
      result = atomfs::mount_published_target(published, policy, name, mount_options);
    }
    MOS_TRY_ASSIGN(auto mounted, std::move(result));
    std::printf("mounted %s at %s (%s)\n", mounted.manifest_digest.c_str(), mounted.dest.c_str(),
                mounted.kernel_verity ? "every layer under dm-verity"
                                      : "every layer verified before mounting");
    return {};
  };

  auto* mount =
      app.add_subcommand("mount", "Mount an installed target (default at ROOT/mnt/mos/TARGET)");
  add_mount_options(mount);
  mount->add_option("-t,--target", target_name, "Target (service name) to mount")
      ->type_name("NAME")
      ->required();
  mount
      ->add_option("REF", published,
                   "A published install manifest in an OCI layout (oci:DIR:TAG), verified with "
                   "--ca and mounted without installing: a boot medium's live system")
      ->type_name("REF");
  program.examples(mount, {{"Mount the target zot of /tmp/root at /tmp/root/mnt/mos/zot",
                            "mosctl mount --root /tmp/root -t zot"},
                           {"Read-only, somewhere else",
                            "mosctl mount --root /tmp/root -t zot --ro --dest /mnt/zot"},
                           {"A boot medium's live system, as the initramfs mounts it",
                            "mosctl mount -t livecd --ca /manifestCA.pem --dest /sysroot "
                            "oci:/run/mos-media/oci/machine/livecd:1.0.0"}});
  program.on_run(mount, [] { return run_mount(target_name); });

  auto* boot_fs = app.add_subcommand("create-boot-fs",
                                     "Mount the installed hostfs target (default at /sysroot)");
  add_mount_options(boot_fs);
  program.examples(boot_fs, {{"Mount the hostfs target at /sysroot, as the initramfs does",
                              "mosctl create-boot-fs"},
                             {"The hostfs of a test root, read-only",
                              "mosctl create-boot-fs --root /tmp/root --ro --dest /tmp/sysroot"}});
  static std::string after;
  boot_fs
      ->add_option("--after", after,
                   "Start only once FILE exists: the initramfs starts this program while it "
                   "mounts the partitions, so that loading it overlaps with that (at most 2 min)")
      ->type_name("FILE");
  program.on_run(boot_fs, []() -> Status {
    if (dest.empty()) dest = "/sysroot";
    if (!after.empty() && !wait_for_file(after, std::chrono::minutes(2)))
      return fail("{} did not appear within 2 min: the partitions were never said to be ready",
                  after);
    // A system on trial (installed by an update, not yet up) counts this boot first, or, when
    // its last boot never came up, is rolled back before anything is mounted.
    auto say = [](const sysroot::BootTrialReport& r) {
      if (r.summary.empty()) return;
      std::printf("%s\n", r.summary.c_str());
      std::fflush(stdout);  // before any error line: the initramfs shows the last line
    };
    MOS_TRY_ASSIGN(auto trial, sysroot::count_boot(options));
    say(trial);
    auto mounted = run_mount("");
    if (mounted || trial.step != sysroot::BootTrialStep::first_boot) return mounted;
    std::printf("boot trial: the hostfs did not mount: %s\n", mounted.error().message.c_str());
    MOS_TRY_ASSIGN(auto back, sysroot::abandon_trial(options));
    say(back);
    return run_mount("");
  });

  auto* umount = app.add_subcommand("umount", "Unmount what mount or create-boot-fs mounted");
  add_sysroot_options(umount, options);
  umount->add_option("-t,--target", target_name, "Target whose default mount point to unmount")
      ->type_name("NAME");
  umount->add_option("--dest", dest, "Mount point to unmount")->type_name("DIR");
  program.examples(
      umount, {{"Unmount the target zot of /tmp/root", "mosctl umount --root /tmp/root -t zot"},
               {"Unmount what create-boot-fs mounted", "mosctl umount --dest /sysroot"}});
  program.on_run(umount, []() -> Status {
    if (dest.empty() && target_name.empty()) return fail("give --dest DIR or --target NAME");
    std::filesystem::path where = dest.empty() ? atomfs::default_target_dest(options, target_name)
                                               : std::filesystem::path(dest);
    MOS_TRY(atomfs::unmount_image(where, mount_options.run_dir));
    std::printf("unmounted %s\n", where.c_str());
    return {};
  });
}

}  // namespace mos::cli
