// Finding a kernel in a root and the load order of its modules: a fake tree for the logic, the
// real Debian kernel when one is around.
#include "boot/kernel_files.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

void write(const fs::path& path, std::string_view text) {
  ASSERT_TRUE(make_dirs(path.parent_path()));
  ASSERT_TRUE(write_file_atomic(path, text));
}

TempDir temp_dir() {
  auto dir = TempDir::create({}, "mos-kernel-test-");
  EXPECT_TRUE(dir) << dir.error().message;
  return std::move(*dir);
}

void add_release(const fs::path& root, const std::string& release, bool with_modules = true) {
  write(root / "boot" / ("vmlinuz-" + release), "kernel " + release);
  if (with_modules) write(root / "lib/modules" / release / "modules.order", "");
}

TEST(CompareKernelReleases, ComparesNumericRunsAsNumbers) {
  EXPECT_GT(compare_kernel_releases("6.1.0-41-amd64", "6.1.0-9-amd64"), 0);
  EXPECT_LT(compare_kernel_releases("6.1.0-9-amd64", "6.1.0-41-amd64"), 0);
  EXPECT_EQ(compare_kernel_releases("6.1.0-41-amd64", "6.1.0-41-amd64"), 0);
  EXPECT_GT(compare_kernel_releases("6.10.0-1-amd64", "6.9.0-1-amd64"), 0);
  EXPECT_LT(compare_kernel_releases("6.1.0~rc1", "6.1.0"), 0);  // '~' sorts before the end
  EXPECT_LT(compare_kernel_releases("6.1.0", "6.1.0a"), 0);
  EXPECT_LT(compare_kernel_releases("6.1.0-1-amd64", "6.1.0-01-cloud-amd64"), 0);
}

TEST(FindKernel, PicksTheNewestReleaseThatHasModules) {
  auto root = temp_dir();
  add_release(root.path(), "6.1.0-9-amd64");
  add_release(root.path(), "6.1.0-41-amd64");
  add_release(root.path(), "6.1.0-50-amd64", /*with_modules=*/false);  // an image alone
  auto kernel = find_kernel(root.path());
  ASSERT_TRUE(kernel) << kernel.error().message;
  EXPECT_EQ(kernel->release, "6.1.0-41-amd64");
  EXPECT_EQ(kernel->image, root.path() / "boot/vmlinuz-6.1.0-41-amd64");
  EXPECT_EQ(kernel->modules_dir, root.path() / "lib/modules/6.1.0-41-amd64");

  auto older = find_kernel(root.path(), "6.1.0-9-amd64");
  ASSERT_TRUE(older) << older.error().message;
  EXPECT_EQ(older->release, "6.1.0-9-amd64");
}

TEST(FindKernel, FindsModulesUnderUsrLib) {
  auto root = temp_dir();
  write(root.path() / "boot/vmlinuz-6.12.9-amd64", "k");
  write(root.path() / "usr/lib/modules/6.12.9-amd64/modules.order", "");
  auto kernel = find_kernel(root.path());
  ASSERT_TRUE(kernel) << kernel.error().message;
  EXPECT_EQ(kernel->modules_dir, root.path() / "usr/lib/modules/6.12.9-amd64");
}

TEST(FindKernel, SaysWhatIsMissing) {
  auto root = temp_dir();
  EXPECT_THAT(test::error_of(find_kernel(root.path())), HasSubstr("no kernel in"));
  add_release(root.path(), "6.1.0-41-amd64");
  add_release(root.path(), "6.1.0-50-amd64", false);
  EXPECT_THAT(test::error_of(find_kernel(root.path(), "6.1.0-50-amd64")),
              HasSubstr("no kernel 6.1.0-50-amd64"));
  EXPECT_THAT(test::error_of(find_kernel(root.path(), "5.10.0-1-amd64")),
              HasSubstr("lib/modules/5.10.0-1-amd64/"));
}

// A modules tree as depmod leaves it: modules.dep lists every module's whole closure, the one
// loaded last first.
KernelFiles fake_kernel(const fs::path& root) {
  fs::path dir = root / "lib/modules/6.1.0-41-amd64";
  write(
      dir / "modules.dep",
      "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko\n"
      "kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko\n"
      "kernel/fs/mbcache.ko:\n"
      "kernel/lib/crc16.ko:\n"
      "kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko\n"
      "kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko\n"
      "kernel/drivers/md/dm-mod.ko:\n"
      "kernel/fs/broken.ko: kernel/fs/nowhere.ko\n");
  write(dir / "modules.builtin",
        "kernel/drivers/virtio/virtio.ko\nkernel/fs/overlayfs/overlay.ko\n");
  return KernelFiles{"6.1.0-41-amd64", root / "boot/vmlinuz-6.1.0-41-amd64", dir};
}

TEST(ModuleLoadOrder, GivesTheClosureDependenciesFirstEachOnce) {
  auto root = temp_dir();
  auto kernel = fake_kernel(root.path());
  auto order = module_load_order(kernel, {"dm-verity", "ext4", "overlay", "jbd2", "dm_mod"});
  ASSERT_TRUE(order) << order.error().message;
  EXPECT_THAT(*order, ElementsAre("kernel/drivers/md/dm-mod.ko", "kernel/drivers/md/dm-bufio.ko",
                                  "kernel/drivers/md/dm-verity.ko", "kernel/lib/crc16.ko",
                                  "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko",
                                  "kernel/fs/ext4/ext4.ko"));
}

