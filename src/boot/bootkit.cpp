// Building a keyset's bootkit (see bootkit.hpp).
#include "boot/bootkit.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "boot/efi_signing.hpp"
#include "boot/hostfs.hpp"
#include "boot/initramfs.hpp"
#include "boot/initramfs_compression.hpp"
#include "boot/initramfs_init.hpp"
#include "boot/ovmf_varstore.hpp"
#include "boot/shim_vendor_cert.hpp"
#include "boot/uki.hpp"
#include "core/file.hpp"
#include "core/json.hpp"
#include "core/lock.hpp"
#include "image/build_image.hpp"
#include "oci/digest.hpp"
#include "oci/open.hpp"
#include "oci/reference.hpp"
#include "tpm/cpio_archive.hpp"
#include "tpm/digest.hpp"
#include "tpm/pcr7_prediction.hpp"
#include "tpm/pcr7data_writer.hpp"
#include "tpm/shim_sbat.hpp"
#include "trust/keyset.hpp"

namespace mos::boot {

namespace fs = std::filesystem;

BootkitPaths::BootkitPaths(const fs::path& bootkit_dir)
    : dir(bootkit_dir),
      ovmf_code(dir / "ovmf" / "ovmf-code.fd"),
      ovmf_vars(dir / "ovmf-vars.fd"),
      shim(dir / "shim.efi"),
      uki(dir / "kernel.efi"),
      initrd_tools(dir / kInitrdToolsFile),
      info(dir / "bootkit.json"),
      oci(dir / "oci") {}

BootkitPaths BootkitPaths::of_keyset(const fs::path& keyset_dir) {
  return BootkitPaths(keyset_dir / "bootkit");
}

namespace {

// Firmware images are a few MiB, kernels and initramfs tens: bounded reads all the same.
constexpr std::size_t kMaxPart = 512 * 1024 * 1024;

Result<std::string> read_part(const fs::path& path, std::string_view what) {
  if (!fs::exists(path))
    return fail("{} {} is missing (Debian package: {})", what, path.string(),
                what == "OVMF"   ? "ovmf"
                : what == "shim" ? "shim-unsigned"
                                 : "see docs/boot.md");
  return read_file(path, kMaxPart);
}

SigningKey keyset_key(const fs::path& keyset, std::string_view name) {
  return {keyset / name / "privkey.pem", keyset / name / "cert.pem"};
}

std::string os_release(std::string_view keyset_name) {
  return fmt::format(
      "NAME=\"mos bootkit\"\nID=mos\nVERSION_ID={}\nPRETTY_NAME=\"mos bootkit ({} keyset)\"\n",
      MOS_VERSION, keyset_name);
}

// The keyset's pcr7data tree as initramfs files under /pcr7data.
Result<std::vector<InitramfsFile>> pcr7data_files(const fs::path& keyset) {
  std::vector<InitramfsFile> files;
  if (!fs::exists(keyset / "pcr7data")) return files;
  MOS_TRY_ASSIGN(auto entries, tpm::cpio_entries_of_tree(keyset / "pcr7data", "pcr7data"));
  for (auto& e : entries)
    if (!e.directory) files.push_back({"/" + e.name, std::move(e.data), 0644});
  return files;
}

// Builds `tree` as a squashfs+verity image tagged `tag` in the bootkit's layout (reproducible:
// timestamp 0, owners root). Every keyset add and bootkit rebuild makes these: a fast level.
Status add_layout_image(const BootkitPaths& stage, const fs::path& tree, std::string_view tag) {
  MOS_TRY_ASSIGN(auto ref,
                 oci::Reference::parse(fmt::format("oci:{}:{}", stage.oci.string(), tag)));
  oci::OpenOptions open;
  open.create = true;
  MOS_TRY_ASSIGN(auto repo, oci::open_repository(ref, open));
  image::ImageBuildOptions options;
  options.from = tree;
  options.timestamp = 0;
  options.temp_parent = stage.dir;
  options.compression_level = image::kFastSquashfsLevel;
  MOS_TRY(image::build_image(options, *repo, {std::string(tag)}));
  return {};
}

// The initramfs's archive, and its tools apart (see bootkit.hpp): mosctl and the libraries it
// loads, as a squashfs written to `tools`, whose SHA-512 the archive holds.
struct KeysetInitramfs {
  std::string cpio;
  std::string tools_sha256, tools_sha512;  // hex
};

Result<KeysetInitramfs> build_keyset_initramfs(const fs::path& keyset,
                                               const BootkitSources& sources,
                                               const KernelFiles& kernel, const fs::path& tools) {
  InitramfsSpec spec;
  spec.busybox = sources.busybox;
  // mosctl among the tools, whatever its path on the building host, and as /usr/bin/mosctl where
  // the init calls it; the TPM's device TCTI, which tss2's loader opens by name at run time (no
  // DT_NEEDED names it).
  std::string mosctl = fmt::format("{}/mos/mosctl", kInitrdToolsDir);
  spec.placed_programs = {{sources.initrd_mosctl, mosctl}};
  spec.links = {{std::string(kHostfsMosctl), mosctl}};
  spec.programs = {"/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0"};
  spec.kernel = kernel;
  for (auto m : kInitramfsModules) spec.modules.emplace_back(m);
  for (auto m : kInitrdToolsModules) spec.modules_apart.emplace_back(m);
  spec.modules_apart_dir = std::string(kInitrdToolsModulesDir);
  spec.files.push_back({"/init", std::string(initramfs_init_script()), 0755});
  std::string filesystems;
  for (auto m : kInitramfsEarlyFilesystems) filesystems += fmt::format("{}\n", m);
  spec.files.push_back({"/etc/mos/early-filesystems", std::move(filesystems), 0644});
  std::string system_filesystems;
  for (auto m : kInitramfsSystemFilesystems) system_filesystems += fmt::format("{}\n", m);
  spec.files.push_back({"/etc/mos/system-filesystems", std::move(system_filesystems), 0644});
  MOS_TRY_ASSIGN(auto ca, read_file(keyset / "manifest-ca" / "cert.pem", 1024 * 1024));
  spec.files.push_back({"/manifestCA.pem", std::move(ca), 0644});
  // Only a development keyset's machines boot on when the TPM holds no identity for them.
  if (trust::is_development_keyset(keyset))
    spec.files.push_back({"/etc/mos/development", "development keyset\n", 0644});
  MOS_TRY_ASSIGN(auto pcr7data, pcr7data_files(keyset));
  for (auto& f : pcr7data) spec.files.push_back(std::move(f));
  MOS_TRY_ASSIGN(auto entries, initramfs_entries(spec));

  auto apart = take_subtree(entries, kInitrdToolsDir);
  // Written beside the bootkit being built (as add_layout_image's), not in a tmpfs /tmp.
  MOS_TRY_ASSIGN(auto tree, TempDir::create(tools.parent_path(), ".initrd-tools-"));
  MOS_TRY(write_entries_to_directory(apart, tree.path()));
  apart.clear();
  MOS_TRY(image::build_squashfs_file(tree.path(), tools));
  KeysetInitramfs out;
  MOS_TRY_ASSIGN(auto sha256, oci::digest_of_file(tools, oci::DigestAlgorithm::sha256));
  out.tools_sha256 = sha256.hex();
  MOS_TRY_ASSIGN(auto sha512, oci::digest_of_file(tools, oci::DigestAlgorithm::sha512));
  out.tools_sha512 = sha512.hex();
  tpm::CpioEntry hash;
  hash.name = std::string(kInitrdToolsHash.substr(1));
  hash.permissions = 0644;
  hash.data = out.tools_sha512 + "\n";
  entries.push_back(std::move(hash));
  sort_archive_entries(entries);
  MOS_TRY_ASSIGN(out.cpio, tpm::newc_archive(entries));
  return out;
}

// Puts `staging` in place of `target` in one step: exchanged when the target exists (the old
// one then lies at `staging` and is removed), renamed otherwise.
Status swap_into_place(const fs::path& staging, const fs::path& target) {
  if (fs::exists(target)) {
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0)
      return fail("replacing {}: {}", target.string(), errno_message(errno));
    std::error_code ec;
    fs::remove_all(staging, ec);
  } else if (::rename(staging.c_str(), target.c_str()) != 0) {
    return fail("moving the bootkit to {}: {}", target.string(), errno_message(errno));
  }
  return fsync_dir(target.parent_path());
}

// The hostfs image: the machine's root (docs/boot.md), with a console login for root only on a
// development keyset's machines.
Status build_hostfs_image(const BootkitPaths& stage, const fs::path& keyset,
                          std::string_view keyset_name, const BootkitSources& sources,
                          const KernelFiles& kernel) {
  HostfsSpec spec;
  spec.busybox = sources.busybox;
  spec.mosctl = sources.mosctl;
  spec.boot_program = sources.boot_program;
  spec.container_monitor = sources.container_monitor;
  spec.container_reaper = sources.container_reaper;
  spec.kernel = kernel;
  if (trust::is_development_keyset(keyset)) {
    MOS_TRY_ASSIGN(
        spec.root_password_hash,
        hash_password(trust::kDevelopmentPassword,
                      password_salt(fmt::format("mos hostfs of keyset {}", keyset_name))));
  }
  MOS_TRY_ASSIGN(auto tree, TempDir::create({}, "mos-hostfs-"));
  MOS_TRY(write_hostfs_tree(spec, tree.path() / "rootfs"));
  return add_layout_image(stage, tree.path() / "rootfs", trust::kHostfsImageTag);
}

// The bootkit image (the original's layer: /bootkit/shim.efi and /bootkit/kernel.efi, signed;
// and beside them the initramfs's tools) in the layout KEYSET/bootkit/oci, which publish takes the
// `bootkit` target from.
Status build_bootkit_image(const BootkitPaths& stage) {
  MOS_TRY_ASSIGN(auto tree, TempDir::create({}, "mos-bootkit-image-"));
  MOS_TRY(make_dirs(tree.path() / "bootkit", 0755));
  for (const auto& file : {stage.shim, stage.uki, stage.initrd_tools}) {
    std::error_code ec;
    fs::copy_file(file, tree.path() / "bootkit" / file.filename(), ec);
    if (ec) return fail("copying {} into the bootkit image: {}", file.string(), ec.message());
  }
  return add_layout_image(stage, tree.path(), trust::kBootkitImageTag);
}

Result<BootkitReport> build_into(const fs::path& keyset, std::string_view keyset_name,
                                 const BootkitSources& sources, const fs::path& staging) {
  BootkitPaths stage(staging);
  MOS_TRY(make_dirs(staging / "ovmf", 0755));

  // Firmware: Debian's secure-boot code as is, the keyset's keys enrolled in an empty store.
  MOS_TRY_ASSIGN(auto code, read_part(sources.ovmf_code, "OVMF"));
  MOS_TRY_ASSIGN(auto empty_vars, read_part(sources.ovmf_vars, "OVMF"));
  MOS_TRY_ASSIGN(auto inputs, tpm::keyset_pcr7_inputs(keyset));
  SecureBootEnrolment enrolment{inputs.pk, {inputs.kek}, {inputs.db}};
  MOS_TRY_ASSIGN(auto vars, enroll_secure_boot(empty_vars, enrolment, sources.ovmf_vars.string()));
  MOS_TRY(write_file_atomic(stage.ovmf_code, code, 0644));
  MOS_TRY(write_file_atomic(stage.ovmf_vars, vars, 0644));

  // shim: trusts uki-production, is trusted by the firmware through uefi-db.
  MOS_TRY_ASSIGN(auto shim, read_part(sources.shim, "shim"));
  MOS_TRY_ASSIGN(auto uki_cert,
                 tpm::certificate_der_from_pem_file(keyset / "uki-production" / "cert.pem"));
  MOS_TRY_ASSIGN(auto our_shim, shim_with_vendor_cert(shim, uki_cert, sources.shim.string()));
  MOS_TRY(sign_efi_image(our_shim, keyset_key(keyset, "uefi-db"), stage.shim, "shim"));

  // The keyset's pcr7data, predicted for this very chain (measured: tests/e2e/bootkit.bats):
  // its enrolled vars, this shim's SbatLevel, no MokListTrusted event (shim 15.7 and later),
  // the vendor certificate measured from MokListRT. The initramfs carries it.
  MOS_TRY_ASSIGN(auto levels, tpm::read_shim_sbat_levels(sources.shim));
  tpm::Pcr7Inputs chain;
  chain.sbat_level = levels.automatic;
  chain.mok_list_trusted = std::nullopt;
  chain.uki_authority = tpm::UkiAuthority::mok_list_rt;
  MOS_TRY(tpm::write_predicted_pcr7data(keyset, keyset_name, chain));

  // The UKI: stub, kernel, initramfs, fixed command line; signed by uki-production.
  MOS_TRY_ASSIGN(auto kernel, find_kernel(sources.kernel_root, sources.kernel_release));
  MOS_TRY_ASSIGN(auto built, build_keyset_initramfs(keyset, sources, kernel, stage.initrd_tools));
  MOS_TRY_ASSIGN(auto initramfs, zstd_compress(built.cpio));
  const auto cpio_size = built.cpio.size();
  built.cpio = {};
  MOS_TRY_ASSIGN(auto stub, read_part(sources.stub, "systemd-boot-efi's stub"));
  MOS_TRY_ASSIGN(auto vmlinuz, read_file(kernel.image, kMaxPart));
  UkiParts parts{std::move(stub), std::move(vmlinuz), std::move(initramfs),
                 std::string(kUkiCmdline), os_release(keyset_name)};
  MOS_TRY_ASSIGN(auto uki, assemble_uki(parts));
  MOS_TRY(sign_efi_image(uki, keyset_key(keyset, "uki-production"), stage.uki, "UKI"));
  MOS_TRY(build_bootkit_image(stage));
  MOS_TRY(build_hostfs_image(stage, keyset, keyset_name, sources, kernel));

  BootkitReport report{BootkitPaths::of_keyset(keyset), kernel.release, parts.initramfs.size(),
                       fs::file_size(stage.uki)};
  Json info{{"keyset", keyset_name},
            {"kernel_release", kernel.release},
            {"cmdline", kUkiCmdline},
            {"initramfs_size", report.initramfs_size},
            {"initramfs_compression", "zstd"},
            {"initramfs_cpio_size", cpio_size},
            {"initrd_tools",
             {{"sha256", built.tools_sha256},
              {"sha512", built.tools_sha512},
              {"size", fs::file_size(stage.initrd_tools)}}},
            {"uki_size", report.uki_size},
            {"esp",
             {{"\\EFI\\BOOT\\BOOTX64.EFI", "shim.efi"},
              {"\\EFI\\BOOT\\grubx64.efi", "kernel.efi"},
              {"\\EFI\\BOOT\\initrd-tools.squashfs", std::string(kInitrdToolsFile)}}},
            {"sources",
             {{"ovmf_code", sources.ovmf_code.string()},
              {"ovmf_vars", sources.ovmf_vars.string()},
              {"shim", sources.shim.string()},
              {"stub", sources.stub.string()},
              {"kernel", kernel.image.string()},
              {"busybox", sources.busybox.string()},
              {"mosctl", sources.mosctl.string()},
              {"mosctl_initrd", sources.initrd_mosctl.string()},
              {"mosctl_boot", sources.boot_program.string()},
              {"lxc_monitor", sources.container_monitor.string()},
              {"container_reaper", sources.container_reaper.string()}}}};
  MOS_TRY(write_file_atomic(stage.info, info.dump(2) + "\n", 0644));
  return report;
}

}  // namespace

