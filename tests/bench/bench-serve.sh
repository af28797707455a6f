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
find_nginx() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
NGINX=$(find_nginx)
if [ -z "$NGINX" ] && [ "$(id -u)" = 0 ]; then
  echo "bench-serve: nginx is missing; apt-get install -y nginx ..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >&2 || true
  NGINX=$(find_nginx)
fi
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
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_agent() { # binary store port (its pid goes to PIDS)
  "$1" agent --store "$2" --listen "127.0.0.1:$3" --upstream none --no-import --no-mdns \
    --peer-listen off >"$2.log" 2>&1 &
  PIDS+=($!)
}
PN=$(free_port)
start_agent "$NEW" "$TMP/s-new" "$PN"
PIDN=${PIDS[-1]}
if [ -n "$OLD" ]; then
  cp -a "$TMP/s-new" "$TMP/s-old"
  PO=$(free_port)
  start_agent "$OLD" "$TMP/s-old" "$PO"
fi
FILES=($(find "$TMP/home/registry/cache" -name '*.crate'))
REGDIR=$(dirname "${FILES[0]}")
SP=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOC
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
  server { listen 127.0.0.1:$SP; root $REGDIR; etag on; }
}
EOC
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' 2>"$TMP/nginx/stderr" &
PIDS+=($!)
read -r file name vers sha <<<"$($PY - "${FILES[@]}" <<'EOP'
import hashlib, os, re, sys
f = min(sys.argv[1:], key=lambda p: abs(os.path.getsize(p) - (16 << 10)))
m = re.match(r"(.+)-(\d+\.\d+\.\d+)\.crate$", os.path.basename(f))
print(os.path.basename(f), m.group(1), m.group(2), hashlib.sha256(open(f, "rb").read()).hexdigest())
EOP
)"
wait_http() {
  local i
  for i in $(seq 1 100); do curl -sf -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
  echo "bench-serve: $1 did not answer" >&2; exit 1
}
lat() { # url -> p50 of REQS requests, µs
  local args=() i
  for i in $(seq 1 "$REQS"); do args+=(-o /dev/null "$1"); done
  curl -s --max-time 120 -w '%{time_total}\n' "${args[@]}" | $PY -c 'import sys
v = sorted(float(x) * 1e6 for x in sys.stdin if x.strip()); print("%.0f" % v[len(v) // 2])'
}
UN="http://127.0.0.1:$SP/$file"
UA="http://127.0.0.1:$PN/crates/$name/$vers/$sha"
wait_http "$UN"
wait_http "$UA"
[ -n "$OLD" ] && UO="http://127.0.0.1:$PO/crates/$name/$vers/$sha" && wait_http "$UO"
echo "one crate of $(stat -c %s "$REGDIR/$file") bytes, $REQS requests per sample, p50 µs"
for r in $(seq 1 "$ROUNDS"); do
  line="round $r: nginx $(lat "$UN") new $(lat "$UA")"
  [ -n "$OLD" ] && line="$line old $(lat "$UO")"
  echo "$line"
done
if [ -n "${PIN:-}" ]; then
  taskset -p -c 0 "$PIDN" >/dev/null
  for q in $(pgrep -f "$TMP/nginx"); do taskset -p -c 0 "$q" >/dev/null; done
  export -f lat
  export REQS PY
  for r in 1 2 3; do
    echo "pinned, curl on the same CPU: nginx $(taskset -c 0 bash -c "lat $UN") new $(taskset -c 0 bash -c "lat $UA")"
    echo "pinned, curl on the other CPU: nginx $(taskset -c 1 bash -c "lat $UN") new $(taskset -c 1 bash -c "lat $UA")"
  done
fi
