#!/usr/bin/env bats
# trust's TPM side of a keyset: PCR7 prediction (computePCR7), the EA policy digests
# (tpm-policy-gen) and the signed pcr7data with its cpio (keyset pcr7data, keyset add), checked
# against the original's snakeoil keyset (original-trust.md §9) and with openssl, cpio and bsdtar.

load helpers/trust

PROD=e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8
LIMITED=cecf0859d0c82f9b074d48d300cc83dae05df98da4144f4beaef88faf967f38c
TPM=254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0

setup() {
  trust_setup_home
  export XDG_DATA_HOME="$BATS_TEST_TMPDIR/xdg"
  KEYS="$XDG_DATA_HOME/machine/trust/keys"
  mkdir -p "$KEYS"
  cp -r "$MOS_SOURCE_DIR/tests/fixtures/snakeoil-keyset" "$KEYS/snakeoil"
  cd "$BATS_TEST_TMPDIR"
}

# The values computePCR7 prints for KEYSET, as shell variables p, l, t.
values_of() {
  local out
  out=$("$TRUST" computePCR7 "$@")
  p=$(sed -n 's/^uki-production: //p' <<<"$out")
  l=$(sed -n 's/^uki-limited: //p' <<<"$out")
  t=$(sed -n 's/^uki-tpm: //p' <<<"$out")
}

# "XX/YYYY…": the index directory of a value (byte pairs swapped).
index_of() { sed -E 's/(..)(..)/\2\1/g; s/^(..)/\1\//' <<<"$1"; }

@test "computePCR7 reproduces the original's snakeoil values" {
  run "$TRUST" computePCR7 snakeoil
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'uki-production: %s\nuki-limited: %s\nuki-tpm: %s' $PROD $LIMITED $TPM)" ]
  # The original's directory names are the same values, byte pairs swapped.
  for v in $PROD $LIMITED $TPM; do
    [ -d "$KEYS/snakeoil/pcr7data/policy-2/$(index_of $v)" ]
  done
  [ "$(od -An -tx1 "$KEYS/snakeoil/pcr7data/policy-2/$(index_of $LIMITED)/pcr_tpm.bin" | tr -d ' \n')" = $TPM ]
}

@test "computePCR7: the explicit inputs, and the events" {
  run "$TRUST" computePCR7 snakeoil --sbat-level 'sbat,1,2021030218\n' --mok-list-trusted 01 \
    --dbx e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 \
    --dbx-owner a0baa8a3-041d-48a8-bc87-c36d121b5e3d --uki-authority vendor-db
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "uki-production: $PROD" ]
  run "$TRUST" computePCR7 snakeoil --mok-list-trusted none
  [ "$status" -eq 0 ]
  [ "${lines[0]}" != "uki-production: $PROD" ]
  run "$TRUST" computePCR7 snakeoil --events
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 16 ]  # 3 values, a title, 9 common events, 3 last events
  [[ "${lines[4]}" == "  1 80000001 "*" SecureBoot (EFI_GLOBAL_VARIABLE): 01 (enabled)" ]]
  [[ "${lines[11]}" == "  8 800000e0 "*" SbatLevel (SHIM_LOCK): sbat,1,2021030218\n" ]]
  [[ "${lines[13]}" == " 10 800000e0 "*"vendor_db"*"-> uki-production" ]]
  run "$TRUST" computePCR7 snakeoil --mok-list-trusted 2
  [ "$status" -eq 1 ]
  [[ "$output" == *"expected 01, 00 or none"* ]]
  run "$TRUST" computePCR7 nosuch
  [ "$status" -eq 1 ]
  [[ "$output" == *"keyset nosuch not found"* ]]
}

