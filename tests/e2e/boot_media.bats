#!/usr/bin/env bats
# A keyset's boot media (mosb mkprovision, mosb mkboot): the ISO's contents and reproducibility on
# this host, then booted for real under qemu (TCG here) by trust launch with the keyset's firmware
# and a TPM — the provisioning medium's live system provisions the TPM, the install medium's makes
# the machine's disk from the host's registry — and the machine then boots from its disk, the
# README's walkthrough to its last line as written. The VM boots run in the release build only,
# this file alone (RUN_SERIAL).

setup_file() {
  keyset_test_home
  trust -q keyset add ks
  trust -q keyset add --no-bootkit foreign
  trust -q sudi add ks default SN1
}

load helpers/registry
load helpers/tamper
load helpers/vm

teardown() {
  stop_all_machines
  release_disk
  stop_registries
}

@test "mkprovision writes a reproducible bootable ISO: the signed shim and UKI on its ESP, the signed live system in oci/" {
  mosb mkprovision --project ks:default --iso "$T/provision.iso" > "$T/mkprovision.out"
  grep -q "^Wrote the provisioning medium of ks:default to $T/provision.iso" "$T/mkprovision.out"
  mosb -q mkprovision --project ks:default --iso "$T/again.iso"
  cmp "$T/provision.iso" "$T/again.iso"
  # An ISO 9660 volume OCI-BOOT whose El Torito EFI image is an ESP with the keyset's shim as the
  # removable-media loader and its UKI beside it.
  xorriso -indev "$T/provision.iso" -pvd_info 2>/dev/null | grep -q "^Volume Id *: OCI-BOOT"
  xorriso -indev "$T/provision.iso" -report_el_torito plain 2>/dev/null | grep -q "El Torito boot img : *1 *UEFI"
  rm -rf "$T/iso"
  xorriso -osirrox on -indev "$T/provision.iso" -extract / "$T/iso" 2>/dev/null
  mcopy -i "$T/iso/boot/esp.img" ::EFI/BOOT/BOOTX64.EFI "$T/esp-shim.efi"
  mcopy -i "$T/iso/boot/esp.img" ::EFI/BOOT/grubx64.efi "$T/esp-uki.efi"
  cmp "$T/esp-shim.efi" "$KEYS/ks/bootkit/shim.efi"
  cmp "$T/esp-uki.efi" "$KEYS/ks/bootkit/kernel.efi"
  [ "$(jq -r .action "$T/iso/mos/boot.json")" = provision ]
  # The initramfs's tools, which the UKI's init mounts from the medium.
  cmp "$T/iso/mos/initrd-tools.squashfs" "$KEYS/ks/bootkit/initrd-tools.squashfs"
  # The live system verifies with the keyset's manifest CA and mounts from the medium as it lies
  # (read-only), not with another keyset's.
  mkdir -p "$T/ro" "$T/live"
  mount --bind "$T/iso" "$T/ro"
  mount -o remount,bind,ro "$T/ro"
  run mosctl mount -t livecd --ca "$KEYS/foreign/manifest-ca/cert.pem" --dest "$T/live" "oci:$T/ro/oci/machine/livecd:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"machine/livecd:1.0.0"* ]]
  mosctl mount -t livecd --ca "$KEYS/ks/manifest-ca/cert.pem" --dest "$T/live" "oci:$T/ro/oci/machine/livecd:1.0.0"
  [ -x "$T/live/usr/bin/mosctl" ] && [ -x "$T/live/sbin/init" ]
  grep -q "mosctl live-action" "$T/live/etc/mos/run-boot"
  mosctl umount --dest "$T/live"
  umount "$T/ro"
  # An install medium says what to install from where, and whether over plain HTTP (trust launch
  # boots one; the walkthrough test below).
  mosb -q mkboot --cdrom --plain-http ks:default "10.0.2.2:5000/machine/install:1.0.0" "$T/install.iso"
  rm -rf "$T/iso-install"
  xorriso -osirrox on -indev "$T/install.iso" -extract /mos "$T/iso-install" 2>/dev/null
  jq -e '.action == "install" and .install_url == "10.0.2.2:5000/machine/install:1.0.0" and .plain_http == true' "$T/iso-install/boot.json"
  mosb -q mkboot ks:default "registry.example:443/machine/install:1.0.0" "$T/install-tls.iso"
  rm -rf "$T/iso-install"
  xorriso -osirrox on -indev "$T/install-tls.iso" -extract /mos "$T/iso-install" 2>/dev/null
  jq -e '.install_url == "registry.example:443/machine/install:1.0.0" and .plain_http == false' "$T/iso-install/boot.json"
  # A keyset without a bootkit has no media; nothing is left behind.
  trust -q keyset add --no-bootkit nokit
  run mosb mkprovision --project nokit:default --iso "$T/nokit.iso"
  [ "$status" -ne 0 ]
  [[ "$output" == *"keyset nokit has no bootkit"* ]]
  [ ! -e "$T/nokit.iso" ]
  [ -z "$(ls -A "$T" | grep '^\.mos-media-')" ]
}

