// The hostfs tree: what it holds (init, programs, modules, the login only with a password),
// the password hash as libxcrypt and busybox verify it, byte-identical squashfs layers of two
// builds, and clear refusals. Also write_entries_to_directory, which writes the tree.
#include "boot/hostfs.hpp"

#include <crypt.h>
#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "boot/initramfs.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "image/build_image.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::read_text;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kBusybox = "/bin/busybox";
constexpr const char* kStandInMosctl = "/usr/bin/true";  // small, dynamically linked
constexpr const char* kStandInBoot = "/usr/bin/false";
constexpr const char* kStandInMonitor = "/usr/bin/env";

void write(const fs::path& path, std::string_view text) {
  ASSERT_TRUE(make_dirs(path.parent_path()));
  ASSERT_TRUE(write_file_atomic(path, text));
}

// Two modules of a fake kernel (the real closure is checked in RealKernelModules).
KernelFiles fake_kernel(const fs::path& root) {
  fs::path dir = root / "lib/modules/6.1.0-41-amd64";
  write(dir / "modules.dep",
        "kernel/net/netfilter/nft_masq.ko: kernel/net/netfilter/nf_tables.ko\n"
        "kernel/net/netfilter/nf_tables.ko:\n");
  write(dir / "kernel/net/netfilter/nft_masq.ko", "nft_masq module");
  write(dir / "kernel/net/netfilter/nf_tables.ko", "nf_tables module");
  return KernelFiles{"6.1.0-41-amd64", root / "boot/vmlinuz-6.1.0-41-amd64", dir};
}

mode_t mode_of(const fs::path& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

class HostfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBusybox)) GTEST_SKIP() << kBusybox << " (busybox-static) is absent";
    for (const auto& program : default_hostfs_programs())
      if (!fs::exists(program)) GTEST_SKIP() << program << " is absent";
    auto dir = TempDir::create({}, "mos-hostfs-test-");
    ASSERT_TRUE(dir);
    dir_.emplace(std::move(*dir));
    spec_.mosctl = kStandInMosctl;
    spec_.boot_program = kStandInBoot;
    spec_.container_monitor = kStandInMonitor;
    spec_.container_reaper = kStandInMonitor;
    spec_.kernel = fake_kernel(dir_->path());
    spec_.modules = {"nft_masq"};
    spec_.strip_debug = false;  // fast; stripping is initramfs_test's
  }

  fs::path tree(const std::string& name = "tree") {
    fs::path root = dir_->path() / name;
    auto written = write_hostfs_tree(spec_, root);
    EXPECT_TRUE(written) << written.error().message;
    return root;
  }

  std::optional<TempDir> dir_;
  HostfsSpec spec_;
};

