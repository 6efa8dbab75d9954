#!/usr/bin/env bats
# mosctl install --partition on this host, into a disk image (this host's kernel makes no
# partition devices: each partition is reached through a loop device at its offset, as the
# command does itself): the GPT, the filesystems and labels the initramfs looks for, the system
# installed and its bootkit's files on the ESP; and a system that is refused or could not boot
# leaves the disk as it was. The same command in a VM, from an install medium: bootkit.bats.

setup_file() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share"
  export PATH="$MOS_BIN:$PATH"
  mkdir -p "$HOME" "$T/svc" "$T/kit/bootkit"
  echo data > "$T/svc/file"
  echo "a shim" > "$T/kit/bootkit/shim.efi"
  echo "a UKI" > "$T/kit/bootkit/kernel.efi"
  echo "the initramfs's tools" > "$T/kit/bootkit/initrd-tools.squashfs"
  mosb -q image build --from "$T/svc" --to "oci:$T/src:svc"
  mosb -q image build --from "$T/kit" --to "oci:$T/src:kit"
  trust -q keyset add --no-bootkit ks
  trust -q keyset add --no-bootkit foreign
  export CA="$XDG_DATA_HOME/machine/trust/keys/ks/manifest-ca/cert.pem"
  # A system with its own bootkit target (a stand-in: the ESP gets whatever it holds).
  printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: svc\n    source: oci:%s/src:svc\n    version: 1.0.0\n    service_type: fs-only\n  - service_name: bootkit\n    source: oci:%s/src:kit\n    version: 1.0.0\n    service_type: fs-only\n' "$T" "$T" > "$T/system.yaml"
  mosb -q manifest publish --skip-bootkit --project ks:default --repo "oci:$T/pub" --name machine/install:1.0.0 "$T/system.yaml" > /dev/null
  head -n 8 "$T/system.yaml" > "$T/nobootkit.yaml"
  mosb -q manifest publish --skip-bootkit --project ks:default --repo "oci:$T/pub" --name machine/install:nobootkit "$T/nobootkit.yaml" > /dev/null
}

teardown() {
  for d in "$T/check/config" "$T/check/atomfs-store" "$T/check/scratch-writes"; do
    mountpoint -q "$d" 2>/dev/null && umount "$d"
  done
  losetup -j "$T/disk.img" | cut -d: -f1 | while read -r l; do losetup -d "$l"; done
  return 0
}

# part IMG N: "START SIZE" in bytes of partition N.
part() {
  sfdisk -J "$1" | jq -r ".partitiontable.partitions[$(($2 - 1))] | \"\(.start * 512) \(.size * 512)\""
}

@test "install --partition makes a machine's disk in an image and installs the system into it" {
  rm -f "$T/disk.img"
  truncate -s 3G "$T/disk.img"
  run mosctl install --partition --disk "$T/disk.img" --root "$T/inst" --ca "$CA" "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"installed to $T/disk.img"* ]]
  # Nothing stays mounted or attached.
  run grep -c " $T/inst" /proc/mounts
  [ "$output" = 0 ]
  [ -z "$(losetup -j "$T/disk.img")" ]
  # The GPT: names, the original's type GUIDs, sizes.
  sfdisk -J "$T/disk.img" > "$T/table.json"
  [ "$(jq -r '[.partitiontable.partitions[].name] | join(" ")' "$T/table.json")" = "esp machine-config machine-store machine-scratch" ]
  [ "$(jq -r '.partitiontable.partitions[0].type' "$T/table.json")" = C12A7328-F81F-11D2-BA4B-00A0C93EC93B ]
  [ "$(jq -r '.partitiontable.partitions[2].type' "$T/table.json")" = F79962B9-24E6-9948-9F94-E6BFDAD2771B ]
  [ "$(jq -r '.partitiontable.partitions[0].size' "$T/table.json")" = $((256 * 2048)) ]
  # The ESP: a FAT labelled ESP with the bootkit target's shim and UKI where firmware looks, and
  # the initramfs's tools beside them.
  read -r start size < <(part "$T/disk.img" 1)
  mtype -i "$T/disk.img@@$start" ::EFI/BOOT/BOOTX64.EFI | grep -q "a shim"
  mtype -i "$T/disk.img@@$start" ::EFI/BOOT/grubx64.efi | grep -q "a UKI"
  mtype -i "$T/disk.img@@$start" ::EFI/BOOT/initrd-tools.squashfs | grep -q "the initramfs's tools"
  minfo -i "$T/disk.img@@$start" | grep -q "disk label=\"ESP "
  # The ext4 partitions carry the labels the initramfs finds, and hold the installed system.
  mkdir -p "$T/check/factory/secure"
  cp "$CA" "$T/check/factory/secure/manifestCA.pem"
  local n dir label
  for n in 2 3 4; do
    read -r start size < <(part "$T/disk.img" "$n")
    l=$(losetup --find --show --offset "$start" --sizelimit "$size" "$T/disk.img")
    label=$(blkid -o value -s LABEL "$l")
    case $n in 2) dir=config; [ "$label" = machine-config ] ;; 3) dir=atomfs-store; [ "$label" = machine-store ] ;; 4) dir=scratch-writes; [ "$label" = machine-scratch ] ;; esac
    mkdir -p "$T/check/$dir"
    mount "$l" "$T/check/$dir"
    losetup -d "$l"
  done
  run mosctl status --root "$T/check"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *svc*1.0.0* ]]
}

