#!/usr/bin/env bats
# A keyset's bootkit, built by `trust keyset add` from Debian's parts (OVMF, shim-unsigned,
# systemd-boot-efi's stub, linux-image-amd64, busybox-static) and the keyset's keys: checked with
# sbverify, then booted for real under qemu (TCG here) through the keyset's own enrolled firmware
# vars: firmware → shim → UKI → our initramfs, which reports secure boot and the TPM on the serial
# console and powers off. The VM boots run in the release build only, this file alone (RUN_SERIAL);
# the guest has no network.

setup_file() {
  keyset_test_home
  trust keyset add ks > "$T/add.out"
  trust -q keyset add --no-bootkit other
  trust -q keyset add foreign
  # A development keyset (snakeoil always is one): its hostfs has a console login.
  trust -q keyset add --dev devks
  trust -q sudi add ks default SN1
}

load helpers/registry
load helpers/tamper
load helpers/vm

teardown() {
  stop_all_machines
  release_disk
}

# esp IMAGE SHIM UKI: a FAT ESP with the shim as the removable-media loader and the UKI as the
# second stage it loads from beside itself.
esp() {
  rm -f "$1"
  mkfs.vfat -n ESP -C "$1" $((96 * 1024)) >/dev/null
  mmd -i "$1" ::EFI ::EFI/BOOT
  mcopy -i "$1" "$2" ::EFI/BOOT/BOOTX64.EFI
  mcopy -i "$1" "$3" ::EFI/BOOT/grubx64.efi
}

# boot_vm NAME ESP: a machine with the keyset's firmware, secure boot and a TPM, no network.
boot_vm() {
  cat > "$T/$1.yaml" <<YAML
name: $1
description: bootkit of ks
config:
  name: $1
  cpus: 2
  memory: 768
  disks:
  - file: $2
    format: raw
    attach: virtio
    bootindex: "0"
  nics: []
  uefi-code: $KEYS/ks/bootkit/ovmf/ovmf-code.fd
  uefi-vars: $KEYS/ks/bootkit/ovmf-vars.fd
  tpm: true
  tpm-version: "2.0"
  secure-boot: true
  gui: false
YAML
  machine init "$1" -f "$T/$1.yaml"
  [ -z "${3:-}" ] || "$3" "$1"
  timeout 120 machine start "$1" --wait
}

