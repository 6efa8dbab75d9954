// mosctl mount, create-boot-fs and umount: installed targets mounted with every layer verified.
#include <cstdio>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "atomfs/target_mount.hpp"
#include "cli/mosctl/commands.hpp"
#include "core/file.hpp"
#include "sysroot/boot_trial.hpp"
#include "sysroot/booted_system.hpp"
#include "sysroot/sysroot.hpp"
#include "trust/certificate.hpp"

namespace mos::cli {

namespace {

// create-boot-fs --identity-after: the machine's product (its SUDI, once initrd-setup read it)
// against the product of the system just mounted at `mounted_at`, which is unmounted again when
// they differ. The same check as a policy with the product known from the start, only later.
Status check_identity(const std::string& ready_file, const sysroot::SysrootOptions& options,
                      const std::optional<std::string>& system_product,
                      const std::string& mounted_at, const std::filesystem::path& run_dir) {
  Status checked = [&]() -> Status {
    if (!wait_for_file(ready_file, std::chrono::minutes(2)))
      return fail(
          "{} did not appear within 2 min: the machine's identity was never said to be read",
          ready_file);
    MOS_TRY_ASSIGN(auto machine,
                   sysroot::machine_product_uuid(sysroot::SysrootPaths(options.root), options));
    if (machine && system_product && *machine != *system_product)
      return fail("the installed system is for product {}, this machine is product {}",
                  *system_product, *machine);
    return {};
  }();
  if (!checked)
    if (auto undone = atomfs::unmount_image(mounted_at, run_dir); !undone)
      return fail("{}; then unmounting {} failed: {}", checked.error().message, mounted_at,
                  undone.error().message);
  return checked;
}

}  // namespace

void add_mount_commands(Program& program) {
  auto& app = program.app();
  static sysroot::SysrootOptions options;
  static std::string target_name;
  static atomfs::TargetMountOptions mount_options;
  static std::string dest;
  static std::string published;  // mount REF: a target of a published install manifest
  static std::optional<sysroot::BootedSystem> mounted_system;  // what run_mount verified

  // Mounting installed targets (atomfs: every layer verified before it is mounted).
  auto add_mount_options = [](CLI::App* command) {
    add_sysroot_options(command, options);
    command->add_flag("--ro,--readonly", mount_options.read_only,
                      "Mount read-only (no writable upper layer)");
    command->add_option("--dest", dest, "Mount point")->type_name("DIR");
    command->add_flag("--allow-missing-verity", mount_options.allow_missing_verity,
                      "Accept layers without verity data (checked by their sha256 instead)");
  };
  // Returns the product the mounted system is for (none for a published target: --ca and
  // --product-uuid decided what it may be).
  static auto run_mount = [](std::string_view name) -> Result<std::optional<std::string>> {
    if (!dest.empty()) mount_options.dest = dest;
    atomfs::MountedImage mounted;
    std::optional<std::string> product;
    if (published.empty()) {
      MOS_TRY_ASSIGN(auto target, atomfs::mount_target(options, name, mount_options));
      mounted = std::move(target.image);
      product = std::move(target.product_uuid);
      mounted_system = std::move(target.system);
    } else {
      // Not installed: verified against --ca (no machine's CA to default to) and mounted as is.
      if (!options.ca_file) return fail("mounting {} needs --ca FILE, the manifest CA", published);
      if (dest.empty()) return fail("mounting {} needs --dest DIR", published);
      manifest::TrustPolicy policy;
      MOS_TRY_ASSIGN(policy.ca_pem, read_file(*options.ca_file, 1024 * 1024));
      policy.product_uuid = options.product_uuid;
      MOS_TRY_ASSIGN(mounted,
                     atomfs::mount_published_target(published, policy, name, mount_options));
    }
    std::printf("mounted %s at %s (%s)\n", mounted.manifest_digest.c_str(), mounted.dest.c_str(),
                mounted.kernel_verity ? "every layer under dm-verity"
                                      : "every layer verified before mounting");
    return product;
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
  program.on_run(mount, []() -> Status {
    MOS_TRY(run_mount(target_name));
    return {};
  });

  auto* boot_fs = app.add_subcommand("create-boot-fs",
                                     "Mount the installed hostfs target (default at /sysroot)");
  add_mount_options(boot_fs);
  program.examples(boot_fs, {{"Mount the hostfs target at /sysroot, as the initramfs does",
                              "mosctl create-boot-fs"},
                             {"The hostfs of a test root, read-only",
                              "mosctl create-boot-fs --root /tmp/root --ro --dest /tmp/sysroot"}});
  static std::string after;
  static std::string identity_after;
  static std::string hand_over;
  boot_fs
      ->add_option("--after", after,
                   "Start only once FILE exists: the initramfs starts this program while it "
                   "mounts the partitions, so that loading it overlaps with that (at most 2 min)")
      ->type_name("FILE");
  boot_fs
      ->add_option("--identity-after", identity_after,
                   "The machine's identity (its SUDI, which names the product) is read from the "
                   "TPM beside this program: mount first, then once FILE exists check that the "
                   "system is for the product it names, or unmount it and fail (at most 2 min)")
      ->type_name("FILE");
  boot_fs
      ->add_option("--hand-over", hand_over,
                   "Once the hostfs is mounted (and the identity checked), write the system just "
                   "verified to FILE, for mosctl boot --booted-system to start its services from "
                   "without verifying it again (the initramfs: /run/mos/booted-system.json)")
      ->type_name("FILE");
  program.on_run(boot_fs, []() -> Status {
    if (dest.empty()) dest = "/sysroot";
    if (!after.empty() && !wait_for_file(after, std::chrono::minutes(2)))
      return fail("{} did not appear within 2 min: the partitions were never said to be ready",
                  after);
    // The system's history is read first; OpenSSL's set-up for verifying it is done meanwhile on
    // the other CPU (the initramfs runs this program on its boot's critical path).
    std::jthread prepare;
    if (auto ca =
            read_file(options.ca_file.value_or(sysroot::SysrootPaths(options.root).factory_ca),
                      sysroot::kMaxCaBytes))
      prepare = std::jthread([pem = std::move(*ca)] { trust::prepare_verification(pem); });
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
    if (!mounted && trial.step == sysroot::BootTrialStep::first_boot) {
      std::printf("boot trial: the hostfs did not mount: %s\n", mounted.error().message.c_str());
      MOS_TRY_ASSIGN(auto back, sysroot::abandon_trial(options));
      say(back);
      mounted = run_mount("");
    }
    MOS_TRY_ASSIGN(auto product, std::move(mounted));
    if (!identity_after.empty())
      MOS_TRY(check_identity(identity_after, options, product, dest, mount_options.run_dir));
    if (hand_over.empty() || !mounted_system) return {};
    // Not worth a boot: without it mosctl boot reads and verifies the history itself.
    if (auto written = sysroot::write_booted_system(hand_over, *mounted_system); !written)
      spdlog::warn("{}", written.error().message);
    return {};
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