@test "install --partition verifies first: a foreign CA, a system without bootkit, a disk too small leave the disk as it was" {
  rm -f "$T/disk.img"
  truncate -s 3G "$T/disk.img"
  printf 'previous contents' | dd of="$T/disk.img" bs=1 seek=1048576 conv=notrunc status=none
  cp "$T/disk.img" "$T/before.img"
  run mosctl install --partition --disk "$T/disk.img" --root "$T/inst" \
    --ca "$XDG_DATA_HOME/machine/trust/keys/foreign/manifest-ca/cert.pem" "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"machine/install:1.0.0"* ]]
  cmp "$T/disk.img" "$T/before.img"
  run mosctl install --partition --disk "$T/disk.img" --root "$T/inst" --ca "$CA" "oci:$T/pub/machine/install:nobootkit"
  [ "$status" -ne 0 ]
  [[ "$output" == *"has no bootkit target"* ]]
  cmp "$T/disk.img" "$T/before.img"
  truncate -s 512M "$T/small.img"
  run mosctl install --partition --disk "$T/small.img" --root "$T/inst" --ca "$CA" "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"has 512 MiB free for the system; a machine's disk needs at least"* ]]
  run mosctl install --disk "$T/disk.img" --root "$T/inst" --ca "$CA" "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"--disk goes with --partition"* ]]
}

@test "install --partition keeps a provisioned disk's factory partitions, byte for byte, and replaces the rest" {
  rm -f "$T/disk.img"
  truncate -s 3G "$T/disk.img"
  # A provisioned disk as mosctl provision --disk leaves it (tpm_device.bats checks that one; here
  # the same layout is made with the tools), with a previous system's partition after it.
  printf 'label: gpt\nstart=4MiB, size=64MiB, type=01A3E19F-9FEA-ED47-92C2-E75639FF5601, name=pbf\nstart=68MiB, size=256MiB, type=01A3E19F-9FEA-ED47-92C2-E75639FF5602, name=sbf\nstart=400MiB, size=100MiB, name=old\n' |
    sfdisk --quiet "$T/disk.img"
  l=$(losetup --find --show --offset $((4 << 20)) --sizelimit $((64 << 20)) "$T/disk.img")
  mkfs.ext4 -q -L pbf "$l"
  losetup -d "$l"
  l=$(losetup --find --show --offset $((68 << 20)) --sizelimit $((256 << 20)) "$T/disk.img")
  echo -n 0123456789abcdef0123456789abcdef01234567 |
    cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label sbf "$l" -
  losetup -d "$l"
  dd if="$T/disk.img" bs=1M skip=4 count=320 status=none | sha256sum > "$T/factory.sum"

  run mosctl install --partition --disk "$T/disk.img" --root "$T/inst" --ca "$CA" "oci:$T/pub/machine/install:1.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"installed to $T/disk.img (its factory partitions kept)"* ]]
  [ -z "$(losetup -j "$T/disk.img")" ]
  [ "$(jq -r '[.partitiontable.partitions[].name] | join(" ")' < <(sfdisk -J "$T/disk.img"))" = "pbf sbf esp machine-config machine-store machine-scratch" ]
  dd if="$T/disk.img" bs=1M skip=4 count=320 status=none | sha256sum | cmp - "$T/factory.sum"
  # The machine's partitions come after the SBF.
  read -r start size < <(part "$T/disk.img" 3)
  [ "$start" -ge $((324 << 20)) ]
  mtype -i "$T/disk.img@@$start" ::EFI/BOOT/BOOTX64.EFI | grep -q "a shim"
}
