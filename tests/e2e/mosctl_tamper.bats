#!/usr/bin/env bats
# Every tampering case of install manifest verification, at install time (on an empty root) and
# at update time (on an installed root): mosctl refuses with a message naming the check, and the
# target root is byte for byte what it was (tree hash of every path, mode and content). A target
# whose layer is corrupted in the source passes verification but fails the verified copy: the
# system stays as it was and the bad bytes never enter the store.

load helpers/mosctl

# tamper_case NAME: a layout $MOS_FX/pub/tamper-NAME holding install manifest :1 (beside pub/mos).
tamper_layout() { echo "$MOS_FX/pub/tamper-$1"; }

setup_file() {
  mos_fixtures "$BATS_FILE_TMPDIR"
  local fx=$MOS_FX cert=$MOS_KEYS/manifest/default/cert.pem key=$MOS_KEYS/manifest/default/privkey.pem
  local good=$fx/install-2.json
  # The signature is over other bytes.
  MOS_SIGN_FILE=$fx/install-1.json mos_publish_layout "$(tamper_layout signature)" 1 "$good" "$cert" "$key"
  # install.json edited after signing (a target version bumped).
  sed 's/"version":"2.0.0"/"version":"2.0.1"/' "$good" > "$fx/edited.json"
  MOS_SIGN_FILE=$good mos_publish_layout "$(tamper_layout edited)" 1 "$fx/edited.json" "$cert" "$key"
  # Signed by a keyset whose CA the machine does not trust.
  mos_publish_layout "$(tamper_layout foreign)" 1 "$good" "$MOS_FOREIGN/manifest/default/cert.pem" \
    "$MOS_FOREIGN/manifest/default/privkey.pem"
  # Signed by the right CA for another product (the machine's product file names default's).
  local other; other=$(cat "$MOS_KEYS/manifest/other/uuid")
  sed "s/$MOS_PRODUCT/$other/" "$good" > "$fx/other.json"
  mos_publish_layout "$(tamper_layout product)" 1 "$fx/other.json" "$MOS_KEYS/manifest/other/cert.pem" \
    "$MOS_KEYS/manifest/other/privkey.pem"
  # A certificate of the right CA and product without the code-signing usage.
  mos_issue_cert "$fx/nocs" "manifest PRODUCT:$MOS_PRODUCT" ""
  mos_publish_layout "$(tamper_layout nocodesigning)" 1 "$good" "$fx/nocs/cert.pem" "$fx/nocs/privkey.pem"
  # An expired certificate.
  mos_issue_cert "$fx/expired" "manifest PRODUCT:$MOS_PRODUCT" codeSigning 20200101000000Z 20210101000000Z
  mos_publish_layout "$(tamper_layout expired)" 1 "$good" "$fx/expired/cert.pem" "$fx/expired/privkey.pem"
  # A target digest the target repository does not have.
  sed "s/${A2_D#sha256:}/$(printf '%064d' 7)/" "$good" > "$fx/unknown.json"
  mos_publish_layout "$(tamper_layout unknowntarget)" 1 "$fx/unknown.json" "$cert" "$key"
  # A target size that is not the image manifest's.
  sed "s/\"size\":$A2_S}/\"size\":$((A2_S + 1))}/" "$good" > "$fx/size.json"
  mos_publish_layout "$(tamper_layout size)" 1 "$fx/size.json" "$cert" "$key"
  # A signed install.json of an unknown version.
  sed 's/^{"version":1,/{"version":2,/' "$good" > "$fx/v2.json"
  mos_publish_layout "$(tamper_layout version)" 1 "$fx/v2.json" "$cert" "$key"
  # The install.json blob replaced in the layout after publishing.
  mos_publish_layout "$(tamper_layout blob)" 1 "$good" "$cert" "$key"
  cp "$fx/edited.json" "$(tamper_layout blob)/blobs/sha256/$(sha256sum "$good" | cut -d' ' -f1)"
  # No signature referrer; no certificate referrer.
  for kind in signature pubkeycrt; do
    mos_publish_layout "$(tamper_layout no$kind)" 1 "$good" "$cert" "$key"
    jq -c --arg t "application/vnd.machine.$kind" '.manifests |= map(select(.artifactType != $t))' \
      "$(tamper_layout no$kind)/index.json" > "$fx/index.tmp"
    mv "$fx/index.tmp" "$(tamper_layout no$kind)/index.json"
  done
  # A plain image where the install manifest should be.
  mos_make_image "$(tamper_layout notinstall)" 1 "$fx/A1.bin" >/dev/null
  # A target whose layer is corrupted in the source (same size, other bytes).
  head -c 5000 /dev/urandom > "$fx/E1.bin"
  read -r E1_D E1_S < <(mos_make_image "$fx/pub/mos" E1 "$fx/E1.bin")
  layer=$(jq -r '.layers[0].digest' "$fx/pub/mos/blobs/sha256/${E1_D#sha256:}")
  export E1_LAYER=${layer#sha256:}
  head -c "$(stat -c %s "$fx/pub/mos/blobs/sha256/$E1_LAYER")" /dev/zero > "$fx/pub/mos/blobs/sha256/$E1_LAYER"
  mos_install_json "$MOS_PRODUCT" complete null "$(mos_target_json hostfs 4.0.0 "$E1_D" "$E1_S" "" hostfs)" > "$fx/corrupt.json"
  mos_publish_layout "$(tamper_layout corruptlayer)" 1 "$fx/corrupt.json" "$cert" "$key"
}

setup() {
  M=$MOS_BIN/mosctl
  FRESH=$BATS_TEST_TMPDIR/fresh
  mos_new_root "$FRESH"
  INSTALLED=$BATS_TEST_TMPDIR/installed
  mos_new_root "$INSTALLED"
  "$M" install -r "$INSTALLED" "oci:$MOS_FX/pub/install:1.0.0"
}

# refused NAME PATTERN: install and update from tamper-NAME fail with PATTERN in the message and
# leave both roots exactly as they were.
refused() {
  local name=$1 pattern=$2 root before
  for root in "$FRESH" "$INSTALLED"; do
    before=$(mos_tree_hash "$root")
    if [ "$root" = "$FRESH" ]; then
      run "$M" install -r "$root" "oci:$(tamper_layout "$name"):1"
    else
      run "$M" update -r "$root" "oci:$(tamper_layout "$name"):1"
    fi
    [ "$status" -eq 1 ] || { echo "$name: accepted: $output"; false; }
    [[ "$output" == *$pattern* ]] || { echo "$name: unexpected message: $output"; false; }
    [ "$(mos_tree_hash "$root")" = "$before" ] || { echo "$name: the root changed"; false; }
  done
}

@test "a signature over other bytes is refused" { refused signature "signature does not match"; }
@test "an install.json edited after signing is refused" { refused edited "signature does not match"; }
@test "a certificate of an untrusted CA is refused" { refused foreign "not signed by the trusted CA"; }
@test "a certificate for another product is refused" { refused product "for product"; }
@test "a certificate without code signing is refused" { refused nocodesigning "code-signing"; }
@test "an expired certificate is refused" { refused expired "expired"; }
@test "a target the repository does not have is refused" { refused unknowntarget "is not available in"; }
@test "a target of the wrong size is refused" { refused size "but the signed manifest says"; }
@test "an install.json of an unknown version is refused" { refused version "version"; }
@test "an install.json blob replaced in the layout is refused" { refused blob "digest"; }
@test "a missing signature is refused" { refused nosignature "no signature referrer"; }
@test "a missing certificate is refused" { refused nopubkeycrt "no certificate referrer"; }
@test "an image that is not an install manifest is refused" { refused notinstall "not an install manifest"; }

@test "a target corrupted in the source fails its copy; the system and store stay sound" {
  run "$M" install -r "$FRESH" "oci:$(tamper_layout corruptlayer):1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"hostfs"*"digest"* ]] || { echo "$output"; false; }
  [ "$("$M" status -r "$FRESH" --json | jq -r .installed)" = false ]
  [ ! -e "$FRESH/atomfs-store/mos/blobs/sha256/$E1_LAYER" ]
  before=$(mos_targets "$INSTALLED")
  run "$M" update -r "$INSTALLED" "oci:$(tamper_layout corruptlayer):1"
  [ "$status" -eq 1 ]
  [ "$(mos_targets "$INSTALLED")" = "$before" ]
  [ ! -e "$INSTALLED/atomfs-store/mos/blobs/sha256/$E1_LAYER" ]
  # The next good update goes through.
  "$M" update -r "$INSTALLED" "oci:$MOS_FX/pub/install:2.0.0"
  [ "$(mos_targets "$INSTALLED")" = "hostfs=2.0.0@$A2_D web=1.0.0@$C1_D" ]
}
