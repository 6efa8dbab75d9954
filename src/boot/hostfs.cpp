// The hostfs tree (see hostfs.hpp): initramfs_entries with the hostfs's programs, modules and
// the init's configuration below.
#include "boot/hostfs.hpp"

#include <crypt.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "boot/elf_dependencies.hpp"
#include "boot/initramfs.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "oci/digest.hpp"
#include "runtime/container_monitor.hpp"
#include "runtime/container_reaper.hpp"
#include "runtime/machine_boot.hpp"

namespace mos::boot {

namespace {

constexpr const char* kApparmorTunables = "/etc/apparmor.d/tunables";

namespace fs = std::filesystem;

constexpr std::size_t kMaxHostFile = 1u << 20;

// Debian's (package apparmor): put in the hostfs, and run here to compile LXC's profiles.
constexpr const char* kApparmorParser = "/sbin/apparmor_parser";

// Kept as plain sh for busybox: no bashisms. Mounts are skipped when already there, because the
// initramfs moves its /dev, /proc, /sys and /run into the hostfs before switch_root.
constexpr std::string_view kRcSysinit = R"sh(#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
say() { echo "mos-hostfs: $*" > /dev/console; }
# /proc/mounts says what is mounted (Debian's busybox lacks the applet that would), read once
# with the shell's builtins: under emulation every program started costs ~15 ms, and this script
# runs before mosctl boot.
[ -e /proc/mounts ] || mount -t proc -o nosuid,nodev,noexec proc /proc
mounts=""
while read -r line; do mounts="$mounts $line"; done < /proc/mounts
mounted() { case $mounts in *" $1 "*) return 0 ;; esac; return 1; }
mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# load_modules: the modules named on standard input (paths under /lib/modules/RELEASE, in load
# order) that are not loaded yet, by one modprobe (under emulation every program started costs
# ~15 ms: one insmod each cost a third of a second over the late modules); then one line for each
# that is still not there. Those the initramfs loaded are skipped first: a second load would
# check the module's signature again before the kernel says it exists.
load_modules() {
  missing=""
  while read -r module; do
    [ -n "$module" ] || continue
    name=${module##*/}
    name=${name%.ko}
    case $name in *-*) name=$(echo "$name" | tr - _) ;; esac
    [ -d "/sys/module/$name" ] || missing="$missing $name"
  done
  [ -n "$missing" ] || return 0
  # shellcheck disable=SC2086 # one module a word
  modprobe -a $missing 2>/dev/null
  for name in $missing; do
    [ -d "/sys/module/$name" ] || say "FAILED: loading kernel module $name"
  done
}
# What only the services need, the longest part of this script: their networks' modules
# (late-modules), then LXC's container profiles (compiled when the hostfs was built: the services
# are confined by lxc-container-default-cgns with no profile compiled at boot, see
# runtime/apparmor_policy.hpp), loaded into the kernel once securityfs is mounted below. It runs
# on another CPU from the start, beside everything below and then beside mosctl boot's start,
# which waits for it (--setup-after) only before it sets its services up.
# The binary policy goes to the kernel in one write (at most 1 MiB: the hostfs's limit for it),
# as AppArmor's parser would send it when asked to load a binary (the kernel takes a whole set of
# profiles from one write), without starting the parser: a C++ program read through dm-verity
# costs most of a second under emulation.
{
  load_modules < /etc/mos/late-modules
  until [ -e /run/mos-hostfs/mounted ]; do sleep 0.05; done
  if [ -e /sys/kernel/security/apparmor/.replace ] && [ -e /usr/share/mos/apparmor/lxc-containers.bin ]; then
    dd if=/usr/share/mos/apparmor/lxc-containers.bin of=/sys/kernel/security/apparmor/.replace \
      bs=1M 2>/dev/null ||
      say "AppArmor: LXC's container profiles did not load; each service gets a generated one"
  fi
  : > /run/mos-hostfs/services-setup
} &
mounted /dev || mount -t devtmpfs -o nosuid devtmpfs /dev
mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mkdir -p /dev/pts /dev/shm /run/lxc-cache /run/mos-hostfs
# The others in one program (/etc/fstab: devpts, /dev/shm, /tmp, /mnt (the root is read-only:
# mosctl makes its mount points there), securityfs (where LXC's profiles are loaded, above or by
# liblxc) and cgroup2); it skips those already mounted.
mount -a || say "FAILED: mounting the filesystems of /etc/fstab"
# The background part above waits for this, after securityfs.
: > /run/mos-hostfs/mounted
# mosctl boot starts when this script ends, and its program and libraries are read from the
# verified hostfs (decompressed, hashed by dm-verity): read them now, beside the module loads
# below, so that it does not wait for them (seconds under emulation).
[ -e /sys/devices/system/cpu/cpu1 ] && xargs cat < /etc/mos/preload > /dev/null 2>&1 &
read -r hostname < /etc/hostname && echo "$hostname" > /proc/sys/kernel/hostname

# The others (the hostfs's own filesystems: the initramfs loaded them already, unless this kernel
# booted another way).
load_modules < /etc/mos/system-modules
# Loopback, the devices' drivers, acpid, the NIC and DHCP (rc.network) come up beside the late
# modules and then beside mosctl boot, which starts when this script ends (run-boot): a service's
# forwarded ports need no address to be set up, only to be reached.
/etc/mos/rc.network &
read -r seconds _ < /proc/uptime
say "ready; $seconds s after the kernel's start"
)sh";

