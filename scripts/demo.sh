#!/usr/bin/env bash
# The main job: the walkthrough (../shared/seed/image-manifest-walkthrough.md) end to end, to its
# last line, by running the README's walkthrough blocks and then its `trust launch` blocks exactly
# as written (scripts/readme-walkthrough.sh): vm1 launched under qemu, its zot answering on
# 127.0.0.1:28080. MOS_DEMO_VM=0 stops before the VM. Run as root on Debian 12. Everything it
# makes (vm1's definition, disk and state too) stays under $MOS_DEMO_DIR (default /tmp/mos-demo,
# standing for the README's /tmp), recreated on each run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" release
export PATH="$top/build/release/bin:$PATH"

demo=${MOS_DEMO_DIR:-/tmp/mos-demo}
launch=()
[ "${MOS_DEMO_VM:-1}" = 0 ] || launch=(--launch)
# Keysets live in $XDG_DATA_HOME/machine/trust/keys, as in the walkthrough's paths; the VM's
# definition, state and sockets in the others, so that this vm1 is the demo's own.
export XDG_DATA_HOME="$demo/share" XDG_CONFIG_HOME="$demo/config" XDG_STATE_HOME="$demo/state"
export XDG_CACHE_HOME="$demo/cache" XDG_RUNTIME_DIR="$demo/run"
# vm1 of an earlier run, if it still runs, goes with its directory.
if [ -d "$XDG_CONFIG_HOME/machine/machines/vm1" ]; then
  machine stop -f vm1 >/dev/null 2>&1 || true
fi
rm -rf "$demo"
mkdir -p "$demo" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The walkthrough's zot runs on 127.0.0.1:5000; use it if free, else a free port.
port=5000
if listening "$port"; then
  # shellcheck source=../tests/e2e/helpers/registry.bash
  source "$top/tests/e2e/helpers/registry.bash"
  port=$(free_port)
fi

# The launched VM's zot answers on 127.0.0.1:28080, as the walkthrough's curl asks.
if [ ${#launch[@]} -gt 0 ] && listening 28080; then
  echo "port 127.0.0.1:28080 is in use: the launched vm1's zot answers there (MOS_DEMO_VM=0" >&2
  echo "runs the walkthrough without the VM)" >&2
  exit 1
fi

"$top/scripts/readme-walkthrough.sh" "${launch[@]}" "$demo" "$port"
echo
echo "Done: the registry's storage is $demo/zot, the machine's root $demo/root, the keyset"
echo "$XDG_DATA_HOME/machine/trust/keys/snakeoil."
if [ ${#launch[@]} -gt 0 ]; then
  echo "vm1 (stopped, installed): machine start vm1, then curl http://127.0.0.1:28080/v2/, with"
  echo "XDG_CONFIG_HOME=$XDG_CONFIG_HOME XDG_STATE_HOME=$XDG_STATE_HOME XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"
fi