TEST_F(HostfsTest, HoldsInitProgramsModulesAndMountPoints) {
  fs::path root = tree();
  EXPECT_EQ(mode_of(root) & 07777, 0755u);
  // busybox and its applets; busybox init is PID 1.
  EXPECT_TRUE(fs::is_regular_file(root / "bin/busybox"));
  EXPECT_EQ(fs::read_symlink(root / "sbin/init"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(root / "sbin/getty"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(root / "sbin/udhcpc"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(root / "sbin/acpid"), "/bin/busybox");
  // mosctl at its fixed path, with its loader; the programs mosctl boot runs.
  EXPECT_EQ(read_text(root / "usr/bin/mosctl"), read_text(kStandInMosctl));
  EXPECT_EQ(mode_of(root / "usr/bin/mosctl") & 0777, 0755u);
  // mosctl boot's own program and the container monitor, beside each other.
  EXPECT_EQ(read_text(root / "usr/libexec/mos/mosctl-boot"), read_text(kStandInBoot));
  EXPECT_EQ(read_text(root / "usr/libexec/mos/mos-lxc-monitor"), read_text(kStandInMonitor));
  EXPECT_EQ(mode_of(root / "usr/libexec/mos/mos-lxc-monitor") & 0777, 0755u);
  EXPECT_EQ(read_text(root / "usr/libexec/mos/mos-container-reaper"), read_text(kStandInMonitor));
  EXPECT_TRUE(fs::is_symlink(root / "lib64/ld-linux-x86-64.so.2"));
  EXPECT_TRUE(fs::is_regular_file(root / fs::read_symlink(root / "lib64/ld-linux-x86-64.so.2")));
  EXPECT_EQ(read_text(root / "usr/bin/ip"), read_text("/usr/bin/ip"));
  // mkfs.ext4 is Debian's link to mke2fs: the file itself, at the name that selects ext4.
  EXPECT_TRUE(fs::is_regular_file(root / "usr/sbin/mkfs.ext4"));
  EXPECT_EQ(read_text(root / "usr/sbin/mkfs.ext4"), read_text("/usr/sbin/mke2fs"));
  EXPECT_EQ(read_text(root / "usr/bin/cp"), read_text("/usr/bin/cp"));  // GNU, not busybox's
  for (const char* program : {"usr/sbin/e2fsck", "usr/sbin/resize2fs", "usr/sbin/nft"})
    EXPECT_TRUE(fs::is_regular_file(root / program)) << program;
  EXPECT_EQ(read_text(root / "etc/mke2fs.conf"), read_text("/etc/mke2fs.conf"));
  // What apparmor_parser needs for the profiles liblxc generates: the tunables their first line
  // includes, and a writable cache directory.
  EXPECT_EQ(read_text(root / "etc/apparmor.d/tunables/global"),
            read_text("/etc/apparmor.d/tunables/global"));
  EXPECT_TRUE(fs::is_regular_file(root / "etc/apparmor.d/tunables/home"));
  EXPECT_TRUE(fs::is_regular_file(root / "etc/apparmor/parser.conf"));
  EXPECT_TRUE(fs::is_regular_file(root / "usr/share/apparmor-features/features"));
  EXPECT_EQ(fs::read_symlink(root / "var/cache/lxc"), "/run/lxc-cache");
  EXPECT_TRUE(fs::is_regular_file(root / "sbin/apparmor_parser") ||
              fs::is_regular_file(root / "usr/sbin/apparmor_parser"));
  // LXC's container profiles, compiled here (rc.sysinit loads them as binary policy): what
  // apparmor_parser makes of Debian's lxc-containers, naming the profile the services get.
  auto policy = read_text(root / std::string(kHostfsContainerProfiles).substr(1));
  auto expected = run_process(
      {.argv = {"/sbin/apparmor_parser", "-Q", "-S", "/etc/apparmor.d/lxc-containers"}});
  ASSERT_TRUE(expected);
  EXPECT_EQ(policy, expected->out);
  EXPECT_THAT(policy, HasSubstr("lxc-container-default-cgns"));
  // Loaded with one write of the whole set, without starting apparmor_parser at boot.
  EXPECT_THAT(read_text(root / "etc/mos/rc.sysinit"),
              HasSubstr(fmt::format("dd if={} of=/sys/kernel/security/apparmor/.replace",
                                    kHostfsContainerProfiles)));
  EXPECT_THAT(read_text(root / "etc/mos/rc.sysinit"), Not(HasSubstr("apparmor_parser")));
  // The modules in load order.
  EXPECT_EQ(read_text(root / "lib/modules/load-order"),
            "kernel/net/netfilter/nf_tables.ko\nkernel/net/netfilter/nft_masq.ko\n");
  EXPECT_EQ(read_text(root / "lib/modules/6.1.0-41-amd64/kernel/net/netfilter/nft_masq.ko"),
            "nft_masq module");
  // Of those, what only the services' networks need loads beside the others.
  EXPECT_EQ(read_text(root / "etc/mos/late-modules"),
            "kernel/net/netfilter/nf_tables.ko\nkernel/net/netfilter/nft_masq.ko\n");
  EXPECT_EQ(read_text(root / "etc/mos/system-modules"), "");
  // What mosctl boot runs, read ahead while the modules load: its program, the monitor and their
  // libraries, each once.
  std::string preload = read_text(root / "etc/mos/preload");
  EXPECT_THAT(preload, ::testing::StartsWith("/usr/libexec/mos/mosctl-boot\n"));
  EXPECT_THAT(preload, HasSubstr("\n/usr/libexec/mos/mos-lxc-monitor\n"));
  EXPECT_EQ(preload.find("/libc.so.6\n"), preload.rfind("/libc.so.6\n"));
  EXPECT_THAT(preload, HasSubstr("/libc.so.6\n"));
  // The device node of the archive is left to devtmpfs; the mount points are there.
  EXPECT_TRUE(fs::is_directory(root / "dev"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root / "dev/console")));
  for (const char* dir :
       {"proc", "sys", "run", "tmp", "mnt", "config", "atomfs-store", "scratch-writes", "factory",
        "boot/efi", "root", "usr/lib/x86_64-linux-gnu/lxc/rootfs"})
    EXPECT_TRUE(fs::is_directory(root / dir)) << dir;
  EXPECT_EQ(fs::read_symlink(root / "etc/resolv.conf"), "/run/resolv.conf");
  // The init's configuration.
  std::string inittab = read_text(root / "etc/inittab");
  EXPECT_THAT(inittab, HasSubstr("::sysinit:/etc/mos/rc.sysinit\n"
                                 "::respawn:/etc/mos/run-boot\n"));
  EXPECT_THAT(inittab, HasSubstr("::shutdown:/etc/mos/rc.shutdown\n"));
  EXPECT_THAT(inittab, Not(HasSubstr("getty")));
  EXPECT_THAT(read_text(root / "etc/mos/run-boot"),
              HasSubstr("/usr/libexec/mos/mosctl-boot boot --root /"));
  // It takes the system the initramfs's create-boot-fs verified and handed over.
  EXPECT_THAT(read_text(root / "etc/mos/run-boot"),
              HasSubstr("--booted-system /run/mos/booted-system.json &"));
  for (const char* script :
       {"etc/mos/rc.sysinit", "etc/mos/rc.network", "etc/mos/run-boot", "etc/mos/rc.shutdown",
        "etc/mos/udhcpc.script", "etc/acpi/PWRF/00000080"})
    EXPECT_EQ(mode_of(root / script) & 0777, 0755u) << script;
  EXPECT_THAT(read_text(root / "etc/mos/rc.sysinit"), HasSubstr("say \"ready; "));
  // The NIC and DHCP come up beside mosctl boot, not before it; a medium's action waits for them.
  std::string sysinit = read_text(root / "etc/mos/rc.sysinit");
  EXPECT_THAT(sysinit, Not(HasSubstr("udhcpc")));
  EXPECT_LT(sysinit.find("load_modules < /etc/mos/late-modules"), sysinit.find("mount -t tmpfs"));
  // Nor does ready wait for what only the services need (their networks' modules, LXC's AppArmor
  // profiles, loaded once securityfs is mounted): mosctl boot does, before it sets them up.
  auto setup = sysinit.find("load_modules < /etc/mos/late-modules");
  auto apparmor = sysinit.find("dd if=/usr/share/mos/apparmor/lxc-containers.bin");
  auto done = sysinit.find(": > /run/mos-hostfs/services-setup");
  EXPECT_LT(setup, apparmor);
  EXPECT_LT(apparmor, done);
  EXPECT_LT(done, sysinit.find("} &"));
  // The kernel's filesystems the initramfs did not move in are mounted by one `mount -a`
  // (securityfs among them, before the profiles' load waits on "mounted").
  std::string fstab = read_text(root / "etc/fstab");
  for (const char* line :
       {"securityfs /sys/kernel/security securityfs ", "cgroup2 /sys/fs/cgroup cgroup2 ",
        "tmpfs /mnt tmpfs ", "tmpfs /tmp tmpfs ", "devpts /dev/pts devpts ", "tmpfs /dev/shm "})
    EXPECT_THAT(fstab, HasSubstr(line));
  EXPECT_LT(sysinit.find("mount -a"), sysinit.find(": > /run/mos-hostfs/mounted"));
  EXPECT_LT(sysinit.find("until [ -e /run/mos-hostfs/mounted ]"), apparmor);
  // Modules load in one modprobe per list, not one program each (~15 ms each under emulation).
  EXPECT_THAT(sysinit, HasSubstr("modprobe -a $missing"));
  EXPECT_THAT(sysinit, Not(HasSubstr("insmod \"")));
  EXPECT_THAT(read_text(root / "etc/mos/run-boot"),
              HasSubstr("--setup-after /run/mos-hostfs/services-setup \\\n"));
  // evdev (no modalias) is rc.network's, for acpid.
  EXPECT_LT(read_text(root / "etc/mos/rc.network").find("modprobe -q evdev"),
            read_text(root / "etc/mos/rc.network").find("acpid -c"));
  EXPECT_THAT(read_text(root / "etc/mos/rc.network"), HasSubstr("udhcpc -i \"$nic\""));
  EXPECT_THAT(read_text(root / "etc/mos/rc.network"), HasSubstr(": > /run/mos-hostfs/network-up"));
  EXPECT_THAT(read_text(root / "etc/mos/run-boot"),
              HasSubstr("while [ ! -e /run/mos-hostfs/network-up ]"));
  // No password: root is locked.
  EXPECT_EQ(read_text(root / "etc/shadow"), "root:*:0:0:99999:7:::\n");
  EXPECT_EQ(mode_of(root / "etc/shadow") & 0777, 0600u);
  EXPECT_EQ(read_text(root / "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(read_text(root / "etc/hostname"), "machine\n");
  EXPECT_THAT(read_text(root / "etc/os-release"), HasSubstr("ID=mos\n"));
}

// The scripts are busybox sh: a syntax error would only show at boot.
TEST_F(HostfsTest, ScriptsParseAsBusyboxSh) {
  fs::path root = tree();
  for (const char* script :
       {"etc/mos/rc.sysinit", "etc/mos/rc.network", "etc/mos/run-boot", "etc/mos/rc.shutdown",
        "etc/mos/udhcpc.script", "etc/acpi/PWRF/00000080"}) {
    auto run = run_process(
        ProcessRun{.argv = {kBusybox, "sh", "-n", (root / script).string()}, .merge_stderr = true});
    ASSERT_TRUE(run) << run.error().message;
    EXPECT_EQ(run->exit_code, 0) << script << ": " << run->out;
  }
  // Every command they run is in the tree (Debian's busybox lacks some applets: mountpoint).
  auto on_path = [&](const std::string& command) {
    for (const char* dir : {"usr/sbin", "usr/bin", "sbin", "bin"})
      if (fs::exists(fs::symlink_status(root / dir / command))) return true;
    return false;
  };
  for (const char* command :
       {"mount", "grep",   "mkdir",  "hostname", "ip",    "uname", "modprobe", "basename", "tr",
        "acpid", "sleep",  "udhcpc", "awk",      "head",  "cat",   "rm",       "kill",     "touch",
        "sync",  "umount", "mv",     "poweroff", "getty", "login", "sh"})
    EXPECT_TRUE(on_path(command)) << command << " is not in the hostfs";
  EXPECT_FALSE(on_path("mountpoint"));  // so the scripts must not use it
  EXPECT_THAT(read_text(root / "etc/mos/rc.sysinit"), Not(HasSubstr("mountpoint ")));
}

TEST_F(HostfsTest, DevelopmentKeysetGetsAConsoleLogin) {
  auto hash = hash_password("passw0rd", password_salt("snakeoil"));
  ASSERT_TRUE(hash) << hash.error().message;
  spec_.root_password_hash = *hash;
  spec_.hostname = "dev-machine";
  spec_.os_release = "ID=mos\nVERSION_ID=1\n";
  fs::path root = tree();
  EXPECT_THAT(read_text(root / "etc/inittab"),
              HasSubstr("\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n"));
  EXPECT_EQ(read_text(root / "etc/shadow"), "root:" + *hash + ":0:0:99999:7:::\n");
  EXPECT_EQ(fs::read_symlink(root / "bin/login"), "/bin/busybox");
  EXPECT_EQ(read_text(root / "etc/hostname"), "dev-machine\n");
  EXPECT_EQ(read_text(root / "etc/os-release"), "ID=mos\nVERSION_ID=1\n");
}

// The real reproducibility check: two builds, in different places and under different umasks,
// give squashfs layers with the same digest; a different input gives another.
TEST_F(HostfsTest, TwoBuildsGiveTheSameSquashfsLayer) {
  if (!fs::exists("/usr/bin/mksquashfs")) GTEST_SKIP() << "mksquashfs (squashfs-tools) is absent";
  spec_.strip_debug = true;
  auto layer = [&](const std::string& name, mode_t umask) {
    mode_t old = ::umask(umask);
    fs::path root = tree(name);
    ::umask(old);
    auto built = image::build_squashfs_layer(root, dir_->path() / (name + ".squashfs"),
                                             image::SquashfsLayerOptions{});
    EXPECT_TRUE(built) << built.error().message;
    return built ? built->descriptor.digest.str() : std::string(name);
  };
  std::string first = layer("one", 022);
  std::string second = layer("two", 077);
  EXPECT_EQ(first, second);
  spec_.root_password_hash = "$6$salt$hash";
  EXPECT_NE(layer("three", 022), first);
}

TEST_F(HostfsTest, RefusesWhatCannotMakeAHostfs) {
  HostfsSpec spec = spec_;
  spec.mosctl.clear();
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("needs a mosctl program"));
  spec = spec_;
  spec.mosctl = dir_->path() / "no-mosctl";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("no-mosctl"));
  spec = spec_;
  spec.container_monitor.clear();
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("mos-lxc-monitor was not given"));
  spec = spec_;
  spec.container_reaper.clear();
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("mos-container-reaper was not given"));
  spec = spec_;
  spec.boot_program = dir_->path() / "no-boot";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("no-boot"));
  spec = spec_;
  spec.programs.push_back("/usr/sbin/no-such-tool");
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("/usr/sbin/no-such-tool"));
  spec = spec_;
  spec.host_files.push_back("/etc/no-such.conf");
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("/etc/no-such.conf"));
  spec = spec_;
  spec.root_password_hash = "passw0rd";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("not a crypt(3) hash"));
  spec.root_password_hash = "$6$a:b$c";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("not a crypt(3) hash"));
  spec = spec_;
  spec.container_profiles = dir_->path() / "no-such-profiles";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("no-such-profiles"));
  spec = spec_;
  spec.hostname = "bad name";
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("'bad name' is not a host name"));
  spec = spec_;
  spec.kernel = {};
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("no kernel was given"));
  spec = spec_;
  spec.modules = {"no_such_module"};
  EXPECT_THAT(error_of(hostfs_entries(spec)), HasSubstr("no_such_module"));
  // The target directory must be empty.
  write(dir_->path() / "full/file", "x");
  EXPECT_THAT(error_of(write_hostfs_tree(spec_, dir_->path() / "full")), HasSubstr("not empty"));
}

