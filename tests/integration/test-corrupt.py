#!/usr/bin/python3
"""(f) A .crate corrupted at the upstream never reaches Cargo or the store.

upstream.py serves abc 0.3.1 with flipped bytes. Through the online agent, `cargo fetch` of
projects/app fails (and says which crate), while:
  - no file in the store has the corrupted bytes' hash, every blob hashes to its name, and no
    blob claims abc 0.3.1's checksum;
  - Cargo's own cache never got abc-0.3.1.crate;
  - counters.rejected > 0;
  - the agent keeps serving: config.json, and a project that does not need abc builds.
"""

import hashlib
import os

import harness

BAD = ("abc", "0.3.1")


def corrupted(data):
    # the same flip upstream.py applies
    b = bytearray(data)
    for i in range(len(b) // 3, min(len(b), len(b) // 3 + 16)):
        b[i] ^= 0xFF
    return bytes(b)


def test(t):
    bad = t.crate(*BAD)
    with open(os.path.join(t.registry, bad["file"]), "rb") as f:
        bad_hash = hashlib.sha256(corrupted(f.read())).hexdigest()
    up = t.start_upstream(corrupt=["%s@%s" % BAD])
    ag = t.start_agent(upstream=up.url)

    home = t.cargo_home(ag.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.check_app_lock(proj)
    rc, out = t.cargo(["fetch"], proj, home, check=False)
    t.check(rc != 0, "cargo fetch succeeded although abc 0.3.1 is corrupt at the upstream")
    t.check("abc" in out, "cargo's error does not name the crate:\n%s" % out[-3000:])
    harness.log("cargo fetch failed as expected: %s"
                % [ln for ln in out.splitlines() if "error" in ln.lower()][:3])

    # direct request too: the agent must not hand out the bad bytes
    st, _, body = harness.http_get(ag.port, "/crates/%s/%s/%s" % (BAD[0], BAD[1], bad["cksum"]))
    t.check(st != 200 or hashlib.sha256(body).hexdigest() == bad["cksum"],
            "agent served abc 0.3.1 with sha256 %s" % hashlib.sha256(body).hexdigest())
    t.check(st >= 400, "GET of the corrupt crate answered %d" % st)

    blobs = t.check_store_invariant(ag.store)
    t.check(bad["cksum"] not in blobs, "store holds a blob named abc 0.3.1's cksum")
    t.check(bad_hash not in blobs, "store holds the corrupted bytes")
    for dirpath, _, files in os.walk(ag.store):
        for fn in files:
            p = os.path.join(dirpath, fn)
            if fn.startswith("store.db"):
                continue
            t.check(harness.sha256_file(p) != bad_hash, "corrupted bytes found at %s" % p)
    for dirpath, _, files in os.walk(os.path.join(home, "registry")):
        t.check("abc-0.3.1.crate" not in files, "cargo's cache holds abc-0.3.1.crate in %s"
                % dirpath)

    s = ag.status()
    t.check(s["counters"].get("rejected", 0) > 0, "counters.rejected = %r"
            % s["counters"].get("rejected"))

    # still serving
    st, _, _ = harness.http_get(ag.port, "/index/config.json")
    t.check(st == 200, "config.json answered %d after the rejection" % st)
    pin = t.project("pin")
    home2 = t.cargo_home(ag.registry_url)
    t.cargo(["generate-lockfile"], pin, home2)
    t.build_and_run(pin, home2, expect="pin ok 400")
    t.check(ag.alive(), "agent exited")


if __name__ == "__main__":
    harness.main(test)
