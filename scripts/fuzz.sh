#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a while on its corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
"$top/scripts/build.sh" fuzz
status=0
for target in "$top"/build/fuzz/bin/*_fuzzer; do
  name=$(basename "$target")
  work=$(mktemp -d)
  cp -r "$top/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  echo "fuzzing $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -print_final_stats=0 -close_fd_mask=3 "$work" \
      >"$work.log" 2>&1; then
    echo "FAILED: $name (log follows)"; tail -n 40 "$work.log"; status=1
  fi
  rm -rf "$work" "$work.log"
done
exit $status
