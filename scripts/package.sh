#!/bin/sh
# package.sh — build the Debian package (debian/) from a clean copy of this tree and print its
# path as the last line: build-pkg/cratecast_<version>_<arch>.deb. Install it with
# `sudo apt install ./build-pkg/cratecast_*.deb`.
# usage: scripts/package.sh [OUTDIR]   (default: build-pkg beside scripts/)
#
# The copy holds the files git knows (tracked, and untracked but not ignored) as they are in
# the working tree, so uncommitted edits are packaged and build directories are not; outside a
# git checkout, everything but build*/. It is built in OUTDIR/src/ with
# `dpkg-buildpackage -b -us -uc` (meson, release, no tests: scripts/test.sh runs those); the
# build's output goes to OUTDIR/package.log, its tail to stderr on failure.
# Exit status: 0 with the path printed, non-zero on any failure.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-pkg}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
# The copy is made from the tree into OUTDIR: inside the tree, OUTDIR must be one git ignores.
case "$out/" in
  "$root/"build*) ;;
  "$root/"*) echo "package.sh: $out is inside the source tree: use build-pkg or a directory outside" >&2
             exit 2 ;;
esac

"$root/scripts/install-deps.sh" || { echo "package.sh: installing packages failed" >&2; exit 1; }

# The version is said twice, in meson.build and debian/changelog: they must agree.
mver=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build" | head -n 1)
dver=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
if [ "$mver" != "$dver" ]; then
  echo "package.sh: meson.build says version $mver, debian/changelog $dver" >&2
  echo "help: add a debian/changelog entry (dch -v $mver) or fix meson.build" >&2
  exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/package.log
rm -rf "$out/src"
mkdir -p "$out/src/cratecast-$dver"
src=$out/src/cratecast-$dver
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Deleted-but-tracked files are listed too; copy only what exists.
  # shellcheck disable=SC2016 # $f is the inner shell's
  (cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$root" && xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) |
    (cd "$root" && xargs -0 cp --parents -P -t "$src")
else
  (cd "$root" && tar --exclude='./build*' -cf - .) | (cd "$src" && tar -xf -)
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "package.sh: building cratecast $dver in $src (log: $log)" >&2
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" \
      dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "package.sh: dpkg-buildpackage failed (whole log: $log)" >&2
  exit 1
fi

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=cratecast_${dver}_${arch}.deb
[ -f "$out/src/$deb" ] || { echo "package.sh: dpkg-buildpackage made no $deb" >&2; exit 1; }
rm -f "$out"/cratecast_*.deb "$out"/cratecast-dbgsym_*.deb "$out"/cratecast_*.buildinfo \
  "$out"/cratecast_*.changes
mv "$out/src/$deb" "$out/"
for f in "$out"/src/cratecast-dbgsym_*.deb "$out"/src/cratecast_*.buildinfo \
  "$out"/src/cratecast_*.changes; do
  if [ -e "$f" ]; then mv "$f" "$out/"; fi
done
rm -rf "$out/src"
echo "$out/$deb"
