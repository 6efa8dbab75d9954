// Building the initramfs: what bsdtar sees in it, byte-identical rebuilds, clear refusals, and
// (with a real kernel) a boot under qemu.
#include "boot/initramfs.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kProgram = "/usr/bin/curl";

void write(const fs::path& path, std::string_view text) {
  ASSERT_TRUE(make_dirs(path.parent_path()));
  ASSERT_TRUE(write_file_atomic(path, text));
}

struct Listed {
  std::string mode;    // "drwxr-xr-x", "crw-------", "lrwxrwxrwx"
  std::string size;    // the size column, "5,1" for a device
  std::string target;  // a link's target
};

// The archive as `bsdtar -tv` lists it: path -> mode, size, link target; and the paths in order.
std::map<std::string, Listed> listing(const fs::path& archive, std::vector<std::string>* order) {
  auto out =
      run_checked(ProcessRun{.argv = {"bsdtar", "-tvf", archive.string()}, .max_output = 64 << 20});
  EXPECT_TRUE(out) << out.error().message;
  std::map<std::string, Listed> entries;
  if (!out) return entries;
  // "crw------- 0 root root 5,1 Jan  1  1970 dev/console", "lrwxrwxrwx ... bin/sh -> /bin/busybox"
  static const std::regex line_re(
      R"(^(\S+)\s+\d+\s+\S+\s+\S+\s+(\S+)\s+\S+\s+\d+\s+\S+\s+(.*?)(?: -> (.*))?$)");
  std::string_view rest = *out;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    std::string line(rest.substr(0, newline));
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) {
      ADD_FAILURE() << "unexpected bsdtar line: " << line;
      continue;
    }
    entries[m[3]] = Listed{m[1], m[2], m[4]};
    if (order) order->push_back(m[3]);
  }
  return entries;
}

std::string member(const fs::path& archive, const std::string& name) {
  auto out = run_checked(ProcessRun{.argv = {"bsdtar", "-xOf", archive.string(), name}});
  EXPECT_TRUE(out) << out.error().message;
  return out ? *out : std::string{};
}

// Two modules of a fake kernel (the logic of their closure is kernel_files_test's).
KernelFiles fake_kernel(const fs::path& root) {
  fs::path dir = root / "lib/modules/6.1.0-41-amd64";
  write(dir / "modules.dep",
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/fs/unused.ko:\n");
  write(dir / "modules.builtin", "kernel/drivers/virtio/virtio.ko\n");
  write(dir / "modules.alias",
        "# Aliases extracted from modules themselves.\n"
        "alias virtio:d00000002v* virtio_blk\n"
        "alias fs-unused unused\n"
        "alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n");
  write(dir / "kernel/drivers/block/virtio_blk.ko", "virtio_blk module");
  write(dir / "kernel/drivers/virtio/virtio_ring.ko", "virtio_ring module");
  write(dir / "kernel/fs/unused.ko", "unused module");
  return KernelFiles{"6.1.0-41-amd64", root / "boot/vmlinuz-6.1.0-41-amd64", dir};
}

class InitramfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBusybox)) GTEST_SKIP() << kBusybox << " (busybox-static) is absent";
    auto dir = TempDir::create({}, "mos-initramfs-test-");
    ASSERT_TRUE(dir);
    dir_.emplace(std::move(*dir));
    spec_.busybox = kBusybox;
    spec_.kernel = fake_kernel(dir_->path());
    spec_.modules = {"virtio-blk", "virtio"};
    spec_.files = {InitramfsFile{"/init", "#!/bin/sh\nexec sh\n", 0755},
                   InitramfsFile{"/etc/mos/manifestCA.pem", "pem", 0644}};
  }

  fs::path save(const std::string& archive, const std::string& name = "initrd.cpio") {
    fs::path path = dir_->path() / name;
    EXPECT_TRUE(write_file_atomic(path, archive));
    return path;
  }

  std::optional<TempDir> dir_;
  InitramfsSpec spec_;
};

