#!/usr/bin/env bash
# Benchmark: building the dm-verity hash tree of a 512 MiB layer (`mosb image verity-format`,
# both cores) against `veritysetup format` of the same file, and verifying it
# (`mosb image verity-verify`) against `veritysetup verify`. Same file, same salt, same run,
# page cache warm for both, several rounds each, medians.
#   bench/verity.sh [ROUNDS] [MIB]     (MOS_BIN=dir with a built mosb skips the release build)
# Last line: RESULT verity ratio=<our format / veritysetup format> target=0.7
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
mib=${2:-512}
if [ -z "${MOS_BIN:-}" ]; then
  "$top/scripts/build.sh" release >/dev/null || { echo "build failed"; echo "RESULT verity ratio=nan target=0.7"; exit 0; }
  MOS_BIN="$top/build/release/bin"
fi
mosb="$MOS_BIN/mosb"
command -v veritysetup >/dev/null || { echo "veritysetup missing (cryptsetup-bin)"; echo "RESULT verity ratio=nan target=0.7"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
f="$work/layer"
head -c $((mib * 1024 * 1024)) /dev/urandom >"$f"
d=$(stat -c %s "$f")
blocks=$((d / 4096))
salt=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

ours_fmt=() theirs_fmt=() ours_ver=() theirs_ver=()
cat "$f" >/dev/null  # warm the page cache for everyone
for ((r = 1; r <= rounds; r++)); do
  truncate -s "$d" "$f"
  t0=$(now); root_ours=$("$mosb" image verity-format "$f" --salt "$salt" | awk '/root hash/ {print $3}'); t1=$(now)
  ours_fmt+=($((t1 - t0)))
  t0=$(now); "$mosb" image verity-verify "$f" "$root_ours" --hash-offset "$d" >/dev/null || echo "our verify failed"; t1=$(now)
  ours_ver+=($((t1 - t0)))
  truncate -s "$d" "$f"
  t0=$(now)
  root_theirs=$(veritysetup format "$f" "$f" --hash-offset="$d" --data-blocks="$blocks" --salt="$salt" | awk '/Root hash/ {print $3}')
  t1=$(now)
  theirs_fmt+=($((t1 - t0)))
  t0=$(now); veritysetup verify "$f" "$f" "$root_theirs" --hash-offset="$d" || echo "veritysetup verify failed"; t1=$(now)
  theirs_ver+=($((t1 - t0)))
  [ "$root_ours" = "$root_theirs" ] || echo "ROOT HASH MISMATCH: ours $root_ours, veritysetup $root_theirs"
done

mo=$(printf '%s\n' "${ours_fmt[@]}" | median)
mt=$(printf '%s\n' "${theirs_fmt[@]}" | median)
vo=$(printf '%s\n' "${ours_ver[@]}" | median)
vt=$(printf '%s\n' "${theirs_ver[@]}" | median)
awk -v mo="$mo" -v mt="$mt" -v vo="$vo" -v vt="$vt" -v bytes="$d" -v r="$rounds" 'BEGIN {
  printf "data: %d MiB, %d rounds, medians\n", bytes / 1048576, r
  printf "format: mosb %.3f s, veritysetup %.3f s (ratio %.2f)\n", mo / 1e9, mt / 1e9, mo / mt
  printf "verify: mosb %.3f s (%.2f GB/s), veritysetup %.3f s (%.2f GB/s) (ratio %.2f; target >= 1.5 GB/s)\n",
         vo / 1e9, bytes / vo, vt / 1e9, bytes / vt, vo / vt
  printf "RESULT verity ratio=%.2f target=0.7\n", mo / mt
}'
exit 0
