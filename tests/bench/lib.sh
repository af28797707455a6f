# shellcheck shell=bash
# tests/bench/lib.sh — shell helpers the benchmarks share (sourced, not run). The caller sets
# PY (a python3) and REQS (requests per latency sample), and keeps the PIDs of what it starts
# in the array PIDS, which its own cleanup stops.

# A free TCP port on 127.0.0.1.
bench_free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Until URL answers (any HTTP status), at most SECONDS (default 20); 1 when it never does.
bench_wait_http() { # url [seconds]
  for _ in $(seq 1 $(( ${2:-20} * 10 ))); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 did not answer" >&2
  return 1
}

# REQS GETs of URL over one keep-alive connection (as Cargo does): "p50_us p99_us" of curl's
# time_total.
bench_latency() { # url
  local args=()
  for _ in $(seq 1 "$REQS"); do args+=(-o /dev/null "$1"); done
  curl -s --max-time 120 -w '%{time_total}\n' "${args[@]}" |
    $PY -c 'import sys
v = sorted(float(x) * 1e6 for x in sys.stdin if x.strip())
print("%.0f %.0f" % (v[len(v) // 2], v[min(len(v) - 1, int(len(v) * 0.99))]))'
}

# The nginx binary, or nothing. With "install", as root, apt-get installs it when missing.
bench_find_nginx() { # [install]
  local n
  n=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
  if [ -z "$n" ] && [ "${1:-}" = install ] && [ "$(id -u)" = 0 ]; then
    echo "bench: nginx is missing; apt-get install -y nginx ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >&2 || true
    n=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
  fi
  echo "$n"
}

# nginx (binary NGINX) serving ROOT on 127.0.0.1:PORT, one worker, no access log, sendfile,
# its files under DIR; EXTRA is added to the http block. Its PID goes to PIDS.
bench_nginx_start() { # nginx dir port root [extra]
  local nginx=$1 dir=$2 port=$3 root=$4 extra=${5:-}
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOC
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  $extra
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  server { listen 127.0.0.1:$port; root $root; etag on; }
}
EOC
  "$nginx" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr" &
  PIDS+=($!)
}
