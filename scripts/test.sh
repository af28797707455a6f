#!/bin/sh
# test.sh — the one command CI runs (.ci/run): install packages, build, run every test suite;
# then build again with ASan+UBSan and run the unit, fuzz and integration suites under it;
# then run every libFuzzer target for a bounded time (clang build in build-fuzz/).
#
# Build directories: build/ and build-asan/ (reused; reconfigured when they exist).
# The last line printed is the summary over both runs: "<N> passed, <M> failed".
# Exit status: 0 only when nothing failed (a failed setup or compile counts as a failure).
set -u
cd "$(dirname "$0")/.."

./scripts/install-deps.sh || { echo "test.sh: installing packages failed" >&2; exit 1; }

# Real cargo (rustup) lives in ~/.cargo/bin: the integration tests drive it.
case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) PATH="$HOME/.cargo/bin:$PATH"; export PATH ;;
esac

STEP_FAILS=0
LOGS=""

# setup DIR [meson options...]: configure, or reconfigure an existing directory; wipe as a
# last resort (e.g. a build dir left by another meson version).
setup() {
  dir=$1; shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

# run DIR SETUP-OPTIONS -- TEST-OPTIONS: setup, compile, test; counts step failures.
run() {
  dir=$1; shift
  opts=""
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts="$opts $1"; shift; done
  [ $# -gt 0 ] && shift
  echo "==== $dir: setup"
  # shellcheck disable=SC2086
  if ! setup "$dir" $opts; then
    echo "test.sh: meson setup $dir failed" >&2; STEP_FAILS=$((STEP_FAILS + 1)); return
  fi
  echo "==== $dir: compile"
  if ! meson compile -C "$dir"; then
    echo "test.sh: meson compile -C $dir failed" >&2; STEP_FAILS=$((STEP_FAILS + 1)); return
  fi
  echo "==== $dir: test"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs "$@"
  LOGS="$LOGS $dir/meson-logs/testlog.json"
}

run build --

ASAN_OPTIONS=detect_leaks=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS
# Only suites that exist are passed: meson refuses a --suite that matches no test.
SUITES=""
if [ -d build ] && listing=$(meson test -C build --list 2>/dev/null); then
  for s in unit fuzz integration; do
    echo "$listing" | grep -q "^[^ ]*:$s / " && SUITES="$SUITES --suite $s"
  done
fi
[ -n "$SUITES" ] || SUITES="--suite unit --suite integration"
# shellcheck disable=SC2086
run build-asan -Db_sanitize=address,undefined -Db_lundef=false -- $SUITES

# Bounded libFuzzer runs of every proto/ decoder (clang; FUZZ_SECONDS each, default 20).
if command -v clang >/dev/null 2>&1; then
  CC=clang
  export CC
  run build-fuzz -Dfuzz=true -Dfuzz_seconds="${FUZZ_SECONDS:-20}" -- --suite fuzz-run
  unset CC
else
  echo "test.sh: clang not found: libFuzzer runs skipped" >&2
fi

/usr/bin/python3 - "$STEP_FAILS" $LOGS <<'EOF'
import json, sys
step_fails = int(sys.argv[1])
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        f = open(path)
    except OSError:
        print("test.sh: no test log %s (meson test did not run)" % path)
        failed += 1
        continue
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line).get("result", "")
            except ValueError:
                continue
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, ...
                failed += 1
failed += step_fails
if skipped:
    print("(%d skipped)" % skipped)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
