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
