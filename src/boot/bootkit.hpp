#pragma once
// A keyset's bootkit: what a machine of that keyset boots, built from Debian's parts and the
// keyset's keys, under the keyset's directory at the walkthrough's paths:
//   KEYSET/bootkit/ovmf/ovmf-code.fd  the secure-boot firmware code (Debian's, 4M)
//   KEYSET/bootkit/ovmf-vars.fd       its variables: uefi-pk, uefi-kek and uefi-db enrolled,
//                                     secure boot on, no Microsoft keys
//   KEYSET/bootkit/shim.efi           Debian's shim trusting uki-production, signed by uefi-db
//   KEYSET/bootkit/kernel.efi         the UKI (stub, kernel, our initramfs, fixed command line),
//                                     signed by uki-production
//   KEYSET/bootkit/initrd-tools.squashfs  the initramfs's programs and libraries, apart (below)
//   KEYSET/bootkit/bootkit.json       what it was built from (kernel release, digests, sizes)
// On an ESP the shim is \EFI\BOOT\BOOTX64.EFI and the UKI sits beside it as grubx64.efi, the
// second stage shim loads when no boot entry names another (docs/boot.md).
//
// The initramfs's mosctl and its libraries (three quarters of what the initramfs would hold) are
// not in the UKI, which firmware reads, shim and the stub hash and the kernel unpacks whole
// before our init runs: they are a squashfs beside it, "the initramfs's tools", which the init
// copies into memory, checks against the SHA-512 its initramfs holds and mounts, reading only
// the pages it runs (docs/boot.md).
#include <filesystem>
#include <string>

#include "boot/kernel_files.hpp"
#include "core/result.hpp"