@test "keyset add builds the bootkit: firmware vars, shim and UKI signed by the keyset's keys" {
  local b="$KEYS/ks/bootkit"
  grep -q "Created keyset ks in $KEYS/ks (with its bootkit)" "$T/add.out"
  [ -s "$b/ovmf/ovmf-code.fd" ] && [ -s "$b/ovmf-vars.fd" ] && [ -s "$b/shim.efi" ] && [ -s "$b/kernel.efi" ]
  cmp "$b/ovmf/ovmf-code.fd" /usr/share/OVMF/OVMF_CODE_4M.secboot.fd
  [ "$(stat -c %s "$b/ovmf-vars.fd")" = "$(stat -c %s /usr/share/OVMF/OVMF_VARS_4M.fd)" ]
  # shim is signed by uefi-db (what the firmware's db trusts), the UKI by uki-production (what
  # the shim trusts); neither verifies against the other key, nor against another keyset's.
  sbverify --cert "$KEYS/ks/uefi-db/cert.pem" "$b/shim.efi"
  sbverify --cert "$KEYS/ks/uki-production/cert.pem" "$b/kernel.efi"
  run sbverify --cert "$KEYS/ks/uki-production/cert.pem" "$b/shim.efi"
  [ "$status" -ne 0 ]
  run sbverify --cert "$KEYS/other/uki-production/cert.pem" "$b/kernel.efi"
  [ "$status" -ne 0 ]
  # The shim's vendor certificate is uki-production's; the UKI holds our initramfs and the fixed
  # command line.
  objcopy -O binary --only-section=.vendor_cert "$b/shim.efi" "$T/vendor_cert"
  openssl x509 -inform DER -in <(tail -c +17 "$T/vendor_cert" | head -c "$(od -An -tu4 -N4 "$T/vendor_cert" | tr -d ' ')") -noout -fingerprint -sha256 > "$T/fp.shim"
  openssl x509 -in "$KEYS/ks/uki-production/cert.pem" -noout -fingerprint -sha256 > "$T/fp.uki"
  cmp "$T/fp.shim" "$T/fp.uki"
  objdump -h "$b/kernel.efi" | grep -q " .initrd "
  objcopy -O binary --only-section=.cmdline "$b/kernel.efi" "$T/cmdline"
  grep -q "console=ttyS0" "$T/cmdline"
  [ "$(jq -r .kernel_release "$b/bootkit.json")" != null ]
  # The initramfs's mosctl is mosctl-initrd (its commands only): no curl, lxc or nftables in it.
  [ "$(jq -r .sources.mosctl_initrd "$b/bootkit.json")" = "$MOS_BIN/mosctl-initrd" ]
  [ "$(jq -r .sources.mosctl_boot "$b/bootkit.json")" = "$MOS_BIN/mosctl-boot" ]
  [ "$(jq -r .sources.lxc_monitor "$b/bootkit.json")" = "$MOS_BIN/mos-lxc-monitor" ]
  [ "$(jq -r .sources.container_reaper "$b/bootkit.json")" = "$MOS_BIN/mos-container-reaper" ]
  objcopy -O binary --only-section=.initrd "$b/kernel.efi" "$T/initrd.zst"
  mkdir "$T/initrd"
  zstd -q -d -c "$T/initrd.zst" | (cd "$T/initrd" && cpio -idm --quiet)
  [ "$(readlink "$T/initrd/usr/bin/mosctl")" = /usr/lib/x86_64-linux-gnu/mos/mosctl ]
  # Its programs and libraries are apart, in the initramfs's tools, whose SHA-512 it holds.
  [ -z "$(ls -A "$T/initrd/usr/lib/x86_64-linux-gnu")" ]
  [ "$(cat "$T/initrd/etc/mos/initrd-tools.sha512")" = "$(sha512sum < "$b/initrd-tools.squashfs" | cut -d' ' -f1)" ]
  [ "$(jq -r .initrd_tools.sha512 "$b/bootkit.json")" = "$(cat "$T/initrd/etc/mos/initrd-tools.sha512")" ]
  [ "$(jq -r .initrd_tools.sha256 "$b/bootkit.json")" = "$(sha256sum < "$b/initrd-tools.squashfs" | cut -d' ' -f1)" ]
  unsquashfs -d "$T/tools" "$b/initrd-tools.squashfs" > /dev/null
  unsquashfs -s "$b/initrd-tools.squashfs" | grep -q "^Compression lz4"
  [ -x "$T/tools/mos/mosctl" ]
  [ -x "$T/tools/ld-linux-x86-64.so.2" ]
  ls "$T/tools" | grep -q libcryptsetup
  # So are the modules loaded only once the tools are mounted (overlay, dm-verity), linked from
  # their places; those loaded before (the tools' and the partitions' filesystems) stay.
  verity=$(cd "$T/initrd" && find lib/modules -name dm-verity.ko)
  [ "$(readlink "$T/initrd/$verity")" = "/usr/lib/x86_64-linux-gnu/mos/modules/${verity#lib/modules/*/}" ]
  [ -f "$T/tools/mos/modules/${verity#lib/modules/*/}" ]
  [ -n "$(find "$T/tools/mos/modules" -name overlay.ko)" ]
  for m in vfat squashfs loop virtio_blk ext4 jbd2; do
    [ -n "$(find "$T/initrd/lib/modules" -type f -name "$m.ko")" ]
  done
  [ -z "$(find "$T/tools/mos/modules" -name ext4.ko)" ]
  run ls "$T/tools"
  [[ "$output" != *libcurl* && "$output" != *liblxc* && "$output" != *libnftables* ]]
}

