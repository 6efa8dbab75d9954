#!/usr/bin/env bats
# The README's walkthrough runs as written: every ```sh block between its walkthrough markers,
# in order, with a fresh directory standing for /tmp and a free port for 5000
# (scripts/readme-walkthrough.sh, which the demo runs too). A command that fails fails the test.
# The README's `trust launch` blocks (a VM under qemu) run after the walkthrough's in
# tests/e2e/boot_media.bats, in the release build.

load helpers/registry

@test "the README's walkthrough blocks run in order and end with the installed service running" {
  export HOME="$BATS_TEST_TMPDIR/home" XDG_DATA_HOME="$BATS_TEST_TMPDIR/home/.local/share"
  mkdir -p "$HOME"
  export PATH="$MOS_BIN:$PATH"
  port=$(free_port)
  run "$MOS_SOURCE_DIR/scripts/readme-walkthrough.sh" "$BATS_TEST_TMPDIR/w" "$port"
  [ "$status" -eq 0 ] || { echo "$output" | tail -40; false; }
  # What the blocks claim to show, shown.
  [[ "$output" == *"Verified OK"* ]]
  [[ "$output" == *"verified docker://127.0.0.1:$port/machine/install:1.0.0"* ]]
  [[ "$output" == *"Rollback to"*"zot 1.0.0"* ]]
  [[ "$output" == *"usr/bin/mos-registry"* || "$output" == *$'\nmos-registry\n'* ]]
  # The booted service answered through the machine's port 80, and status showed it running.
  [[ "$output" == *"curl -fsS http://127.0.0.1:80/v2/"$'\n''{}'* ]]
  [[ "$output" == *"zot"*"running"*"10.0.3.99"*"80->5000"* ]]
  # Nothing of it keeps running or stays mounted.
  run pgrep -f "mos-registry serve $BATS_TEST_TMPDIR/w/checkout/examples/zot-config.json"
  [ "$status" -ne 0 ]
  run grep -q "$BATS_TEST_TMPDIR/w" /proc/mounts
  [ "$status" -ne 0 ]
  run pgrep -f "mosctl boot --root $BATS_TEST_TMPDIR/w/root"
  [ "$status" -ne 0 ]
  run ip netns list
  [[ "$output" != *mos-demo-* ]]
}
