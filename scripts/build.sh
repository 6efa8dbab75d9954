#!/usr/bin/env bash
# Configures and builds one flavour into build/<flavour> (incremental on a rerun).
#   scripts/build.sh [release|asan|fuzz|package]
# release: the tested build, CMake's Release type (-O3, as a packager builds it: -O3 finds
# warnings -O2 does not); asan: ASan+UBSan (with debug info); fuzz: libFuzzer targets with clang;
# package: the release build without the tests.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
dir="$top/build/$flavour"
case "$flavour" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DMOS_SANITIZE=ON) ;;
  fuzz) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOS_FUZZ=ON -DMOS_PCH=OFF -DCMAKE_CXX_COMPILER=clang++-19) ;;
  package) flags=(-DCMAKE_BUILD_TYPE=Release -DMOS_TESTS=OFF) ;;
  *) echo "unknown flavour $flavour (release, asan, fuzz or package)" >&2; exit 2 ;;
esac
flags+=(-DMOS_WARNINGS_AS_ERRORS=ON)
# ccache keeps rebuilds of a fresh checkout (CI) quick on a machine that built before.
# Paths are made relative to the checkout so another clone of the same tree hits the cache.
if command -v ccache >/dev/null; then
  flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1
  # what ccache needs to cache compiles that use a precompiled header (MOS_PCH)
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
fi
# Configure when the folder is new or was configured with other flags (CMake keeps cached
# values, so changed flags would otherwise never reach an existing build folder).
stamp="$dir/.mos-configure-flags"
if [ ! -f "$dir/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${flags[*]}" ]; then
  cmake -S "$top" -B "$dir" -G Ninja "${flags[@]}"
  printf '%s' "${flags[*]}" > "$stamp"
fi
cmake --build "$dir" -j "$(nproc)"
