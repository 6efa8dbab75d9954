#pragma once
// The hostfs: the machine's root filesystem, which the initramfs mounts (a squashfs+verity OCI
// image) and switches into. It holds our init (busybox init with our inittab and scripts), mosctl
// and what `mosctl boot` runs, busybox, the kernel modules the services need (matching the UKI's
// kernel), and for development keysets only a root login on the serial console. Assembled from
// the installed Debian packages' files and their libraries, as the initramfs is (the same tree
// machinery: initramfs_entries), so the same inputs give the same tree; nothing is downloaded.
//
// What the init does (busybox init, /etc/inittab):
//   sysinit   /etc/mos/rc.sysinit: mounts (/proc, /sys, securityfs, /dev, /run, /tmp, /mnt,
//             cgroup2), the
//             hostname, loopback, the modules of /lib/modules/load-order, acpid for the power
//             button, the first NIC by DHCP (a bounded wait; udhcpc keeps the lease renewed),
//             then "mos-hostfs: ready" on the console
//   respawn   /etc/mos/run-boot: `mosctl boot --root /` (as mosctl-boot, the lean program of
//             mosctl's service commands), pausing after a failure
//   respawn   a getty on ttyS0, only when a root password is set
//   shutdown  /etc/mos/rc.shutdown: SIGTERM to mosctl boot and a bounded wait for it, then every
//             filesystem unmounted (or read-only), then init powers off
// An ACPI power button (qemu's system_powerdown) reaches busybox acpid through button.ko and
// evdev.ko, which runs /etc/acpi/PWRF/00000080: `poweroff`, through the shutdown above.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boot/kernel_files.hpp"
#include "core/result.hpp"
#include "tpm/cpio_archive.hpp"

