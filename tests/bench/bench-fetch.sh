#!/usr/bin/env bash
# bench-fetch.sh — time `cargo fetch` and single-request latency: the cratecast agent (warm
# store) against a static file server serving the same registry. Not part of the test suite.
#
# usage: tests/bench/bench-fetch.sh [path/to/cratecast]
#   env: RUNS=5 (cargo fetch runs per server)  N_CRATES=150  KB=16 (synthetic crates and their
#        source size)  REQS=200 (curl requests per latency sample)  STATIC=nginx|python
#
# Servers compared (all on 127.0.0.1):
#   static        nginx (if installed; `apt-get install nginx`) serving the registry's files,
#                 else tests/integration/upstream.py (Python: much slower, says so in the table)
#   agent-online  `cratecast agent` proxying upstream.py, store already warm
#   agent-local   a copy of the same store, served by a second agent with --upstream none
# cargo fetch: each run uses a fresh CARGO_HOME and no Cargo.lock (resolution + downloads of
# projects/bench: the fixture crates plus N_CRATES synthetic ones). Latency: one curl process
# fetching the same URL REQS times over one keep-alive connection (as Cargo does);
# time_total per request; median and p99.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATECAST=${1:-${CRATECAST:-$ROOT/build/cratecast}}
RUNS=${RUNS:-5}
N_CRATES=${N_CRATES:-150}
KB=${KB:-16}
REQS=${REQS:-200}
PY=/usr/bin/python3
export PATH="$HOME/.cargo/bin:$PATH"
CARGO=$(command -v cargo) || { echo "bench: cargo not found" >&2; exit 1; }
[ -x "$CRATECAST" ] || { echo "bench: no cratecast binary at $CRATECAST" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: curl not found" >&2; exit 1; }

TMP=$(mktemp -d /tmp/cratecast-bench.XXXXXX)
chmod 755 "$TMP" # nginx's workers (nobody) read the registry from here
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

. "$HERE/lib.sh"

echo "generating registry ($N_CRATES synthetic crates of ~${KB} KB) ..."
$PY "$HERE/bench_registry.py" "$TMP/reg" "$N_CRATES" "$KB" >/dev/null

# --- upstream.py (the agent's upstream) ------------------------------------------------------
$PY "$ROOT/tests/integration/upstream.py" --root "$TMP/reg" --port 0 >"$TMP/up.port" 2>"$TMP/up.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^PORT ' "$TMP/up.port" 2>/dev/null && break; sleep 0.1; done
UPORT=$(awk '/^PORT /{print $2}' "$TMP/up.port")
[ -n "$UPORT" ] || { echo "bench: upstream.py did not start" >&2; exit 1; }

# --- static server ----------------------------------------------------------------------------
SPORT=$(bench_free_port)
STATIC_KIND=${STATIC:-}
NGINX=$(bench_find_nginx)
if [ -z "$STATIC_KIND" ]; then
  if [ -n "$NGINX" ]; then STATIC_KIND=nginx; else STATIC_KIND=python; fi
fi
if [ "$STATIC_KIND" = nginx ]; then
  [ -n "$NGINX" ] || { echo "bench: STATIC=nginx but nginx is not installed" >&2; exit 1; }
  $PY "$HERE/bench_registry.py" --config "$TMP/reg" "http://127.0.0.1:$SPORT"
  bench_nginx_start "$NGINX" "$TMP/nginx" "$SPORT" "$TMP/reg/static" \
    'types { application/json json; }'
  STATIC_INDEX="http://127.0.0.1:$SPORT/index/"
  STATIC_CRATE="http://127.0.0.1:$SPORT/crates/a-1.1.0.crate"
  STATIC_LABEL="nginx"
else
  $PY "$ROOT/tests/integration/upstream.py" --root "$TMP/reg" --port "$SPORT" --dl-style plain \
    >/dev/null 2>"$TMP/static.log" &
  PIDS+=($!)
  STATIC_INDEX="http://127.0.0.1:$SPORT/"
  STATIC_CRATE="http://127.0.0.1:$SPORT/api/v1/crates/a/1.1.0/download"
  STATIC_LABEL="upstream.py"
fi
bench_wait_http "${STATIC_INDEX}config.json"

# --- the agent, warmed through upstream.py ----------------------------------------------------
APORT=$(bench_free_port)
STORE="$TMP/store"
start_agent() { # upstream
  "$CRATECAST" agent --store "$STORE" --listen "127.0.0.1:$APORT" --upstream "$1" \
    --no-import --no-mdns --peer-listen off >>"$TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  PIDS+=($AGENT_PID)
  bench_wait_http "http://127.0.0.1:$APORT/-/status"
}
start_agent "http://127.0.0.1:$UPORT/"
AGENT_INDEX="http://127.0.0.1:$APORT/index/"

cargo_home() { # dir registry-url
  mkdir -p "$1"
  printf '[source.crates-io]\nreplace-with = "bench"\n[source.bench]\nregistry = "sparse+%s"\n[net]\nretry = 0\n' \
    "$2" >"$1/config.toml"
}
PROJ="$TMP/proj"
cp -r "$TMP/reg/projects/bench" "$PROJ"

one_fetch() { # registry-url  -> prints seconds
  local h="$TMP/home-$RANDOM$RANDOM"
  cargo_home "$h" "$1"
  rm -f "$PROJ/Cargo.lock"
  local t0 t1
  t0=$(date +%s.%N)
  CARGO_HOME="$h" CARGO_NET_RETRY=0 CARGO_TERM_COLOR=never timeout 300 "$CARGO" fetch -q \
    --manifest-path "$PROJ/Cargo.toml" >"$TMP/fetch.log" 2>&1 \
    || { echo "bench: cargo fetch via $1 failed:" >&2; tail -20 "$TMP/fetch.log" >&2; return 1; }
  t1=$(date +%s.%N)
  rm -rf "$h"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

echo "warming the agent's store through upstream.py ..."
one_fetch "$AGENT_INDEX" >/dev/null

stats() { # seconds... -> "mean min max"
  $PY -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print("%.3f %.3f %.3f" % (s.mean(v), min(v), max(v)))' "$@"
}


SHA=$($PY -c 'import json,sys; print([c["cksum"] for c in json.load(open(sys.argv[1]))["crates"] if c["name"]=="a" and c["vers"]=="1.1.0"][0])' "$TMP/reg/manifest.json")
AGENT_CRATE="http://127.0.0.1:$APORT/crates/a/1.1.0/$SHA"

# A second agent on a copy of the warm store, with no upstream ("local"), runs beside the
# online one, and the three servers take turns run by run: background disk writeback from one
# run then lands on all of them alike instead of on whichever server happens to go last.
STORE2="$TMP/store-local"
cp -r "$STORE" "$STORE2"
APORT2=$(bench_free_port)
"$CRATECAST" agent --store "$STORE2" --listen "127.0.0.1:$APORT2" --upstream none \
  --no-import --no-mdns --peer-listen off >>"$TMP/agent-local.log" 2>&1 &
PIDS+=($!)
bench_wait_http "http://127.0.0.1:$APORT2/-/status"
LOCAL_INDEX="http://127.0.0.1:$APORT2/index/"
LOCAL_CRATE="http://127.0.0.1:$APORT2/crates/a/1.1.0/$SHA"

echo "cargo fetch x$RUNS, taking turns: $STATIC_LABEL, agent (online, warm), agent (--upstream none) ..."
T_STATIC=""; T_ONLINE=""; T_LOCAL=""
for i in $(seq 1 "$RUNS"); do
  T_STATIC="$T_STATIC $(one_fetch "$STATIC_INDEX")"
  T_ONLINE="$T_ONLINE $(one_fetch "$AGENT_INDEX")"
  T_LOCAL="$T_LOCAL $(one_fetch "$LOCAL_INDEX")"
done
# shellcheck disable=SC2086
F_STATIC=$(stats $T_STATIC); F_ONLINE=$(stats $T_ONLINE); F_LOCAL=$(stats $T_LOCAL)
L_STATIC_I=$(bench_latency "${STATIC_INDEX}1/a")
L_STATIC_C=$(bench_latency "$STATIC_CRATE")
L_ONLINE_I=$(bench_latency "${AGENT_INDEX}1/a")
L_ONLINE_C=$(bench_latency "$AGENT_CRATE")
L_LOCAL_I=$(bench_latency "${LOCAL_INDEX}1/a")
L_LOCAL_C=$(bench_latency "$LOCAL_CRATE")

n_crates=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["crates"]))' "$TMP/reg/manifest.json")
echo
echo "registry: $n_crates crate versions; project: projects/bench ($N_CRATES synthetic + fixture crates); $(nproc) cores"
printf '%-34s %18s %18s %18s\n' "" "$STATIC_LABEL" "agent-online" "agent-local"
row() { printf '%-34s %18s %18s %18s\n' "$1" "$2" "$3" "$4"; }
f() { set -- $1; echo "$1 ($2-$3)"; }
row "cargo fetch, s: mean (min-max)" "$(f "$F_STATIC")" "$(f "$F_ONLINE")" "$(f "$F_LOCAL")"
l() { set -- $1; echo "$1 / $2"; }
row "index hit, us: median / p99" "$(l "$L_STATIC_I")" "$(l "$L_ONLINE_I")" "$(l "$L_LOCAL_I")"
row "crate download, us: median / p99" "$(l "$L_STATIC_C")" "$(l "$L_ONLINE_C")" "$(l "$L_LOCAL_C")"
ratio=$($PY -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' \
  "$(echo "$F_STATIC" | cut -d' ' -f1)" "$(echo "$F_LOCAL" | cut -d' ' -f1)")
echo "agent-local / $STATIC_LABEL cargo fetch time: ${ratio}x (target <= 1.05x vs nginx)"
[ "$STATIC_LABEL" = nginx ] || echo "note: static server is Python (nginx not installed): not the target comparison"
