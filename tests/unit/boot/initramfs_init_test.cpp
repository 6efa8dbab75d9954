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
  EXPECT_THAT(script, HasSubstr("create-boot-fs --root \"$R\" --dest /sysroot"));
  // A boot medium's live system is reached only through its verified mount.
  EXPECT_LT(script.find("mosctl mount -t livecd --ca /manifestCA.pem"),
            script.find("switch_to_sysroot \"live system\""));
  EXPECT_THAT(script, Not(HasSubstr("exec sh")));
  EXPECT_THAT(script, Not(HasSubstr("/bin/sh -i")));
  // A production keyset's machine stops when the TPM gives no identity; only a development
  // keyset's boots on without a TPM device, and then starts no TPM program at all.
  EXPECT_THAT(script, HasSubstr("stop \"FAILED: TPM: "));
  auto no_tpm = script.find("if [ \"$tpm\" = none ] && [ -e /etc/mos/development ]; then");
  ASSERT_NE(no_tpm, std::string::npos);
  EXPECT_LT(no_tpm, script.find("mosctl initrd-setup"));
  // The SUDI the TPM gives names the product the system's verification checks: the TPM's step
  // ends first. dm-verity's modules load beside it and are waited for before the verification.
  auto boot = script.find("boot_system() {");
  EXPECT_LT(script.find("mosctl initrd-setup", boot), script.find("mosctl create-boot-fs", boot));
  auto verity = script.find("modprobe dm_verity 2>/dev/null &\n  verity_modules=$!", boot);
  ASSERT_NE(verity, std::string::npos);
  EXPECT_LT(verity, script.find("mosctl initrd-setup", boot));
  EXPECT_LT(script.find("wait \"$verity_modules\"", boot),
            script.find("mosctl create-boot-fs", boot));
}

// Storage drivers load for the hardware present: by the modaliases of its PCI devices, then of
// the virtio devices those make, before the filesystems are waited for; SCSI disks' and CD
// drives' as the hosts find them, while the init looks for a medium or a system.
TEST(InitramfsInit, StorageDriversLoadForThePresentHardware) {
  std::string script(initramfs_init_script());
  auto pci = script.find("coldplug /sys/bus/pci/devices/*/modalias");
  auto virtio = script.find("coldplug /sys/bus/virtio/devices/*/modalias");
  ASSERT_NE(pci, std::string::npos);
  ASSERT_NE(virtio, std::string::npos);
  EXPECT_LT(pci, virtio);
  EXPECT_LT(virtio, script.find("\nwait\n"));
  auto loop = script.find("for _ in $(seq 100); do\n  scsi_drivers\n");
  ASSERT_NE(loop, std::string::npos);
  EXPECT_LT(loop, script.find("findfs LABEL=OCI-BOOT >/dev/null"));
}

TEST(InitramfsInit, EarlyModulesAreInTheInitramfs) {
  std::vector<std::string_view> early(std::begin(kInitramfsStorageDrivers),
                                      std::end(kInitramfsStorageDrivers));
  early.insert(early.end(), std::begin(kInitramfsEarlyFilesystems),
               std::end(kInitramfsEarlyFilesystems));
  for (auto module : early)
    EXPECT_NE(std::find(std::begin(kInitramfsModules), std::end(kInitramfsModules), module),
              std::end(kInitramfsModules))
        << module << " is loaded first but not put in the initramfs";
}

// The filesystems and the storage drivers load at once: with this machine's kernel, no module is
// in both closures (two modprobes of one module at once would fail one of them).
TEST(InitramfsInit, TheTwoEarlyListsShareNoModule) {
  auto kernel = find_kernel("/");
  if (!kernel) GTEST_SKIP() << "no kernel with modules under / (linux-image-amd64)";
  std::vector<std::string> drivers(std::begin(kInitramfsStorageDrivers),
                                   std::end(kInitramfsStorageDrivers));
  std::vector<std::string> filesystems(std::begin(kInitramfsEarlyFilesystems),
                                       std::end(kInitramfsEarlyFilesystems));
  auto a = module_load_order(*kernel, drivers);
  auto b = module_load_order(*kernel, filesystems);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  for (const auto& module : *a)
    EXPECT_EQ(std::find(b->begin(), b->end(), module), b->end()) << module << " is in both";
}

}  // namespace
}  // namespace mos::boot
