#!/usr/bin/python3
"""Fault: the store's file system is full.

The store lives on a 4 MiB tmpfs (root only; skipped otherwise). Cargo fetches projects/big,
whose big-blob (~20 MB) cannot fit:
  - Cargo fails cleanly (non-zero exit) naming big-blob; the agent keeps running and serving;
  - nothing half-written is left: tmp/ is empty and every blob file hashes to its name;
  - the small crates of projects/app still download, verify and build through the same agent.
"""

import os
import subprocess

import harness

BIG_MB = 20


def test(t):
    if os.geteuid() != 0:
        raise harness.Skip("mounting a tmpfs needs root")
    t.big_mb = BIG_MB
    t.registry
    mnt = t.fresh_dir("small-fs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if r.returncode != 0:
        raise harness.Skip("cannot mount a tmpfs: %s" % r.stdout.decode(errors="replace"))
    try:
        run(t, mnt)
    finally:
        t.stop_all_checked()
        subprocess.run(["umount", mnt], timeout=30)


def run(t, mnt):
    store = os.path.join(mnt, "store")
    up = t.start_upstream()
    ag = t.start_agent(store=store, upstream=up.url)
    home = t.cargo_home(ag.registry_url)
    proj = t.project("big")
    t.cargo(["generate-lockfile"], proj, home)
    rc, out = t.cargo(["fetch"], proj, home, check=False)
    t.check(rc != 0, "cargo fetch of a 20 MB crate into a 4 MiB store succeeded")
    t.check("big-blob" in out, "Cargo's error does not name big-blob:\n%s" % out[-2000:])
    t.check(ag.alive(), "the agent died on a full disk")
    log = open(ag.log, errors="replace").read()
    t.check("No space left" in log or "ENOSPC" in log,
            "the agent's log does not say the disk is full:\n%s" % log[-2000:])
    t.check(not os.listdir(os.path.join(store, "tmp")), "tmp/ holds %s"
            % os.listdir(os.path.join(store, "tmp")))
    t.check_store_invariant(store)

    home2 = t.cargo_home(ag.registry_url)
    app = t.project("app")
    t.cargo(["generate-lockfile"], app, home2)
    t.build_and_run(app, home2, expect=t.manifest["expected_app_output"])
    blobs = t.check_store_invariant(store)
    missing = [ck for ck in t.lock_checksums(app) if ck not in blobs]
    t.check(not missing, "the store lacks %s after the app's build" % missing)


if __name__ == "__main__":
    harness.main(test)