Result<BootkitReport> build_bootkit(const fs::path& keyset_dir, std::string_view keyset_name,
                                    const BootkitSources& sources) {
  for (const auto& [program, what] :
       {std::pair{&sources.mosctl, "the mosctl program for the hostfs"},
        std::pair{&sources.initrd_mosctl, "the mosctl-initrd program for the initramfs"},
        std::pair{&sources.boot_program, "the mosctl-boot program for the hostfs"},
        std::pair{&sources.container_monitor, "the mos-lxc-monitor program for the hostfs"},
        std::pair{&sources.container_reaper, "the mos-container-reaper program for the hostfs"}})
    if (program->empty() || !fs::exists(*program))
      return fail("{} is missing ({})", what,
                  program->empty() ? std::string("not given") : program->string());
  MOS_TRY_ASSIGN(auto lock, FileLock::acquire(keyset_dir / ".bootkit.lock",
                                              FileLock::Mode::exclusive, FileLock::Wait::block));
  // What an interrupted build left (another pid's staging directory, or the old bootkit an
  // exchange put there) goes first: the lock says no build runs.
  std::error_code ec;
  for (fs::directory_iterator it(keyset_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(".bootkit.new-")) {
      std::error_code gone;
      fs::remove_all(it->path(), gone);
    }
  auto staging = keyset_dir / fmt::format(".bootkit.new-{}", ::getpid());
  // The build predicts the keyset's pcr7data for its chain in place (its policies are signed
  // with the keyset's keys): a failed build puts the previous one back.
  auto saved = keyset_dir / ".bootkit.pcr7data-before";
  fs::remove_all(saved, ec);
  MOS_TRY(make_dirs(saved, 0700));
  for (const auto* name : {"pcr7data", "pcr7data.cpio"})
    if (fs::exists(keyset_dir / name, ec)) {
      fs::copy(keyset_dir / name, saved / name, fs::copy_options::recursive, ec);
      if (ec)
        return fail("saving {} before the build: {}", (keyset_dir / name).string(), ec.message());
    }
  auto restore = [&] {
    for (const auto* name : {"pcr7data", "pcr7data.cpio"}) {
      std::error_code e;
      if (!fs::exists(saved / name, e)) continue;
      fs::remove_all(keyset_dir / name, e);
      fs::rename(saved / name, keyset_dir / name, e);
    }
  };
  auto report = build_into(keyset_dir, keyset_name, sources, staging);
  if (report) {
    if (auto s = swap_into_place(staging, BootkitPaths::of_keyset(keyset_dir).dir); !s)
      report = std::unexpected(s.error());
  }
  if (!report) {
    fs::remove_all(staging, ec);
    restore();
    fs::remove_all(saved, ec);
    return context(fmt::format("building the bootkit of keyset {}", keyset_name), report.error());
  }
  fs::remove_all(saved, ec);
  return report;
}

}  // namespace mos::boot
