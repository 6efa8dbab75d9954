#!/usr/bin/env bats
# mosctl on a target root from oci: layouts: install, complete and partial updates, anti-rollback,
# rollback, gc, locking, and every verification tampering case at install and update time
# leaving the target byte for byte as it was.

load helpers/mosctl

setup_file() {
  mos_fixtures "$BATS_FILE_TMPDIR"
}

setup() {
  R=$BATS_TEST_TMPDIR/root
  mos_new_root "$R"
  M=$MOS_BIN/mosctl
  PUB=$MOS_FX/pub/install
}

@test "install from an oci: layout records a verified system in git and the store" {
  run "$M" install -r "$R" "oci:$PUB:1.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "hostfs=1.0.0@$A1_D svc=1.0.0@$B1_D" ]
  sha=$(sha256sum "$MOS_FX/install-1.json" | cut -d' ' -f1)
  # The original's layout: the triple and manifest.json in a git work tree, history by machine.
  cmp "$R/config/manifest.git/$sha.json" "$MOS_FX/install-1.json"
  cmp "$R/config/manifest.git/$sha.pem" "$MOS_KEYS/manifest/default/cert.pem"
  openssl dgst -sha256 -verify <(openssl x509 -in "$R/config/manifest.git/$sha.pem" -pubkey -noout) \
    -signature "$R/config/manifest.git/$sha.json.signed" "$R/config/manifest.git/$sha.json"
  [ "$(git -C "$R/config/manifest.git" log --format='%an <%ae>' master)" = "machine <root@machine.local>" ]
  [ -z "$(git -C "$R/config/manifest.git" status --porcelain)" ]
  [ -d "$R/scratch-writes" ]
  # The store is a layout other tools read; images are tagged with their digest's hex.
  skopeo inspect --raw "oci:$R/atomfs-store/mos:${A1_D#sha256:}" | sha256sum | grep -q "${A1_D#sha256:}"
  umoci stat --image "$R/atomfs-store/mos:${B1_D#sha256:}" >/dev/null
  # Runtime fields of the original are not persisted; uid ranges (storage nsgroups too) are.
  run jq -c '[.uidmaps[] | [.nsgroup, .hostid, .size]]' "$R/config/manifest.git/manifest.json"
  [ "$output" = '[["c1",100000,65536],["d1",165536,65536]]' ]
  run jq -r 'keys | join(",")' "$R/config/manifest.git/manifest.json"
  [ "$output" = "format,install,product,storage,targets,uidmaps" ]
  # Status shows the signer and its expiry.
  run "$M" status -r "$R" --json
  [ "$(echo "$output" | jq -r '.system.certificates[0].subject')" = "CN = manifest PRODUCT:$MOS_PRODUCT" ]
  echo "$output" | jq -e '.system.certificates[0].not_after | test("^20[0-9][0-9]-")'
  run "$M" status -r "$R"
  [[ "$output" == *"svc              1.0.0"* ]]
}

@test "a second install is refused and changes nothing" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  before=$(mos_tree_hash "$R")
  run "$M" install -r "$R" "oci:$PUB:2.0.0"
  [ "$status" -eq 1 ]
  [[ "$output" == *"already installed"*"use mosctl update"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
}

@test "a partial install manifest cannot be a first install" {
  run "$M" install -r "$R" "oci:$PUB:partial"
  [ "$status" -eq 1 ]
  [[ "$output" == *"partial update"* ]]
}

@test "complete update replaces every target and volume; uid ranges stay stable" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  run "$M" update -r "$R" "oci:$PUB:2.0.0"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "hostfs=2.0.0@$A2_D web=1.0.0@$C1_D" ]
  [ "$(jq -c '.storage' "$R/config/manifest.git/manifest.json")" = "[]" ]
  # c1 and d1 left; w1 takes the lowest free range.
  [ "$(jq -c '[.uidmaps[] | [.nsgroup, .hostid]]' "$R/config/manifest.git/manifest.json")" = '[["w1",100000]]' ]
  # Only the triple in use stays in the work tree; the history keeps both systems.
  [ "$(ls "$R/config/manifest.git" | wc -l)" -eq 4 ]
  [ "$(git -C "$R/config/manifest.git" rev-list --count master)" -eq 2 ]
}

