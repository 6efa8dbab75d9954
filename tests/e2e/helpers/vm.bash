# Helpers of the files that boot VMs with `machine` (machine.bats, bootkit.bats): HOME is the
# test's, so every machine lives under it.

# VM boots take 10–20 s each under TCG: they run in the release build only.
vm_tests_only_in_release() {
  if [ "${MOS_SANITIZED:-}" = 1 ] || [ "${MOS_SANITIZED:-}" = true ]; then
    skip "VM boots run in the release build only"
  fi
}

run_dir() { echo "$HOME/.local/state/machine/machines/$1/$1"; }

# wait_console NAME REGEX [SECONDS]: until the VM's console log has a line matching REGEX
# (grep -E), up to SECONDS (120); else its log's tail and failure.
wait_console() {
  local name=$1 regex=$2 seconds=${3:-120} log
  log="$(run_dir "$name")/console.log"
  for _ in $(seq $((seconds * 10))); do
    grep -aEq "$regex" "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no line matching '$regex' on the console of $name within $seconds s:"
  tail -c 3000 "$log" 2>/dev/null | tr -d '\r'
  return 1
}

# Stops every machine of this HOME (a test's leftovers), pulling the plug.
stop_all_machines() {
  local name
  for name in $(machine list 2>/dev/null | awk 'NR > 2 {print $1}'); do
    machine stop -f "$name" >/dev/null 2>&1 || true
  done
}

# The files that boot a keyset's machines (bootkit.bats, boot_media.bats) share these: their
# keyset is ks (KEYS is the keys directory) and its project default has the SUDI SN1.

# keyset_test_home: this file's HOME (keys, machines, runtime dir) under its temp dir, and KEYS.
keyset_test_home() {
  export T="$BATS_FILE_TMPDIR"
  export HOME="$T/home" XDG_DATA_HOME="" XDG_CONFIG_HOME="" XDG_STATE_HOME="" XDG_CACHE_HOME=""
  export XDG_RUNTIME_DIR="$T/run" PATH="$MOS_BIN:$PATH"
  mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  export KEYS="$HOME/.local/share/machine/trust/keys"
}

# provision_tpm NAME: the VM's TPM, manufactured by machine's first start (stopped at once),
# then provisioned from this host as the machine's provisioning boot does (mosctl provision:
# SN1's SUDI certificate and key and a disk passphrase in NV, under ks's signed policies).
provision_tpm() {
  local state port pid
  state="$(run_dir "$1")/tpm"
  timeout 120 machine start "$1" --wait > /dev/null
  machine stop -f "$1" > /dev/null
  port=$(free_port)
  swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$state" \
    --flags not-need-init,startup-clear 3>&- &
  pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  mosctl provision --tpm "swtpm:host=127.0.0.1,port=$port" --pcr7data "$KEYS/ks/pcr7data" \
    "$KEYS/ks/manifest/default/sudi/SN1/cert.pem" "$KEYS/ks/manifest/default/sudi/SN1/privkey.pem"
  kill "$pid"
  wait "$pid" || true
}

# installed_disk IMG REF: a GPT disk as a machine of keyset ks has it — the ESP (shim and UKI)
# and the machine-config, machine-store and machine-scratch partitions (partition names and
# filesystem labels) — with the system REF installed on it from this host. (This host's loop
# driver makes no partition devices: one loop device per partition, by offset.)
installed_disk() {
  local img=$1 ref=$2 root="$T/inst" start size name l d
  rm -f "$img"
  truncate -s 768M "$img"
  printf 'label: gpt\nsize=96MiB, type=uefi, name=efi\nsize=32MiB, name=machine-config\nsize=384MiB, name=machine-store\nname=machine-scratch\n' |
    sfdisk -q "$img"
  rm -rf "$root"
  : > "$T/loops"
  while read -r start size name; do
    l=$(losetup --find --show --offset $((start * 512)) --sizelimit $((size * 512)) "$img")
    echo "$l" >> "$T/loops"
    case $name in
      efi)
        mkfs.vfat -n ESP "$l" >/dev/null
        mmd -i "$l" ::EFI ::EFI/BOOT
        mcopy -i "$l" "$KEYS/ks/bootkit/shim.efi" ::EFI/BOOT/BOOTX64.EFI
        mcopy -i "$l" "$KEYS/ks/bootkit/kernel.efi" ::EFI/BOOT/grubx64.efi
        mcopy -i "$l" "$KEYS/ks/bootkit/initrd-tools.squashfs" ::EFI/BOOT/initrd-tools.squashfs ;;
      *)
        d=${name#machine-}
        [ "$d" = store ] && d=atomfs-store
        [ "$d" = scratch ] && d=scratch-writes
        mkfs.ext4 -q -L "$name" "$l"
        mkdir -p "$root/$d"
        mount "$l" "$root/$d" ;;
    esac
  done < <(sfdisk -J "$img" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size) \(.name)"')
  mosctl -q install --root "$root" --ca "$KEYS/ks/manifest-ca/cert.pem" "$ref" > /dev/null
}

# Undoes installed_disk's mounts and loop devices.
release_disk() {
  local d l
  for d in config atomfs-store scratch-writes; do umount "$T/inst/$d" 2>/dev/null || true; done
  [ -f "$T/loops" ] || return 0
  while read -r l; do losetup -d "$l" 2>/dev/null || true; done < "$T/loops"
  : > "$T/loops"
}