namespace mos::boot {

// Where mosctl sits in the hostfs (a live system's init runs it from there; an administrator on
// the console runs its update, rollback, status).
inline constexpr std::string_view kHostfsMosctl = "/usr/bin/mosctl";
// What the init runs as the service manager: mosctl-boot (runtime::kBootProgram), which loads a
// third of mosctl's libraries, and beside it the container monitor that it starts per service
// (runtime::kContainerMonitorProgram) and the reaper each monitor becomes
// (runtime::kContainerReaperProgram), where they find each other and mosctl finds them.
inline constexpr std::string_view kHostfsBootProgram = "/usr/libexec/mos/mosctl-boot";
inline constexpr std::string_view kHostfsContainerMonitor = "/usr/libexec/mos/mos-lxc-monitor";
inline constexpr std::string_view kHostfsContainerReaper = "/usr/libexec/mos/mos-container-reaper";
// LXC's container profiles (runtime/apparmor_policy.hpp), compiled by apparmor_parser when the
// hostfs is built and loaded by rc.sysinit where the kernel has AppArmor.
inline constexpr std::string_view kHostfsContainerProfiles =
    "/usr/share/mos/apparmor/lxc-containers.bin";

// The programs `mosctl boot` runs besides itself, at their Debian paths under /usr (which the
// hostfs's PATH puts before busybox's /bin and /sbin, so that these win over busybox's applets of
// the same name):
//   /usr/bin/ip                      iproute2: the services' bridge (runtime/service_bridge)
//   /usr/sbin/mkfs.ext4, e2fsck,     e2fsprogs: storage volumes (runtime/storage_volumes);
//   resize2fs                        mkfs.ext4 is mke2fs, which picks ext4 by its name
//   /usr/bin/cp                      GNU coreutils: shifted copies need `cp -a
//                                    --no-preserve=context`, which busybox's cp lacks
//   /usr/sbin/nft                    nftables: mosctl uses libnftables itself; this is for looking
//                                    at its rules from the console (same library, no extra weight)
//   /sbin/apparmor_parser            apparmor: loads LXC's container profiles, compiled when the
//                                    hostfs is built, or the one liblxc generates for a service
//                                    (runtime/apparmor_policy.hpp; Debian's kernel has AppArmor)
// liblxc needs no helper program here: lxc 5 runs a container's init from the library itself
// (no init.lxc), and newuidmap/newgidmap are deliberately absent (as root, liblxc writes the id
// maps itself; see runtime/lxc_container). Its rootfs mount point is a hostfs directory.
std::vector<std::filesystem::path> default_hostfs_programs();

// Data files of those programs copied from this machine at the same path: mke2fs's defaults.
std::vector<std::filesystem::path> default_hostfs_host_files();

// The kernel modules the machine needs (Debian 6.1 builds all of these as modules), loaded by
// rc.sysinit in the order module_load_order gives (their dependencies included):
//   NICs: virtio_pci, virtio_net, e1000, e1000e (qemu's devices: machine.yaml picks one)
//   power button: button, evdev (the ACPI event as an input event for acpid)
//   storage: loop, squashfs, overlay (atomfs images), ext4 with crc32c_generic (its softdep,
//            not in modules.dep) for storage volumes
//   services' network: veth, bridge, and for runtime/port_forwards's nft rules: nf_tables,
//            nft_chain_nat (the nat chains), nft_nat (dnat), nft_masq (masquerade),
//            nft_fib_ipv4 and nft_fib_ipv6 (`fib daddr type local`, the second for services with
//            an IPv6 address), which pull in nf_nat and nf_conntrack
inline constexpr std::string_view kHostfsModules[] = {
    "virtio_pci", "virtio_net",   "e1000",        "e1000e", "button",         "evdev",
    "loop",       "squashfs",     "overlay",      "ext4",   "crc32c_generic", "veth",
    "bridge",     "nf_tables",    "nf_conntrack", "nf_nat", "nft_chain_nat",  "nft_nat",
    "nft_masq",   "nft_fib_ipv4", "nft_fib_ipv6"};

// Of those, what only mosctl boot's networks need: loaded on another CPU from rc.sysinit's start
// (each module costs a signature check and a probe, ~50 ms under emulation), and waited for before
// mosctl boot sets its services up. The hostfs lists their closure, less what the others need
// too, in /etc/mos/late-modules.
inline constexpr std::string_view kHostfsLateModules[] = {
    "veth",          "bridge",  "nf_tables", "nf_conntrack", "nf_nat",
    "nft_chain_nat", "nft_nat", "nft_masq",  "nft_fib_ipv4", "nft_fib_ipv6"};

// Of those, what rc.network loads, beside the boot: the drivers of devices a machine may or may
// not have (its NIC, its ACPI power button), only for the devices it has, by their modaliases as
// udev's coldplug would, and evdev (it has no modalias) for acpid. The hostfs lists their
// closure, less what the others need too, in /etc/mos/driver-modules.
inline constexpr std::string_view kHostfsDriverModules[] = {"virtio_net", "e1000", "e1000e",
                                                            "button", "evdev"};

std::vector<std::string> default_hostfs_modules();

struct HostfsSpec {
  std::filesystem::path busybox = "/bin/busybox";  // busybox-static
  std::filesystem::path mosctl;                    // installed as kHostfsMosctl; required
  std::filesystem::path boot_program;              // as kHostfsBootProgram; required
  std::filesystem::path container_monitor;         // as kHostfsContainerMonitor; required
  std::filesystem::path container_reaper;          // as kHostfsContainerReaper; required
  std::vector<std::filesystem::path> programs = default_hostfs_programs();
  std::vector<std::filesystem::path> host_files = default_hostfs_host_files();
  KernelFiles kernel;  // the UKI's kernel (its modules are copied)
  std::vector<std::string> modules = default_hostfs_modules();
  // root's crypt(3) hash (hash_password) for a serial-console login: development keysets only.
  // None: no getty at all and root's password locked ("*").
  std::optional<std::string> root_password_hash;
  std::string hostname = "machine";
  // LXC's container profiles (Debian's liblxc-common) to compile into kHostfsContainerProfiles;
  // empty: none (services then get the profiles liblxc generates).
  std::filesystem::path container_profiles = "/etc/apparmor.d/lxc-containers";
  std::string os_release;   // /etc/os-release; empty: a minimal one naming the hostfs
  bool strip_debug = true;  // programs and libraries through `objcopy --strip-debug`
};

// The hostfs's entries: parents first, sorted, as initramfs_entries gives them (with its
// /dev/console device, which write_hostfs_tree skips).
Result<std::vector<tpm::CpioEntry>> hostfs_entries(const HostfsSpec& spec);

// Writes the hostfs tree into `dir`, which must be absent or empty (it is created 0755): the
// input of the squashfs layer. Owners are this process's; the squashfs is made with all-root.
Status write_hostfs_tree(const HostfsSpec& spec, const std::filesystem::path& dir);

// A SHA-512 crypt(3) hash ("$6$SALT$...") of `password`, which busybox's login (its own
// SHA-crypt) and libxcrypt both verify. The salt is given so that the hostfs is reproducible:
// 1-16 characters of [./0-9A-Za-z] (password_salt makes one).
Result<std::string> hash_password(std::string_view password, std::string_view salt);

// A 16-character crypt salt derived from `seed` (a keyset's name and certificate, say): the same
// seed gives the same salt.
std::string password_salt(std::string_view seed);

}  // namespace mos::boot