@test "keyset bootkit rebuilds the same bytes (but the signatures' times), and adds a bootkit to a keyset made without one" {
  local b="$KEYS/ks/bootkit"
  cp -r "$b" "$T/before"
  hostfs_digest() { jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "hostfs-squashfs") | .digest' "$1/oci/index.json"; }
  run trust keyset bootkit ks
  [ "$status" -eq 0 ]
  [[ "$output" == "Built the bootkit of keyset ks (kernel "*") in $b" ]]
  cmp "$T/before/ovmf-vars.fd" "$b/ovmf-vars.fd"
  # The signed images differ only in their signatures (sbsign stamps the signing time).
  cmp "$T/before/initrd-tools.squashfs" "$b/initrd-tools.squashfs"
  for f in shim.efi kernel.efi; do
    cp "$T/before/$f" "$T/old-$f"
    cp "$b/$f" "$T/new-$f"
    sbattach --remove "$T/old-$f" 2>/dev/null
    sbattach --remove "$T/new-$f" 2>/dev/null
    cmp "$T/old-$f" "$T/new-$f"
  done
  # The hostfs image too: the same layer, config and manifest digests.
  [ "$(hostfs_digest "$T/before")" = "$(hostfs_digest "$b")" ]
  [ ! -e "$KEYS/other/bootkit" ]
  trust -q keyset bootkit other
  sbverify --cert "$KEYS/other/uki-production/cert.pem" "$KEYS/other/bootkit/kernel.efi"
  # Another keyset's firmware vars differ (its own keys are enrolled).
  run cmp -s "$b/ovmf-vars.fd" "$KEYS/other/bootkit/ovmf-vars.fd"
  [ "$status" -ne 0 ]
}

@test "a bootkit that cannot be built leaves no keyset, and the previous bootkit stays" {
  run trust keyset add broken --kernel-root "$T/no-kernel"
  [ "$status" -ne 0 ]
  [[ "$output" == *"$T/no-kernel"* ]]
  [ ! -e "$KEYS/broken" ]
  cp "$KEYS/ks/bootkit/kernel.efi" "$T/kept.efi"
  cp "$KEYS/ks/pcr7data.cpio" "$T/kept.cpio"
  mkdir "$KEYS/ks/.bootkit.new-999999"  # what a build killed earlier left
  run trust keyset bootkit ks --kernel-root "$T/no-kernel"
  [ "$status" -ne 0 ]
  cmp "$T/kept.efi" "$KEYS/ks/bootkit/kernel.efi"
  # The keyset's pcr7data, which the build predicts in place, is put back too.
  cmp "$T/kept.cpio" "$KEYS/ks/pcr7data.cpio"
  [ -z "$(find "$KEYS/ks" -maxdepth 1 -name '.bootkit.*' -not -name .bootkit.lock)" ]
}

@test "firmware → shim → UKI boots with the keyset's enrolled keys: secure boot on, TPM, initramfs" {
  vm_tests_only_in_release
  esp "$T/good.img" "$KEYS/ks/bootkit/shim.efi" "$KEYS/ks/bootkit/kernel.efi"
  boot_vm good "$T/good.img"
  wait_console good "mos-initramfs: started: kernel [^ ]+, secure boot 1, TPM tpm2, PCR7 [0-9a-f]{64}" 180
  # What the firmware and shim measured into PCR7 is what the keyset's pcr7data predicted for
  # this chain (its production value, which the TPM policies of its machines name).
  measured=$(grep -aoE "PCR7 [0-9a-f]{64}" "$(run_dir good)/console.log" | head -1 | cut -d" " -f2)
  predicted=$(find "$KEYS/ks/pcr7data" -name pcr_prod.bin -exec od -An -tx1 -v {} \; | tr -d " \n")
  [ "$measured" = "$predicted" ] || { echo "PCR7 measured $measured, predicted $predicted"; false; }
  run trust computePCR7 ks --shim /usr/lib/shim/shimx64.efi --mok-list-trusted none --uki-authority mok-list-rt
  [ "${lines[0]}" = "uki-production: $measured" ]
  wait_console good "mos-initramfs: no boot medium and no installed system found" 60
  wait_console good "mos-initramfs: powering off" 30
  for _ in $(seq 100); do
    machine list | grep -q "^good .*stopped" && break
    sleep 0.2
  done
  machine list | grep -q "^good .*stopped"
}

