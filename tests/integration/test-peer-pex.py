#!/usr/bin/python3
"""Peers, peer exchange: a third agent given only one address joins the whole mesh.

A (online, upstream.py) holds projects/app's crates. B (--upstream none) knows A (--peer A) and
holds nothing. C (--upstream none) is given only B's address. Then:
  - C's status lists A (by A's `cratecast id` key, at A's peer address) with via "pex" and A's
    crates, and B with via "static";
  - Cargo with a fresh CARGO_HOME resolves (the reference Cargo.lock, byte for byte) and builds
    the project through C; C's from_peers > 0 and every crate of the lock is a verified blob
    in C's store;
  - the upstream served no crate download after the warm-up; every blob hashes to its name.
"""

import json
import time

import harness


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    key_a = t.agent_id(a)
    locked = t.lock_checksums(ref)
    n_dl = len(up.downloads())

    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    key_b = t.agent_id(b)
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("crates", 0) >= len(locked),
                what="B lists A with its crates")

    t0 = time.time()
    c = t.start_agent(upstream=None, peer_listen=True, peers=[b])
    ent, s = t.wait_peer(c, key=key_a, addr=a.peer_addr,
                         pred=lambda e: e.get("crates", 0) >= len(locked),
                         what="C learns A (via pex from B) with its crates", timeout=30)
    harness.log("C listed A after %.2fs: %s" % (time.time() - t0, json.dumps(ent)))
    t.check(ent.get("via") == "pex", "C lists A with via %r, expected \"pex\"" % ent.get("via"))
    t.check(ent.get("id") == key_a, "C lists A's address with id %r, A's key is %s"
            % (ent.get("id"), key_a))
    t.check(ent.get("addr") == a.peer_addr, "C lists A at %r, expected %r"
            % (ent.get("addr"), a.peer_addr))
    eb = harness.peer_entry(s, key=key_b, addr=b.peer_addr)
    t.check(eb is not None and eb.get("via") == "static",
            "C should list B with via \"static\": %s" % json.dumps(s.get("peers")))

    home = t.cargo_home(c.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])

    s = c.status()
    harness.log("C status: %s" % json.dumps(s, sort_keys=True))
    t.check(harness.counter(s, "from_peers") > 0, "C: from_peers = %r"
            % harness.counter(s, "from_peers"))
    ent = harness.peer_entry(s, key=key_a)
    t.check(ent is not None and ent.get("via") == "pex",
            "after the build C's peers are %s" % json.dumps(s.get("peers")))
    blobs = t.check_store_invariant(c.store)
    missing = [ck for ck in locked if ck not in blobs]
    t.check(not missing, "C's store lacks blobs %s of the lock" % missing)
    sa, sb = a.status(), b.status()
    harness.log("served_to_peers: A %d, B %d" % (harness.counter(sa, "served_to_peers"),
                                                 harness.counter(sb, "served_to_peers")))
    t.check(harness.counter(sa, "served_to_peers") + harness.counter(sb, "served_to_peers") > 0,
            "neither A nor B counts served_to_peers")
    t.check(len(up.downloads()) == n_dl, "the upstream served crate downloads after the warm-up")
    t.check_store_invariant(a.store)
    t.check_store_invariant(b.store)
    for ag in (a, b, c):
        t.check(ag.alive(), "agent pid %d exited" % ag.pid)


if __name__ == "__main__":
    harness.main(test)
