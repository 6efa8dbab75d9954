#!/usr/bin/env bash
# Runs the README's walkthrough as written: the ```sh blocks between <!-- walkthrough --> and
# <!-- /walkthrough --> in order, in one bash, stopping at the first failing command. The demo
# (scripts/demo.sh) and the test that keeps the README true (tests/e2e/readme.bats) both use it.
#   readme-walkthrough.sh DIR [PORT]
# DIR stands for /tmp in every path of the README and of the examples it reads; PORT (default
# 5000) for the registry's port. The programs must be on PATH.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: readme-walkthrough.sh DIR [PORT]}
port=${2:-5000}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The checkout as the README's commands see it ($MOS), with its examples re-pointed at DIR/PORT.
mos="$dir/checkout"
rm -rf "$mos"
mkdir -p "$mos"
cp -r "$top/examples" "$mos/examples"
substitute() { sed -e "s|127\.0\.0\.1:5000|127.0.0.1:$port|g" -e "s|\"5000\"|\"$port\"|g" -e "s|/tmp/|$dir/|g"; }
for f in "$mos"/examples/*.json "$mos"/examples/*.yaml; do
  substitute <"$f" >"$f.new" && mv "$f.new" "$f"
done

script="$dir/walkthrough.sh"
{
  echo 'set -euo pipefail'
  echo "cd '$dir'"
  echo "export MOS='$mos'"
  awk '/<!-- walkthrough -->/ {on=1; next} /<!-- \/walkthrough -->/ {on=0}
       on && /^```sh$/ {code=1; next} code && /^```$/ {code=0; next} code {print}' "$top/README.md" |
    substitute
} >"$script"
[ "$(grep -vc '^\(set -euo\|cd \|export MOS\)' "$script")" -gt 0 ] || {
  echo "no walkthrough blocks found in $top/README.md" >&2
  exit 1
}

# Its own process group, so whatever the walkthrough left running (the registry) stops with it.
set +e
setsid bash -x "$script" &
pid=$!
wait "$pid"
rc=$?
kill -TERM -- "-$pid" 2>/dev/null
# and is gone before we return: a caller checking that nothing is left must not race its exit.
for _ in $(seq 100); do
  kill -0 -- "-$pid" 2>/dev/null || exit "$rc"
  sleep 0.1
done
kill -KILL -- "-$pid" 2>/dev/null
exit "$rc"