// What rc.sysinit mounts with one `mount -a` (the kernel's filesystems that the initramfs did not
// move into the hostfs already).
constexpr std::string_view kFstab =
    "devpts /dev/pts devpts nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 0 0\n"
    "tmpfs /dev/shm tmpfs nosuid,nodev,mode=1777 0 0\n"
    "tmpfs /tmp tmpfs nosuid,nodev,mode=1777 0 0\n"
    "tmpfs /mnt tmpfs nosuid,nodev,mode=0755 0 0\n"
    "securityfs /sys/kernel/security securityfs nosuid,nodev,noexec 0 0\n"
    "cgroup2 /sys/fs/cgroup cgroup2 nsdelegate,nosuid,nodev,noexec 0 0\n";

// Started by rc.sysinit in the background, once its modules are loaded: loopback, the drivers of
// the devices the machine has, acpid, and the first NIC up by DHCP. Ends by creating
// /run/mos-hostfs/network-up, which a boot medium's action (an install from a registry) waits for.
constexpr std::string_view kRcNetwork = R"sh(#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
say() { echo "mos-hostfs: $*" > /dev/console; }
ip link set lo up
# The drivers of the devices the machine has (its NIC's, its power button's: driver-modules), as
# udev's coldplug loads them: busybox's modprobe matches each device's modalias with the hostfs's
# modules.alias. None is loaded for a device the machine does not have (~50 ms each).
# Read with the shell's builtins: under emulation every program started costs ~15 ms.
aliases=""
for file in /sys/bus/pci/devices/*/modalias /sys/bus/virtio/devices/*/modalias \
  /sys/bus/acpi/devices/*/modalias; do
  [ -r "$file" ] && read -r alias < "$file" && aliases="$aliases $alias"
done
# shellcheck disable=SC2086 # one modalias a word
[ -z "$aliases" ] || modprobe -a -q $aliases 2>/dev/null

# button.ko turns the ACPI power button into an input event, which evdev passes on; acpid only
# looks at /dev/input/event* when it starts, so after the modules.
modprobe -q evdev 2>/dev/null
acpid -c /etc/acpi -l /run/mos-hostfs/acpid.log -p /run/mos-hostfs/acpid.pid

# The first NIC: the first interface (in name order) backed by a device. Drivers probe while
# their modules load: give one a moment to appear, if the machine has a network controller (PCI
# class 02) at all.
nic=""
n=20
for file in /sys/bus/pci/devices/*/class; do
  [ -r "$file" ] && read -r class < "$file" && case $class in 0x02*) n=0 ;; esac
done
while [ -z "$nic" ] && [ $n -lt 20 ]; do
  for dev in /sys/class/net/*; do
    if [ -e "$dev/device" ]; then nic=${dev##*/}; break; fi
  done
  [ -n "$nic" ] || { sleep 0.1; n=$((n + 1)); }
done
if [ -z "$nic" ]; then
  say "network: no network interface"
else
  ip link set "$nic" up
  # Waits up to about 10 s for a lease, then goes on in the background either way (renewing it,
  # or still asking).
  udhcpc -i "$nic" -t 5 -T 2 -A 5 -b -p /run/mos-hostfs/udhcpc.pid -s /etc/mos/udhcpc.script \
    >/dev/null 2>&1
  # "2: eth0    inet 10.0.2.15/24 ...": the fourth word of the first line.
  # shellcheck disable=SC2046 # one word each
  set -- $(ip -4 -o addr show dev "$nic")
  say "network: $nic ${4:-has no address yet (no DHCP answer)}"
