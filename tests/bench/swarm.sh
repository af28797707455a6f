#!/usr/bin/env bash
# swarm.sh — the classroom benchmark: one teacher, N students, shaped links. Not part of the
# test suite. Needs root (network namespaces, tc), cargo, curl; avahi-daemon + dbus-daemon for
# the mdns and big setups; nginx for the static setup (installed with apt-get when missing,
# else a threaded Python file server stands in and the table says so).
#
# usage: tests/bench/swarm.sh [path/to/cratecast]
#   env: RATE=20mbit|100mbit|none  (tbf rate of every host's uplink; burst 64kb latency 50ms)
#        STUDENTS=7  RUNS=3  SETUPS=peer,mesh,mdns,big,static  RETRY=default|0|N (Cargo's
#        net.retry)  MULTIPLEXING=default|false (Cargo's http.multiplexing)
#        PACKAGES=97 (packages in the project's Cargo.lock)  KB=96 (KB of source per synthetic
#        crate: ~52 KB .crate files)  SETTLE=5 (s to wait for the room to know itself)
#        STATIC=nginx|python  OUT=FILE (the table as markdown)  JSON=FILE (every measurement)
#        KEEP=1 (keep the temporary directories: logs, stores)
#        STORE_FS=image|tmp (image: the stores on a fresh loop-mounted ext4, the default; see
#        swarm.py)  AGENT_ARGS="..." (more options for every agent)  AGENT_WRAP="..." (a
#        command every student agent runs under, "%h" its host number: e.g. AGENT_WRAP="perf
#        record -g -o /tmp/perf-%h.data --" profiles each student agent)
#
# Hosts: h0 = the teacher (a warm agent, --upstream none), h1..hN = students (fresh agents,
# --upstream none), each in a network namespace on one bridge (tests/integration/netns.py),
# 10.77.X.0/24. Setups: peer (students --peer TEACHER only), mesh (every running host as
# --peer), mdns (avahi-daemon on every host, no --peer), big (mdns with 20 crates of 1 MiB,
# incompressible), static (no agents: Cargo straight to nginx on the teacher). For each setup
# and run: one student alone (the other hosts idle), then all students, each running
# `cargo generate-lockfile && cargo fetch` (fresh CARGO_HOME on /dev/shm) at the same moment.
# The table: median time until the LAST student's cargo finished, the ratio to one student
# alone, failed builds, the teacher's bytes (agent counters / server log, and its eth0 TX), and
# the CPU seconds spent meanwhile (machine busy, the floor busy / cores and its ratio to alone,
# and the room's split: students' Cargo, student agents, teacher agent).
# The work is done by swarm.py (same directory).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATECAST=${1:-${CRATECAST:-$ROOT/build/cratecast}}
export PATH="$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"
command -v cargo >/dev/null || { echo "swarm: cargo not found" >&2; exit 1; }
[ -x "$CRATECAST" ] || { echo "swarm: no cratecast binary at $CRATECAST" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "swarm: needs root (network namespaces, tc)" >&2; exit 77; }
[ -n "${KEEP:-}" ] && export CRATECAST_KEEP=1

SETUPS=${SETUPS:-peer,mesh,mdns,big,static}
if [[ ",$SETUPS," == *,static,* ]] && [ "${STATIC:-nginx}" = nginx ] &&
  ! command -v nginx >/dev/null; then
  echo "swarm: nginx is missing; apt-get install -y nginx ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >&2 ||
    echo "swarm: could not install nginx: the static setup uses a Python file server" >&2
fi

args=(--cratecast "$CRATECAST" --cargo "$(command -v cargo)" --rate "${RATE:-20mbit}"
  --students "${STUDENTS:-7}" --runs "${RUNS:-3}" --setups "$SETUPS"
  --retry "${RETRY:-default}" --multiplexing "${MULTIPLEXING:-default}"
  --packages "${PACKAGES:-97}" --kb "${KB:-96}" --settle "${SETTLE:-5}")
[ -n "${STATIC:-}" ] && args+=(--static-server "$STATIC")
[ -n "${STORE_FS:-}" ] && args+=(--store-fs "$STORE_FS")
[ -n "${OUT:-}" ] && args+=(--out "$OUT")
[ -n "${JSON:-}" ] && args+=(--json "$JSON")
exec /usr/bin/python3 "$HERE/swarm.py" "${args[@]}"
