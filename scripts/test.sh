#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test twice (a normal build,
# CMake's Release type as a packager builds it, then an ASan+UBSan build). Every fuzz target
# replays its corpus in both test runs. Run as root on Debian 12. MOS_FUZZ_SECONDS=N
# also builds the libFuzzer targets with clang and fuzzes each for N seconds (scripts/fuzz.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
jobs=$(nproc)

"$top/scripts/build.sh" release
"$top/scripts/build.sh" asan
if [ "${MOS_FUZZ_SECONDS:-0}" -gt 0 ]; then
  "$top/scripts/fuzz.sh" "$MOS_FUZZ_SECONDS"
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== ASan+UBSan build =="
(cd "$top/build/asan" && ctest --output-on-failure -j "$jobs")
echo "== release build =="
cd "$top/build/release" && ctest --output-on-failure -j "$jobs"
