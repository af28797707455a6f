#!/bin/sh
# Writes doc/cratecast.1, the man page, from the command tables in cli/*.c
# (`cratecast help --man`): run after changing a command's options or help text.
# usage: scripts/gen-man.sh [path/to/cratecast]   (default: build/cratecast)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/cratecast}
[ -x "$bin" ] || { echo "gen-man: no $bin (build first, or name the binary)" >&2; exit 1; }
mkdir -p "$root/doc"
"$bin" help --man >"$root/doc/cratecast.1.tmp"
mv "$root/doc/cratecast.1.tmp" "$root/doc/cratecast.1"
echo "wrote $root/doc/cratecast.1"
