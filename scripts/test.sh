#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test in an ASan+UBSan build,
# then, in a normal build (CMake's Release type, as a packager builds it), the tests labelled
# `release` (tests/CMakeLists.txt): every unit test and fuzz replay, the VM boots (release only)
# and what differs between the two builds. Every fuzz target replays its corpus in both runs.
# Run as root on Debian 12. MOS_FUZZ_SECONDS=N also builds the libFuzzer targets with clang and
# fuzzes each for N seconds (scripts/fuzz.sh). MOS_TEST_ALL_TWICE=1 runs every test in both.
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
release_tests=(-L release)
[ "${MOS_TEST_ALL_TWICE:-0}" = 1 ] && release_tests=()
cd "$top/build/release" && ctest --output-on-failure -j "$jobs" "${release_tests[@]}"
