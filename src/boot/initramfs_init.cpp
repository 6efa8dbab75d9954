// The initramfs's /init (see initramfs_init.hpp). One UKI serves every boot of a keyset and its
// command line is fixed under secure boot, so the init decides what to do from what it finds.
#include "boot/initramfs_init.hpp"

namespace mos::boot {

namespace {

// Kept as plain sh for busybox: no bashisms. Every failure ends in one clear line and a power-off
// (never a shell: a development console belongs to the hostfs, not to the initramfs).
constexpr std::string_view kInit = R"sh(#!/bin/sh
PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /run /tmp
mount -t tmpfs -o mode=0755 tmpfs /run

say() { echo "mos-initramfs: $*" > /dev/console; }
# Never returns: whatever fails after it, nothing more of the boot runs.
stop() {
  say "$*"
  say "powering off"
  sync
  while :; do
    poweroff -f
    echo o > /proc/sysrq-trigger
    sleep 5
  done
}

read -r release < /proc/sys/kernel/osrelease
tpm=none pcr7=none
[ -e /dev/tpmrm0 ] && tpm=tpm2
# What this boot measured into PCR7 (the value the TPM policies of the keyset's pcr7data name).
[ -r /sys/class/tpm/tpm0/pcr-sha256/7 ] && pcr7=$(tr A-F a-f < /sys/class/tpm/tpm0/pcr-sha256/7)
# The kernel's clock says where a boot's time went (before it: firmware, shim, stub).
uptime() {
  read -r seconds _ < /proc/uptime
  echo "$seconds s after the kernel's start"
}
# The first line says what the boot found. Reading the SecureBoot variable needs efivarfs, whose
# mount asks the firmware for every variable (a third of a second under emulation): it is mounted
# first, beside the module loads, and waited for only where what to boot is chosen (below).
{
  secureboot=none
  if [ -d /sys/firmware/efi ]; then
    modprobe efivarfs 2>/dev/null
    mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
    var=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
    secureboot=unknown
    [ -e "$var" ] && secureboot=$(tail -c 1 "$var" | od -An -tu1 | tr -d ' ')
  fi
  say "started: kernel $release, secure boot $secureboot, TPM $tpm, PCR7 $pcr7; $(uptime)"
} &
started=$!

# What finding an installed system and mounting the initramfs's tools need, loaded now on two
# CPUs: the filesystems (kInitramfsEarlyFilesystems, written by the bootkit) and the drivers of
# the machine's virtio disks; the other storage controllers' in the background after them, and
# the other modules when a step needs them (overlay's and dm-verity's are among the tools:
# kInitrdToolsModules). The installed system's partitions' filesystems load beside all of it,
# from now on: under emulation, ext4 alone costs most of a second.
# load_modules LIST [FAILED]: the modules LIST names (as /sys/module names them), in one modprobe
# (each program started costs ~15 ms under emulation); those not there after it are appended to
# FAILED.
load_modules() {
  names=""
  while read -r module; do names="$names $module"; done < "$1"
  # shellcheck disable=SC2086 # one module a word
  modprobe -a $names 2>/dev/null
  for module in $names; do
    [ -d "/sys/module/$module" ] || echo "$module" >> "${2:-/run/modules-failed}"
  done
}
# coldplug MODALIAS...: the drivers of those devices, as udev would load them (busybox's modprobe
# matches each modalias with the initramfs's modules.alias; a device no module here drives is
# skipped). Each module costs a signature check and a probe, ~50 ms under emulation: none is
# loaded for hardware the machine does not have.
coldplug() {
  # shellcheck disable=SC2068 # one modalias a word
  [ $# -eq 0 ] || modprobe -a -q $@ 2>/dev/null
  return 0
}
{ load_modules /etc/mos/early-filesystems; : > /run/early-filesystems; } &
early_filesystems=$!
{
  load_modules /etc/mos/system-filesystems /run/system-filesystems-failed
  : > /run/system-filesystems
} &
system_filesystems=$!
# virtio's PCI transport and its block devices first: a machine's disk. The other controllers
# (AHCI, which q35 always has and whose six ports take most of a second to probe, NVMe,
# virtio-scsi) load in one stream after them, in the background (two modprobes of one module at
# once would fail one: AHCI and virtio-scsi share scsi_mod). Until that stream ends, nothing
# loads the drivers of the SCSI disks and CD drives those find (scsi_drivers below).
virtio_pci="" other_pci=""
for alias in $(cat /sys/bus/pci/devices/*/modalias 2>/dev/null); do
  case $alias in
    pci:v00001AF4*) virtio_pci="$virtio_pci $alias" ;;
    *) other_pci="$other_pci $alias" ;;
  esac
done
# shellcheck disable=SC2086
coldplug $virtio_pci
virtio_disks="" other_virtio=""
for alias in $(cat /sys/bus/virtio/devices/*/modalias 2>/dev/null); do
  case $alias in
    virtio:d00000002v*) virtio_disks="$virtio_disks $alias" ;;
    *) other_virtio="$other_virtio $alias" ;;
  esac
done
# shellcheck disable=SC2086
coldplug $virtio_disks

# The initramfs's tools: mosctl and the libraries it loads are not in the UKI (firmware, shim and
# the stub read and hash the UKI whole, and the kernel unpacks all of its initramfs before this
# init runs) but a squashfs beside it, from the bootkit: copied into memory (what is checked is
# what is read), the copy checked against the SHA-256 this initramfs holds, and mounted where the
# loader finds them. Nothing runs mosctl before.
# tools_from FILE WHAT: 0 once mounted; else 1 with the reason in /run/tools-failed.
TOOLS=/usr/lib/x86_64-linux-gnu
tools_from() {
  rm -f /run/tools-failed
  if [ ! -f "$1" ]; then
    echo "the initramfs's tools are missing: no $2" > /run/tools-failed
    return 1
  fi
  read -r want < /etc/mos/initrd-tools.sha512
  sum=none
  cp "$1" /initrd-tools.squashfs && sum=$(sha512sum /initrd-tools.squashfs)
  if [ "${sum%% *}" != "$want" ]; then
    rm -f /initrd-tools.squashfs
    echo "$2 is not the bootkit's (SHA-512 ${sum%% *}, expected $want)" > /run/tools-failed
    return 1
  fi
  # squashfs and loop are among the early filesystems.
  while [ ! -e /run/early-filesystems ]; do sleep 0.02; done
  if ! mount -t squashfs -o ro,loop /initrd-tools.squashfs "$TOOLS"; then
    echo "mounting the initramfs's tools ($2)" > /run/tools-failed
    return 1
  fi
  : > /run/tools-mounted
}
# The ESP a disk's firmware booted from holds them beside the UKI. vfat and its character sets
# are among the early filesystems (nls_ascii is vfat's default in this kernel: without it the
# ESP's mount would have the kernel start modprobe for it and wait).
tools_from_esp() {
  mkdir -p /run/esp
  while [ ! -e /run/early-filesystems ]; do sleep 0.02; done
  # mount finds the ESP by its label itself (a findfs first would be one more program started);
  # on a failure findfs says whether there is none or its mount failed.
  if ! mount -t vfat -o ro LABEL=ESP /run/esp 2>/dev/null; then
    if esp=$(findfs LABEL=ESP 2>/dev/null); then
      echo "mounting the ESP ($esp) for the initramfs's tools" > /run/tools-failed
    else
      echo "no partition labelled ESP, whose \\EFI\\BOOT holds the initramfs's tools" \
        > /run/tools-failed
    fi
    return 1
  fi
  tools_from /run/esp/EFI/BOOT/initrd-tools.squashfs "\\EFI\\BOOT\\initrd-tools.squashfs on the ESP"
  status=$?
  umount /run/esp
  return $status
}
# A disk's ESP is tried from here, beside the rest (its disk's driver is in); a boot medium's
# tools, or the ESP again, once the boot knows what it boots (need_tools).
tools_from_esp > /dev/null 2>&1 &
early_tools=$!
# need_tools HOW...: the tools the early try mounted, or HOW's, or the boot stops. Then they are
# read ahead on the other CPU: the kernel decompresses their blocks before mosctl faults them in.
read_ahead="" init_read=""
need_tools() {
  wait "$early_tools"
  [ -e /run/tools-mounted ] || "$@" || stop "FAILED: $(cat /run/tools-failed)"
  cat "$TOOLS/mos/mosctl" "$TOOLS"/*.so* > /dev/null 2>&1 &
  read_ahead=$!
}

wait "$early_filesystems"
[ -s /run/modules-failed ] && stop "FAILED: loading kernel module $(head -n 1 /run/modules-failed)"
# shellcheck disable=SC2086
{ coldplug $other_pci $other_virtio; : > /run/storage-drivers; } &
storage_drivers=$!
# The disks and CD drives behind a SCSI host (AHCI, virtio-scsi) appear while it scans its ports,
# after its driver loaded: their drivers (sd_mod, sr_mod) load as they come.
scsi_seen=""
scsi_drivers() {
  [ -e /run/storage-drivers ] || return 0
  now=$(cat /sys/bus/scsi/devices/*/modalias 2>/dev/null)
  [ "$now" = "$scsi_seen" ] && return 0
  scsi_seen=$now
  # shellcheck disable=SC2086 # one modalias a word
  modprobe -a -q $now 2>/dev/null
  return 0
}