TEST_F(InitramfsTest, HoldsBusyboxConsoleModulesAndFiles) {
  auto archive = build_initramfs(spec_);
  ASSERT_TRUE(archive) << archive.error().message;
  EXPECT_EQ(archive->size() % 512, 0u);
  fs::path path = save(*archive);
  std::vector<std::string> order;
  auto entries = listing(path, &order);

  EXPECT_EQ(entries["dev/console"].mode, "crw-------");
  EXPECT_EQ(entries["dev/console"].size, "5,1");
  EXPECT_EQ(entries["bin/busybox"].mode, "-rwxr-xr-x");
  EXPECT_EQ(entries["bin/sh"].mode, "lrwxrwxrwx");
  EXPECT_EQ(entries["bin/sh"].target, "/bin/busybox");
  EXPECT_EQ(entries["sbin/modprobe"].target, "/bin/busybox");
  EXPECT_EQ(entries["usr/bin/["].target, "/bin/busybox");
  EXPECT_EQ(entries["init"].mode, "-rwxr-xr-x");
  EXPECT_EQ(entries["etc/mos/manifestCA.pem"].mode, "-rw-r--r--");
  EXPECT_EQ(member(path, "init"), "#!/bin/sh\nexec sh\n");
  for (const char* dir : {"bin", "dev", "etc", "etc/mos", "lib/modules", "proc", "sys", "usr/bin"})
    EXPECT_EQ(entries[dir].mode, "drwxr-xr-x") << dir;

  auto applets = run_checked(ProcessRun{.argv = {kBusybox, "--list-full"}});
  ASSERT_TRUE(applets);
  std::size_t links = 0;
  for (const auto& [name, entry] : entries) links += entry.target == "/bin/busybox";
  // Every applet but busybox itself (which it lists as bin/busybox).
  EXPECT_EQ(links,
            static_cast<std::size_t>(std::count(applets->begin(), applets->end(), '\n')) - 1);
  EXPECT_EQ(entries["linuxrc"].target, "/bin/busybox");

  std::string base = "lib/modules/6.1.0-41-amd64/";
  EXPECT_EQ(member(path, base + "kernel/drivers/block/virtio_blk.ko"), "virtio_blk module");
  EXPECT_FALSE(entries.contains(base + "kernel/fs/unused.ko"));
  EXPECT_EQ(member(path, "lib/modules/load-order"),
            "kernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/block/virtio_blk.ko\n");
  EXPECT_EQ(member(path, base + "modules.dep"),
            "kernel/drivers/virtio/virtio_ring.ko:\n"
            "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko\n");
  EXPECT_EQ(member(path, base + "modules.builtin"), "kernel/drivers/virtio/virtio.ko\n");
  // modprobe by modalias: the aliases of the modules it holds, and no others.
  EXPECT_EQ(member(path, base + "modules.alias"), "alias virtio:d00000002v* virtio_blk\n");

  // Sorted, each parent before its children.
  std::set<std::string> seen;
  for (const auto& name : order) {
    auto slash = name.rfind('/');
    if (slash != std::string::npos) {
      EXPECT_TRUE(seen.contains(name.substr(0, slash))) << name;
    }
    EXPECT_TRUE(seen.insert(name).second) << name << " twice";
  }
}

