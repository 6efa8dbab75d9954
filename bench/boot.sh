#!/usr/bin/env bash
# Benchmark: a machine's boot through its keyset's bootkit — OVMF (the keyset's enrolled vars,
# secure boot) → signed shim → signed UKI → our initramfs (partitions, the installed system
# verified again, the hostfs layer checked against its verity root) → the hostfs init's
# "mos-hostfs: ready" — against the floor the firmware sets: the same OVMF code and vars booting,
# directly from the ESP, a minimal UKI (the same stub, kernel and command line with a busybox
# initramfs that prints one line), signed by the keyset's uefi-db. Same qemu command line, same
# accelerator, no TPM on either side (a development keyset boots on without one), rounds
# alternating, medians of wall seconds from qemu's start to the line on the serial console.
# Also reported: our chain to the initramfs's first line, the floor booted through the keyset's
# shim (what shim costs before any of our code runs), the `-kernel` direct boot of the minimal
# initramfs, and the sizes. Needs root (loop devices for the installed disk).
#   bench/boot.sh [ROUNDS]   (MOS_BIN=dir with built programs skips the release build;
#                             MOS_BENCH_LOGS=dir keeps the console of each of ours as N-ours.log)
# Each round's line also says when ours was ready on its guest's clock (after its kernel's
# start): a round slow there was slow in our part, one slow only in wall time before the kernel.
# Last line: RESULT boot ratio=<ours to hostfs ready/floor> target=1.4
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib/floor_uki.sh
. "$top/bench/lib/floor_uki.sh"
rounds=${1:-3}
result() { echo "RESULT boot ratio=$1 target=1.4"; exit 0; }
# ratio A B: A/B rounded to two decimals (bc's scale truncates: 1.409 would print as 1.40).
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; result nan; }
  MOS_BIN="$top/build/release/bin"
