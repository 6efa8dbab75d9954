#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test twice (a normal build,
# then an ASan+UBSan build), plus a short libFuzzer run of each parser. Run as root on Debian 12.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
jobs=$(nproc)

"$top/scripts/build.sh" release
"$top/scripts/build.sh" asan
"$top/scripts/fuzz.sh" "${MOS_FUZZ_SECONDS:-10}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== ASan+UBSan build =="
(cd "$top/build/asan" && ctest --output-on-failure -j "$jobs")
echo "== release build =="
cd "$top/build/release" && ctest --output-on-failure -j "$jobs"
