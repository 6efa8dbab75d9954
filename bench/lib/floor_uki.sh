# Shared by the boot benchmarks (boot.sh, launch.sh): the floor the firmware sets, a minimal UKI
# of the keyset's own stub and kernel with a busybox initramfs, signed by its uefi-db and booted
# straight from an ESP. Sourced; every function returns non-zero on failure.

# floor_uki STUB KERNEL CMDLINE CPIO KEYSET_DIR OUT: the UKI, each section at the next 4 KiB
# boundary after the stub's last one (what our own UKI code computes; objcopy here, as a second
# opinion), signed with KEYSET_DIR's uefi-db into OUT.
floor_uki() {
  local stub=$1 kernel=$2 cmdline=$3 cpio=$4 keyset=$5 out=$6 dir end e vma sec file size part
  dir=$(mktemp -d)
  printf '%s' "$cmdline" > "$dir/cmdline"
  printf 'ID=bench\n' > "$dir/osrel"
  end=0
  while read -r _ _ size vma _; do
    [[ "$size" =~ ^[0-9a-f]{8}$ && "$vma" =~ ^[0-9a-f]{16}$ ]] || continue
    e=$((16#$size + 16#$vma)); [ "$e" -gt "$end" ] && end=$e
  done < <(objdump -h "$stub")
  local args=()
  for part in osrel:"$dir/osrel" cmdline:"$dir/cmdline" linux:"$kernel" initrd:"$cpio"; do
    sec=${part%%:*} file=${part#*:}
    vma=$(( (end + 4095) / 4096 * 4096 ))
    args+=(--add-section ".$sec=$file" --change-section-vma ".$sec=$(printf '0x%x' "$vma")")
    end=$((vma + $(stat -c %s "$file")))
  done
  objcopy "${args[@]}" "$stub" "$dir/uki.efi" &&
    sbsign --key "$keyset/uefi-db/privkey.pem" --cert "$keyset/uefi-db/cert.pem" \
      --output "$out" "$dir/uki.efi" 2>/dev/null
  local rc=$?
  rm -rf "$dir"
  return $rc
}

# esp_image IMAGE FILE:NAME...: a FAT ESP with each FILE as \EFI\BOOT\NAME.
esp_image() {
  local img=$1 f
  shift
  rm -f "$img"
  mkfs.vfat -C "$img" $((96 * 1024)) >/dev/null && mmd -i "$img" ::EFI ::EFI/BOOT || return 1
  for f in "$@"; do mcopy -i "$img" "${f%%:*}" "::EFI/BOOT/${f#*:}" || return 1; done
}