namespace mos::boot {

// Where the parts come from: Debian's packages at their paths, overridable for tests and for
// hosts that keep them elsewhere.
struct BootkitSources {
  std::filesystem::path ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd";
  std::filesystem::path ovmf_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd";  // empty store
  std::filesystem::path shim = "/usr/lib/shim/shimx64.efi";             // shim-unsigned
  std::filesystem::path stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
  std::filesystem::path busybox = "/bin/busybox";  // busybox-static
  // A root holding boot/vmlinuz-RELEASE and lib/modules/RELEASE (linux-image-amd64).
  std::filesystem::path kernel_root = "/";
  std::string kernel_release;               // empty: the newest under kernel_root
  std::filesystem::path mosctl;             // the hostfs's mosctl (every command)
  std::filesystem::path initrd_mosctl;      // the initramfs's (mosctl-initrd: its commands only)
  std::filesystem::path boot_program;       // the hostfs's service manager (mosctl-boot)
  std::filesystem::path container_monitor;  // the hostfs's mos-lxc-monitor
  std::filesystem::path container_reaper;   // the hostfs's mos-container-reaper
};

struct BootkitPaths {
  // The files of a bootkit in `dir` (a keyset's is KEYSET/bootkit: of_keyset).
  explicit BootkitPaths(const std::filesystem::path& dir);
  static BootkitPaths of_keyset(const std::filesystem::path& keyset_dir);
  std::filesystem::path dir, ovmf_code, ovmf_vars, shim, uki, initrd_tools, info;
  std::filesystem::path oci;  // the layout of its images (trust::kBootkitLayoutDir)
};

// Where the initramfs's tools are mounted (their tree is what the initramfs would hold there:
// mosctl as mos/mosctl, the libraries), their file's name, and where the init finds it: beside
// the UKI on a disk's ESP, under mos/ on a boot medium's ISO 9660 tree. The initramfs holds the
// file's SHA-512 in kInitrdToolsHash: the init hashes the file on the boot's critical path, and
// busybox's sha512sum takes two thirds of its sha256sum's time (64-bit rounds).
inline constexpr std::string_view kInitrdToolsDir = "/usr/lib/x86_64-linux-gnu";
inline constexpr std::string_view kInitrdToolsFile = "initrd-tools.squashfs";
inline constexpr std::string_view kInitrdToolsEspPath = "::EFI/BOOT/initrd-tools.squashfs";
inline constexpr std::string_view kInitrdToolsMediaPath = "mos/initrd-tools.squashfs";
inline constexpr std::string_view kInitrdToolsHash = "/etc/mos/initrd-tools.sha512";

// The UKI's command line: under secure boot the only one (systemd-stub ignores the loader's).
inline constexpr std::string_view kUkiCmdline = "console=tty0 console=ttyS0 quiet panic=30";

// The kernel modules the initramfs loads to find and verify the system, in this order (the
// closure over modules.dep adds their dependencies; built-in ones are skipped).
inline constexpr std::string_view kInitramfsModules[] = {
    "virtio_pci", "virtio_blk",     "virtio_scsi", "ahci",      "sd_mod",    "sr_mod",
    "cdrom",      "isofs",          "vfat",        "nls_cp437", "nls_ascii", "ext4",
    "nls_utf8",   "crc32c_generic", "squashfs",    "loop",      "overlay",   "dm_verity",
    "efivarfs",   "nvme",           "dm_crypt",    "xts",       "ecb"};

// Of those, what the init loads before it looks for an installed system (modprobe follows the
// initramfs's modules.dep): the filesystems its tools need, those of an installed system's
// partitions (kInitramfsSystemFilesystems), and at once the storage drivers of the hardware the
// machine has, by its devices' modaliases (udev's coldplug, by hand): of the drivers below,
// virtio's PCI transport and its disks' first, then in the background the other controllers'
// (AHCI, NVMe, virtio-scsi), and sd_mod and sr_mod as their SCSI hosts find disks and CD drives.
// The early filesystems are the ESP's (vfat and its character sets, first: the ESP is mounted as
// soon as its disk's driver is in) and the tools' (squashfs on a loop device). The others (isofs
// for media, efivarfs for the first line's secure boot state, and those among the tools below)
// are loaded by the step that needs them: every module costs a signature check and a probe,
// seconds under emulation. (No two of the lists loaded at once share a module: two modprobes of
// one module at once would fail one.)
inline constexpr std::string_view kInitramfsStorageDrivers[] = {
    "virtio_pci", "virtio_blk", "virtio_scsi", "ahci", "sd_mod", "sr_mod", "nvme"};
inline constexpr std::string_view kInitramfsEarlyFilesystems[] = {"vfat", "nls_cp437", "nls_ascii",
                                                                  "squashfs", "loop"};
// The installed system's partitions' filesystem (ext4 and the checksum it asks the crypto API
// for), loaded from the init's start in the background: 0.7 s of CPU under emulation (ext4 alone
// is 2 MB), which would otherwise stand between the tools' mount and the partitions'.
inline constexpr std::string_view kInitramfsSystemFilesystems[] = {"ext4", "crc32c_generic"};

// Of kInitramfsModules, those the init loads only once the initramfs's tools are mounted:
// overlay and dm-verity (which an installed system's mount and a medium's live system need),
// and dm-crypt with its cipher modes (a provisioning medium's). They and what only they need
// (1.2 MB) are in the tools under kInitrdToolsModulesDir, linked from their places in the
// initramfs, so the UKI does not carry them: firmware and shim hash every byte of the UKI and
// the kernel unpacks all of its initramfs before the init runs (docs/boot.md).
inline constexpr std::string_view kInitrdToolsModules[] = {"overlay", "dm_verity", "dm_crypt",
                                                           "xts", "ecb"};
inline constexpr std::string_view kInitrdToolsModulesDir = "/usr/lib/x86_64-linux-gnu/mos/modules";
static_assert(kInitrdToolsModulesDir.starts_with(kInitrdToolsDir));

struct BootkitReport {
  BootkitPaths paths;
  std::string kernel_release;
  std::uintmax_t initramfs_size = 0, uki_size = 0;
};

// Builds the bootkit of the keyset at `keyset_dir` (named `keyset_name`) into
// KEYSET/bootkit, replacing any previous one in one step (a reader sees the old bootkit or the
// new one, never a mix); on failure the previous one stays. The same inputs give the same bytes
// (the initramfs and the UKI before signing).
Result<BootkitReport> build_bootkit(const std::filesystem::path& keyset_dir,
                                    std::string_view keyset_name, const BootkitSources& sources);

}  // namespace mos::boot