TEST_F(InitramfsTest, CopiesProgramsWithTheirLibraries) {
  if (!fs::exists(kProgram)) GTEST_SKIP() << kProgram << " is not installed";
  spec_.programs = {kProgram};
  auto archive = build_initramfs(spec_);
  ASSERT_TRUE(archive) << archive.error().message;
  fs::path path = save(*archive);
  auto entries = listing(path, nullptr);
  EXPECT_EQ(entries["usr/bin/curl"].mode, "-rwxr-xr-x");
  fs::path loader = fs::canonical("/lib64/ld-linux-x86-64.so.2");
  EXPECT_EQ(entries["lib64/ld-linux-x86-64.so.2"].target, loader.string());
  EXPECT_EQ(entries[loader.string().substr(1)].mode, "-rwxr-xr-x");
  fs::path libc = fs::canonical("/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(entries[libc.string().substr(1)].mode, "-rw-r--r--");
  if (libc != "/lib/x86_64-linux-gnu/libc.so.6") {
    EXPECT_EQ(entries["lib/x86_64-linux-gnu/libc.so.6"].target, libc.string());
  }
  EXPECT_TRUE(
      entries.contains(fs::canonical("/lib/x86_64-linux-gnu/libcurl.so.4").string().substr(1)));

  // Stripped, but still the same program: its text is there.
  std::string copied = member(path, "usr/bin/curl");
  EXPECT_THAT(copied, StartsWith("\x7f"
                                 "ELF"));
  EXPECT_LE(copied.size(), fs::file_size(kProgram));
}

// modules.alias names a module as the kernel does, '_' for a file name's '-'.
TEST_F(InitramfsTest, KeepsTheAliasesOfModulesWithDashedNames) {
  fs::path dir = dir_->path() / "dashed/lib/modules/6.1.0-41-amd64";
  write(dir / "modules.dep", "kernel/lib/crc-t10dif.ko:\nkernel/lib/crc-itu-t.ko:\n");
  write(dir / "modules.alias",
        "alias crypto-crct10dif crc_t10dif\nalias crypto-crc-itu crc_itu_t\n");
  write(dir / "kernel/lib/crc-t10dif.ko", "crc-t10dif module");
  write(dir / "kernel/lib/crc-itu-t.ko", "crc-itu-t module");
  spec_.kernel = KernelFiles{"6.1.0-41-amd64", dir_->path() / "dashed/boot/vmlinuz", dir};
  spec_.modules = {"crc-t10dif"};
  auto archive = build_initramfs(spec_);
  ASSERT_TRUE(archive) << archive.error().message;
  EXPECT_EQ(member(save(*archive), "lib/modules/6.1.0-41-amd64/modules.alias"),
            "alias crypto-crct10dif crc_t10dif\n");
}

// Modules kept apart (the bootkit's tools) take what only they need with them; what another
// module needs stays, and modprobe still finds each at its usual path.
TEST_F(InitramfsTest, KeepsModulesApartWithWhatOnlyTheyNeed) {
  fs::path dir = dir_->path() / "apart/lib/modules/6.1.0-41-amd64";
  write(dir / "modules.dep",
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/fs/jbd2/jbd2.ko:\n");
  for (const char* m :
       {"drivers/block/virtio_blk", "drivers/virtio/virtio_ring", "fs/ext4/ext4", "fs/jbd2/jbd2"})
    write(dir / fmt::format("kernel/{}.ko", m), fmt::format("{} module", m));
  spec_.kernel = KernelFiles{"6.1.0-41-amd64", dir_->path() / "apart/boot/vmlinuz", dir};
  spec_.modules = {"virtio_blk", "ext4"};
  spec_.modules_apart = {"ext4"};
  spec_.modules_apart_dir = "/usr/lib/x86_64-linux-gnu/mos/modules";
  auto archive = build_initramfs(spec_);
  ASSERT_TRUE(archive) << archive.error().message;
  fs::path path = save(*archive);
  auto entries = listing(path, nullptr);
  std::string base = "lib/modules/6.1.0-41-amd64/";
  std::string apart = "usr/lib/x86_64-linux-gnu/mos/modules/";
  for (const char* m : {"kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko"}) {
    EXPECT_EQ(entries[base + m].target, "/" + apart + m) << m;
    EXPECT_EQ(entries[apart + m].mode, "-rw-r--r--") << m;
  }
  EXPECT_EQ(member(path, apart + "kernel/fs/ext4/ext4.ko"), "fs/ext4/ext4 module");
  // virtio_blk needs virtio_ring too: both stay.
  for (const char* m :
       {"kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio_ring.ko"}) {
    EXPECT_EQ(entries[base + m].mode, "-rw-r--r--") << m;
    EXPECT_FALSE(entries.contains(apart + m)) << m;
  }
  EXPECT_EQ(
      member(path, base + "modules.dep"),
      "kernel/drivers/virtio/virtio_ring.ko:\n"
      "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko\n"
      "kernel/fs/jbd2/jbd2.ko:\n"
      "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/drivers/virtio/virtio_ring.ko\n");

  spec_.modules_apart = {"squashfs"};
  EXPECT_THAT(test::error_of(build_initramfs(spec_)),
              HasSubstr("module squashfs is to be kept apart but is not among the initramfs's "
                        "modules"));
}

TEST_F(InitramfsTest, IsByteIdenticalWhateverTheClockOrUmask) {
  if (fs::exists(kProgram)) spec_.programs = {kProgram};
  auto first = build_initramfs(spec_);
  ASSERT_TRUE(first) << first.error().message;
  // New mtimes on the sources, another umask: nothing of it reaches the archive.
  fs::path module = spec_.kernel.modules_dir / "kernel/drivers/block/virtio_blk.ko";
  fs::last_write_time(module, fs::file_time_type::clock::now() + std::chrono::hours(5));
  mode_t old_umask = ::umask(077);
  auto second = build_initramfs(spec_);
  ::umask(old_umask);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(*first == *second) << "two builds differ";
  // And the content does count.
  spec_.files[1].data = "another pem";
  auto third = build_initramfs(spec_);
  ASSERT_TRUE(third);
  EXPECT_NE(*first, *third);
}

// objcopy --strip-debug gives the same bytes every time, and no more than the originals.
// MOS_TEST_PROGRAM names another program to take (mosctl of a build) instead of curl.
TEST_F(InitramfsTest, StripsDebugInformationReproducibly) {
  fs::path program = kProgram;
  if (const char* env = std::getenv("MOS_TEST_PROGRAM")) program = env;
  if (!fs::exists(program)) GTEST_SKIP() << program << " is not installed";
  spec_.programs = {program};
  auto stripped = build_initramfs(spec_);
  ASSERT_TRUE(stripped) << stripped.error().message;
  auto again = build_initramfs(spec_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(*stripped == *again) << "two stripped builds differ";
  spec_.strip_debug = false;
  auto whole = build_initramfs(spec_);
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_LE(stripped->size(), whole->size());
  std::cout << "initramfs with " << program << ": " << stripped->size() << " bytes stripped, "
            << whole->size() << " bytes unstripped\n";
}

TEST_F(InitramfsTest, MergesIdenticalPathsAndRefusesConflicts) {
  spec_.files.push_back(spec_.files[1]);  // the same file twice: one entry
  auto merged = build_initramfs(spec_);
  ASSERT_TRUE(merged) << merged.error().message;
  spec_.files.push_back(InitramfsFile{"/etc/mos/manifestCA.pem", "other", 0644});
  EXPECT_THAT(test::error_of(build_initramfs(spec_)),
              HasSubstr("/etc/mos/manifestCA.pem is wanted twice with different contents"));
  // A file where busybox would put an applet link wins over the link.
  spec_.files.pop_back();
  spec_.files.push_back(InitramfsFile{"/sbin/modprobe", "#!/bin/sh\n", 0755});
  auto replaced = build_initramfs(spec_);
  ASSERT_TRUE(replaced) << replaced.error().message;
  auto entries = listing(save(*replaced), nullptr);
  EXPECT_EQ(entries["sbin/modprobe"].mode, "-rwxr-xr-x");
}

// The bootkit sets a program and its libraries apart (the initramfs's tools): what lies under the
// directory leaves the archive, named relative to it and in order; the directory stays, empty,
// as the mount point, and links elsewhere that point into it stay too. An entry added afterwards
// takes its sorted place.
TEST_F(InitramfsTest, TakesASubtreeApart) {
  if (!fs::exists(kProgram)) GTEST_SKIP() << kProgram << " is not installed";
  spec_.placed_programs = {{kProgram, "/usr/lib/x86_64-linux-gnu/mos/curl"}};
  spec_.links = {{"/usr/bin/curl", "/usr/lib/x86_64-linux-gnu/mos/curl"}};
  auto entries = initramfs_entries(spec_);
  ASSERT_TRUE(entries) << entries.error().message;
  auto apart = take_subtree(*entries, "/usr/lib/x86_64-linux-gnu");
  std::set<std::string> names;
  for (const auto& e : apart) names.insert(e.name);
  EXPECT_TRUE(names.contains("mos/curl"));
  EXPECT_TRUE(names.contains("mos"));
  EXPECT_TRUE(names.contains("libc.so.6"));
  EXPECT_TRUE(std::is_sorted(apart.begin(), apart.end(), [&](const auto& a, const auto& b) {
    std::vector<tpm::CpioEntry> pair{b, a};
    sort_archive_entries(pair);
    return pair.front().name == a.name && a.name != b.name;
  }));
  bool mount_point = false;
  for (const auto& e : *entries) {
    EXPECT_FALSE(e.name.starts_with("usr/lib/x86_64-linux-gnu/")) << e.name;
    if (e.name == "usr/lib/x86_64-linux-gnu") mount_point = e.directory;
    if (e.name == "usr/bin/curl") {
      EXPECT_EQ(e.link_target, "/usr/lib/x86_64-linux-gnu/mos/curl");
    }
  }
  EXPECT_TRUE(mount_point);
  tpm::CpioEntry added;
  added.name = "etc/mos/added";
  added.permissions = 0644;
  entries->push_back(added);
  sort_archive_entries(*entries);
  std::vector<std::string> order;
  for (const auto& e : *entries) order.push_back(e.name);
  auto at = std::find(order.begin(), order.end(), "etc/mos/added");
  ASSERT_NE(at, order.end());
  EXPECT_EQ(*std::prev(at), "etc/mos");
}

TEST_F(InitramfsTest, SaysWhatIsMissing) {
  auto spec = spec_;
  spec.modules.push_back("no-such-driver");
  EXPECT_THAT(test::error_of(build_initramfs(spec)), HasSubstr("no module 'no_such_driver'"));
  spec = spec_;
  spec.busybox = dir_->path() / "busybox";
  EXPECT_THAT(test::error_of(build_initramfs(spec)),
              HasSubstr("busybox " + (dir_->path() / "busybox").string() + " is missing"));
  spec = spec_;
  spec.programs = {"/usr/bin/no-such-program"};
  EXPECT_THAT(test::error_of(build_initramfs(spec)),
              HasSubstr("program /usr/bin/no-such-program for the initramfs is not on this"));
  spec = spec_;
  spec.kernel = {};
  EXPECT_THAT(test::error_of(build_initramfs(spec)), HasSubstr("no kernel was given"));
  spec = spec_;
  spec.files = {InitramfsFile{"etc/relative", "x", 0644}};
  EXPECT_THAT(test::error_of(build_initramfs(spec)), HasSubstr("not a normalised absolute path"));
  spec.files = {InitramfsFile{"/etc/../init", "x", 0644}};
  EXPECT_THAT(test::error_of(build_initramfs(spec)), HasSubstr("not a normalised absolute path"));
}

// Boots the real kernel (MOS_TEST_KERNEL_ROOT: an unpacked linux-image package) on the
// initramfs under qemu (TCG): the init loads the modules in load order and says hello.
TEST_F(InitramfsTest, BootsUnderQemu) {
  const char* root = std::getenv("MOS_TEST_KERNEL_ROOT");
  if (!root) GTEST_SKIP() << "MOS_TEST_KERNEL_ROOT (an unpacked linux-image package) is not set";
  if (!fs::exists("/usr/bin/qemu-system-x86_64")) GTEST_SKIP() << "qemu-system-x86 is absent";
  auto kernel = find_kernel(root);
  ASSERT_TRUE(kernel) << kernel.error().message;
  spec_.kernel = *kernel;
  spec_.modules = {"virtio_pci", "virtio_blk", "ext4", "squashfs", "dm_verity", "overlay"};
  spec_.files = {
      InitramfsFile{"/init",
                    "#!/bin/sh\n"
                    "mount -t proc proc /proc\n"
                    // The device-mapper chain is left to modprobe and the
                    // generated modules.dep; the rest goes in load order.
                    "grep -v /md/ /lib/modules/load-order | while read m; do\n"
                    "  insmod /lib/modules/$(uname -r)/$m || echo \"MOS-INITRAMFS: "
                    "insmod $m failed\"\n"
                    "done\n"
                    "modprobe dm-verity || echo 'MOS-INITRAMFS: modprobe failed'\n"
                    "echo \"MOS-INITRAMFS: $(grep -c '^dm_' /proc/modules) dm modules\"\n"
                    "echo \"MOS-INITRAMFS: $(wc -l < /proc/modules) modules\"\n"
                    "echo 'MOS-INITRAMFS: hello'\n"
                    "[ -x /usr/bin/curl ] && echo \"MOS-INITRAMFS: $(curl --version | "
                    "head -n 1)\"\n"
                    "poweroff -f\n",
                    0755}};
  // A dynamic program runs from it: its libraries and loader are where the loader looks.
  if (fs::exists(kProgram)) spec_.programs = {kProgram};
  auto archive = build_initramfs(spec_);
  ASSERT_TRUE(archive) << archive.error().message;
  fs::path initrd = save(*archive);
  fs::path serial = dir_->path() / "serial.log";
  auto run = run_process(ProcessRun{.argv = {"qemu-system-x86_64",
                                             "-machine",
                                             "q35",
                                             "-accel",
                                             "tcg",
                                             "-m",
                                             "1024",
                                             "-smp",
                                             "2",
                                             "-nographic",
                                             "-no-reboot",
                                             "-serial",
                                             "file:" + serial.string(),
                                             "-monitor",
                                             "none",
                                             "-nic",
                                             "none",
                                             "-kernel",
                                             kernel->image.string(),
                                             "-initrd",
                                             initrd.string(),
                                             "-append",
                                             "console=ttyS0 quiet panic=-1"},
                                    .timeout = std::chrono::seconds(90)});
  ASSERT_TRUE(run) << run.error().message;
  std::string log = test::read_text(serial);
  std::cout << log;
  EXPECT_THAT(log, HasSubstr("MOS-INITRAMFS: hello"));
  EXPECT_THAT(log, HasSubstr("MOS-INITRAMFS: 3 dm modules"));  // dm_mod, dm_bufio, dm_verity
  EXPECT_THAT(log, Not(HasSubstr("failed")));
  if (fs::exists(kProgram)) {
    EXPECT_THAT(log, HasSubstr("MOS-INITRAMFS: curl "));
  }
}

}  // namespace
}  // namespace mos::boot
