#!/usr/bin/env bash
# make-guest.sh OUTDIR — build a small bootable guest for the VM tests, from Debian packages only.
#
# Outputs (in OUTDIR):
#   vmlinuz            Debian's signed kernel, taken from the linux-image-6.1.*-amd64 package
#                      that linux-image-amd64 depends on (apt-get download + dpkg-deb -x, never
#                      installed: installing runs update-initramfs for minutes)
#   modules/*.ko       the few kernel modules the guest loads; modules/order lists them in load order
#   kernel-release     e.g. 6.1.0-57-amd64
#   initrd.cpio.gz     busybox-static initramfs (busybox init + /etc/mos-guest/rc, see below)
#   uki.efi            UKI: systemd-boot's linuxx64.efi.stub + .osrel .cmdline .linux .initrd
#   uki-signed.efi     the same, signed with Debian's OVMF snakeoil key (db of OVMF_VARS_4M.snakeoil.fd)
#   snakeoil.key       that key, decrypted (0600); snakeoil.pem its certificate
#   esp.img            64 MiB FAT "superfloppy" (no partition table) with uki.efi at \EFI\BOOT\BOOTX64.EFI
#   esp-signed.img     the same with uki-signed.efi
#   cache/*.deb        the downloaded kernel package (kept, so a rebuild does not download again)
# A rerun with the outputs present (and this script unchanged: OUTDIR/.stamp holds its hash) exits
# at once. Needs root (mknod of /dev/console in the initramfs, apt-get download).
#
# What the guest prints on the console, one line each, in this order:
#   MOS-GUEST: up
#   MOS-GUEST: secureboot=0|1|none     (last byte of the SecureBoot efivar; none = no EFI;
#                                       unknown = EFI but efivarfs could not be mounted)
#   MOS-GUEST: tpm=tpm2|tpm1|none
#   MOS-GUEST: tpm-banks=sha256 ...    (TPM 2.0: the PCR banks the kernel found allocated)
#   MOS-GUEST: event-log-algorithms=N  (TPM 2.0 under UEFI: how many hashes the firmware's event
#                                       log holds per measurement, its Spec ID event's count)
#   MOS-GUEST: net=10.0.2.15/24        (only when eth0 exists; DHCP, else static qemu user-net default)
#   MOS-GUEST: httpd                   (busybox httpd answers on :80 with index.html = "mos-guest-httpd")
#   MOS-GUEST: ready
#   MOS-GUEST: poweroff                (when it powers off: ACPI power button, `mos.poweroff`, ...)
#   MOS-GUEST: insmod-failed=NAME      (only on error)
#   MOS-GUEST: exit=STATUS             (after each command line typed on the console: see below)
# Kernel command line switches: `mos.poweroff` powers off right after `ready`; `mos.shell` starts a
# shell on the console after `ready` (off by default: its prompt has no newline).
# Power button: qemu's QMP `system_powerdown` → ACPI power button → button.ko (a module in Debian's
# kernel, CONFIG_ACPI_BUTTON=m) → input event on /dev/input/eventN (evdev.ko) → busybox acpid runs
# /etc/acpi/PWRF/00000080 → `poweroff` → busybox init runs ::shutdown: → `poweroff -f`. Verified.
#
# Verified by hand (qemu 7.2, TCG, 2 cores; seconds from qemu start to the line, on a quiet host /
# with a parallel C++ build running; D=OUTDIR). `-nic none`: without any -nic/-netdev, qemu adds an
# e1000e NIC on *unrestricted* user-net (and q35 an empty DVD drive the firmware tries first).
# (a) direct kernel boot — up 4.1 / 6.5–7.3, ready 4.2–4.4 / 6.9–8.0:
#   timeout 90 qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
#     -serial file:serial.log -monitor none -nic none -kernel D/vmlinuz -initrd D/initrd.cpio.gz \
#     -append 'console=ttyS0 quiet panic=-1'
#   (serial on stdio instead: -display none -serial stdio -monitor none)
# (b) OVMF, no secure boot, esp.img — secureboot=0 at 7.9 / 11.0–12.2, ready 7.9 / 11.1–12.4:
#   cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
#   timeout 90 qemu-system-x86_64 -machine q35,smm=on -accel tcg -m 1024 -smp 2 -display none \
#     -no-reboot -serial file:serial.log -monitor none -nic none \
#     -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
#     -drive if=pflash,format=raw,unit=1,file=vars.fd \
#     -drive if=none,id=esp,format=raw,file=D/esp.img -device virtio-blk-pci,drive=esp,bootindex=0
#   (ahci works too: -device ahci,id=ahci -device ide-hd,drive=esp,bus=ahci.0,bootindex=0)
# (c) secure boot, esp-signed.img — secureboot=1 at 11.1 / 13.9–14.1, ready 11.1 / 14.1–14.3
#   (1–4 s between `up` and `secureboot`: the kernel checks each module's signature, slow under TCG):
#   cp /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd vars.fd
#   timeout 90 qemu-system-x86_64 -machine q35,smm=on -accel tcg -m 1024 -smp 2 -display none \
#     -no-reboot -serial file:serial.log -monitor none -nic none \
#     -global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1 \
#     -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
#     -drive if=pflash,format=raw,unit=1,file=vars.fd \
#     -drive if=none,id=esp,format=raw,file=D/esp-signed.img -device virtio-blk-pci,drive=esp,bootindex=0
#   (esp.img, unsigned, here: "BdsDxe: failed to load Boot0001 ...: Access Denied" at 5.9 s, then the
#   firmware waits forever: no MOS-GUEST line ever)
# (d) TPM 2.0 — tpm=tpm2 at 5.7 (with -kernel) / 15.2 (secure boot as in (c)):
#   mkdir tpm; swtpm socket --tpm2 --tpmstate dir=tpm --ctrl type=unixio,path=tpm/sock --terminate &
#   ... add: -chardev socket,id=chrtpm,path=tpm/sock -tpmdev emulator,id=tpm0,chardev=chrtpm \
#            -device tpm-tis,tpmdev=tpm0
#   (swtpm exits by itself, status 0, when qemu disconnects, thanks to --terminate)
# (e) network (instead of -nic none) — `curl http://127.0.0.1:PORT/` prints mos-guest-httpd;
#   with -kernel: httpd at 4.3 / 7.2–8.4 (DHCP takes ~0.2 s); with OVMF as in (b): 8.2–9.7:
#   ... add: -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:80 \
#            -device virtio-net-pci,netdev=n0
#   (keep bootindex=0 on the disk under OVMF so that it never tries PXE/HTTP boot on the NIC)
# (f) power button — add -qmp unix:qmp.sock,server=on,wait=off; after `ready` send
#   {"execute":"qmp_capabilities"} then {"execute":"system_powerdown"}: the guest prints
#   MOS-GUEST: poweroff and qemu exits with status 0 0.03–0.1 s later (-kernel, OVMF, secure boot).
#   Without button.ko nothing happens (checked), so the acpid path is what does it.
# `mos.poweroff` on the command line (-append; the UKI's built-in .cmdline does not have it):
#   qemu exits ~0.1 s after `ready`.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
SELF=$(readlink -f "${BASH_SOURCE[0]}")

STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
SNAKEOIL_KEY=/usr/share/ovmf/PkKek-1-snakeoil.key   # encrypted, passphrase "snakeoil"
SNAKEOIL_PEM=/usr/share/ovmf/PkKek-1-snakeoil.pem
BUSYBOX=/bin/busybox                                 # from busybox-static
# Kernel command line baked into the UKI. panic=-1: reboot at once on a panic, which with
# qemu -no-reboot ends qemu instead of hanging until the test's timeout.
UKI_CMDLINE="console=ttyS0 quiet panic=-1"
# Modules the guest loads (their dependencies are added automatically, in dependency order):
# virtio-net (virtio_pci, virtio_net), efivarfs (to read SecureBoot), and button + evdev so that
# the ACPI power button reaches busybox acpid as an input event.
WANT_MODULES=(virtio_pci virtio_net efivarfs button evdev)

OUTPUTS=(vmlinuz kernel-release modules/order initrd.cpio.gz uki.efi uki-signed.efi
         snakeoil.key snakeoil.pem esp.img esp-signed.img)

# --- quick exit when everything is there and was built by this version of the script ------------
stamp=$(sha256sum "$SELF" | cut -d' ' -f1)
all_present=1
for f in "${OUTPUTS[@]}"; do [[ -s $OUT/$f ]] || all_present=0; done
if [[ $all_present == 1 && -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" ]]; then
    exit 0
fi
rm -f "$OUT/.stamp"

if [[ $EUID -ne 0 ]]; then
    echo "make-guest.sh: needs root (mknod /dev/console for the initramfs, apt-get download)" >&2
    exit 1
fi
for tool in apt-get apt-cache dpkg-deb objcopy objdump sbsign openssl mkfs.vfat mmd mcopy gzip; do
    command -v "$tool" >/dev/null || { echo "make-guest.sh: missing tool: $tool" >&2; exit 1; }
done
for f in "$STUB" "$SNAKEOIL_KEY" "$SNAKEOIL_PEM" "$BUSYBOX"; do
    [[ -r $f ]] || { echo "make-guest.sh: missing file: $f" >&2; exit 1; }
done

WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log() { echo "make-guest: $*" >&2; }

# --- 1. the kernel package (cached in OUTDIR/cache) ----------------------------------------------
mkdir -p "$OUT/cache"
shopt -s nullglob
debs=("$OUT"/cache/linux-image-6.1.*-amd64_*.deb)
shopt -u nullglob
if [[ ${#debs[@]} -eq 0 ]]; then
    # The exact image package the linux-image-amd64 metapackage points at, e.g.
    # "Depends: linux-image-6.1.0-57-amd64 (= 6.1.192-3)".
    resolve() {
        apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
            sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n1
    }
    pkg=$(resolve)
    if [[ -z $pkg ]]; then apt-get update -qq; pkg=$(resolve); fi   # no package lists at all yet
    if [[ ! $pkg =~ ^linux-image-6\.1\.[0-9.-]+-amd64$ ]]; then
        echo "make-guest.sh: linux-image-amd64 depends on '$pkg', not a linux-image-6.1.*-amd64" >&2
        exit 1
    fi
    log "downloading $pkg"
    # Sandbox::User=root: apt's _apt user cannot write into OUTDIR (only a warning, but noisy).
    dl() { (cd "$OUT/cache" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg"); }
    if ! dl; then
        # Stale package lists (the version was superseded on the mirror): refresh once and retry.
        apt-get update -qq
        dl
    fi
    debs=("$OUT"/cache/"$pkg"_*.deb)
fi
DEB=$(printf '%s\n' "${debs[@]}" | sort -V | tail -n1)   # newest, should several be cached
log "kernel package: ${DEB##*/}"

if ! dpkg-deb -x "$DEB" "$WORK/deb"; then
    rm -f "$DEB"    # e.g. an interrupted download: do not keep a broken package in the cache
    echo "make-guest.sh: $DEB is broken; removed it, run again to download it anew" >&2
    exit 1
fi
kver=$(cd "$WORK/deb/lib/modules" && ls)                   # e.g. 6.1.0-57-amd64
moddir=$WORK/deb/lib/modules/$kver
config=$WORK/deb/boot/config-$kver
[[ -f $WORK/deb/boot/vmlinuz-$kver && -f $config ]] || { echo "make-guest.sh: no vmlinuz/config in $DEB" >&2; exit 1; }

# --- 2. kernel modules: resolve dependencies from each .ko's .modinfo (the deb has no modules.dep:
# depmod runs at install time), skip built-ins, decompress if Debian ever ships .ko.xz/.ko.zst
# (busybox insmod may not read those; this kernel has CONFIG_MODULE_COMPRESS_NONE=y). ---
mkdir -p "$WORK/modules"
order=()
ko_path() {   # NAME -> path of its .ko* in the deb ('_' and '-' are interchangeable in module names)
    local alt=${1//_/-}
    find "$moddir/kernel" \( -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" \
                             -o -name "$alt.ko" -o -name "$alt.ko.xz" -o -name "$alt.ko.zst" \) | head -n1
}
is_builtin() {  # NAME -> true if compiled into the kernel
    grep -Eq "/($1|${1//_/-})\.ko\$" "$moddir/modules.builtin"
}
add_module() {
    local name=$1 ko deps dep
    if [[ " ${order[*]} " == *" $name "* ]] || is_builtin "$name"; then return 0; fi
    ko=$(ko_path "$name")
    [[ -n $ko ]] || { echo "make-guest.sh: module $name is neither built in nor in $DEB" >&2; exit 1; }
    case $ko in
        *.ko.xz)  xz -dc "$ko" > "$WORK/modules/$name.ko" ;;
        *.ko.zst) zstd -qdc "$ko" > "$WORK/modules/$name.ko" ;;
        *)        cp "$ko" "$WORK/modules/$name.ko" ;;
    esac
    deps=$(tr '\0' '\n' < "$WORK/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    order+=("$name")
}
for m in "${WANT_MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${order[@]}" > "$WORK/modules/order"
log "modules (load order): ${order[*]}"

# --- 3. the initramfs ------------------------------------------------------------------------------
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,var/log,var/run,www,etc/mos-guest,etc/acpi/PWRF,lib/modules}
cp "$BUSYBOX" "$R/bin/busybox"
# One symlink per applet at its usual place (bin/sh, sbin/init, usr/bin/...).
"$BUSYBOX" --list-full | while read -r applet; do
    [[ -e $R/$applet ]] || ln -s /bin/busybox "$R/$applet"
done
ln -s /bin/busybox "$R/init"          # the kernel runs /init: busybox init, reading /etc/inittab
# The kernel opens /dev/console for init before anything mounts devtmpfs: it must be in the archive.
mknod -m 600 "$R/dev/console" c 5 1
cp "$WORK/modules/"*.ko "$WORK/modules/order" "$R/lib/modules/"
echo mos-guest-httpd > "$R/www/index.html"

# busybox init: the script below as sysinit; poweroff (from acpid, `mos.poweroff`, SIGUSR2,
# Ctrl-Alt-Del) runs ::shutdown:, which powers off at once instead of init's ~2 s of kill/sleep:
# nothing is on disk in this guest.
cat > "$R/etc/inittab" <<'EOF'
::sysinit:/etc/mos-guest/rc
::respawn:/etc/mos-guest/console
::ctrlaltdel:/sbin/poweroff
::shutdown:/etc/mos-guest/shutdown
EOF

cat > "$R/etc/mos-guest/rc" <<'EOF'
#!/bin/sh
# MOS test guest: bring up what the VM tests look at and report it on the console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
say() { echo "MOS-GUEST: $*" > /dev/console; }
say up

for m in $(cat /lib/modules/order); do
    # efivarfs refuses to load (ENODEV) without EFI firmware, e.g. with qemu -kernel.
    if [ "$m" = efivarfs ] && [ ! -d /sys/firmware/efi ]; then continue; fi
    insmod "/lib/modules/$m.ko" 2>/dev/console || say "insmod-failed=$m"
done

# Secure boot state: the SecureBoot variable's last byte (the first four are its attributes).
if [ -d /sys/firmware/efi ]; then
    sb=unknown
    if mount -t efivarfs efivarfs /sys/firmware/efi/efivars; then
        v=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
        if [ -f "$v" ]; then sb=$(tail -c 1 "$v" | od -An -tu1 | tr -d ' \n'); else sb=0; fi
    fi
else
    sb=none
fi
say "secureboot=$sb"

tpm=none
if [ -e /sys/class/tpm/tpm0 ] || [ -e /dev/tpm0 ]; then
    case $(cat /sys/class/tpm/tpm0/tpm_version_major 2>/dev/null) in
        2) tpm=tpm2 ;;
        *) tpm=tpm1 ;;
    esac
fi
say "tpm=$tpm"
if [ "$tpm" = tpm2 ]; then
    say "tpm-banks=$(ls -d /sys/class/tpm/tpm0/pcr-* 2>/dev/null | sed 's|.*/pcr-||' | tr '\n' ' ')"
    # The log's first event: a 32-byte header (PCR, type, SHA-1 digest, size), then the Spec ID
    # event: signature (16), platform class (4), version and sizes (4), number of algorithms.
    mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
    log=/sys/kernel/security/tpm0/binary_bios_measurements
    [ -r "$log" ] && say "event-log-algorithms=$(od -An -tu4 -j56 -N4 "$log" | tr -d ' \n')"
fi

# Power button: button.ko turns the ACPI event into a KEY_POWER input event; acpid (it only scans
# /dev/input/event* when it starts, so after the insmods) runs /etc/acpi/PWRF/00000080.
acpid -c /etc/acpi -l /tmp/acpid.log -p /run/acpid.pid

ip link set lo up
# virtio_net probes during its insmod; should a virtio network device (virtio id 1) be there
# without its eth0 yet, wait a little.
n=0
while [ ! -e /sys/class/net/eth0 ] && grep -qx 0x0001 /sys/bus/virtio/devices/*/device 2>/dev/null &&
      [ $n -lt 10 ]; do
    sleep 0.2; n=$((n + 1))
done
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    # qemu user-net answers DHCP at once (also with restrict=on); fall back to its defaults.
    if ! udhcpc -i eth0 -f -q -n -t 3 -T 1 -s /etc/mos-guest/udhcpc >/dev/null 2>&1; then
        ip addr add 10.0.2.15/24 dev eth0
        ip route add default via 10.0.2.2
    fi
    say "net=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | head -n1)"
fi

# busybox httpd forks into the background; report once it really answers.
httpd -p 80 -h /www
n=0
until wget -q -O /dev/null http://127.0.0.1/index.html 2>/dev/null; do
    n=$((n + 1)); [ $n -ge 50 ] && break; sleep 0.1
done
[ $n -lt 50 ] && say httpd
say ready

if grep -qw mos.poweroff /proc/cmdline; then
    poweroff
fi
EOF

cat > "$R/etc/mos-guest/console" <<'EOF'
#!/bin/sh
# Respawned by init. A shell on the console only with `mos.shell` (a prompt has no newline and would
# prefix later MOS-GUEST lines). Otherwise a prompt-less command loop: each line typed on the
# console (e.g. sent through `machine console`) runs, its output and then
# `MOS-GUEST: exit=STATUS` go to the console. Tests use it to act inside the guest.
if grep -qw mos.shell /proc/cmdline; then
    exec cttyhack sh -l       # not setsid: busybox setsid forks (and exits) under init
fi
exec </dev/console >/dev/console 2>&1
stty -echo 2>/dev/null   # the lines typed are not repeated on the console
while IFS= read -r line; do
    [ -n "$line" ] || continue
    sh -c "$line"
    echo "MOS-GUEST: exit=$?"
done
exec sleep 2147483647
EOF

cat > "$R/etc/mos-guest/shutdown" <<'EOF'
#!/bin/sh
echo "MOS-GUEST: poweroff" > /dev/console
sync
poweroff -f
EOF

cat > "$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# ACPI power button (qemu: QMP system_powerdown): orderly poweroff through busybox init.
poweroff
EOF

cat > "$R/etc/mos-guest/udhcpc" <<'EOF'
#!/bin/sh
# udhcpc event script: set the address and default route it was given.
case $1 in
    deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface"; break; done ;;
esac
exit 0
EOF
chmod 755 "$R/etc/mos-guest/"{rc,console,shutdown,udhcpc} "$R/etc/acpi/PWRF/00000080"

# A fixed mtime, owner and inode numbering make the archive depend only on its contents. busybox's
# cpio, not GNU cpio: busybox-static is needed anyway and the cpio package may be absent.
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
    "$BUSYBOX" cpio -o -H newc -R 0:0 --ignore-devno --renumber-inodes 2>/dev/null) |
    gzip -9n > "$WORK/initrd.cpio.gz"

# --- 4. the UKIs ------------------------------------------------------------------------------------
printf 'NAME="MOS test guest"\nID=mos-guest\nVERSION_ID=1\n' > "$WORK/osrel"
printf '%s' "$UKI_CMDLINE" > "$WORK/cmdline"
cp "$WORK/deb/boot/vmlinuz-$kver" "$WORK/vmlinuz"

# Each added section goes at the next 4 KiB boundary after the end of the previous one, starting
# after the stub's last section. Section lines of `objdump -h`: IDX NAME SIZE VMA LMA OFF ALIGN.
align4k() { echo $(( ($1 + 4095) / 4096 * 4096 )); }
end=0
while read -r idx name size vma _; do
    [[ $idx =~ ^[0-9]+$ ]] || continue
    e=$(( 16#$size + 16#$vma ))
    if (( e > end )); then end=$e; fi
done < <(objdump -h "$STUB")
objcopy_args=()
for sec in osrel cmdline linux initrd; do
    case $sec in
        linux)  file=$WORK/vmlinuz ;;
        initrd) file=$WORK/initrd.cpio.gz ;;
        *)      file=$WORK/$sec ;;
    esac
    vma=$(align4k "$end")
    objcopy_args+=(--add-section ".$sec=$file" --change-section-vma ".$sec=$(printf '0x%x' "$vma")")
    end=$(( vma + $(stat -c %s "$file") ))
done
objcopy "${objcopy_args[@]}" "$STUB" "$WORK/uki.efi"

# sbsign needs the key unencrypted; keep it (0600) for tests that sign other things.
(umask 077; openssl pkey -in "$SNAKEOIL_KEY" -passin pass:snakeoil -out "$WORK/snakeoil.key")
cp "$SNAKEOIL_PEM" "$WORK/snakeoil.pem"
# sbsign warns "data remaining ... gaps between PE/COFF sections?" on objcopy-made UKIs: harmless,
# the firmware accepts the result. Keep its output out of the way unless it fails.
if ! sbsign --key "$WORK/snakeoil.key" --cert "$WORK/snakeoil.pem" \
        --output "$WORK/uki-signed.efi" "$WORK/uki.efi" > "$WORK/sbsign.log" 2>&1; then
    cat "$WORK/sbsign.log" >&2
    exit 1
fi

# --- 5. the ESP images: FAT without a partition table (OVMF reads such a "superfloppy" fine) -------
make_esp() {  # UKI IMAGE
    truncate -s 64M "$2"
    mkfs.vfat -n MOS-ESP "$2" >/dev/null
    mmd -i "$2" ::/EFI ::/EFI/BOOT
    mcopy -i "$2" "$1" ::/EFI/BOOT/BOOTX64.EFI
}
make_esp "$WORK/uki.efi" "$WORK/esp.img"
make_esp "$WORK/uki-signed.efi" "$WORK/esp-signed.img"

# --- publish ---------------------------------------------------------------------------------------
echo "$kver" > "$WORK/kernel-release"
rm -rf "$OUT/modules"
mv "$WORK/modules" "$OUT/modules"
for f in vmlinuz kernel-release initrd.cpio.gz uki.efi uki-signed.efi snakeoil.key snakeoil.pem \
         esp.img esp-signed.img; do
    mv -f "$WORK/$f" "$OUT/$f"
done
echo "$stamp" > "$OUT/.stamp"
log "done: $OUT"
