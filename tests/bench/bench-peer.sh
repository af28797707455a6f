#!/usr/bin/env bash
# bench-peer.sh — peer sharing, measured (issue 3). Not part of the test suite.
#
# usage: tests/bench/bench-peer.sh [path/to/cratecast]
#   env: RUNS=5 (runs per measurement)  N_CRATES=150  KB=16 (synthetic crates and their source
#        size, as bench-fetch.sh)  STATIC=nginx|python  SKIP_FETCH=1  SKIP_START=1  SKIP_MDNS=1
#        KEEP=1 (keep the temporary directory)
#
# 1. `cargo fetch` of projects/bench (fresh CARGO_HOME, no Cargo.lock) from
#      - nginx serving the registry's files (tests/integration/upstream.py without nginx),
#      - a fresh agent (empty store, --upstream none) whose only source is one peer agent on
#        the same host holding every crate,
#      - a fresh agent whose upstream is that static server (the agent's cost without peers).
# 2. The time from an agent's start until it lists its static peer live (with the peer's
#    manifest), until that peer lists it live (learnt from its hello), and until a peer that
#    was started earlier with --peer <its address> lists it live; /-/status polled every
#    50 ms. Then the same with mDNS alone between two network namespaces, each with its own
#    dbus + avahi-daemon (tests/integration/netns.py; needs root, else reported as skipped).
# The work is done by bench_peer.py (same directory), which prints the table.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATECAST=${1:-${CRATECAST:-$ROOT/build/cratecast}}
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || { echo "bench: cargo not found" >&2; exit 1; }
[ -x "$CRATECAST" ] || { echo "bench: no cratecast binary at $CRATECAST" >&2; exit 1; }
[ -n "${KEEP:-}" ] && export CRATECAST_KEEP=1

args=(--cratecast "$CRATECAST" --runs "${RUNS:-5}" --crates "${N_CRATES:-150}" --kb "${KB:-16}")
[ -n "${STATIC:-}" ] && args+=(--static "$STATIC")
[ -n "${SKIP_FETCH:-}" ] && args+=(--skip-fetch)
[ -n "${SKIP_START:-}" ] && args+=(--skip-start)
[ -n "${SKIP_MDNS:-}" ] && args+=(--skip-mdns)
exec /usr/bin/python3 "$HERE/bench_peer.py" "${args[@]}"