@test "computePCR7 --shim reads the SbatLevel of Debian's shim" {
  shim=/usr/lib/shim/shimx64.efi
  [ -f "$shim" ] || skip "shim-unsigned is not installed"
  values_of snakeoil --sbat-level 'sbat,1,2025021800\nshim,4\ngrub,5\n'
  expected=$p
  values_of snakeoil --shim "$shim"
  [ "$p" = "$expected" ]
  values_of snakeoil --shim "$shim" --shim-level latest
  [ "$p" != "$expected" ]
  run "$TRUST" computePCR7 snakeoil --shim "$MOS_SOURCE_DIR/README.md"
  [ "$status" -eq 1 ]
  [[ "$output" == *"is not an EFI (PE/COFF) image"* ]]
}

@test "tpm-policy-gen writes the §9 digests and can be rerun" {
  "$TRUST" tpm-policy-gen --pcr7-tpm $TPM --pcr7-production $PROD
  [ "$(od -An -tx1 passwd_policy.out | tr -d ' \n')" = 661c53997a9fd257a02caa432d5016d0c4f8206cb0bebd8427f820ecf61c4ef2 ]
  [ "$(od -An -tx1 luks_policy.out | tr -d ' \n')" = 0cd1cdf3b39007cf9f006a8e787b04cd451c31d69d5f0ac2aebbdbedf1d714cc ]
  [ "$(stat -c %a passwd_policy.out)" = 644 ]
  # The original's signatures verify over these bytes, with openssl.
  d="$KEYS/snakeoil/pcr7data/policy-2"
  openssl dgst -sha256 -verify "$d/pubkeys/tpmpass-snakeoil.pem" \
    -signature "$d/$(index_of $TPM)/tpm_passwd.policy.signed" passwd_policy.out
  openssl dgst -sha256 -verify "$d/pubkeys/luks-snakeoil.pem" \
    -signature "$d/$(index_of $PROD)/tpm_luks.policy.signed" luks_policy.out
  # Again, from the original's raw value files, into other files.
  limited_dir="$d/$(index_of $LIMITED)"
  run "$TRUST" tpm-policy-gen --pcr7-tpm "$limited_dir/pcr_tpm.bin" \
    --pcr7-production "$limited_dir/pcr_prod.bin" --pf p.out --lf l.out --pv 0001
  [ "$status" -eq 0 ]
  cmp p.out passwd_policy.out
  cmp l.out luks_policy.out
  run "$TRUST" tpm-policy-gen --pcr7-tpm $TPM --pcr7-production $PROD
  [ "$status" -eq 0 ]
  run "$TRUST" tpm-policy-gen --pcr7-tpm $TPM --pcr7-production $PROD --pv 01
  [ "$status" -eq 1 ]
  [[ "$output" == *"must be exactly four digits"* ]]
  run "$TRUST" tpm-policy-gen --pcr7-tpm nosuchfile --pcr7-production $PROD
  [ "$status" -eq 1 ]
  [[ "$output" == *"--pcr7-tpm 'nosuchfile' is neither 64 hex digits nor a readable file"* ]]
}

@test "keyset add makes the keyset's predicted pcr7data and its cpio" {
  "$TRUST" -q keyset add --no-bootkit acme
  ks="$KEYS/acme"
  values_of acme
  for v in $p $l $t; do
    [ -f "$ks/pcr7data/policy-2/$(index_of $v)/info.json" ]
  done
  grep -q '"key_type":"production"' "$ks/pcr7data/policy-2/$(index_of $p)/info.json"
  [ -f "$ks/pcr7data/policy-2/pubkeys/tpmpass-acme.pem" ]
  "$TRUST" -q tpm-policy-gen --pcr7-tpm $t --pcr7-production $p
  openssl dgst -sha256 -verify "$ks/pcr7data/policy-2/pubkeys/tpmpass-acme.pem" \
    -signature "$ks/pcr7data/policy-2/$(index_of $t)/tpm_passwd.policy.signed" passwd_policy.out
  openssl dgst -sha256 -verify "$ks/pcr7data/policy-2/pubkeys/luks-acme.pem" \
    -signature "$ks/pcr7data/policy-2/$(index_of $p)/tpm_luks.policy.signed" luks_policy.out
  # The cpio lists the tree as `find pcr7data | cpio -H newc` of the original would.
  [ "$(cpio -it --quiet <"$ks/pcr7data.cpio" | sort)" = "$(cd "$ks" && find pcr7data | sort)" ]
}