@test "partial update keeps what it does not name, with its install manifest" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  run "$M" update -r "$R" "oci:$PUB:partial"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "extra=1.0.0@$D1_D hostfs=1.0.0@$A1_D svc=1.1.0@$B2_D" ]
  sha1=$(sha256sum "$MOS_FX/install-1.json" | cut -d' ' -f1)
  shap=$(sha256sum "$MOS_FX/install-partial.json" | cut -d' ' -f1)
  [ "$(jq -r '.targets[] | select(.name=="hostfs") | .source' "$R/config/manifest.git/manifest.json")" = "$sha1.json" ]
  [ "$(jq -r '.targets[] | select(.name=="svc") | .source' "$R/config/manifest.git/manifest.json")" = "$shap.json" ]
  [ "$(jq -r '.storage[0].label' "$R/config/manifest.git/manifest.json")" = "data" ]
  # c1 and d1 keep their ranges; e1 gets a new one that overlaps neither.
  [ "$(jq -c '[.uidmaps[] | [.nsgroup, .hostid]]' "$R/config/manifest.git/manifest.json")" = \
    '[["c1",100000],["d1",165536],["e1",231072]]' ]
  [ -f "$R/config/manifest.git/$sha1.json" ] && [ -f "$R/config/manifest.git/$shap.json.signed" ]
}

@test "a lower target version is refused, and allowed with --allow-downgrade" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  before=$(mos_tree_hash "$R")
  run "$M" update -r "$R" "oci:$PUB:lower"
  [ "$status" -eq 1 ]
  [[ "$output" == *"hostfs would go from version 1.0.0 down to 0.9.0"*"--allow-downgrade"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
  run "$M" update -r "$R" --allow-downgrade "oci:$PUB:lower"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"downgrade allowed"* ]]
  [ "$(mos_targets "$R")" = "hostfs=0.9.0@$A0_D" ]
}

