#!/usr/bin/python3
"""Peers, offline: a version counts as available when its crate is in the store or at a live peer.

A (online, upstream.py) warms up with projects/app (cc-util 1.2.0) and projects/pin (cc-util
=1.0.0), so it holds cc-util 1.0.0 and 1.2.0 but not 1.1.0. B has --upstream none and --peer A.
  1. While A is live, B's index file for cc-util (the lines it serves Cargo) lists exactly
     1.0.0 and 1.2.0 (1.1.0 is held nowhere), each line byte for byte the upstream's.
  2. Cargo through B builds projects/loose (cc-util = "1": the best available, 1.2.0).
  3. A is stopped. Once B no longer lists A as live, its cc-util index lists only 1.2.0 (in
     B's store now): 1.0.0 was only at A. projects/pin (=1.0.0) then fails to resolve through
     B, cleanly and naming cc-util, while projects/loose still builds from B's store alone.
"""

import json
import os

import harness


def versions(t, ag, name):
    """{vers: line} of the index file ag serves Cargo for name."""
    st, _, body = harness.http_get(ag.port, "/index/" + harness.registry.index_path(name),
                                   timeout=10)
    t.check(st in (200, 404), "B answered %d for the %s index file" % (st, name))
    out = {}
    if st == 200:
        for line in body.decode().splitlines():
            if line.strip():
                out[json.loads(line)["vers"]] = line
    return out


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    home = t.cargo_home(a.registry_url)
    pin = t.project("pin")
    t.cargo(["generate-lockfile"], pin, home)
    t.cargo(["fetch"], pin, home)
    key_a = t.agent_id(a)
    n_a = a.status()["store"]["crates"]

    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("crates", 0) >= n_a,
                what="B lists A with its %d crates" % n_a)

    with open(os.path.join(t.registry, "index", harness.registry.index_path("cc-util"))) as f:
        upstream_lines = {json.loads(ln)["vers"]: ln.rstrip("\n") for ln in f if ln.strip()}
    got = versions(t, b, "cc-util")
    harness.log("B lists cc-util %s while A is live" % sorted(got))
    t.check(sorted(got) == ["1.0.0", "1.2.0"],
            "with A live, B lists cc-util %s, expected 1.0.0 and 1.2.0 (1.1.0 is held nowhere)"
            % sorted(got))
    for v, line in got.items():
        t.check(line == upstream_lines[v], "B's index line for cc-util %s differs from the "
                "upstream's:\n  %s\n  %s" % (v, line, upstream_lines[v]))

    loose = t.project("loose")
    home = t.cargo_home(b.registry_url)
    t.cargo(["generate-lockfile"], loose, home)
    t.check(sorted(t.lock(loose).get("cc-util", {})) == ["1.2.0"],
            "projects/loose locked cc-util %s" % sorted(t.lock(loose).get("cc-util", {})))
    t.build_and_run(loose, home, expect="loose ok %d" % (420 + 11))

    a.stop()
    s = t.wait_status(b, lambda s: (harness.peer_entry(s, key=key_a) or {}).get("state",
                                                                              "gone") != "live",
                      "B no longer lists A as live", timeout=20)
    harness.log("B's entry for the stopped A: %s"
                % json.dumps(harness.peer_entry(s, key=key_a)))
    got = versions(t, b, "cc-util")
    harness.log("B lists cc-util %s with A gone" % sorted(got))
    t.check(sorted(got) == ["1.2.0"], "with A gone, B lists cc-util %s, expected only 1.2.0 "
            "(in its store)" % sorted(got))

    pin = t.project("pin")
    home = t.cargo_home(b.registry_url)
    rc, out = t.cargo(["generate-lockfile"], pin, home, check=False)
    t.check(rc != 0, "projects/pin (cc-util =1.0.0) resolved through B although 1.0.0 was "
            "only at the stopped A")
    t.check("cc-util" in out, "cargo's error does not name cc-util:\n%s" % out[-2000:])
    loose2 = t.project("loose")
    home = t.cargo_home(b.registry_url)
    t.cargo(["generate-lockfile"], loose2, home)
    t.same_lock(loose, loose2)
    t.build_and_run(loose2, home, expect="loose ok %d" % (420 + 11))
    t.check_store_invariant(b.store)
    t.check_store_invariant(a.store)
    t.check(b.alive(), "B exited")


if __name__ == "__main__":
    harness.main(test)
