#!/usr/bin/env bash
# bench-serve.sh — one small crate served from a warm store: nginx against one or two agent
# binaries, taking turns, and the same pinned to one CPU and to two. Not part of the test
# suite; needs nginx (installed with apt-get when missing, as root) and curl. Numbers go to docs/performance.md ("Serving one crate").
#
# usage: tests/bench/bench-serve.sh NEW [OLD]
#   env: REQS=2000 (requests per sample, over one keep-alive connection)  ROUNDS=5 (samples
#        taking turns)  PIN=1 (then three rounds with everything pinned to CPU 0, curl on CPU 0
#        and on CPU 1)
# Prints the p50 of curl's time_total (µs) of each sample. The crate is the one nearest
# 16 KiB in a generated CARGO_HOME (tests/bench/bench_import.py, 40 crates, 8 MB),
# imported into a store per agent. Work files in /var/tmp (not tmpfs), removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NEW=${1:?usage: bench-serve.sh NEW [OLD]}
OLD=${2:-}
REQS=${REQS:-2000} ROUNDS=${ROUNDS:-5}
PY=python3
. "$HERE/lib.sh"
NGINX=$(bench_find_nginx install)
[ -n "$NGINX" ] || { echo "bench-serve: nginx not found" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-serve: curl not found" >&2; exit 1; }
TMP=$(mktemp -d /var/tmp/cratecast-bench-serve.XXXXXX)
chmod 755 "$TMP" # nginx's workers read the crates from here
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
$PY "$HERE/bench_import.py" "$TMP/home" 40 8 >/dev/null
"$NEW" import-cargo --store "$TMP/s-new" "$TMP/home" >/dev/null
start_agent() { # binary store port (its pid goes to PIDS)
  "$1" agent --store "$2" --listen "127.0.0.1:$3" --upstream none --no-import --no-mdns \
    --peer-listen off >"$2.log" 2>&1 &
  PIDS+=($!)
}
PN=$(bench_free_port)
start_agent "$NEW" "$TMP/s-new" "$PN"
PIDN=${PIDS[-1]}
if [ -n "$OLD" ]; then
  cp -a "$TMP/s-new" "$TMP/s-old"
  PO=$(bench_free_port)
  start_agent "$OLD" "$TMP/s-old" "$PO"
fi
mapfile -t FILES < <(find "$TMP/home/registry/cache" -name "*.crate")
REGDIR=$(dirname "${FILES[0]}")
SP=$(bench_free_port)
bench_nginx_start "$NGINX" "$TMP/nginx" "$SP" "$REGDIR"
read -r file name vers sha <<<"$($PY - "${FILES[@]}" <<'EOP'
import hashlib, os, re, sys
f = min(sys.argv[1:], key=lambda p: abs(os.path.getsize(p) - (16 << 10)))
m = re.match(r"(.+)-(\d+\.\d+\.\d+)\.crate$", os.path.basename(f))
print(os.path.basename(f), m.group(1), m.group(2), hashlib.sha256(open(f, "rb").read()).hexdigest())
EOP
)"
lat() { local l; l=$(bench_latency "$1"); echo "${l%% *}"; } # url -> p50 µs
UN="http://127.0.0.1:$SP/$file"
UA="http://127.0.0.1:$PN/crates/$name/$vers/$sha"
bench_wait_http "$UN" || exit 1
bench_wait_http "$UA" || exit 1
if [ -n "$OLD" ]; then
  UO="http://127.0.0.1:$PO/crates/$name/$vers/$sha"
  bench_wait_http "$UO" || exit 1
fi
echo "one crate of $(stat -c %s "$REGDIR/$file") bytes, $REQS requests per sample, p50 µs"
for r in $(seq 1 "$ROUNDS"); do
  line="round $r: nginx $(lat "$UN") new $(lat "$UA")"
  [ -n "$OLD" ] && line="$line old $(lat "$UO")"
  echo "$line"
done
if [ -n "${PIN:-}" ]; then
  taskset -p -c 0 "$PIDN" >/dev/null
  for q in $(pgrep -f "$TMP/nginx"); do taskset -p -c 0 "$q" >/dev/null; done
  export -f lat bench_latency
  export REQS PY
  for r in 1 2 3; do
    echo "pinned, curl on the same CPU: nginx $(taskset -c 0 bash -c "lat $UN") new $(taskset -c 0 bash -c "lat $UA")"
    echo "pinned, curl on the other CPU: nginx $(taskset -c 1 bash -c "lat $UN") new $(taskset -c 1 bash -c "lat $UA")"
  done
fi
