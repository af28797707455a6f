#!/usr/bin/env bash
# bench-bundle.sh — how fast `cratecast bundle import` reads a big bundle into a fresh store,
# against only decompressing and hashing the same file (`zstd -dc FILE | openssl dgst -sha256`),
# and how much memory export and import take. Not part of the test suite.
#
# usage: tests/bench/bench-bundle.sh [path/to/cratecast]
#   env: RUNS=3 (timed runs of each, taking turns; the median is reported)
#        N_CRATES=2000  TOTAL_MB=2048  MIN_KB=10  MAX_KB=5000 (the synthetic crates: random,
#        incompressible bytes, log-normal sizes; see bench_import.py)
#        BENCH_DIR=/tmp (one directory on a disk, not tmpfs: CARGO_HOME, source store, bundle,
#        and one fresh store per import run; about (3 + RUNS) x TOTAL_MB, checked first)
#        KEEP=1 (keep the directory)
#
# Setup: bench_import.py writes a CARGO_HOME; `cratecast import-cargo` makes the source store
# (every crate has a trusted index entry); the CARGO_HOME is then deleted. `bundle export --all`
# writes the bundle once, under /usr/bin/time -v (wall time, peak RSS). The bundle is read
# once to warm the page cache. Then RUNS times, taking turns, each after `sync`:
#   zstd -dc FILE | openssl dgst -sha256            (the floor: decompress + hash, no writes)
#   cratecast bundle import FILE --store NEW        (a new store each run; includes verifying
#                                                    signatures, hashing, writing and syncing)
# under /usr/bin/time -v for the import's peak RSS. A last import into the first run's store
# (everything held) is timed once. The stores of earlier runs stay until the end (ext4 skips
# recently freed inodes: deleting gigabytes between runs slows the next run's file creation).
#
# Targets: import speed >= 0.5x the zstd|openssl pipeline; peak RSS < 64 MB for both.
# The last line is a markdown table row:
# | data | crates | zstd|openssl s | import s (MB/s) | import/pipeline speed | import RSS | export s | export RSS |
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATECAST=${1:-${CRATECAST:-$ROOT/build/cratecast}}
RUNS=${RUNS:-3}
N_CRATES=${N_CRATES:-2000}
TOTAL_MB=${TOTAL_MB:-2048}
MIN_KB=${MIN_KB:-10}
MAX_KB=${MAX_KB:-5000}
BENCH_DIR=${BENCH_DIR:-/tmp}
PY=/usr/bin/python3
TIME=/usr/bin/time
[ -x "$CRATECAST" ] || { echo "bench: no cratecast binary at $CRATECAST" >&2; exit 1; }
for c in zstd openssl; do
  command -v "$c" >/dev/null || { echo "bench: $c not found" >&2; exit 1; }
done
[ -x "$TIME" ] || { echo "bench: GNU time ($TIME) not found (apt-get install time)" >&2; exit 1; }
"$CRATECAST" bundle --help >/dev/null 2>&1 || { echo "bench: $CRATECAST has no bundle command" >&2; exit 1; }