@test "keyset pcr7data on a keyset trust made: twice, the cpio follows, other values are kept" {
  "$TRUST" -q keyset add --no-bootkit acme
  ks="$KEYS/acme"
  values_of acme
  "$TRUST" -q tpm-policy-gen --pcr7-tpm $t --pcr7-production $p
  run "$TRUST" keyset pcr7data acme --pcr7-tpm $t --pcr7-limited $l --pcr7-prod $p \
    --passwdPolicy passwd_policy.out --luksPolicy luks_policy.out
  [ "$status" -eq 0 ]
  [[ "$output" == "Wrote pcr7data of keyset acme (limited $(index_of $l | cut -c1-11), "* ]]
  before=$(tree_snapshot "$ks/pcr7data")
  # The rerun (the original's 0400 policy files made it fail).
  printf '%b' "$(sed 's/../\\x&/g' <<<"$l")" >limited.bin
  run "$TRUST" keyset pcr7data acme --pcr7-tpm $t --pcr7-limited limited.bin --pcr7-prod $p
  [ "$status" -eq 0 ]
  [ "$(tree_snapshot "$ks/pcr7data")" = "$before" ]
  # Values measured on another machine are added beside the predicted ones.
  other_t=$(sed 's/^../00/' <<<"$t"); other_l=$(sed 's/^../00/' <<<"$l"); other_p=$(sed 's/^../00/' <<<"$p")
  "$TRUST" -q keyset pcr7data acme --pcr7-tpm $other_t --pcr7-limited $other_l --pcr7-prod $other_p
  for v in $p $l $t $other_p $other_l $other_t; do
    [ -d "$ks/pcr7data/policy-2/$(index_of $v)" ]
  done
  [ "$(bsdtar -tf "$ks/pcr7data.cpio" | sort)" = "$(cd "$ks" && find pcr7data | sort)" ]
  cpio -it --quiet <"$ks/pcr7data.cpio" | grep -qx "pcr7data/policy-2/$(index_of $other_l)/pcr_limited.bin"
  [ "$(bsdtar -tvf "$ks/pcr7data.cpio" | awk '{print $3 $4}' | sort -u)" = 00 ]  # owner 0:0
  [ "$(ls -A "$ks" | grep -c '^\.')" -eq 0 ]  # no staging directory left
}

@test "keyset pcr7data refuses a policy of another value, and a keyset without TPM keys" {
  "$TRUST" -q keyset add --no-bootkit acme
  values_of acme
  before=$(tree_snapshot "$KEYS/acme")
  "$TRUST" -q tpm-policy-gen --pcr7-tpm $l --pcr7-production $p
  run "$TRUST" keyset pcr7data acme --pcr7-tpm $t --pcr7-limited $l --pcr7-prod $p \
    --passwdPolicy passwd_policy.out
  [ "$status" -eq 1 ]
  [[ "$output" == *"--passwdPolicy passwd_policy.out holds "*"(made for another PCR7 value?)"* ]]
  run "$TRUST" keyset pcr7data acme --pcr7-tpm $t --pcr7-limited $t --pcr7-prod $p
  [ "$status" -eq 1 ]
  [[ "$output" == *"same PCR7 value"* ]]
  [ "$(tree_snapshot "$KEYS/acme")" = "$before" ]
  # The snakeoil copy has certificates only: nothing to sign with.
  before=$(tree_snapshot "$KEYS/snakeoil")
  run "$TRUST" keyset pcr7data snakeoil --pcr7-tpm $TPM --pcr7-limited $LIMITED --pcr7-prod $PROD
  [ "$status" -eq 1 ]
  [[ "$output" == *"tpmpol-admin/privkey.pem"* ]]
  [ "$(tree_snapshot "$KEYS/snakeoil")" = "$before" ]
}