fi
work=$(mktemp -d)
qemu_pid=
loops=()
cleanup() {
  [ -n "$qemu_pid" ] && kill -KILL "$qemu_pid" 2>/dev/null
  for d in config atomfs-store scratch-writes; do umount "$work/inst/$d" 2>/dev/null; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
export HOME=$work/home XDG_DATA_HOME=
mkdir -p "$HOME"
"$MOS_BIN/trust" -q keyset add --dev bench || { echo "trust keyset add failed"; result nan; }
KS=$HOME/.local/share/machine/trust/keys/bench
B=$KS/bootkit
kernel=$(jq -r .sources.kernel "$B/bootkit.json")
cmdline=$(jq -r .cmdline "$B/bootkit.json")
stub=$(jq -r .sources.stub "$B/bootkit.json")

# The floor's initramfs: busybox and an init that prints one line and powers off.
mkdir -p "$work/floor/bin" "$work/floor/dev"
cp /bin/busybox "$work/floor/bin/busybox"
printf '#!/bin/busybox sh\n/bin/busybox echo BENCH-FLOOR-READY > /dev/console\n/bin/busybox poweroff -f\n' > "$work/floor/init"
chmod 755 "$work/floor/init"
mknod "$work/floor/dev/console" c 5 1
(cd "$work/floor" && find . | sort | cpio -o -H newc --quiet) > "$work/floor.cpio"
# Its UKI: the same stub, kernel and command line (bench/lib/floor_uki.sh).
floor_uki "$stub" "$kernel" "$cmdline" "$work/floor.cpio" "$KS" "$work/floor-signed.efi" ||
  { echo "the floor's UKI could not be made"; result nan; }
esp_image "$work/ours.img" "$B/shim.efi:BOOTX64.EFI" "$B/kernel.efi:grubx64.efi" || result nan
esp_image "$work/floor.img" "$work/floor-signed.efi:BOOTX64.EFI" || result nan
# The floor as our chain must boot it, apart: through the keyset's shim (it trusts the firmware's
# db too). Not the issue's floor: it says what shim costs before any of our code runs.
esp_image "$work/floor-shim.img" "$B/shim.efi:BOOTX64.EFI" "$work/floor-signed.efi:grubx64.efi" ||
  result nan

# The machine's disk: the ESP and its partitions, a system (the keyset's hostfs and bootkit and a
# small fs-only target) installed from here, as tests/e2e/bootkit.bats makes it.
mkdir -p "$work/svc" && echo data > "$work/svc/file"
"$MOS_BIN/mosb" -q image build --from "$work/svc" --to "oci:$work/src:svc" >/dev/null || result nan
printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: svc\n    source: oci:%s/src:svc\n    version: 1.0.0\n    service_type: fs-only\n' "$work" > "$work/system.yaml"
"$MOS_BIN/mosb" -q manifest publish --project bench:default --repo "oci:$work/sys" \
  --name machine/install:1.0.0 "$work/system.yaml" >/dev/null || result nan
truncate -s 768M "$work/disk.img"
printf 'label: gpt\nsize=96MiB, type=uefi, name=efi\nsize=32MiB, name=machine-config\nsize=384MiB, name=machine-store\nname=machine-scratch\n' |
  sfdisk -q "$work/disk.img" || result nan
while read -r start size name; do
  l=$(losetup --find --show --offset $((start * 512)) --sizelimit $((size * 512)) "$work/disk.img") || result nan
  loops+=("$l")
  case $name in
    efi) mkfs.vfat -n ESP "$l" >/dev/null && mmd -i "$l" ::EFI ::EFI/BOOT &&
      mcopy -i "$l" "$B/shim.efi" ::EFI/BOOT/BOOTX64.EFI && mcopy -i "$l" "$B/kernel.efi" ::EFI/BOOT/grubx64.efi &&
      mcopy -i "$l" "$B/initrd-tools.squashfs" ::EFI/BOOT/initrd-tools.squashfs ;;
    *) d=${name#machine-}; [ "$d" = store ] && d=atomfs-store; [ "$d" = scratch ] && d=scratch-writes
      mkfs.ext4 -q -L "$name" "$l" && mkdir -p "$work/inst/$d" && mount "$l" "$work/inst/$d" ;;
  esac || result nan
done < <(sfdisk -J "$work/disk.img" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size) \(.name)"')
"$MOS_BIN/mosctl" -q install --root "$work/inst" --ca "$KS/manifest-ca/cert.pem" \
  "oci:$work/sys/machine/install:1.0.0" >/dev/null || result nan
for d in config atomfs-store scratch-writes; do umount "$work/inst/$d"; done
for l in "${loops[@]}"; do losetup -d "$l"; done
loops=()

# TCG unless told otherwise: KVM is used only where it boots firmware (machine's probe), and on
# these machines /dev/kvm may exist while OVMF under it aborts. MOS_BENCH_ACCEL=kvm to choose it.
accel=${MOS_BENCH_ACCEL:-tcg} cpu=max
[ "$accel" = kvm ] && cpu=host
common=(-machine q35,smm=on -accel "$accel" -cpu "$cpu" -m 1024 -smp 2 -display none -no-reboot
  -monitor none -nic none -nodefaults)

# boot_seconds PATTERN QEMU-ARGS...: wall seconds from qemu's start to PATTERN on its console
# (kept in $work/serial.log until the next boot).
boot_seconds() {
  local pattern=$1 log=$work/serial.log start now
  shift
  rm -f "$log"
  start=$(date +%s.%N)
  qemu-system-x86_64 "${common[@]}" -serial "file:$log" "$@" &
  qemu_pid=$!
  for _ in $(seq 6000); do
    if grep -aq "$pattern" "$log" 2>/dev/null; then
      now=$(date +%s.%N)
      kill -KILL "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; qemu_pid=
      echo "$now - $start" | bc
      return 0
    fi
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -KILL "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; qemu_pid=
  echo "no '$pattern' on the console:" >&2; tail -c 1500 "$log" | tr -d '\r' >&2
  return 1
}
firmware() { # ESP
  cp "$B/ovmf-vars.fd" "$work/vars.fd"
  echo -global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1 \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$B/ovmf/ovmf-code.fd" \
    -drive "if=pflash,format=raw,unit=1,file=$work/vars.fd" \
    -drive "if=none,id=esp,format=raw,file=$1" -device virtio-blk-pci,drive=esp,bootindex=0
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: > "$work/ours.t"; : > "$work/floor.t"; : > "$work/direct.t"; : > "$work/initramfs.t"
: > "$work/floor-shim.t"
for i in $(seq "$rounds"); do
  # shellcheck disable=SC2046 # firmware() prints words meant to be split
  boot_seconds "BENCH-FLOOR-READY" $(firmware "$work/floor.img") >> "$work/floor.t" || result nan
  # shellcheck disable=SC2046
  boot_seconds "BENCH-FLOOR-READY" $(firmware "$work/floor-shim.img") >> "$work/floor-shim.t" ||
    result nan
  # shellcheck disable=SC2046
  boot_seconds "mos-hostfs: ready" $(firmware "$work/disk.img") >> "$work/ours.t" || result nan
  guest_ready=$(tr -d '\r' < "$work/serial.log" |
    sed -n 's/.*mos-hostfs: ready; \([0-9.]*\) s after.*/\1/p')
  if [ -n "${MOS_BENCH_LOGS:-}" ]; then
    mkdir -p "$MOS_BENCH_LOGS" && cp "$work/serial.log" "$MOS_BENCH_LOGS/$i-ours.log"
  fi
  # shellcheck disable=SC2046
  boot_seconds "mos-initramfs: started" $(firmware "$work/ours.img") >> "$work/initramfs.t" || result nan
  boot_seconds "BENCH-FLOOR-READY" -kernel "$kernel" -initrd "$work/floor.cpio" \
    -append "console=ttyS0 quiet" >> "$work/direct.t" || result nan
  echo "round $i: floor $(tail -1 "$work/floor.t") s, floor through shim $(tail -1 "$work/floor-shim.t") s, ours to hostfs ready $(tail -1 "$work/ours.t") s (${guest_ready:-?} s after its kernel's start), ours to initramfs $(tail -1 "$work/initramfs.t") s, -kernel $(tail -1 "$work/direct.t") s"
done
ours=$(median < "$work/ours.t") floor=$(median < "$work/floor.t") direct=$(median < "$work/direct.t")
initramfs=$(median < "$work/initramfs.t") floor_shim=$(median < "$work/floor-shim.t")
echo "accelerator: $accel; medians of $rounds: firmware+minimal UKI (floor) $floor s; firmware+shim+our UKI to the initramfs $initramfs s, to the hostfs's ready $ours s; -kernel $direct s"
echo "the floor through shim: $floor_shim s ($(ratio $floor_shim $floor) x the floor); ours against it: $(ratio $ours $floor_shim)"
hostfs_layer=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "hostfs-squashfs") | .digest' "$B/oci/index.json")
hostfs_size=$(jq -r '.layers[0].size' "$B/oci/blobs/sha256/${hostfs_layer#sha256:}")
echo "sizes: our UKI $(stat -c %s "$B/kernel.efi") bytes (initramfs $(jq -r .initramfs_size "$B/bootkit.json")), hostfs layer $hostfs_size bytes, minimal UKI $(stat -c %s "$work/floor-signed.efi") bytes, shim $(stat -c %s "$B/shim.efi") bytes"
result "$(ratio $ours $floor)"
