#!/bin/sh
# Install what cratecast needs (Debian 12), build it, and run the agent with its
# defaults (Cargo side on 127.0.0.1:7878, store under ~/.cache/cratecast).
# Extra arguments go to `cratecast agent`.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build cratecast
exec ./build/cratecast agent "$@"
