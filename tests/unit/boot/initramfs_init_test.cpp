// The initramfs's /init: valid sh for busybox, every failure path ends in stop (which never
// returns), and the modules it loads first are ones the bootkit puts in the initramfs.
#include "boot/initramfs_init.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "boot/bootkit.hpp"
#include "boot/kernel_files.hpp"
#include "core/process.hpp"

namespace mos::boot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(InitramfsInit, IsValidShellForBusybox) {
  ProcessRun run;
  run.argv = {"busybox", "sh", "-n"};
  run.input = std::string(initramfs_init_script());
  run.merge_stderr = true;
  auto result = run_process(run);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->exit_code, 0) << result->out;
}

TEST(InitramfsInit, StopNeverReturnsAndNothingBootsWithoutVerification) {
  std::string script(initramfs_init_script());
  // stop() loops on power-off: nothing after a failure runs.
  auto stop = script.find("stop() {");
  ASSERT_NE(stop, std::string::npos);
  auto body = script.substr(stop, script.find("\n}", stop) - stop);
  EXPECT_THAT(body, HasSubstr("while :; do"));
  EXPECT_THAT(body, HasSubstr("poweroff -f"));
  // The hostfs is reached only through create-boot-fs (which verifies), and no shell is ever
  // started for the console.
  EXPECT_LT(script.find("mosctl create-boot-fs"), script.find("exec switch_root"));
  EXPECT_THAT(script, HasSubstr("create-boot-fs --after /run/boot-fs-ready --identity-after "
                                "/run/identity-ready \\\n    --hand-over "
                                "/run/mos/booted-system.json --root \"$R\" --dest /sysroot"));
  // A boot medium's live system is reached only through its verified mount.
  EXPECT_LT(script.find("mosctl mount -t livecd --ca /manifestCA.pem"),
            script.find("switch_to_sysroot \"live system\""));
  EXPECT_THAT(script, Not(HasSubstr("exec sh")));
  EXPECT_THAT(script, Not(HasSubstr("/bin/sh -i")));
  // A production keyset's machine stops when the TPM gives no identity; only a development
  // keyset's boots on without a TPM device, and then starts no TPM program at all.
  EXPECT_THAT(script, HasSubstr("stop \"FAILED: TPM: "));
  auto no_tpm = script.find("if [ \"$tpm\" != none ] || [ ! -e /etc/mos/development ]; then");
  ASSERT_NE(no_tpm, std::string::npos);
  EXPECT_LT(no_tpm, script.find("mosctl initrd-setup"));
  // In the background: the partitions mount once their filesystems' modules (loaded from the
  // init's start) are in, beside the tools' check; once the tools (which hold their modules) are
  // there, dm-verity's and overlay's modules load and the TPM's step runs (on /dev/tpm0: no
  // resource manager's context swaps). create-boot-fs is started as soon as the tools are there,
  // does nothing until the partitions and modules are in, and checks the product the SUDI names
  // only once the TPM's step is over (identity-ready).
  auto boot = script.find("boot_system() {");
  auto partitions = script.find("mount_partitions() {");
  ASSERT_NE(partitions, std::string::npos);
  auto partitions_body = script.substr(partitions, script.find("\n}", partitions) - partitions);
  auto loading =
      script.find("load_modules /etc/mos/system-filesystems /run/system-filesystems-failed");
  ASSERT_NE(loading, std::string::npos);
  EXPECT_LT(loading, script.find("tools_from() {"));
  auto filesystems = partitions_body.find("while [ ! -e /run/system-filesystems ]");
  ASSERT_NE(filesystems, std::string::npos);
  EXPECT_LT(filesystems, partitions_body.find("[ -s /run/system-filesystems-failed ]"));
  EXPECT_LT(partitions_body.find("[ -s /run/system-filesystems-failed ]"),
            partitions_body.find("mount -t ext4 -o nosuid,nodev"));
  EXPECT_THAT(partitions_body, HasSubstr("cp /manifestCA.pem"));
  auto partitions_started = script.find("mount_partitions &\n  partitions=$!", boot);
  ASSERT_NE(partitions_started, std::string::npos);
  auto need = script.find("need_tools tools_from_esp", boot);
  EXPECT_LT(partitions_started, need);
  auto tpm_step = script.find(
      "mosctl initrd-setup --tpm device:/dev/tpm0 --pcr7data /pcr7data > "
      "/run/initrd-setup.log 2>&1 &\n"
      "    tpm_step=$!",
      boot);
  ASSERT_NE(tpm_step, std::string::npos);
  auto tpm_wait = script.find("elif wait \"$tpm_step\"; then", boot);
  ASSERT_NE(tpm_wait, std::string::npos);
  auto boot_fs = script.find("mosctl create-boot-fs --after /run/boot-fs-ready", boot);
  ASSERT_NE(boot_fs, std::string::npos);
  // What it verified goes to the hostfs's mosctl boot, in /run (moved into the hostfs).
  auto hand_over = script.find("--hand-over /run/mos/booted-system.json", boot_fs);
  ASSERT_NE(hand_over, std::string::npos);
  EXPECT_LT(hand_over, script.find("boot_fs=$!", boot_fs));
  auto released = script.find(": > /run/boot-fs-ready", boot);
  ASSERT_NE(released, std::string::npos);
  auto identity = script.find(": > /run/identity-ready", boot);
  ASSERT_NE(identity, std::string::npos);
  EXPECT_LT(tpm_wait, identity);
  EXPECT_LT(script.find("stop \"FAILED: TPM: ${out##*error: }\"", boot), identity);
  EXPECT_LT(identity, script.find("if ! wait \"$boot_fs\"; then", boot));
  auto partitions_waited =
      script.find("wait \"$partitions\" || stop \"FAILED: $(cat /run/partitions-failed)\"", boot);
  ASSERT_NE(partitions_waited, std::string::npos);
  EXPECT_LT(partitions_waited, released);
  // The machine's identity goes into the tmpfs that mount_partitions made.
  EXPECT_LT(partitions_waited, script.find("cp -p /priv/factory/secure/server.crt", boot));
  EXPECT_THAT(script, HasSubstr("load_mount_modules() {\n  modprobe dm_verity 2>/dev/null &\n"
                                "  verity_modules=$!\n  modprobe overlay 2>/dev/null &\n"
                                "  overlay_module=$!\n}"));
  EXPECT_THAT(script, HasSubstr("wait \"$overlay_module\" || stop \"FAILED: loading kernel module "
                                "overlay\""));
  auto modules = script.find("  load_mount_modules\n", boot);
  ASSERT_NE(modules, std::string::npos);
  EXPECT_LT(need, modules);
  EXPECT_LT(script.find("  wait_mount_modules\n", boot), released);
  EXPECT_LT(released, script.find("if ! wait \"$boot_fs\"; then", boot));
}