TEST(ModuleLoadOrder, SkipsBuiltinModules) {
  auto root = temp_dir();
  auto order = module_load_order(fake_kernel(root.path()), {"virtio", "overlay"});
  ASSERT_TRUE(order) << order.error().message;
  EXPECT_TRUE(order->empty());
}

TEST(ModuleLoadOrder, NamesAnUnknownModule) {
  auto root = temp_dir();
  auto kernel = fake_kernel(root.path());
  EXPECT_THAT(test::error_of(module_load_order(kernel, {"ext4", "no-such-driver"})),
              HasSubstr("no module 'no_such_driver'"));
  EXPECT_THAT(test::error_of(module_load_order(kernel, {"broken"})),
              HasSubstr("module 'broken' needs 'nowhere'"));
}

// A module file as the kernel build makes it, as far as we read it: an ELF object with a
// .modinfo section of NUL-separated key=value strings.
void write_module(const fs::path& file, std::string_view modinfo) {
  auto temp = temp_dir();
  write(temp.path() / "modinfo", modinfo);
  ASSERT_TRUE(make_dirs(file.parent_path()));
  auto made = run_checked(
      ProcessRun{.argv = {"objcopy", "-I", "binary", "-O", "elf64-x86-64", "--rename-section",
                          ".data=.modinfo", (temp.path() / "modinfo").string(), file.string()}});
  ASSERT_TRUE(made) << made.error().message;
}

TEST(ModuleLoadOrder, ReadsModinfoWhereDepmodNeverRan) {
  auto root = temp_dir();
  fs::path dir = root.path() / "lib/modules/6.1.0-41-amd64";
  using namespace std::string_view_literals;
  write_module(dir / "kernel/drivers/block/virtio_blk.ko",
               "license=GPL\0depends=virtio_ring,virtio\0name=virtio_blk\0"sv);
  write_module(dir / "kernel/drivers/virtio/virtio_ring.ko",
               "depends=virtio\0name=virtio_ring\0"sv);
  write_module(dir / "kernel/drivers/virtio/virtio.ko", "depends=\0name=virtio\0"sv);
  write_module(dir / "kernel/drivers/md/dm-verity.ko", "depends=dm-bufio\0"sv);
  write(dir / "kernel/drivers/md/dm-bufio.ko", "not an ELF file");
  KernelFiles kernel{"6.1.0-41-amd64", {}, dir};
  auto order = module_load_order(kernel, {"virtio-blk"});
  ASSERT_TRUE(order) << order.error().message;
  EXPECT_THAT(*order,
              ElementsAre("kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
                          "kernel/drivers/block/virtio_blk.ko"));
  EXPECT_THAT(test::error_of(module_load_order(kernel, {"dm_verity"})),
              HasSubstr("dm-bufio.ko is not an ELF file"));
}

// The kernel of an unpacked linux-image package (MOS_TEST_KERNEL_ROOT), or the host's.
TEST(ModuleLoadOrder, RealDebianKernel) {
  fs::path root = "/";
  if (const char* env = std::getenv("MOS_TEST_KERNEL_ROOT")) root = env;
  auto kernel = find_kernel(root);
  if (!kernel)
    GTEST_SKIP() << "no Debian kernel (set MOS_TEST_KERNEL_ROOT): " << kernel.error().message;
  std::vector<std::string> wanted{
      "virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod",   "sr_mod", "ahci",
      "isofs",      "vfat",       "ext4",        "squashfs", "loop",   "overlay",
      "dm_verity",  "efivarfs",   "virtio_net",  "button",   "evdev"};
  auto order = module_load_order(*kernel, wanted);
  ASSERT_TRUE(order) << order.error().message;
  std::cout << "kernel " << kernel->release << ": " << order->size() << " modules\n";
  for (const auto& path : *order) std::cout << "  " << path << "\n";
  // Each module comes after everything its own closure needs, and exists.
  std::map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < order->size(); ++i) position[(*order)[i]] = i;
  EXPECT_EQ(position.size(), order->size());
  for (const auto& path : *order) {
    EXPECT_TRUE(fs::is_regular_file(kernel->modules_dir / path)) << path;
    std::string name = fs::path(path).filename().string();
    auto own = module_load_order(*kernel, {name.substr(0, name.find(".ko"))});
    ASSERT_TRUE(own) << own.error().message;
    EXPECT_EQ(own->back(), path);
    for (const auto& dep : *own)
      EXPECT_LE(position.at(dep), position.at(path)) << dep << " < " << path;
  }
  // virtio_blk cannot load without the virtio core: whether it is built in or a module.
  EXPECT_TRUE(std::any_of(order->begin(), order->end(), [](const auto& p) {
    return p.ends_with("virtio_blk.ko") || p.ends_with("virtio_blk.ko.xz");
  }));
}

}  // namespace
}  // namespace mos::boot