TEST(HashPassword, GivesASha512CryptHashThatVerifies) {
  auto hash = hash_password("passw0rd", "abcdefgh12345678");
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->rfind("$6$abcdefgh12345678$", 0), 0u) << *hash;
  auto data = std::make_unique<crypt_data>();
  const char* again = crypt_rn("passw0rd", hash->c_str(), data.get(), sizeof(crypt_data));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(std::string(again), *hash);
  const char* wrong = crypt_rn("password", hash->c_str(), data.get(), sizeof(crypt_data));
  ASSERT_NE(wrong, nullptr);
  EXPECT_NE(std::string(wrong), *hash);
  auto same = hash_password("passw0rd", "abcdefgh12345678");
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *hash);
  auto other_salt = hash_password("passw0rd", "abcdefgh12345679");
  ASSERT_TRUE(other_salt);
  EXPECT_NE(*other_salt, *hash);
}

// busybox's login checks passwords with its own SHA-crypt: its hash of the same password and
// salt must be ours.
TEST(HashPassword, IsWhatBusyboxComputes) {
  if (!fs::exists(kBusybox)) GTEST_SKIP() << kBusybox << " (busybox-static) is absent";
  std::string salt = password_salt("snakeoil");
  auto ours = hash_password("passw0rd", salt);
  ASSERT_TRUE(ours) << ours.error().message;
  auto theirs =
      run_checked(ProcessRun{.argv = {kBusybox, "mkpasswd", "-m", "sha512", "passw0rd", salt}});
  ASSERT_TRUE(theirs) << theirs.error().message;
  EXPECT_EQ(*theirs, *ours + "\n");
}

