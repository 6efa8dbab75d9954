#!/usr/bin/env bash
# The main job: the walkthrough (../shared/seed/image-manifest-walkthrough.md) end to end, as far
# as it goes without a VM, by running the README's walkthrough blocks exactly as written
# (scripts/readme-walkthrough.sh). Run as root on Debian 12. Everything it makes stays under
# $MOS_DEMO_DIR (default /tmp/mos-demo, standing for the README's /tmp), recreated on each run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" release
export PATH="$top/build/release/bin:$PATH"

demo=${MOS_DEMO_DIR:-/tmp/mos-demo}
rm -rf "$demo"
mkdir -p "$demo"
# Keysets live in $XDG_DATA_HOME/machine/trust/keys, as in the walkthrough's paths.
export XDG_DATA_HOME="$demo/share"

# The walkthrough's zot runs on 127.0.0.1:5000; use it if free, else a free port.
port=5000
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  # shellcheck source=../tests/e2e/helpers/registry.bash
  source "$top/tests/e2e/helpers/registry.bash"
  port=$(free_port)
fi

"$top/scripts/readme-walkthrough.sh" "$demo" "$port"
echo
echo "Done: the registry's storage is $demo/zot, the machine's root $demo/root, the keyset"
echo "$XDG_DATA_HOME/machine/trust/keys/snakeoil."