@test "an install manifest older than the installed one is refused, and allowed with --allow-downgrade" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  before=$(mos_tree_hash "$R")
  run "$M" update -r "$R" "oci:$PUB:stale"
  [ "$status" -eq 1 ]
  [[ "$output" == *"created at 2025-12-01T10:00:00Z, before the installed one"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
  "$M" update -r "$R" --allow-downgrade "oci:$PUB:stale"
  [ "$(mos_targets "$R")" = "hostfs=3.0.0@$A3_D" ]
}

@test "an update for another product is refused, with or without a product file" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  before=$(mos_tree_hash "$R")
  run "$M" update -r "$R" "oci:$PUB:otherproduct"
  [ "$status" -eq 1 ]
  [[ "$output" == *"product"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
  rm "$R/factory/secure/product-uuid"
  before=$(mos_tree_hash "$R")
  run "$M" update -r "$R" "oci:$PUB:otherproduct"
  [ "$status" -eq 1 ]
  [[ "$output" == *"but the installed system runs product $MOS_PRODUCT"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
}

@test "without a product file, the SUDI certificate that initrd-setup wrote names the product" {
  rm "$R/factory/secure/product-uuid"
  "$MOS_BIN/trust" -q sudi add fx other SN-other
  cp "$MOS_KEYS/manifest/other/sudi/SN-other/cert.pem" "$R/factory/secure/server.crt"
  run "$M" install -r "$R" "oci:$PUB:1.0.0"
  [ "$status" -eq 1 ]
  [[ "$output" == *"product"* ]]
  [ ! -d "$R/config/manifest.git" ] || [ -z "$(mos_targets "$R")" ]
  run "$M" install -r "$R" "oci:$PUB:otherproduct"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "hostfs=5.0.0@$A2_D" ]
  echo "not a certificate" > "$R/factory/secure/server.crt"
  run "$M" update -r "$R" "oci:$PUB:otherproduct"
  [ "$status" -eq 1 ]
  [[ "$output" == *"$R/factory/secure/server.crt"* ]]
}

@test "rollback returns to the previous system, verified again, and back" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  run "$M" rollback -r "$R"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no earlier system"* ]]
  "$M" update -r "$R" "oci:$PUB:2.0.0"
  run "$M" rollback -r "$R"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(mos_targets "$R")" = "hostfs=1.0.0@$A1_D svc=1.0.0@$B1_D" ]
  # The same tree as the first system: same files, same uid ranges.
  [ "$(git -C "$R/config/manifest.git" rev-parse 'master^{tree}')" = \
    "$(git -C "$R/config/manifest.git" rev-parse 'master~2^{tree}')" ]
  [ "$(git -C "$R/config/manifest.git" rev-list --count master)" -eq 3 ]
  "$M" rollback -r "$R"
  [ "$(mos_targets "$R")" = "hostfs=2.0.0@$A2_D web=1.0.0@$C1_D" ]
}

@test "rollback refuses a previous system whose content or signature no longer verifies" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  "$M" update -r "$R" "oci:$PUB:2.0.0"
  # Its image is gone from the store.
  mv "$R/atomfs-store/mos/blobs/sha256/${B1_D#sha256:}" "$BATS_TEST_TMPDIR/saved"
  before=$(mos_tree_hash "$R")
  run "$M" rollback -r "$R"
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot roll back"* ]]
  [ "$(mos_tree_hash "$R")" = "$before" ]
  mv "$BATS_TEST_TMPDIR/saved" "$R/atomfs-store/mos/blobs/sha256/${B1_D#sha256:}"
  # Its signed install.json was edited in the history (committed by hand, as rfs.bats did).
  git -C "$R/config/manifest.git" -c user.name=x -c user.email=x@y checkout -q master~1 -- .
  sha1=$(sha256sum "$MOS_FX/install-1.json" | cut -d' ' -f1)
  sed -i 's/"version":"1.0.0"/"version":"1.0.1"/' "$R/config/manifest.git/$sha1.json"
  git -C "$R/config/manifest.git" -c user.name=x -c user.email=x@y commit -qam tampered
  run "$M" status -r "$R"
  [ "$status" -eq 1 ]
  [[ "$output" == *"does not hash to its name"* ]]
}

@test "gc removes what no kept system uses and reports it" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  "$M" update -r "$R" "oci:$PUB:2.0.0"
  run "$M" gc -r "$R"
  [ "$status" -eq 0 ]
  [[ "$output" == *"kept 2 system(s); removed 0 manifest(s), 0 blob(s)"* ]]
  "$M" update -r "$R" "oci:$PUB:partial"
  # Kept: the partial system and 2.0.0 (rollback's target); 1.0.0's images go.
  run "$M" gc -r "$R"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"removed 2 manifest(s), 4 blob(s)"* ]]
  [ ! -e "$R/atomfs-store/mos/blobs/sha256/${A1_D#sha256:}" ]
  [ ! -e "$R/atomfs-store/mos/blobs/sha256/${B1_D#sha256:}" ]
  bytes=$(echo "$output" | sed -n 's/.*freed \([0-9]*\) bytes.*/\1/p')
  [ "$bytes" -gt 8192 ]
  mos_targets "$R" >/dev/null
  skopeo inspect --raw "oci:$R/atomfs-store/mos:${B2_D#sha256:}" >/dev/null
  "$M" rollback -r "$R"
  [ "$(mos_targets "$R")" = "hostfs=2.0.0@$A2_D web=1.0.0@$C1_D" ]
  run "$M" gc -r "$R"
  [[ "$output" == *"removed 0 manifest(s), 0 blob(s)"* ]]
}

@test "a writer blocked by the lock names the pid holding it; readers share" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  # A reader's shared lock, held by this shell's descriptor (flock(1) takes it and exits).
  exec 9<"$R/config/manifest.lock"
  flock -s 9
  run "$M" update -r "$R" --no-wait "oci:$PUB:2.0.0"
  run2_status=$status run2_output=$output
  run "$M" status -r "$R" --no-wait
  flock -u 9; exec 9<&-
  [ "$run2_status" -eq 1 ]
  [[ "$run2_output" =~ "manifest.lock is locked by process "[0-9]+ ]]
  [ "$status" -eq 0 ]
  [ "$(mos_targets "$R")" = "hostfs=1.0.0@$A1_D svc=1.0.0@$B1_D" ]
}

@test "status takes a shared lock and names the writer holding it" {
  "$M" install -r "$R" "oci:$PUB:1.0.0"
  exec 9>>"$R/config/manifest.lock"
  flock -x 9
  run "$M" status -r "$R" --no-wait
  flock -u 9; exec 9>&-
  [ "$status" -eq 1 ]
  [[ "$output" =~ "manifest.lock is locked by process "[0-9]+ ]]
}