// mosctl and its libraries come from the initramfs's tools: they are hashed and compared with the
// initramfs's SHA-256 before their mount, mounted before any mosctl runs (an installed system's
// from the ESP, a medium's from it), and unmounted before switch_root.
TEST(InitramfsInit, NoMosctlRunsBeforeItsToolsAreChecked) {
  std::string script(initramfs_init_script());
  auto tools_from = script.find("tools_from() {");
  ASSERT_NE(tools_from, std::string::npos);
  auto body = script.substr(tools_from, script.find("\n}", tools_from) - tools_from);
  auto hashed =
      body.find("cp \"$1\" /initrd-tools.squashfs && sum=$(sha512sum /initrd-tools.squashfs)");
  auto compared = body.find("[ \"${sum%% *}\" != \"$want\" ]");
  auto mounted = body.find("mount -t squashfs -o ro,loop /initrd-tools.squashfs \"$TOOLS\"");
  ASSERT_NE(hashed, std::string::npos);
  ASSERT_NE(compared, std::string::npos);
  ASSERT_NE(mounted, std::string::npos);
  EXPECT_LT(hashed, compared);
  EXPECT_LT(compared, mounted);
  EXPECT_THAT(body, HasSubstr("read -r want < /etc/mos/initrd-tools.sha512"));
  // need_tools stops the boot when neither the early try nor its own gave them.
  EXPECT_THAT(script, HasSubstr("\"$@\" || stop \"FAILED: $(cat /run/tools-failed)\""));
  auto boot = script.find("boot_system() {");
  auto need = script.find("need_tools tools_from_esp", boot);
  ASSERT_NE(need, std::string::npos);
  EXPECT_LT(need, script.find("mosctl create-boot-fs", boot));
  EXPECT_LT(need, script.find("mosctl initrd-setup", boot));
  auto medium = script.find("boot_medium() {");
  auto need_medium = script.find("need_tools tools_from \"$M/mos/initrd-tools.squashfs\"", medium);
  ASSERT_NE(need_medium, std::string::npos);
  EXPECT_LT(need_medium, script.find("mosctl mount -t livecd", medium));
  // Before these two functions, no line but a comment runs mosctl (the read-ahead names its file).
  std::size_t line_start = 0;
  while (line_start < std::min(boot, medium)) {
    auto end = script.find('\n', line_start);
    std::string line = script.substr(line_start, end - line_start);
    auto first = line.find_first_not_of(' ');
    if (first != std::string::npos && line[first] != '#') {
      EXPECT_THAT(line, Not(HasSubstr("mosctl "))) << "runs before the tools are mounted";
    }
    line_start = end + 1;
  }
  // The read-ahead of the tools ends before they are unmounted.
  EXPECT_LT(script.find("[ -z \"$read_ahead\" ] || wait \"$read_ahead\""),
            script.find("umount -d \"$TOOLS\""));
  EXPECT_LT(script.find("umount -d \"$TOOLS\""), script.find("exec switch_root"));
}