NEED_MB=$(( (3 + RUNS) * TOTAL_MB + 512 ))
AVAIL_MB=$(df -Pm "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
if [ "$AVAIL_MB" -lt "$NEED_MB" ]; then
  echo "bench: $BENCH_DIR has $AVAIL_MB MB free, this needs ~$NEED_MB MB: lower TOTAL_MB or RUNS" >&2
  exit 1
fi

TMP=$(mktemp -d "$BENCH_DIR/cratecast-bench-bundle.XXXXXX")
cleanup() {
  if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "${TMP:?}"; fi
}
trap cleanup EXIT
FSTYPE=$(findmnt -no FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP")
[ "$FSTYPE" = tmpfs ] && echo "bench: warning: $TMP is on tmpfs, not a disk" >&2

echo "generating $N_CRATES crates (~$TOTAL_MB MiB, $MIN_KB KiB..$MAX_KB KiB) in $TMP ($FSTYPE) ..."
GEN=$($PY "$HERE/bench_import.py" "$TMP/home" "$N_CRATES" "$TOTAL_MB" 2 "$MIN_KB" "$MAX_KB")
echo "$GEN"
"$CRATECAST" import-cargo --store "$TMP/src" "$TMP/home" | tail -1
rm -rf "${TMP:?}/home"
sync

# /usr/bin/time -v output -> "seconds maxrss_kb user_s sys_s"
tv() {
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
                                         for (i = 1; i <= n; i++) s = s * 60 + p[i] }
              /Maximum resident set size/ { r = $2 }
              /User time/ { u = $2 }
              /System time/ { y = $2 }
              END { printf "%.3f %d %.2f %.2f\n", s, r, u, y }' "$1"
}
secs() { # command... -> wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

FILE="$TMP/all.ccb"
echo "bundle export --all ..."
$TIME -v -o "$TMP/export.time" "$CRATECAST" bundle export "$FILE" --all --store "$TMP/src" >"$TMP/export.out"
cat "$TMP/export.out"
read -r EXP_S EXP_RSS u y < <(tv "$TMP/export.time")
echo "export: ${EXP_S}s wall, ${u}s user, ${y}s sys"
FBYTES=$(stat -c %s "$FILE")
cat "$FILE" >/dev/null # warm the page cache
SBYTES=$(zstd -dc "$FILE" | wc -c)
echo "bundle: $(( FBYTES / 1048576 )) MiB compressed, $(( SBYTES / 1048576 )) MiB of stream; $(nproc) cores"

pipeline() { zstd -dc "$FILE" | openssl dgst -sha256; }
T_PIPE=""; T_IMP=""; RSS_IMP=""
echo "x$RUNS, taking turns: zstd -dc | openssl dgst -sha256, cratecast bundle import (fresh store) ..."
for i in $(seq 1 "$RUNS"); do
  sync; T_PIPE="$T_PIPE $(secs pipeline)"
  sync
  $TIME -v -o "$TMP/import-$i.time" "$CRATECAST" bundle import "$FILE" --store "$TMP/store-$i" >"$TMP/import-$i.out"
  read -r s r u y < <(tv "$TMP/import-$i.time")
  T_IMP="$T_IMP $s"; RSS_IMP="$RSS_IMP $r"
  echo "import $i: ${s}s wall, ${u}s user, ${y}s sys: $(tail -1 "$TMP/import-$i.out")"
done
sync
$TIME -v -o "$TMP/reimport.time" "$CRATECAST" bundle import "$FILE" --store "$TMP/store-1" >"$TMP/reimport.out"
read -r RE_S RE_RSS _ _ < <(tv "$TMP/reimport.time")
echo "re-import (all held): ${RE_S}s, $(( RE_RSS / 1024 )) MB peak RSS: $(tail -1 "$TMP/reimport.out")"

# shellcheck disable=SC2086
$PY - "$SBYTES" "$N_CRATES" "$EXP_S" "$EXP_RSS" "$T_PIPE" "$T_IMP" "$RSS_IMP" <<'EOF'
import statistics as st, sys
sbytes, n = int(sys.argv[1]), int(sys.argv[2])
exp_s, exp_rss = float(sys.argv[3]), int(sys.argv[4])
pipe = [float(x) for x in sys.argv[5].split()]
imp = [float(x) for x in sys.argv[6].split()]
rss = [int(x) for x in sys.argv[7].split()]
mp, mi = st.median(pipe), st.median(imp)
mbs = lambda s: sbytes / 1e6 / s
ratio = mp / mi
print()
print("runs, s: pipeline %s; import %s; import peak RSS MB %s"
      % (" ".join("%.2f" % x for x in pipe), " ".join("%.2f" % x for x in imp),
         " ".join("%.1f" % (x / 1024) for x in rss)))
print("import speed / (zstd -dc | openssl dgst): %.2fx (target >= 0.5x): %s"
      % (ratio, "ok" if ratio >= 0.5 else "MISSED"))
print("peak RSS: import %.1f MB, export %.1f MB (target < 64 MB): %s"
      % (max(rss) / 1024, exp_rss / 1024, "ok" if max(max(rss), exp_rss) < 64 * 1024 else "MISSED"))
print()
print("| data | crates | zstd -dc \\| openssl dgst | bundle import, fresh store | import / pipeline "
      "| import peak RSS | bundle export --all | export peak RSS |")
print("|---|---|---|---|---|---|---|---|")
print("| %.2f GB | %d | %.2f s (%.0f MB/s) | %.2f s (%.0f MB/s) | %.2fx | %.1f MB | %.2f s (%.0f MB/s) | %.1f MB |"
      % (sbytes / 1e9, n, mp, mbs(mp), mi, mbs(mi), ratio, max(rss) / 1024, exp_s, mbs(exp_s),
         exp_rss / 1024))
EOF