@test "the chain refuses a UKI of another keyset, an unsigned UKI and a UKI changed after signing" {
  vm_tests_only_in_release
  # shim verifies its second stage against its vendor certificate (ks's uki-production).
  esp "$T/foreign.img" "$KEYS/ks/bootkit/shim.efi" "$KEYS/foreign/bootkit/kernel.efi"
  boot_vm foreign "$T/foreign.img"
  wait_console foreign "Verification failed|Security Violation|Access Denied" 180
  run grep -a "mos-initramfs" "$(run_dir foreign)/console.log"
  [ "$status" -ne 0 ]
  machine stop -f foreign
  # The same UKI without its signature.
  cp "$KEYS/ks/bootkit/kernel.efi" "$T/unsigned.efi"
  sbattach --remove "$T/unsigned.efi" 2>/dev/null
  esp "$T/unsigned.img" "$KEYS/ks/bootkit/shim.efi" "$T/unsigned.efi"
  boot_vm unsigned "$T/unsigned.img"
  wait_console unsigned "Verification failed|Security Violation|Access Denied" 180
  run grep -a "mos-initramfs" "$(run_dir unsigned)/console.log"
  [ "$status" -ne 0 ]
  machine stop -f unsigned
  # One byte of the kernel's command line changed after signing.
  cp "$KEYS/ks/bootkit/kernel.efi" "$T/changed.efi"
  offset=$((0x$(objdump -h "$T/changed.efi" | awk '$2 == ".cmdline" { print $6 }')))
  [ "$offset" -gt 0 ]
  flip_byte "$T/changed.efi" "$offset"
  esp "$T/changed.img" "$KEYS/ks/bootkit/shim.efi" "$T/changed.efi"
  boot_vm changed "$T/changed.img"
  wait_console changed "Verification failed|Security Violation|Access Denied" 180
  run grep -a "mos-initramfs" "$(run_dir changed)/console.log"
  [ "$status" -ne 0 ]
}

@test "the bootkit's images: publish adds hostfs and bootkit as targets; a console login only on a development keyset" {
  local layout="$KEYS/ks/bootkit/oci"
  run jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | sort | join(",")' "$layout/index.json"
  [ "$output" = "bootkit-squashfs,hostfs-squashfs" ]
  # The bootkit image holds the signed shim and UKI, as the original's bootkit layer.
  mkdir -p "$T/bk-mnt" "$T/hostfs" "$T/devfs"
  mosb -q image mount --ro "oci:$layout:bootkit-squashfs" "$T/bk-mnt"
  cmp "$T/bk-mnt/bootkit/shim.efi" "$KEYS/ks/bootkit/shim.efi"
  cmp "$T/bk-mnt/bootkit/kernel.efi" "$KEYS/ks/bootkit/kernel.efi"
  cmp "$T/bk-mnt/bootkit/initrd-tools.squashfs" "$KEYS/ks/bootkit/initrd-tools.squashfs"
  mosb image umount "$T/bk-mnt"
  # The hostfs: busybox init, mosctl, the modules of its kernel; root locked on a production
  # keyset, a getty and a password on a development one.
  mosb -q image mount --ro "oci:$layout:hostfs-squashfs" "$T/hostfs"
  [ -x "$T/hostfs/usr/bin/mosctl" ]
  grep -q "mosctl boot" "$T/hostfs/etc/inittab" || grep -rq "mosctl boot" "$T/hostfs/etc/mos"
  [ -n "$(find "$T/hostfs/lib/modules" -name 'veth.ko*')" ]
  grep -q '^root:\*:' "$T/hostfs/etc/shadow"
  run grep -c getty "$T/hostfs/etc/inittab"
  [ "$output" = 0 ]
  mosb image umount "$T/hostfs"
  [ -f "$KEYS/devks/development" ] && [ ! -e "$KEYS/ks/development" ]
  mosb -q image mount --ro "oci:$KEYS/devks/bootkit/oci:hostfs-squashfs" "$T/devfs"
  grep -q '^root:\$6\$' "$T/devfs/etc/shadow"
  grep -q getty "$T/devfs/etc/inittab"
  mosb image umount "$T/devfs"
  # Publishing with the keyset: its hostfs first, the manifest's targets, its bootkit last.
  mkdir -p "$T/svc"
  echo data > "$T/svc/file"
  mosb -q image build --from "$T/svc" --to "oci:$T/src:svc"
  printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: svc\n    source: oci:%s/src:svc\n    version: 1.0.0\n    service_type: fs-only\n' "$T" > "$T/manifest.yaml"
  run mosb manifest publish --project ks:default --repo "oci:$T/pub" --name machine/install:1.0.0 "$T/manifest.yaml"
  [ "$status" -eq 0 ]
  [[ "$output" != *"has no bootkit"* ]]
  run mosb manifest inspect --json "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -eq 0 ]
  [[ "$output" == *hostfs*svc*bootkit* ]]
  # Without a bootkit, publish says so and goes on without those targets.
  trust -q keyset add --no-bootkit bare
  run mosb manifest publish --project bare:default --repo "oci:$T/pub" --name machine/install:bare "$T/manifest.yaml"
  [ "$status" -eq 0 ]
  [[ "$output" == *"keyset bare has no bootkit"* ]]
}

