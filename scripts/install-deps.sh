#!/bin/sh
# Install every Debian 12 package cratecast needs to build, run, test and package
# (debhelper, dpkg-dev, fakeroot: scripts/package.sh).
# Idempotent: does nothing when everything is already present.
set -eu
PKGS="build-essential pkg-config meson ninja-build \
libuv1-dev libh2o-dev libssl-dev libcurl4-openssl-dev libsodium-dev \
libsqlite3-dev libzstd-dev libjansson-dev libcmocka-dev \
libavahi-client-dev libavahi-core-dev avahi-daemon avahi-utils dbus \
iproute2 curl python3 python3-cryptography zstd openssl clang libclang-rt-14-dev systemd chromium tcpdump \
debhelper dpkg-dev fakeroot"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
