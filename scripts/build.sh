#!/usr/bin/env bash
# Configures and builds one flavour into build/<flavour> (incremental on a rerun).
#   scripts/build.sh [release|asan|fuzz]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
dir="$top/build/$flavour"
case "$flavour" in
  release) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DMOS_SANITIZE=ON) ;;
  fuzz) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-19) ;;
  *) echo "unknown flavour $flavour (release, asan or fuzz)" >&2; exit 2 ;;
esac
# ccache keeps rebuilds of a fresh checkout (CI) quick on a machine that built before.
# Paths are made relative to the checkout so another clone of the same tree hits the cache.
if command -v ccache >/dev/null; then
  flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$top" CCACHE_NOHASHDIR=1
fi
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$top" -B "$dir" -G Ninja "${flags[@]}"
fi
cmake --build "$dir" -j "$(nproc)"