fi
: > /run/mos-hostfs/network-up
)sh";

// Respawned by init. mosctl boot runs as a child whose pid rc.shutdown reads; after it ends the
// wrapper pauses so that a machine without an installed system does not restart it in a loop.
constexpr std::string_view kRunBoot = R"sh(#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
say() { echo "mos-hostfs: $*" > /dev/console; }
[ -e /run/mos-hostfs/stopping ] && exec sleep 2147483647
# Started from a boot medium (mosb mkprovision): the medium's action, once, then off. It may
# need the network (an install from a registry): rc.network says when that is up, or gave up.
if [ -e /run/mos-livecd/boot.json ]; then
  n=0
  while [ ! -e /run/mos-hostfs/network-up ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
  if out=$(/usr/bin/mosctl live-action 2>&1); then
    echo "$out" | sed 's/^/mos-livecd: /' > /dev/console
  else
    line=$(echo "$out" | tail -n 1)
    echo "mos-livecd: FAILED: ${line#mosctl: error: }" > /dev/console
  fi
  poweroff
  exec sleep 2147483647
fi
# Its first start takes the system the initramfs verified and handed over (it removes the file).
/usr/libexec/mos/mosctl-boot boot --root / --setup-after /run/mos-hostfs/services-setup \
  --booted-system /run/mos/booted-system.json &
echo $! > /run/mos-hostfs/boot.pid
wait $!
status=$?
rm -f /run/mos-hostfs/boot.pid
[ -e /run/mos-hostfs/stopping ] && exit 0
# A system on trial whose boot failed before it came up: the next boot returns to the previous
# system (create-boot-fs rolls back a trial whose last boot never came up).
if [ "$status" != 0 ] && grep -q '"boots":1' /config/boot-trial.json 2>/dev/null; then
  say "mosctl boot failed (status $status) on a system on trial: rebooting into the previous one"
  reboot
  exec sleep 2147483647
fi
say "mosctl boot ended (status $status); starting it again in 10 s"
sleep 10
)sh";

// ::shutdown: mosctl boot stops its services and undoes its mounts on SIGTERM; init's own
// SIGTERM to everything gives it one second, not enough.
constexpr std::string_view kRcShutdown = R"sh(#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
say() { echo "mos-hostfs: $*" > /dev/console; }
mkdir -p /run/mos-hostfs
touch /run/mos-hostfs/stopping
pid=$(cat /run/mos-hostfs/boot.pid 2>/dev/null)
if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
  say "stopping mosctl boot"
  n=0
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
  kill -0 "$pid" 2>/dev/null && say "mosctl boot did not stop within 60 s"
fi
say "powering off"
sync
umount -a -r 2>/dev/null
sync
)sh";

// udhcpc's event script: the address, default route and name servers it was given.
constexpr std::string_view kUdhcpcScript = R"sh(#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    : > /run/resolv.conf.new
    [ -n "$domain" ] && echo "search $domain" >> /run/resolv.conf.new
    for s in $dns; do echo "nameserver $s" >> /run/resolv.conf.new; done
    mv /run/resolv.conf.new /run/resolv.conf
    ;;
esac
exit 0
)sh";

constexpr std::string_view kPowerButton = R"sh(#!/bin/sh
# ACPI power button (qemu: QMP system_powerdown): an orderly power-off through init.
poweroff
)sh";

std::string inittab(bool console_login) {
  std::string text =
      "::sysinit:/etc/mos/rc.sysinit\n"
      "::respawn:/etc/mos/run-boot\n";
  // Development keysets only: a production machine has no password login at all.
  if (console_login) text += "ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n";
  text +=
      "::ctrlaltdel:/sbin/poweroff\n"
      "::shutdown:/etc/mos/rc.shutdown\n";
  return text;
}

std::string default_os_release() {
  return "NAME=\"mos\"\nID=mos\nPRETTY_NAME=\"mos machine (hostfs)\"\n";
}

// What a crypt(3) hash may not hold: it ends a shadow field or line.
bool fits_shadow_field(std::string_view hash) {
  return !hash.empty() && hash.find_first_of(":\n\r") == std::string_view::npos;
}