// Storage drivers load for the hardware present: virtio's PCI transport and its disks before the
// filesystems are waited for; the other controllers' after them, in one stream in the
// background, which ends before switch_root; SCSI disks' and CD drives' once that stream is
// done, as the hosts find them, while the init looks for a medium or a system.
TEST(InitramfsInit, StorageDriversLoadForThePresentHardware) {
  std::string script(initramfs_init_script());
  auto pci = script.find("for alias in $(cat /sys/bus/pci/devices/*/modalias");
  auto virtio = script.find("for alias in $(cat /sys/bus/virtio/devices/*/modalias");
  ASSERT_NE(pci, std::string::npos);
  ASSERT_NE(virtio, std::string::npos);
  EXPECT_LT(pci, script.find("coldplug $virtio_pci\n"));
  EXPECT_LT(script.find("coldplug $virtio_pci\n"), virtio);
  EXPECT_LT(virtio, script.find("coldplug $virtio_disks\n"));
  auto early = script.find("wait \"$early_filesystems\"");
  ASSERT_NE(early, std::string::npos);
  EXPECT_LT(script.find("coldplug $virtio_disks\n"), early);
  auto others = script.find("{ coldplug $other_pci $other_virtio; : > /run/storage-drivers; } &");
  ASSERT_NE(others, std::string::npos);
  EXPECT_LT(early, others);
  EXPECT_THAT(script, HasSubstr("[ -e /run/storage-drivers ] || return 0"));
  EXPECT_LT(script.find("wait \"$storage_drivers\"\n"), script.find("exec switch_root"));
  auto loop = script.find("while [ $tries -lt 100 ]; do\n  scsi_drivers\n");
  ASSERT_NE(loop, std::string::npos);
  EXPECT_LT(loop, script.find("findfs LABEL=OCI-BOOT >/dev/null"));
}

// What the firmware booted decides: from a disk's ESP (systemd-stub's LoaderDevicePartUUID) an
// installed system is taken as soon as it is seen; otherwise (a CD) a medium is looked for first,
// and a system taken only once every storage driver is in and after two seconds. A medium always
// wins when both are seen.
TEST(InitramfsInit, WhatTheFirmwareBootedDecidesBetweenMediumAndSystem) {
  std::string script(initramfs_init_script());
  auto decide = script.find("wait \"$started\"\npatience=20\n");
  ASSERT_NE(decide, std::string::npos);
  EXPECT_LT(script.find("mount -t efivarfs"), decide);
  EXPECT_THAT(script, HasSubstr("[ -e /sys/firmware/efi/efivars/LoaderDevicePartUUID-"
                                "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f ] &&\n  patience=0\n"));
  auto media = script.find("if findfs LABEL=OCI-BOOT >/dev/null 2>&1; then found=media", decide);
  auto system = script.find("findfs LABEL=machine-store >/dev/null 2>&1; then", decide);
  ASSERT_NE(media, std::string::npos);
  ASSERT_NE(system, std::string::npos);
  EXPECT_LT(media, system);
  EXPECT_THAT(script.substr(media, system - media),
              HasSubstr("[ $tries -ge $patience ] && { [ $patience = 0 ] || [ -e "
                        "/run/storage-drivers ]; }"));
}

