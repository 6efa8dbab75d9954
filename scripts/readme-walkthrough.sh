#!/usr/bin/env bash
# Runs the README's walkthrough as written: the ```sh blocks between <!-- walkthrough --> and
# <!-- /walkthrough --> in order, in one bash, stopping at the first failing command; with
# --launch, then those between <!-- launch --> and <!-- /launch -->: the walkthrough's last lines,
# `trust launch` of vm1 under qemu and its service's answer on 127.0.0.1:28080. The demo
# (scripts/demo.sh) and the tests that keep the README true (tests/e2e/readme.bats; with --launch,
# tests/e2e/boot_media.bats) use it.
#   readme-walkthrough.sh [--launch] DIR [PORT]
# DIR stands for /tmp in every path of the README and of the examples it reads; PORT (default
# 5000) for the registry's port, on 127.0.0.1 and as the VM reaches it (10.0.2.2). The programs
# must be on PATH; with --launch, the caller's XDG directories hold vm1 (it must not exist).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sections=(walkthrough)
if [ "${1:-}" = --launch ]; then
  sections+=(launch)
  shift
fi
dir=${1:?usage: readme-walkthrough.sh [--launch] DIR [PORT]}
port=${2:-5000}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The checkout as the README's commands see it ($MOS), with its examples re-pointed at DIR/PORT.
mos="$dir/checkout"
rm -rf "$mos"
mkdir -p "$mos"
cp -r "$top/examples" "$mos/examples"
substitute() {
  sed -e "s|127\.0\.0\.1:5000|127.0.0.1:$port|g" -e "s|10\.0\.2\.2:5000|10.0.2.2:$port|g" \
    -e "s|\"5000\"|\"$port\"|g" -e "s|/tmp/|$dir/|g"
}
for f in "$mos"/examples/*.json "$mos"/examples/*.yaml; do
  substitute <"$f" >"$f.new" && mv "$f.new" "$f"
done

script="$dir/walkthrough.sh"
{
  echo 'set -euo pipefail'
  echo "cd '$dir'"
  echo "export MOS='$mos'"
  for section in "${sections[@]}"; do
    block=$(awk -v first="<!-- $section -->" -v last="<!-- /$section -->" '$0 == first {on=1; next}
              $0 == last {on=0} on && /^```sh$/ {code=1; next} code && /^```$/ {code=0; next}
              code {print}' "$top/README.md" | substitute)
    [ -n "$block" ] || {
      echo "no $section blocks found in $top/README.md" >&2
      exit 1
    }
    printf '%s\n' "$block"
  done
} >"$script"

# Its own process group, so whatever the walkthrough left running (the registry) stops with it.
set +e
setsid bash -x "$script" &
pid=$!
wait "$pid"
rc=$?
kill -TERM -- "-$pid" 2>/dev/null
# A VM that a failed step left running is not in that group: machine runs qemu on its own.
[ "${sections[-1]}" = launch ] && machine stop -f vm1 >/dev/null 2>&1
# and is gone before we return: a caller checking that nothing is left must not race its exit.
for _ in $(seq 100); do
  kill -0 -- "-$pid" 2>/dev/null || exit "$rc"
  sleep 0.1
done
kill -KILL -- "-$pid" 2>/dev/null
exit "$rc"