# fs_only_system NAME REPO: a system of keyset ks with one fs-only target (an image NAME in
# $T/src), published to REPO (a registry or oci:DIR) as machine/install:1.0.0.
fs_only_system() {
  mkdir -p "$T/$1"
  echo data > "$T/$1/file"
  mosb -q image build --from "$T/$1" --to "oci:$T/src:$1" > /dev/null
  printf 'version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: svc\n    source: oci:%s/src:%s\n    version: 1.0.0\n    service_type: fs-only\n' "$T" "$1" > "$T/$1.yaml"
  mosb -q manifest publish --project ks:default --repo "$2" --name machine/install:1.0.0 "$T/$1.yaml" > /dev/null
}

@test "trust launch checks before it makes anything, and removes what it made when a boot fails" {
  vm_tests_only_in_release
  start_mos_registry "$T/registry-l"
  fs_only_system svc5 "$MOS_REGISTRY"
  url="10.0.2.2:$MOS_REGISTRY_PORT/machine/install:1.0.0"
  sudis=$(trust sudi list ks default | wc -l)
  run trust launch --project ks:nosuch vmx "$url"
  [ "$status" -ne 0 ]
  run trust launch --project ks:default vmx "127.0.0.1:$MOS_REGISTRY_PORT/machine/install:1.0.0"
  [ "$status" -ne 0 ]
  [[ "$output" == *"reaches only this host, as 10.0.2.2:PORT"* ]]
  run trust launch --project foreign:default vmx "$url"
  [ "$status" -ne 0 ]
  [[ "$output" == *"machine/install:1.0.0"* ]]
  run trust launch --project ks:default vmx "10.0.2.2:$MOS_REGISTRY_PORT/machine/install:nosuch"
  [ "$status" -ne 0 ]
  machine init taken > /dev/null
  run trust launch --project ks:default taken "$url"
  [ "$status" -ne 0 ]
  [[ "$output" == *"machine taken already exists"* ]]
  machine delete -f taken > /dev/null
  # None of that made a VM or a SUDI.
  run machine info vmx
  [ "$status" -ne 0 ]
  [ "$(trust sudi list ks default | wc -l)" = "$sudis" ]
  # A boot that does not succeed in time: the VM and the SUDI go again; with --keep they stay.
  run trust launch --project ks:default --timeout 2 vmx "$url"
  [ "$status" -ne 0 ]
  [[ "$output" == *"the provisioning boot of vmx did not succeed within 2 s"* ]]
  run machine info vmx
  [ "$status" -ne 0 ]
  [ "$(trust sudi list ks default | wc -l)" = "$sudis" ]
  run trust launch --project ks:default --timeout 2 --keep vmx "$url"
  [ "$status" -ne 0 ]
  [[ "$output" == *"kept: machine vmx"* ]]
  machine info vmx > /dev/null
  [ "$(trust sudi list ks default | wc -l)" = $((sudis + 1)) ]
}

# console_login NAME: root logs in on the VM's serial console (a development keyset's hostfs);
# console_run NAME COMMAND then types COMMAND there. The console is fed through a fifo that
# stays open until console_close.
console_login() {
  rm -f "$T/console.in"
  mkfifo "$T/console.in"
  machine console "$1" < "$T/console.in" > /dev/null 2>&1 3>&- &
  CONSOLE_PID=$!
  exec 5> "$T/console.in"
  printf '\n' >&5
  wait_console "$1" "login: *$" 120
  printf 'root\n' >&5
  wait_console "$1" "Password:" 60
  printf 'passw0rd\n' >&5
  wait_console "$1" "~ # " 60
}
console_run() { printf '%s\n' "$2" >&5; }
console_close() {
  exec 5>&-
  wait "$CONSOLE_PID" 2> /dev/null || true
}