// The secure boot state (efivarfs asks the firmware for every variable) is read beside the boot.
TEST(InitramfsInit, SecureBootIsReadBesideTheBoot) {
  std::string script(initramfs_init_script());
  auto job = script.find("{\n  secureboot=none\n");
  ASSERT_NE(job, std::string::npos);
  auto end = script.find("\n} &\nstarted=$!", job);
  ASSERT_NE(end, std::string::npos);
  EXPECT_LT(job, script.find("mount -t efivarfs"));
  EXPECT_LT(script.find("mount -t efivarfs"), end);
  EXPECT_LT(script.find("say \"started: "), end);
}

// The ESP's filesystem loads from the init's start with the tools', and its mount waits for it.
TEST(InitramfsInit, TheEspIsMountedOnceItsFilesystemIsLoaded) {
  auto in = [](std::string_view module) {
    return std::ranges::find(kInitramfsEarlyFilesystems, module) !=
           std::end(kInitramfsEarlyFilesystems);
  };
  for (auto module : {"vfat", "nls_cp437", "nls_ascii"}) EXPECT_TRUE(in(module)) << module;
  std::string script(initramfs_init_script());
  auto esp = script.find("tools_from_esp() {");
  ASSERT_NE(esp, std::string::npos);
  auto wait = script.find("while [ ! -e /run/early-filesystems ]; do sleep 0.02; done", esp);
  ASSERT_NE(wait, std::string::npos);
  EXPECT_LT(wait, script.find("mount -t vfat -o ro LABEL=ESP", esp));
  EXPECT_THAT(script, Not(HasSubstr("modprobe -a vfat")));
}

TEST(InitramfsInit, EarlyModulesAreInTheInitramfs) {
  std::vector<std::string_view> early(std::begin(kInitramfsStorageDrivers),
                                      std::end(kInitramfsStorageDrivers));
  early.insert(early.end(), std::begin(kInitramfsEarlyFilesystems),
               std::end(kInitramfsEarlyFilesystems));
  early.insert(early.end(), std::begin(kInitramfsSystemFilesystems),
               std::end(kInitramfsSystemFilesystems));
  auto in = [](const auto& list, std::string_view module) {
    return std::find(std::begin(list), std::end(list), module) != std::end(list);
  };
  for (auto module : early) {
    EXPECT_TRUE(in(kInitramfsModules, module))
        << module << " is loaded first but not put in the initramfs";
    EXPECT_FALSE(in(kInitrdToolsModules, module))
        << module << " is loaded before the tools are mounted but kept among them";
  }
  // What is kept among the tools is the initramfs's.
  for (auto module : kInitrdToolsModules) EXPECT_TRUE(in(kInitramfsModules, module)) << module;
}

// What the init loads at once (the storage drivers, the tools' filesystems, the partitions', the
// ESP's, efivarfs, and once the tools are there overlay and dm-verity while the others may still
// load): with this machine's kernel, no module is in two of those closures (two
// modprobes of one module at once would fail one of them).
TEST(InitramfsInit, ModulesLoadedAtOnceShareNoModule) {
  auto kernel = find_kernel("/");
  if (!kernel) GTEST_SKIP() << "no kernel with modules under / (linux-image-amd64)";
  auto list = [](const auto& modules) {
    return std::vector<std::string>(std::begin(modules), std::end(modules));
  };
  std::vector<std::vector<std::string>> streams = {list(kInitramfsStorageDrivers),
                                                   list(kInitramfsEarlyFilesystems),
                                                   list(kInitramfsSystemFilesystems),
                                                   {"efivarfs"},
                                                   {"overlay"},
                                                   {"dm_verity"}};
  std::vector<std::vector<std::string>> closures;
  for (const auto& stream : streams) {
    auto order = module_load_order(*kernel, stream);
    ASSERT_TRUE(order) << order.error().message;
    closures.push_back(*order);
  }
  for (std::size_t a = 0; a < closures.size(); ++a)
    for (std::size_t b = a + 1; b < closures.size(); ++b)
      for (const auto& module : closures[a])
        EXPECT_EQ(std::find(closures[b].begin(), closures[b].end(), module), closures[b].end())
            << module << " is in the closures of " << streams[a].front() << " and "
            << streams[b].front();
}

}  // namespace
}  // namespace mos::boot