# The machine's installed system: its partitions carry these filesystem labels (and the same
# GPT partition names), as `mosctl install` makes them.
R=/run/mos-root
# load_mount_modules: dm-verity's modules (four signature checks and probes), through which every
# boot mounts its system, and overlay, which joins its layers; in the background once the tools
# (which hold them) are there. wait_mount_modules: both loaded, or the boot stops.
load_mount_modules() {
  modprobe dm_verity 2>/dev/null &
  verity_modules=$!
  modprobe overlay 2>/dev/null &
  overlay_module=$!
}
wait_mount_modules() {
  wait "$overlay_module" || stop "FAILED: loading kernel module overlay"
  wait "$verity_modules" || say "no dm-verity module: layers are verified in userspace"
}
# mount_partitions: once their filesystems' modules are in (loaded from the init's start), the
# partitions, a tmpfs for /factory/secure and the manifest CA in it; 0, or 1 with the reason in
# /run/partitions-failed.
mount_partitions() {
  while [ ! -e /run/system-filesystems ]; do sleep 0.02; done
  if [ -s /run/system-filesystems-failed ]; then
    echo "loading kernel module $(head -n 1 /run/system-filesystems-failed)" > /run/partitions-failed
    return 1
  fi
  # mount finds each by its label itself: a findfs first would be one more program started (tens
  # of milliseconds under emulation) each time; on a failure findfs says which of the two failed.
  for part in config:machine-config atomfs-store:machine-store scratch-writes:machine-scratch; do
    if ! mount -t ext4 -o nosuid,nodev "LABEL=${part#*:}" "$R/${part%%:*}" 2>/dev/null; then
      if dev=$(findfs "LABEL=${part#*:}" 2>/dev/null); then
        echo "mounting ${part#*:} ($dev)" > /run/partitions-failed
      else
        echo "no partition labelled ${part#*:}" > /run/partitions-failed
      fi
      return 1
    fi
  done
  # /factory/secure of the running system: a tmpfs with the manifest CA, and the machine's
  # identity when the TPM gives it.
  if ! mount -t tmpfs -o mode=0700,nosuid,nodev,noexec tmpfs "$R/factory"; then
    echo "a tmpfs for /factory" > /run/partitions-failed
    return 1
  fi
  mkdir -p -m 0700 "$R/factory/secure"
  if ! cp /manifestCA.pem "$R/factory/secure/manifestCA.pem"; then
    echo "copying the manifest CA" > /run/partitions-failed
    return 1
  fi
}
boot_system() {
  mkdir -p "$R/config" "$R/atomfs-store" "$R/scratch-writes" "$R/factory" /sysroot
  # The partitions mount beside the tools' check; then the modules among the tools load beside
  # the programs' start below.
  mount_partitions &
  partitions=$!
  need_tools tools_from_esp
  load_mount_modules
  # The system is verified again (signatures up to the keyset's manifest CA) and its hostfs is
  # mounted with every layer under dm-verity: the kernel checks each block as it is read against
  # the root hash the signed manifest names. (Without dm-verity, create-boot-fs would verify each
  # layer whole first.) create-boot-fs starts now, so that loading the program and its libraries
  # from the tools (most of a second under emulation, cold) overlaps with the mount modules'
  # loads; it goes on at /run/boot-fs-ready, beside the TPM's step, and checks the product the
  # machine's identity names once /run/identity-ready says that step is over (it unmounts the
  # hostfs again on a mismatch). Then it hands the system it verified over to the hostfs's
  # mosctl boot in /run (moved into the hostfs), which starts the services from it without
  # reading and verifying the history again.
  mosctl create-boot-fs --after /run/boot-fs-ready --identity-after /run/identity-ready \
    --hand-over /run/mos/booted-system.json --root "$R" --dest /sysroot \
    > /run/create-boot-fs.log 2>&1 &
  boot_fs=$!
  # The TPM's step: it mostly waits for the TPM's answers. It reads the machine's identity (its
  # SUDI certificate and key) into a private tmpfs, and its final PCR7 extend closes the TPM's
  # secrets for whatever runs next: they are readable only in a boot whose PCR7 the keyset's
  # signed policies name. A development keyset's machine without a TPM device (its drivers are
  # built in) has nothing to read and nothing to close, and starts no program for it (each mosctl
  # start costs a fraction of a second under emulation). It talks to /dev/tpm0, not to the
  # kernel's resource manager (/dev/tpmrm0), which saves and reloads every session and object it
  # holds around each command: two to three times the TPM's commands (~0.4 s under emulation).
  # Nothing else in the initramfs opens the TPM, and initrd-setup flushes what it loads.
  tpm_step=""
  if [ "$tpm" != none ] || [ ! -e /etc/mos/development ]; then
    mosctl initrd-setup --tpm device:/dev/tpm0 --pcr7data /pcr7data > /run/initrd-setup.log 2>&1 &
    tpm_step=$!
  fi
  wait "$partitions" || stop "FAILED: $(cat /run/partitions-failed)"
  wait_mount_modules
  : > /run/boot-fs-ready
  if [ -z "$tpm_step" ]; then
    say "TPM: none (a development keyset: booting on without the machine's identity)"
  elif wait "$tpm_step"; then
    cp -p /priv/factory/secure/server.crt /priv/factory/secure/server.key "$R/factory/secure/" ||
      stop "FAILED: copying the machine's identity"
    umount /priv/factory || stop "FAILED: unmounting the TPM's secrets"
    say "TPM: the machine's identity read; PCR7 extended, the secrets closed until the next boot"
  else
    out=$(cat /run/initrd-setup.log)
    if [ -e /etc/mos/development ]; then
      # Boot on without an identity, but never with the secrets still open: PCR7 is extended
      # again here (initrd-setup extends on its failures too, but one that failed to extend must
      # not leave a booted system able to read them).
      mosctl extend-pcr7 > /dev/null 2>&1 || [ ! -e /dev/tpmrm0 ] ||
        stop "FAILED: TPM: ${out##*error: }; then extending PCR7 failed"
      say "TPM: ${out##*error: } (a development keyset: booting on without the machine's identity)"
    else
      stop "FAILED: TPM: ${out##*error: }"
    fi
  fi
  : > /run/identity-ready
  if ! wait "$boot_fs"; then
    line=$(tail -n 1 /run/create-boot-fs.log)
    stop "FAILED: ${line#mosctl: error: }"
  fi
  # The hostfs's init and shell (its busybox) are read now, through dm-verity, beside the moves
  # below: switch_root would otherwise wait for them (a few tenths of a second under emulation).
  cat /sysroot/bin/busybox > /dev/null 2>&1 &
  init_read=$!
  # A system on trial (a new one from an update) says so, or that it was rolled back; then what
  # was mounted ("mounted DIGEST at DEST (HOW)"). Read with the shell's builtins: under emulation
  # each program started costs tens of milliseconds.
  while read -r l; do
    case $l in
      "boot trial: "*) say "$l" ;;
      "mounted "*)
        l=${l#mounted }
        how=${l##*(}
        say "hostfs: ${l%% *}, ${how%)}"
        ;;
    esac
  done < /run/create-boot-fs.log
  mkdir -p /sysroot/config /sysroot/atomfs-store /sysroot/scratch-writes /sysroot/factory
  for d in config atomfs-store scratch-writes factory; do
    mount --move "$R/$d" "/sysroot/$d" || stop "FAILED: moving $d into the hostfs"
  done
  switch_to_sysroot hostfs
}

# switch_to_sysroot WHAT: /dev, /proc, /sys and /run (with what is mounted under it) move into
# /sysroot, whose init takes over.
switch_to_sysroot() {
  [ -x /sysroot/sbin/init ] || stop "FAILED: the $1 has no /sbin/init"
  # Nothing of the initramfs may still run when switch_root empties it.
  wait "$storage_drivers"
  wait "$system_filesystems"
  [ -z "$read_ahead" ] || wait "$read_ahead"
  [ -z "$init_read" ] || wait "$init_read"
  umount -d "$TOOLS" 2>/dev/null
  say "switching to the $1; $(uptime)"
  mkdir -p /sysroot/dev /sysroot/proc /sysroot/sys /sysroot/run
  for d in dev proc sys run; do
    mount --move "/$d" "/sysroot/$d" || stop "FAILED: moving /$d into the $1"
  done
  exec switch_root /sysroot /sbin/init
}

# A boot medium (mosb mkprovision): its livecd install manifest is verified with the keyset's
# manifest CA and its target mounted as the root of a live system, through dm-verity, with a
# writable layer in memory. What the medium's action needs goes to $L, which the live system's
# `mosctl live-action` reads: boot.json, pcr7data and, from a disk labelled trust-data (trust
# launch attaches it for provisioning), the machine's SUDI certificate and key.
boot_medium() {
  M=/run/mos-media L=/run/mos-livecd
  mkdir -p "$M" "$L" /sysroot
  # isofs needs cdrom, which the storage drivers' stream may be loading (sr_mod needs it too):
  # tried again once that stream is done.
  modprobe isofs 2>/dev/null || { wait "$storage_drivers"; modprobe isofs 2>/dev/null; }
  dev=$(findfs LABEL=OCI-BOOT) && mount -t iso9660 -o ro "$dev" "$M" ||
    stop "FAILED: mounting the boot medium ($dev)"
  cp "$M/mos/boot.json" "$L/boot.json" || stop "FAILED: the boot medium has no mos/boot.json"
  need_tools tools_from "$M/mos/initrd-tools.squashfs" "mos/initrd-tools.squashfs on the boot medium"
  # The live system's writable layer is an overlay.
  load_mount_modules
  wait_mount_modules
  # Provisioning makes the SBF (LUKS2, aes-xts): the live system has no modules of its own. (After
  # dm-verity's: both need dm_mod, and two modprobes of one module at once would fail one.)
  if grep -q '"action": *"provision"' "$L/boot.json"; then
    for m in dm_crypt xts ecb; do modprobe "$m" 2>/dev/null; done
  fi
  if ! mosctl mount -t livecd --ca /manifestCA.pem --dest /sysroot \
      "oci:$M/oci/machine/livecd:1.0.0" > /run/mount-livecd.log 2>&1; then
    line=$(tail -n 1 /run/mount-livecd.log)
    stop "FAILED: ${line#mosctl: error: }"
  fi
  say "live system: $(sed -n 's/^mounted \([^ ]*\) at .* (\(.*\))$/\1, \2/p' /run/mount-livecd.log)"
  cp -r /pcr7data "$L/pcr7data" && cp /manifestCA.pem "$L/manifestCA.pem" ||
    stop "FAILED: copying the keyset's pcr7data and manifest CA for the live system"
  # The TPM's secrets stay closed to a live system, as to every system after the initramfs: PCR7
  # is extended (a provisioning live system chooses the keyset by the value saved before).
  if [ -e /dev/tpmrm0 ]; then
    save=""
    grep -q '"action": *"provision"' "$L/boot.json" && save="--save-before $L/pcr7.bin"
    # shellcheck disable=SC2086
    out=$(mosctl extend-pcr7 $save 2>&1) || stop "FAILED: TPM: extending PCR7: ${out##*error: }"
    say "TPM: PCR7 extended, the secrets closed for the live system"
  fi
  if sudi=$(findfs LABEL=trust-data 2>/dev/null); then
    modprobe nls_utf8 2>/dev/null  # vfat and the others are among the early filesystems
    mkdir -p /run/sudi-disk "$L/sudi"
    mount -t vfat -o ro "$sudi" /run/sudi-disk &&
      cp /run/sudi-disk/cert.pem /run/sudi-disk/privkey.pem "$L/sudi/" &&
      chmod 0600 "$L/sudi/privkey.pem" && umount /run/sudi-disk ||
      stop "FAILED: reading the SUDI certificate and key from $sudi (trust-data)"
  fi
  switch_to_sysroot "live system"
}

# What the firmware booted decides between a medium and an installed system: booted from a disk's
# ESP, systemd-stub names that GPT partition (LoaderDevicePartUUID, the Boot Loader Interface), which
# it cannot for a CD. From a disk, the disks found so far are enough (the other controllers, such as
# the AHCI a CD sits on, are still probing in the background). Otherwise (a CD, or no EFI) a medium
# is expected: an installed system is taken only once every storage driver is in and the medium
# had two seconds to appear. Block devices appear while their drivers probe: either is looked for
# for up to ten seconds.
wait "$started"
patience=20
[ -e /sys/firmware/efi/efivars/LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f ] &&
  patience=0
found=""
tries=0
while [ $tries -lt 100 ]; do
  scsi_drivers
  if findfs LABEL=OCI-BOOT >/dev/null 2>&1; then found=media; break; fi
  if [ $tries -ge $patience ] && { [ $patience = 0 ] || [ -e /run/storage-drivers ]; } &&
    findfs LABEL=machine-store >/dev/null 2>&1; then
    found=system
    break
  fi
  sleep 0.1
  tries=$((tries + 1))
done
case "$found" in
  media) boot_medium ;;
  system) boot_system ;;
  *) stop "no boot medium and no installed system found" ;;
esac
)sh";

}  // namespace

std::string_view initramfs_init_script() {
  return kInit;
}

}  // namespace mos::boot
