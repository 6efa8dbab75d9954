#!/usr/bin/env bats
# Crash safety of mosctl: every command is killed (SIGKILL, through the test-only MOS_CRASH_AT
# hook) at each crash point it reaches, one run per point. After each kill the target must hold
# either the old or the new system — the git tree of master is one of the two, status verifies
# it completely (signatures and store content) — and the next run must finish the job and leave
# a clean work tree and a sound repository.

load helpers/mosctl

setup_file() {
  mos_fixtures "$BATS_FILE_TMPDIR"
  export M=$MOS_BIN/mosctl PUB=$MOS_FX/pub/install
  export POINTS=$BATS_FILE_TMPDIR/points
  : > "$POINTS"
}

teardown_file() {
  # At least 20 distinct kill points over the four commands.
  local n; n=$(sort -u "$POINTS" | wc -l)
  echo "distinct kill points: $n" >&3
  [ "$n" -ge 20 ]
}

tree_of() { git -C "$1/config/manifest.git" rev-parse -q --verify 'master^{tree}' 2>/dev/null || echo none; }

# crash_each NAME PREPARED_ROOT COMMAND... : runs COMMAND (with -r ROOT appended by the caller
# through $ROOT) once to list its crash points, then once per point with a kill there.
# Checks after each kill, then reruns COMMAND and checks the result is the new system.
crash_each() {
  local name=$1 prepared=$2
  shift 2
  local ref=$BATS_TEST_TMPDIR/$name-reference log=$BATS_TEST_TMPDIR/$name-points
  rm -rf "$ref"; cp -a "$prepared" "$ref"
  old_tree=$(tree_of "$prepared")
  MOS_CRASH_LOG=$log "$M" "$@" -r "$ref"
  new_tree=$(tree_of "$ref")
  [ "$new_tree" != "$old_tree" ]
  [ "$(wc -l < "$log")" -ge 5 ]
  # What status says of the two systems, asked once: neither tree changes in the loop.
  local new_targets old_targets
  new_targets=$(mos_targets "$ref")
  [ "$old_tree" = none ] || old_targets=$(mos_targets "$prepared")
  local point root
  while read -r point; do
    root=$BATS_TEST_TMPDIR/$name-crash
    rm -rf "$root"; cp -a "$prepared" "$root"
    run env MOS_CRASH_AT="$point" "$M" "$@" -r "$root"
    [ "$status" -eq 137 ] || { echo "$name: $point: expected a kill, got $status: $output"; false; }
    echo "$name:$point" >> "$POINTS"
    # Old or new, never a mix; and what it is verifies.
    tree=$(tree_of "$root")
    if [ "$tree" = "$new_tree" ]; then
      [ "$(mos_targets "$root")" = "$new_targets" ] || { echo "$name: $point: new tree, bad status"; false; }
    else
      [ "$tree" = "$old_tree" ] || { echo "$name: $point: tree $tree is neither old nor new"; false; }
      if [ "$old_tree" = none ]; then
        [ "$("$M" status -r "$root" --json | jq -r .installed)" = false ]
      else
        [ "$(mos_targets "$root")" = "$old_targets" ] || { echo "$name: $point: old tree, bad status"; false; }
      fi
      # The next run completes the job.
      run "$M" "$@" -r "$root"
      [ "$status" -eq 0 ] || { echo "$name: $point: rerun failed: $output"; false; }
    fi
    [ "$(tree_of "$root")" = "$new_tree" ]
    # Any later writer repairs the work tree; the repository is sound.
    "$M" gc -r "$root" >/dev/null
    [ -z "$(git -C "$root/config/manifest.git" status --porcelain)" ] || { echo "$name: $point: dirty work tree"; false; }
    git -C "$root/config/manifest.git" fsck --no-dangling >/dev/null 2>&1 || { echo "$name: $point: fsck failed"; false; }
    [ "$(mos_targets "$root")" = "$new_targets" ]
  done < "$log"
}

@test "install killed at every crash point leaves nothing or the new system" {
  prepared=$BATS_TEST_TMPDIR/fresh
  mos_new_root "$prepared"
  crash_each install "$prepared" install "oci:$PUB:1.0.0"
}

@test "update killed at every crash point leaves the old or the new system" {
  prepared=$BATS_TEST_TMPDIR/installed
  mos_new_root "$prepared"
  "$M" install -r "$prepared" "oci:$PUB:1.0.0"
  crash_each update "$prepared" update "oci:$PUB:2.0.0"
}

@test "partial update killed at every crash point leaves the old or the new system" {
  prepared=$BATS_TEST_TMPDIR/installed
  mos_new_root "$prepared"
  "$M" install -r "$prepared" "oci:$PUB:1.0.0"
  crash_each partial "$prepared" update "oci:$PUB:partial"
}

@test "rollback killed at every crash point leaves the old or the new system" {
  prepared=$BATS_TEST_TMPDIR/updated
  mos_new_root "$prepared"
  "$M" install -r "$prepared" "oci:$PUB:1.0.0"
  "$M" update -r "$prepared" "oci:$PUB:2.0.0"
  crash_each rollback "$prepared" rollback
}

@test "gc killed at every crash point keeps every kept system complete" {
  prepared=$BATS_TEST_TMPDIR/three
  mos_new_root "$prepared"
  "$M" install -r "$prepared" "oci:$PUB:1.0.0"
  "$M" update -r "$prepared" "oci:$PUB:2.0.0"
  "$M" update -r "$prepared" "oci:$PUB:partial"
  log=$BATS_TEST_TMPDIR/gc-points
  ref=$BATS_TEST_TMPDIR/gc-reference
  cp -a "$prepared" "$ref"
  MOS_CRASH_LOG=$log "$M" gc -r "$ref"
  [ "$(grep -c gc-blob-removed "$log")" -ge 4 ]
  local kept_targets kept_blobs
  kept_targets=$(mos_targets "$prepared")
  kept_blobs=$(ls "$ref/atomfs-store/mos/blobs/sha256" | sort)
  while read -r point; do
    root=$BATS_TEST_TMPDIR/gc-crash
    rm -rf "$root"; cp -a "$prepared" "$root"
    run env MOS_CRASH_AT="$point" "$M" gc -r "$root"
    [ "$status" -eq 137 ] || { echo "gc: $point: expected a kill, got $status: $output"; false; }
    echo "gc:$point" >> "$POINTS"
    [ "$(tree_of "$root")" = "$(tree_of "$prepared")" ]
    [ "$(mos_targets "$root")" = "$kept_targets" ]
    # The rerun finishes: the store is what the uninterrupted gc left.
    "$M" gc -r "$root" >/dev/null
    [ "$(ls "$root/atomfs-store/mos/blobs/sha256" | sort)" = "$kept_blobs" ]
    # The system rollback returns to is still complete.
    "$M" rollback -r "$root" >/dev/null
    [ "$(mos_targets "$root")" = "hostfs=2.0.0@$A2_D web=1.0.0@$C1_D" ]
  done < "$log"
}