// LXC's container profiles as binary policy, compiled here once rather than by every machine at
// every boot (apparmor_parser -Q: no kernel needed; the features it compiles for are the ones
// Debian's parser.conf pins, which the hostfs carries too, so the machine would compile the same
// bytes).
Result<std::string> compile_container_profiles(const fs::path& source) {
  std::error_code ec;
  if (!fs::is_regular_file(source, ec))
    return fail("LXC's container profiles {} are not on this machine (package liblxc-common)",
                source.string());
  MOS_TRY_ASSIGN(auto dir, TempDir::create({}, "mos-apparmor-"));
  auto out = dir.path() / "profiles.bin";
  auto compiled = run_checked({.argv = {kApparmorParser, "-Q", "-o", out.string(), source.string()},
                               .timeout = std::chrono::seconds(120),
                               .merge_stderr = true,
                               .what = "apparmor_parser"});
  if (!compiled) return context("compiling " + source.string(), compiled.error());
  return read_file(out, kMaxHostFile);
}

Result<std::vector<InitramfsFile>> hostfs_files(const HostfsSpec& spec) {
  std::string shadow_hash = "*";  // locked: no password matches
  if (spec.root_password_hash) {
    if (!fits_shadow_field(*spec.root_password_hash) || spec.root_password_hash->front() != '$')
      return fail("the root password hash for the hostfs is not a crypt(3) hash like $6$salt$...");
    shadow_hash = *spec.root_password_hash;
  }
  if (spec.hostname.empty() || spec.hostname.size() > 64 ||
      spec.hostname.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
          std::string::npos)
    return fail("hostfs hostname '{}' is not a host name (letters, digits, '-', '.'; 1-64)",
                spec.hostname);
  std::vector<InitramfsFile> files = {
      {"/etc/inittab", inittab(spec.root_password_hash.has_value()), 0644},
      {"/etc/mos/rc.sysinit", std::string(kRcSysinit), 0755},
      {"/etc/mos/rc.network", std::string(kRcNetwork), 0755},
      {"/etc/mos/run-boot", std::string(kRunBoot), 0755},
      {"/etc/mos/rc.shutdown", std::string(kRcShutdown), 0755},
      {"/etc/mos/udhcpc.script", std::string(kUdhcpcScript), 0755},
      {"/etc/acpi/PWRF/00000080", std::string(kPowerButton), 0755},
      {"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644},
      {"/etc/group", "root:x:0:\ntty:x:5:\n", 0644},
      {"/etc/shadow", fmt::format("root:{}:0:0:99999:7:::\n", shadow_hash), 0600},
      {"/etc/hostname", spec.hostname + "\n", 0644},
      {"/etc/fstab", std::string(kFstab), 0644},
      {"/etc/hosts", fmt::format("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n", spec.hostname), 0644},
      {"/etc/os-release", spec.os_release.empty() ? default_os_release() : spec.os_release, 0644},
      // glibc's defaults without this file would also try NIS and DNS for users.
      {"/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
       0644},
      {"/etc/profile", "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n", 0644},
  };
  for (const auto& host_file : spec.host_files) {
    std::error_code ec;
    if (!fs::is_regular_file(host_file, ec))
      return fail("file {} for the hostfs is not on this machine", host_file.string());
    MOS_TRY_ASSIGN(std::string data, read_file(host_file, kMaxHostFile));
    files.push_back({host_file.generic_string(), std::move(data), 0644});
  }
  if (!spec.container_profiles.empty()) {
    MOS_TRY_ASSIGN(auto policy, compile_container_profiles(spec.container_profiles));
    files.push_back({std::string(kHostfsContainerProfiles), std::move(policy), 0644});
  }
  return files;
}

// What rc.sysinit reads ahead for mosctl boot: its program, the container monitor, `ip` (which
// it starts for the services' bridge) and their libraries, a path a line. Not the few big ones:
// they are mapped at start but barely read, and reading them whole would cost more than it saves.
constexpr std::uintmax_t kMaxPreloaded = 8 << 20;
constexpr std::string_view kIpProgram = "/usr/bin/ip";  // in default_hostfs_programs
Result<std::string> preload_list(const HostfsSpec& spec) {
  std::string list;
  std::set<std::string> listed;
  std::vector<std::pair<fs::path, std::string_view>> programs = {
      {spec.boot_program, kHostfsBootProgram}, {spec.container_monitor, kHostfsContainerMonitor}};
  if (std::ranges::find(spec.programs, fs::path(kIpProgram)) != spec.programs.end())
    programs.emplace_back(kIpProgram, kIpProgram);
  for (const auto& [program, path] : programs) {
    MOS_TRY_ASSIGN(auto deps, elf_dependencies(program));
    list += std::string(path) + "\n";
    for (const auto& library : deps.libraries) {
      std::error_code ec;
      auto size = fs::file_size(library.file, ec);
      if (!ec && size <= kMaxPreloaded && listed.insert(library.file.generic_string()).second)
        list += library.file.generic_string() + "\n";
    }
  }
  return list;
}

// The closure of the modules of `group` among spec.modules, less the closure of the others, in
// load order, one a line: /etc/mos/late-modules and /etc/mos/driver-modules.
template <std::size_t N>
Result<std::string> modules_apart(const HostfsSpec& spec, const std::string_view (&group)[N]) {
  std::vector<std::string> in_group, others;
  for (const auto& name : spec.modules)
    (std::ranges::find(group, name) != std::end(group) ? in_group : others).push_back(name);
  // Without a kernel, initramfs_entries says what is missing.
  if (in_group.empty() || spec.kernel.release.empty()) return std::string();
  MOS_TRY_ASSIGN(auto group_order, module_load_order(spec.kernel, in_group));
  std::vector<std::string> others_order;
  if (!others.empty()) {
    MOS_TRY_ASSIGN(others_order, module_load_order(spec.kernel, others));
  }
  std::string list;
  for (const auto& path : group_order)
    if (std::ranges::find(others_order, path) == others_order.end()) list += path + "\n";
  return list;
}

// The closure of spec.modules in load order, one a line, less the lines of `listed`:
// /etc/mos/system-modules, what rc.sysinit loads itself.
Result<std::string> modules_but(const HostfsSpec& spec, std::string_view listed) {
  if (spec.modules.empty() || spec.kernel.release.empty()) return std::string();
  std::set<std::string_view> skip;
  for (std::size_t start = 0; start < listed.size();) {
    auto end = listed.find('\n', start);
    if (end == std::string_view::npos) end = listed.size();
    skip.insert(listed.substr(start, end - start));
    start = end + 1;
  }
  MOS_TRY_ASSIGN(auto order, module_load_order(spec.kernel, spec.modules));
  std::string list;
  for (const auto& path : order)
    if (!skip.contains(path)) list += path + "\n";
  return list;
}

}  // namespace

