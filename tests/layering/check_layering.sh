#!/usr/bin/env bash
# Fails when a source file includes a module below its own in the module order of
# src/CMakeLists.txt (MOS_MODULES, the order ARCHITECTURE.md's table gives), when anything but
# cli/ includes cli/, or when a folder under src/ is not a listed module.
#   check_layering.sh SRC_DIR
set -euo pipefail
src=${1:?usage: check_layering.sh SRC_DIR}
order=$(sed -n 's/^set(MOS_MODULES \(.*\))$/\1/p' "$src/CMakeLists.txt")
[ -n "$order" ] || { echo "no set(MOS_MODULES ...) line in $src/CMakeLists.txt" >&2; exit 1; }
declare -A rank
i=0
for module in $order; do
  rank[$module]=$i
  i=$((i + 1))
done
rank[cli]=$i

problems=0
for dir in "$src"/*/; do
  module=$(basename "$dir")
  if [ -z "${rank[$module]+set}" ]; then
    echo "src/$module/ is not in MOS_MODULES (src/CMakeLists.txt): its sources would not be built" >&2
    problems=$((problems + 1))
  fi
done

while IFS=: read -r file line include; do
  rel=${file#"$src"/}
  module=${rel%%/*}
  used=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$include")
  [ -n "${rank[$module]+set}" ] || continue
  if [ -z "${rank[$used]+set}" ]; then
    echo "src/$rel:$line includes \"$used/...\", which is no module" >&2
    problems=$((problems + 1))
  elif [ "${rank[$used]}" -gt "${rank[$module]}" ]; then
    echo "src/$rel:$line: $module/ includes $used/, which comes after it in the module order" >&2
    problems=$((problems + 1))
  fi
done < <(grep -rnE '^#include "[^/"]+/' "$src" --include='*.cpp' --include='*.hpp')

if [ "$problems" -gt 0 ]; then
  echo "$problems layering problem(s); the order is: $order cli" >&2
  exit 1
fi
echo "layering ok: $order cli"