@test "an installed system boots through the chain into its verified hostfs and runs its services; a changed hostfs byte stops the boot" {
  vm_tests_only_in_release
  mkdir -p "$T/svc2"
  echo data > "$T/svc2/file"
  mosb -q image build --from "$T/svc2" --to "oci:$T/src:svc2" > /dev/null
  printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: svc\n    source: oci:%s/src:svc2\n    version: 1.0.0\n    service_type: fs-only\n' "$T" > "$T/system.yaml"
  mosb -q manifest publish --project ks:default --repo "oci:$T/sys" --name machine/install:1.0.0 "$T/system.yaml" > /dev/null
  installed_disk "$T/disk.img" "oci:$T/sys/machine/install:1.0.0"
  release_disk
  boot_vm sys "$T/disk.img" provision_tpm
  wait_console sys "mos-initramfs: TPM: the machine's identity read" 240
  wait_console sys "mos-initramfs: hostfs: sha256:[0-9a-f]*, every layer under dm-verity" 240
  wait_console sys "mos-initramfs: switching to the hostfs" 60
  wait_console sys "mos-hostfs: ready" 120
  wait_console sys "mosctl boot: up" 120
  machine stop -f sys
  # One byte of the hostfs layer changed on the disk, in the first block of its squashfs (read
  # by every mount; dm-verity checks blocks as they are read): the initramfs refuses it and
  # powers off.
  installed_disk "$T/disk.img" "oci:$T/sys/machine/install:1.0.0"
  layer=$(jq -r '.layers[0].digest' "$T/inst/atomfs-store/mos/blobs/sha256/$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "hostfs-squashfs") | .digest' "$KEYS/ks/bootkit/oci/index.json" | cut -d: -f2)")
  blob="$T/inst/atomfs-store/mos/blobs/sha256/${layer#sha256:}"
  flip_byte "$blob" 200
  release_disk
  machine delete -f sys > /dev/null
  boot_vm sys "$T/disk.img" provision_tpm
  wait_console sys "mos-initramfs: FAILED: mounting layer sha256:[0-9a-f]* through dm-verity" 240
  wait_console sys "mos-initramfs: powering off" 30
  run grep -a "mos-hostfs" "$(run_dir sys)/console.log"
  [ "$status" -ne 0 ]
  # One byte of the initramfs's tools changed on the ESP: refused before any of them runs.
  machine delete -f sys > /dev/null
  esp_at=$(($(sfdisk -J "$T/disk.img" | jq '.partitiontable.partitions[0].start') * 512))
  mcopy -n -i "$T/disk.img@@$esp_at" ::EFI/BOOT/initrd-tools.squashfs "$T/tools.sqfs"
  flip_byte "$T/tools.sqfs" 4096
  mcopy -o -i "$T/disk.img@@$esp_at" "$T/tools.sqfs" ::EFI/BOOT/initrd-tools.squashfs
  boot_vm sys "$T/disk.img" provision_tpm
  wait_console sys 'mos-initramfs: FAILED: \\EFI\\BOOT\\initrd-tools.squashfs on the ESP is not the bootkit.s \(SHA-512 [0-9a-f]{128}, expected [0-9a-f]{128}\)' 240
  wait_console sys "mos-initramfs: powering off" 30
  run grep -a "mos-initramfs: TPM" "$(run_dir sys)/console.log"
  [ "$status" -ne 0 ]
}