std::vector<fs::path> default_hostfs_programs() {
  // A boot medium's live system runs this hostfs: its mosctl provisions the TPM through the
  // device TCTI, which tss2's loader opens by name at run time (no DT_NEEDED names it), and makes
  // a machine's disk with sfdisk, mkfs.fat and mtools (install --partition).
  return {kIpProgram,         "/usr/sbin/mkfs.ext4",
          "/usr/sbin/e2fsck", "/usr/sbin/resize2fs",
          "/usr/bin/cp",      "/usr/sbin/nft",
          "/usr/sbin/sfdisk", "/usr/sbin/mkfs.fat",
          "/usr/bin/mtools",  "/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0",
          kApparmorParser};
}

std::vector<fs::path> default_hostfs_host_files() {
  // mtools converts FAT names through iconv's IBM850 (its default code page): without glibc's
  // module for it and the gconv cache that finds it, it cannot open a FAT at all.
  std::vector<fs::path> files = {"/etc/mke2fs.conf",
                                 "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
                                 "/usr/lib/x86_64-linux-gnu/gconv/IBM850.so"};
  // The profile liblxc generates for a service begins with `#include <tunables/global>`, which
  // apparmor_parser reads from /etc/apparmor.d/tunables (package apparmor), with what it includes;
  // without its parser.conf it warns first, and liblxc, which reads `apparmor_parser --version`'s
  // merged output for the version, then takes it for missing.
  // Debian's parser.conf pins the policy features to the package's features file.
  files.push_back("/etc/apparmor/parser.conf");
  files.push_back("/usr/share/apparmor-features/features");
  std::vector<fs::path> tunables;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(kApparmorTunables, ec), end; !ec && it != end;
       it.increment(ec))
    if (it->is_regular_file(ec)) tunables.push_back(it->path());
  std::ranges::sort(tunables);
  if (tunables.empty())
    tunables.push_back(fs::path(kApparmorTunables) / "global");  // named missing
  files.insert(files.end(), tunables.begin(), tunables.end());
  return files;
}

std::vector<std::string> default_hostfs_modules() {
  return {std::begin(kHostfsModules), std::end(kHostfsModules)};
}