TEST(HashPassword, RefusesABadSalt) {
  EXPECT_THAT(error_of(hash_password("x", "")), HasSubstr("is not 1-16 characters"));
  EXPECT_THAT(error_of(hash_password("x", "has$dollar")), HasSubstr("is not 1-16 characters"));
  EXPECT_THAT(error_of(hash_password("x", "abcdefgh123456789")),
              HasSubstr("is not 1-16 characters"));
  EXPECT_THAT(error_of(hash_password(std::string_view("a\0b", 3), "salt")), HasSubstr("NUL"));
}

TEST(PasswordSalt, IsDerivedFromTheSeed) {
  std::string salt = password_salt("keyset snakeoil");
  EXPECT_EQ(salt.size(), 16u);
  EXPECT_EQ(
      salt.find_first_not_of("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
      std::string::npos);
  EXPECT_EQ(password_salt("keyset snakeoil"), salt);
  EXPECT_NE(password_salt("keyset production"), salt);
}

// The modules of this machine's kernel: every wanted one (unless built in) with its
// dependencies before it.
TEST(HostfsModules, ResolveOnTheInstalledKernel) {
  auto kernel = find_kernel("/");
  if (!kernel) GTEST_SKIP() << "no kernel with modules under / (linux-image-amd64)";
  auto order = module_load_order(*kernel, default_hostfs_modules());
  ASSERT_TRUE(order) << order.error().message;
  auto position = [&](std::string_view name) {
    for (std::size_t i = 0; i < order->size(); ++i)
      if (fs::path((*order)[i]).filename() == std::string(name) + ".ko") return i;
    return order->size();
  };
  for (const char* name : {"veth", "bridge", "nf_tables", "nft_chain_nat", "nft_nat", "nft_masq",
                           "nft_fib_ipv4", "nf_nat", "nf_conntrack", "overlay", "loop", "squashfs",
                           "ext4", "virtio_net", "button", "evdev"})
    EXPECT_LT(position(name), order->size()) << name << " is not in the load order";
  EXPECT_LT(position("nf_conntrack"), position("nf_nat"));
  EXPECT_LT(position("nf_tables"), position("nft_masq"));
  EXPECT_LT(position("nft_fib"), position("nft_fib_ipv4"));
}

// With the build's real programs (MOS_TEST_PROGRAM: mosctl; mosctl-boot and mos-lxc-monitor
// beside it) and the real kernel: liblxc and libnftables come along, and the modules of
// load-order are all there.
TEST(HostfsReal, HoldsTheRealMosctlAndItsLibraries) {
  const char* mosctl = std::getenv("MOS_TEST_PROGRAM");
  if (!mosctl) GTEST_SKIP() << "MOS_TEST_PROGRAM (a built mosctl) is not set";
  if (!fs::exists(kBusybox)) GTEST_SKIP() << kBusybox << " (busybox-static) is absent";
  auto kernel = find_kernel("/");
  if (!kernel) GTEST_SKIP() << "no kernel with modules under / (linux-image-amd64)";
  HostfsSpec spec;
  spec.mosctl = mosctl;
  spec.boot_program = fs::path(mosctl).parent_path() / "mosctl-boot";
  spec.container_monitor = fs::path(mosctl).parent_path() / "mos-lxc-monitor";
  spec.container_reaper = fs::path(mosctl).parent_path() / "mos-container-reaper";
  spec.kernel = *kernel;
  auto entries = hostfs_entries(spec);
  ASSERT_TRUE(entries) << entries.error().message;
  std::set<std::string> names;
  for (const auto& e : *entries) names.insert(e.name);
  EXPECT_TRUE(names.contains("usr/bin/mosctl"));
  EXPECT_TRUE(names.contains("usr/libexec/mos/mosctl-boot"));
  EXPECT_TRUE(names.contains("usr/libexec/mos/mos-lxc-monitor"));
  // Static: no library of its own to bring.
  EXPECT_TRUE(names.contains("usr/libexec/mos/mos-container-reaper"));
  EXPECT_TRUE(names.contains("usr/lib/x86_64-linux-gnu/liblxc.so.1.7.0"));
  // What boot reads ahead: its program's libraries, not those of mosctl's other commands.
  auto preload =
      std::ranges::find_if(*entries, [](const auto& e) { return e.name == "etc/mos/preload"; });
  ASSERT_NE(preload, entries->end());
  EXPECT_THAT(preload->data, HasSubstr("/liblxc.so.1"));
  EXPECT_THAT(preload->data, Not(HasSubstr("/libcurl")));
  // And `ip`, which mosctl boot starts for the services' bridge, with its libraries.
  EXPECT_THAT(preload->data, HasSubstr("\n/usr/bin/ip\n"));
  EXPECT_THAT(preload->data, HasSubstr("/libmnl.so.0"));
  bool nftables = false;
  for (const auto& name : names)
    nftables = nftables || name.starts_with("usr/lib/x86_64-linux-gnu/libnftables.so");
  EXPECT_TRUE(nftables);
  EXPECT_TRUE(names.contains("lib/modules/" + kernel->release + "/kernel/drivers/net/veth.ko"));
  // The late modules: the services' network, not what the NIC or the storage needs.
  auto late = std::ranges::find_if(*entries,
                                   [](const auto& e) { return e.name == "etc/mos/late-modules"; });
  ASSERT_NE(late, entries->end());
  EXPECT_THAT(late->data, HasSubstr("kernel/drivers/net/veth.ko\n"));
  EXPECT_THAT(late->data, HasSubstr("/nf_tables.ko\n"));
  EXPECT_THAT(late->data, Not(HasSubstr("virtio")));
  EXPECT_THAT(late->data, Not(HasSubstr("ext4")));
  // The drivers loaded only for a device the machine has: its NIC's and its power button's, not
  // virtio's core, which virtio_pci needs anyway; by modalias, which modules.alias resolves.
  auto drivers = std::ranges::find_if(
      *entries, [](const auto& e) { return e.name == "etc/mos/driver-modules"; });
  ASSERT_NE(drivers, entries->end());
  EXPECT_THAT(drivers->data, HasSubstr("/virtio_net.ko\n"));
  EXPECT_THAT(drivers->data, HasSubstr("/e1000e.ko\n"));
  EXPECT_THAT(drivers->data, HasSubstr("/button.ko\n"));
  EXPECT_THAT(drivers->data, Not(HasSubstr("/virtio.ko")));
  EXPECT_THAT(drivers->data, Not(HasSubstr("veth")));
  // What rc.sysinit loads itself: the rest (the hostfs's filesystems), in load order.
  auto system = std::ranges::find_if(
      *entries, [](const auto& e) { return e.name == "etc/mos/system-modules"; });
  ASSERT_NE(system, entries->end());
  EXPECT_THAT(system->data, HasSubstr("/ext4.ko\n"));
  EXPECT_THAT(system->data, HasSubstr("/overlay.ko\n"));
  EXPECT_THAT(system->data, Not(HasSubstr("veth")));
  EXPECT_THAT(system->data, Not(HasSubstr("/e1000e.ko")));
  EXPECT_LT(system->data.find("/jbd2.ko"), system->data.find("/ext4.ko"));
  auto aliases = std::ranges::find_if(*entries, [&](const auto& e) {
    return e.name == "lib/modules/" + kernel->release + "/modules.alias";
  });
  ASSERT_NE(aliases, entries->end());
  EXPECT_THAT(aliases->data, HasSubstr(" virtio_net\n"));
  EXPECT_THAT(aliases->data, HasSubstr("alias acpi*:LNXPWRBN:* button\n"));
  EXPECT_THAT(aliases->data, Not(HasSubstr(" snd_")));
}

TEST(WriteEntries, WritesModesLinksAndSkipsDevices) {
  auto dir = TempDir::create({}, "mos-entries-test-");
  ASSERT_TRUE(dir);
  std::vector<tpm::CpioEntry> entries = {
      tpm::CpioEntry("bin", true, 0755, {}),
      tpm::CpioEntry("bin/tool", false, 0750, "tool"),
      tpm::CpioEntry::symlink("bin/alias", "tool"),
      tpm::CpioEntry("dev", true, 0755, {}),
      tpm::CpioEntry::character_device("dev/console", 0600, 5, 1),
      tpm::CpioEntry("secret", false, 0600, "s"),
  };
  mode_t old = ::umask(077);
  auto written = write_entries_to_directory(entries, dir->path());
  ::umask(old);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(mode_of(dir->path() / "bin") & 07777, 0755u);
  EXPECT_EQ(mode_of(dir->path() / "bin/tool") & 07777, 0750u);
  EXPECT_EQ(read_text(dir->path() / "bin/tool"), "tool");
  EXPECT_EQ(fs::read_symlink(dir->path() / "bin/alias"), "tool");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir->path() / "dev/console")));
  EXPECT_EQ(mode_of(dir->path() / "secret") & 07777, 0600u);
  // Written again: every path is already there.
  EXPECT_THAT(error_of(write_entries_to_directory(entries, dir->path())), HasSubstr("bin"));
}

TEST(WriteEntries, RefusesNamesLeavingTheDirectoryOrParentsLater) {
  auto dir = TempDir::create({}, "mos-entries-test-");
  ASSERT_TRUE(dir);
  for (const char* name : {"../escape", "a/../../escape", "/abs", "a//b", ""})
    EXPECT_THAT(
        error_of(write_entries_to_directory({tpm::CpioEntry(name, false, 0644, "x")}, dir->path())),
        HasSubstr("not a plain relative path"))
        << name;
  // A link's "directory" is never written through.
  std::vector<tpm::CpioEntry> through_link = {tpm::CpioEntry::symlink("link", "/tmp"),
                                              tpm::CpioEntry("link/file", false, 0644, "x")};
  EXPECT_THAT(error_of(write_entries_to_directory(through_link, dir->path())),
              HasSubstr("comes before its directory"));
  EXPECT_FALSE(fs::exists("/tmp/file") && read_text("/tmp/file") == "x");
  EXPECT_THAT(error_of(write_entries_to_directory({}, dir->path() / "absent")),
              HasSubstr("not a directory"));
}

}  // namespace
}  // namespace mos::boot
