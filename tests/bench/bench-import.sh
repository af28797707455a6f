#!/usr/bin/env bash
# bench-import.sh — how fast `cratecast import-cargo` fills a fresh store from a CARGO_HOME,
# against hashing the same .crate files with `openssl dgst -sha256`; then how fast the agent
# serves one of those crates from its store, against nginx serving the same file. Not part of
# the test suite.
#
# usage: tests/bench/bench-import.sh [path/to/cratecast]
#   env: RUNS=5 (timed runs of each, taking turns)  N_CRATES=2000  TOTAL_MB=1024 (the generated
#        CARGO_HOME: sizes 4 KiB..8 MiB, log-normal, incompressible; see bench_import.py)
#        BENCH_DIR=/var/tmp (where the CARGO_HOME and the stores go: one file system, so that
#        the import writes where a real store would; not tmpfs)  REQS=200 (curl requests per
#        latency sample)  KEEP=1 (keep the directory)
#
# Import: each run imports into a new store directory (fresh: nothing held) beside the
# CARGO_HOME. The stores of earlier runs are kept until the end: deleting ~1 GB of files
# between runs makes ext4 skip its recently freed inodes when the next run creates files
# (`recently_deleted` in ext4's inode allocator), which would slow whichever command comes next.
# For the same reason, do not run it right after deleting gigabytes on that file system (its
# own cleanup at exit deletes RUNS + 1 GB): wait five minutes (ext4 skips inodes freed in
# the last 60-300 s), or set KEEP=1 and delete the directory later.
# Before each timed command: `sync`, so that one run's writeback does not land on the next.
# The page cache is warmed once (every file read), so both sides hash from memory; only the
# import writes, and it includes making every blob durable (fsync/syncfs) and recording it.
#
# Baselines (same file list, same order):
#   openssl-files  openssl dgst -sha256 FILE...        (one process reads and hashes)
#   openssl-pipe   cat FILE... | openssl dgst -sha256  (what `find | xargs cat | openssl` does)
# Serving: a second agent (--upstream none) on the first run's store and nginx (if installed)
# serving the CARGO_HOME's cache directory; one curl process fetching the same crate REQS
# times over one keep-alive connection (as Cargo does); time_total per request; p50 and p99.
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATECAST=${1:-${CRATECAST:-$ROOT/build/cratecast}}
RUNS=${RUNS:-5}
N_CRATES=${N_CRATES:-2000}
TOTAL_MB=${TOTAL_MB:-1024}
REQS=${REQS:-200}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
PY=/usr/bin/python3
[ -x "$CRATECAST" ] || { echo "bench: no cratecast binary at $CRATECAST" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench: openssl not found" >&2; exit 1; }

TMP=$(mktemp -d "$BENCH_DIR/cratecast-bench-import.XXXXXX")
chmod 755 "$TMP" # nginx's workers (nobody) read the crates from here
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

FSTYPE=$(findmnt -no FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP")
[ "$FSTYPE" = tmpfs ] && echo "bench: warning: $TMP is on tmpfs, not a disk" >&2

echo "generating a CARGO_HOME ($N_CRATES crates, ~$TOTAL_MB MiB) in $TMP ($FSTYPE) ..."
GEN=$($PY "$HERE/bench_import.py" "$TMP/home" "$N_CRATES" "$TOTAL_MB")
CACHE="$TMP/home/registry/cache"
mapfile -d '' FILES < <(find "$CACHE" -name '*.crate' -print0 | sort -z)
BYTES=$(cat "${FILES[@]}" | wc -c) # also warms the page cache
echo "$GEN; $(( BYTES / 1048576 )) MiB in ${#FILES[@]} files; $(nproc) cores"

secs() { # command... -> prints wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
openssl_files() { openssl dgst -sha256 "${FILES[@]}"; }
openssl_pipe() { cat "${FILES[@]}" | openssl dgst -sha256; }
import_fresh() { "$CRATECAST" import-cargo --store "$TMP/store-$1" "$TMP/home"; }

echo "x$RUNS, taking turns: openssl dgst FILES, cat FILES | openssl dgst, cratecast import-cargo (fresh store) ..."
T_FILES=""; T_PIPE=""; T_IMPORT=""
for i in $(seq 1 "$RUNS"); do
  sync; T_FILES="$T_FILES $(secs openssl_files)"
  sync; T_PIPE="$T_PIPE $(secs openssl_pipe)"
  sync; T_IMPORT="$T_IMPORT $(secs import_fresh "$i")"
done
"$CRATECAST" import-cargo --store "$TMP/store-1" "$TMP/home" | tail -1 # a second import: all held

# per-run seconds -> "median min max MB/s(median)"
stats() {
  $PY -c 'import sys, statistics as s
b = float(sys.argv[1]); v = [float(x) for x in sys.argv[2:]]
m = s.median(v)
print("%.3f %.3f %.3f %.0f" % (m, min(v), max(v), b / 1e6 / m))' "$BYTES" "$@"
}
# shellcheck disable=SC2086
S_FILES=$(stats $T_FILES); S_PIPE=$(stats $T_PIPE); S_IMPORT=$(stats $T_IMPORT)
echo
printf '%-36s %26s %10s\n' "" "seconds: median (min-max)" "MB/s"
row() { set -- "$1" $2; printf '%-36s %26s %10s\n' "$1" "$2 ($3-$4)" "$5"; }
row "openssl dgst -sha256 FILES" "$S_FILES"
row "cat FILES | openssl dgst -sha256" "$S_PIPE"
row "cratecast import-cargo, fresh store" "$S_IMPORT"
ratio() { $PY -c 'import sys; print("%.0f%%" % (100 * float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
m() { echo "$1" | cut -d' ' -f1; }
echo "import speed / openssl dgst FILES: $(ratio "$(m "$S_FILES")" "$(m "$S_IMPORT")") (target >= 90%)"
echo "import speed / cat | openssl dgst: $(ratio "$(m "$S_PIPE")" "$(m "$S_IMPORT")")"
echo "runs, s: openssl-files$T_FILES; openssl-pipe$T_PIPE; import$T_IMPORT"

# --- serving one crate: agent (warm store) vs nginx ---------------------------------------------
. "$HERE/lib.sh"
command -v curl >/dev/null || { echo "bench: curl not found: no serving comparison"; exit 0; }
NGINX=$(bench_find_nginx)
[ -n "$NGINX" ] || { echo "bench: nginx not found: no serving comparison"; exit 0; }

APORT=$(bench_free_port)
"$CRATECAST" agent --store "$TMP/store-1" --listen "127.0.0.1:$APORT" --upstream none \
  --no-import --no-mdns --peer-listen off >"$TMP/agent.log" 2>&1 &
PIDS+=($!)
SPORT=$(bench_free_port)
REGDIR=$(dirname "${FILES[0]}")
bench_nginx_start "$NGINX" "$TMP/nginx" "$SPORT" "$REGDIR"
bench_wait_http "http://127.0.0.1:$APORT/-/status"
bench_wait_http "http://127.0.0.1:$SPORT/" || true

# Crates near 16 KiB, the median size, and 1 MiB: (name, version, sha256) from the generator's
# file names and bytes.
PICKS=$($PY - "${FILES[@]}" <<'EOF'
import hashlib, os, re, sys
files = sorted(sys.argv[1:], key=os.path.getsize)
out = []
for want in (16 << 10, None, 1 << 20):
    f = files[len(files) // 2] if want is None else min(files, key=lambda p: abs(os.path.getsize(p) - want))
    m = re.match(r"(.+)-(\d+\.\d+\.\d+)\.crate$", os.path.basename(f))
    out.append("%s %s %s %s %d" % (os.path.basename(f), m.group(1), m.group(2),
                                   hashlib.sha256(open(f, "rb").read()).hexdigest(), os.path.getsize(f)))
print("\n".join(out))
EOF
)
echo
printf '%-30s %24s %24s %8s\n' "one crate, $REQS requests" "nginx p50 / p99 us" "agent p50 / p99 us" "p50 x"
while read -r file name vers sha size; do
  curl -sf -o /dev/null "http://127.0.0.1:$APORT/crates/$name/$vers/$sha" \
    || { echo "bench: the agent does not serve $name $vers" >&2; exit 1; }
  # taking turns, three samples each; the median sample of each is reported
  LN=(); LA=()
  for _ in 1 2 3; do
    LN+=("$(bench_latency "http://127.0.0.1:$SPORT/$file")")
    LA+=("$(bench_latency "http://127.0.0.1:$APORT/crates/$name/$vers/$sha")")
  done
  mid() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
  N=$(mid "${LN[@]}"); A=$(mid "${LA[@]}")
  x=$($PY -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' "${N%% *}" "${A%% *}")
  printf '%-30s %24s %24s %8s\n' "$(( size / 1024 )) KiB" "${N% *} / ${N#* }" "${A% *} / ${A#* }" "$x"
done <<<"$PICKS"
echo "target: agent p50 <= 1.2x nginx"