# zot_image DIR TAG [REPO]: the walkthrough's zot stand-in (our registry as a service) in the
# fetch_within SECONDS URL FILE: URL's body into FILE once it answers (FILE emptied first; the
# caller checks it), trying for up to SECONDS.
fetch_within() {
  local end=$((SECONDS + $1))
  rm -f "$3"
  until curl -fsS --max-time 5 "$2" > "$3" 2>/dev/null || [ $SECONDS -gt $end ]; do
    sleep 0.5
  done
}

# layout $T/src, its storage holding REPO (an image) when given: what /v2/_catalog then lists.
zot_image() {
  rm -rf "$1"
  MOS_REGISTRY="$MOS_BIN/mos-registry" "$MOS_SOURCE_DIR/examples/registry-service/make-rootfs.sh" "$1" > /dev/null
  [ -z "${3:-}" ] || mosb -q oci copy "oci:$T/src:svc5" "oci:$1/var/lib/registry/$3:1" > /dev/null
  mosb -q image build --from "$1" --to "oci:$T/src:$2" \
    --entrypoint '["/usr/bin/mos-registry","serve","/etc/mos-registry/config.json"]'
}

@test "the README's walkthrough to its last line (trust launch, vm1's zot on 127.0.0.1:28080); then an update switches it and a reboot keeps it; a tampered layer is refused by the install boot" {
  vm_tests_only_in_release
  # The README's blocks as written, the walkthrough's and then trust launch's, as the demo runs
  # them: registry, stacker-built zot image, snakeoil, publish, install, then vm1 launched from
  # the registry with --start, and its zot's answer on 127.0.0.1:28080; the VM and registry
  # stopped.
  port=$(free_port)
  SECONDS=0
  run timeout 840 "$MOS_SOURCE_DIR/scripts/readme-walkthrough.sh" --launch "$T/w" "$port"
  [ "$status" -eq 0 ] || { echo "$output" | tail -60; false; }
  echo "# the README's walkthrough and launch: $SECONDS s" >&3
  [[ "$output" == *"forwarded 127.0.0.1:28080 -> vm1:80"* ]]
  [[ "$output" == *"machine vm1 is installed and started (SUDI "* ]]
  # The provisioning boot made the factory partitions (the SBF's ext4 through the guest's
  # dm-crypt), the install boot kept them.
  [[ "$output" == *"vm1: factory partitions on /dev/"*": PBF (pcr7data), SBF (LUKS2, ext4 inside)"* ]]
  url="10.0.2.2:$port/machine/install"
  [[ "$output" == *"vm1: $url:1.0.0 on /dev/"*", its factory partitions kept"* ]]
  [[ "$output" == *"until curl -fsS http://127.0.0.1:28080/v2/"*"{}"* ]]
  # The registry again, as the README left it, for the rest.
  mos-registry serve "$T/w/checkout/examples/zot-config.json" > "$T/w/registry-again.log" 2>&1 &
  echo $! >> "$BATS_FILE_TMPDIR/registry-pids"
  wait_for_http "http://127.0.0.1:$port/v2/" "$!"
  disk=$(machine info vm1 | grep -o '[^ "]*vm1\.qcow2' | head -n 1)
  qemu-img convert -U -O raw "$disk" "$T/vm1.raw"
  [ "$(sfdisk -J "$T/vm1.raw" | jq -r '[.partitiontable.partitions[].name] | join(" ")')" = "pbf sbf esp machine-config machine-store machine-scratch" ]
  rm -f "$T/vm1.raw"
  [ -s "$KEYS/snakeoil/artifacts/provision.iso" ] && [ -s "$KEYS/snakeoil/artifacts/install.iso" ]
  run machine info vm1
  [[ "$output" == *"boot: hdd"* ]]
  [[ "$output" == *'cdrom: ""'* ]]
  [[ "$output" == *"description: A fresh VM booting trust LiveCD in SecureBoot mode with TPM"* ]]
  [[ "$output" == *"port: 28080"* ]]
  timeout 120 machine start vm1 --wait > /dev/null
  wait_console vm1 "mosctl boot: up" 300
  # Its disk's boot: the identity the provisioning boot sealed in its TPM, read under the
  # keyset's PCR7 policy; the installed hostfs under dm-verity. (Each medium's boot succeeded:
  # launch returns only when their consoles said so.)
  wait_console vm1 "mos-initramfs: TPM: the machine's identity read" 10
  wait_console vm1 "mos-initramfs: hostfs: sha256:[0-9a-f]*, every layer under dm-verity" 10
  # The service starts after boot is up: up to 120 s for its answer through both forwards.
  fetch_within 120 http://127.0.0.1:28080/v2/ "$T/v2"
  [ "$(cat "$T/v2")" = "{}" ] || { tail -c 4000 "$(run_dir vm1)/console.log" | tr -d '\r'; false; }
  curl -fsS http://127.0.0.1:28080/v2/_catalog | jq -e '.repositories == []'
  # An update inside the machine to a zot image that holds one repository (1.0.1 is the README's
  # own): the service restarts in its new version, the port stays.
  mkdir -p "$T/svc5"
  echo data > "$T/svc5/file"
  mosb -q image build --from "$T/svc5" --to "oci:$T/src:svc5" > /dev/null
  zot_image "$T/zot2" zot2 hello
  sed -e "s|docker://127.0.0.1:5000/machine/bootkit/demo-zot:0.0.4-squashfs|oci:$T/src:zot2|" \
    -e "s|version: 1.0.0|version: 1.0.2|" "$MOS_SOURCE_DIR/examples/manifest.yaml" > "$T/zot-1.0.2.yaml"
  mosb -q manifest publish --project snakeoil:default --repo "127.0.0.1:$port" --name machine/install:1.0.2 "$T/zot-1.0.2.yaml" > /dev/null
  console_login vm1
  # Debian's 6.1 kernel cannot idmap squashfs: the service runs unprivileged in its nsgroup's
  # range over a copy with shifted owners, under mosctl-boot, its monitor become the container
  # reaper, in the cgroup boot named for it, confined by LXC's default container profile, which
  # the hostfs loaded precompiled (Debian's kernel has AppArmor).
  console_run vm1 'echo "svc: $(uname -r) $(cat /proc/$(pidof mos-registry)/uid_map) $(ls /scratch-writes/shifted) $(readlink /proc/$(cat /run/mos-hostfs/boot.pid)/exe) $(pidof mos-container-reaper > /dev/null && echo reaper) $(ls -d /sys/fs/cgroup/mos.payload.*.zot | wc -l) $(cat /proc/$(pidof mos-registry)/attr/apparmor/current)"'
  wait_console vm1 "svc: 6\.1\.[^ ]+ +0 +[1-9][0-9]* +[0-9]+ zot /usr/libexec/mos/mosctl-boot reaper 1 lxc-container-default-cgns \\(enforce\\)" 30
  console_run vm1 "mosctl update --plain-http $url:1.0.2"
  wait_console vm1 "service zot started \(version 1.0.2\)" 300
  console_close
  # (Had the old version's cgroups stayed, liblxc could not have made the new one's, of the same
  # names: the answer shows boot removed them.)
  fetch_within 120 http://127.0.0.1:28080/v2/_catalog "$T/catalog"
  jq -e '.repositories == ["hello"]' "$T/catalog"
  # The plug pulled and the machine started again: it boots the updated system, whose first boot
  # is counted (a boot trial) and confirmed once it is up.
  machine stop -f vm1 > /dev/null
  timeout 120 machine start vm1 --wait > /dev/null
  wait_console vm1 "boot trial: first boot of the system" 300
  wait_console vm1 "boot trial: the system [0-9a-f]+ came up; it stays" 300
  fetch_within 120 http://127.0.0.1:28080/v2/_catalog "$T/catalog"
  jq -e '.repositories == ["hello"]' "$T/catalog"
  machine stop -f vm1 > /dev/null
  # One byte of the service's layer changed in the registry: the machine's install boot (its
  # install medium again) refuses it, naming the layer.
  layer=$(curl -fsS -H "Accept: application/vnd.oci.image.manifest.v1+json" \
    "http://127.0.0.1:$port/v2/machine/bootkit/demo-zot/manifests/0.0.4-squashfs" | jq -r '.layers[-1].digest')
  blob="$T/w/zot/machine/bootkit/demo-zot/blobs/sha256/${layer#sha256:}"
  [ -f "$blob" ]
  flip_byte "$blob" 5000
  machine info vm1 | sed -e "s|^  boot: hdd|  boot: cdrom|" -e "s|^  cdrom: \"\"|  cdrom: $KEYS/snakeoil/artifacts/install.iso|" \
    -e '/^status:/d' > "$T/vm1.yaml"
  machine edit vm1 -f "$T/vm1.yaml" > /dev/null
  timeout 120 machine start vm1 --wait > /dev/null
  wait_console vm1 "mos-livecd: FAILED: .*${layer#sha256:}" 300
  # Its live system ran with PCR7 extended: the TPM's secrets were closed to it.
  wait_console vm1 "mos-initramfs: TPM: PCR7 extended, the secrets closed for the live system" 10
}