Result<std::vector<tpm::CpioEntry>> hostfs_entries(const HostfsSpec& spec) {
  if (spec.mosctl.empty()) return fail("the hostfs needs a mosctl program, and none was given");
  for (const auto& [program, name] :
       {std::pair{&spec.boot_program, runtime::kBootProgram},
        std::pair{&spec.container_monitor, runtime::kContainerMonitorProgram},
        std::pair{&spec.container_reaper, runtime::kContainerReaperProgram}})
    if (program->empty())
      return fail("the hostfs needs the {}, {} and {} programs, and {} was not given",
                  runtime::kBootProgram, runtime::kContainerMonitorProgram,
                  runtime::kContainerReaperProgram, name);
  InitramfsSpec tree;
  tree.busybox = spec.busybox;
  tree.programs = spec.programs;
  tree.placed_programs = {
      PlacedProgram{spec.mosctl, std::string(kHostfsMosctl)},
      PlacedProgram{spec.boot_program, std::string(kHostfsBootProgram)},
      PlacedProgram{spec.container_monitor, std::string(kHostfsContainerMonitor)},
      PlacedProgram{spec.container_reaper, std::string(kHostfsContainerReaper)}};
  tree.kernel = spec.kernel;
  tree.modules = spec.modules;
  tree.strip_debug = spec.strip_debug;
  MOS_TRY_ASSIGN(tree.files, hostfs_files(spec));
  MOS_TRY_ASSIGN(auto preload, preload_list(spec));
  tree.files.push_back({"/etc/mos/preload", std::move(preload), 0644});
  MOS_TRY_ASSIGN(auto late, modules_apart(spec, kHostfsLateModules));
  MOS_TRY_ASSIGN(auto drivers, modules_apart(spec, kHostfsDriverModules));
  MOS_TRY_ASSIGN(auto system, modules_but(spec, late + drivers));
  tree.files.push_back({"/etc/mos/late-modules", std::move(late), 0644});
  tree.files.push_back({"/etc/mos/driver-modules", std::move(drivers), 0644});
  tree.files.push_back({"/etc/mos/system-modules", std::move(system), 0644});
  // Mount points: the machine's partitions (sysroot's layout) and the kernel's filesystems,
  // liblxc's rootfs mount point, root's home.
  tree.directories = {"/config",  "/atomfs-store", "/scratch-writes",
                      "/factory", "/boot/efi",     "/mnt",
                      "/root",    "/var/lib/lxc",  "/usr/lib/x86_64-linux-gnu/lxc/rootfs"};
  // liblxc keeps its AppArmor profile cache in /var/cache/lxc/apparmor: on the read-only root,
  // a link into /run.
  tree.links = {{"/etc/resolv.conf", "/run/resolv.conf"},
                {"/etc/mtab", "/proc/self/mounts"},
                {"/var/cache/lxc", "/run/lxc-cache"}};
  auto entries = initramfs_entries(tree);
  if (!entries) return context("assembling the hostfs", entries.error());
  return entries;
}

Status write_hostfs_tree(const HostfsSpec& spec, const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
    return fail("hostfs directory {} is not empty", dir.string());
  MOS_TRY_ASSIGN(auto entries, hostfs_entries(spec));
  MOS_TRY(make_dirs(dir));
  // The tree's root becomes the squashfs's root: 0755 whatever the umask or a temp dir's 0700.
  if (::chmod(dir.c_str(), 0755) != 0)
    return fail("setting the mode of {}: {}", dir.string(), errno_message(errno));
  auto written = write_entries_to_directory(entries, dir);
  if (!written) return context("writing the hostfs into " + dir.string(), written.error());
  return {};
}

Result<std::string> hash_password(std::string_view password, std::string_view salt) {
  if (salt.empty() || salt.size() > 16 ||
      salt.find_first_not_of("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
          std::string_view::npos)
    return fail("password salt '{}' is not 1-16 characters of [./0-9A-Za-z]", salt);
  if (password.find('\0') != std::string_view::npos)
    return fail("a password cannot hold a NUL character");
  std::string setting = "$6$" + std::string(salt);
  std::string phrase(password);
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the stack
  const char* hash = ::crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  if (!hash || hash[0] == '*')
    return fail("crypt could not hash a password with {}: {}", setting, errno_message(errno));
  return std::string(hash);
}

std::string password_salt(std::string_view seed) {
  static constexpr std::string_view kAlphabet =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string hex = oci::digest_of(seed).hex();
  std::string salt;
  for (std::size_t i = 0; i < 16; ++i)
    salt += kAlphabet[std::stoul(hex.substr(i * 2, 2), nullptr, 16) % kAlphabet.size()];
  return salt;
}

}  // namespace mos::boot
