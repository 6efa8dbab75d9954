#!/usr/bin/env bash
# Fails when a C++ file of the checkout differs from what clang-format-19 makes of it with the
# repository's .clang-format (one pinned version: others format differently). Fix with:
#   clang-format-19 -i $(git ls-files '*.cpp' '*.hpp')
set -euo pipefail
top=${1:?usage: check_format.sh SOURCE_DIR}
cd "$top"
command -v clang-format-19 >/dev/null || { echo "clang-format-19 is missing (scripts/deps.txt)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src tests bench -name '*.[ch]pp')
clang-format-19 --dry-run --Werror "${files[@]}"
echo "formatted: ${#files[@]} files"
