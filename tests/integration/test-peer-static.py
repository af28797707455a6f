#!/usr/bin/python3
"""Peers, static: an agent with no upstream builds the project from one peer's store.

Agent A (online, upstream.py, peer side on) warms up: Cargo resolves and fetches projects/app
through it (the reference Cargo.lock). Agent B has --upstream none and --peer A, and an empty
store. Once B lists A (by its `cratecast id` key, at the address it was given, via "static",
with A's crates in its manifest), Cargo with a fresh CARGO_HOME resolves and builds the project
through B:
  - the Cargo.lock equals the reference byte for byte and the binary prints the right sum;
  - B's status: from_peers > 0, bytes_from_peers > 0, A listed with via "static", its id, its
    addr, crates >= the lock's crates and a recent last_seen (`cratecast status --json` agrees);
  - every crate of the lock is now a verified blob in B's store (stored before it was served);
  - A's status counts served_to_peers > 0 and bytes_to_peers > 0;
  - the upstream saw no request caused by B beyond what A needed for itself (no crate download
    after the warm-up), and every blob in both stores hashes to its name.
"""

import json
import time

import harness


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    t.check_app_lock(ref)
    key_a = t.agent_id(a)
    harness.log("A's key: %s" % key_a)
    n_dl = len(up.downloads())
    locked = t.lock_checksums(ref)

    t0 = time.time()
    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    ent, _ = t.wait_peer(b, key=key_a, addr=a.peer_addr,
                         pred=lambda e: e.get("crates", 0) >= len(locked),
                         what="B lists A with its %d crates" % len(locked))
    harness.log("B listed A after %.2fs: %s" % (time.time() - t0, json.dumps(ent)))

    home = t.cargo_home(b.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])

    s = b.status()
    harness.log("B status: %s" % json.dumps(s, sort_keys=True))
    t.check(harness.counter(s, "from_peers") > 0, "B: from_peers = %r"
            % harness.counter(s, "from_peers"))
    t.check(harness.counter(s, "bytes_from_peers") > 0, "B: bytes_from_peers = %r"
            % harness.counter(s, "bytes_from_peers"))
    t.check(harness.counter(s, "from_upstream") == 0, "B (no upstream): from_upstream = %r"
            % harness.counter(s, "from_upstream"))
    ent = harness.peer_entry(s, key=key_a)
    t.check(ent is not None, "B's status.peers has no entry with A's id %s: %s"
            % (key_a, json.dumps(s.get("peers"))))
    t.check(ent.get("via") == "static", "B lists A with via %r, expected \"static\""
            % ent.get("via"))
    t.check(ent.get("addr") == a.peer_addr, "B lists A at %r, expected %r"
            % (ent.get("addr"), a.peer_addr))
    t.check(isinstance(ent.get("crates"), int) and ent["crates"] >= len(locked),
            "B lists A with crates = %r, A holds %d" % (ent.get("crates"), len(locked)))
    ls = ent.get("last_seen")
    t.check(isinstance(ls, (int, float)) and abs(time.time() - ls) < 120,
            "B lists A with last_seen = %r (now %d)" % (ls, time.time()))
    if "state" in ent:
        t.check(ent["state"] == "live", "B lists A in state %r after using it" % ent["state"])

    # the CLI's document has the same peer
    _, out = t.run([t.cratecast, "status", "--json", "--agent", b.url], timeout=30)
    try:
        cli = json.loads(out)
    except ValueError:
        raise harness.Failure("`cratecast status --json` did not print JSON:\n%s" % out[-2000:])
    ce = harness.peer_entry(cli, key=key_a)
    t.check(ce is not None and ce.get("via") == "static" and ce.get("addr") == a.peer_addr,
            "`cratecast status --json` peers: %s" % json.dumps(cli.get("peers")))

    # what B served Cargo went through its store, verified
    blobs = t.check_store_invariant(b.store)
    missing = [ck for ck in locked if ck not in blobs]
    t.check(not missing, "B's store lacks blobs %s of the lock" % missing)

    sa = t.wait_status(a, lambda s: harness.counter(s, "served_to_peers") > 0,
                       "A's counters.served_to_peers > 0", timeout=5)
    harness.log("A status: %s" % json.dumps(sa, sort_keys=True))
    t.check(harness.counter(sa, "bytes_to_peers") > 0, "A: bytes_to_peers = %r"
            % harness.counter(sa, "bytes_to_peers"))
    t.check(len(up.downloads()) == n_dl, "the upstream served %d more crate downloads after the "
            "warm-up" % (len(up.downloads()) - n_dl))
    t.check_store_invariant(a.store)
    t.check(a.alive() and b.alive(), "an agent exited")


if __name__ == "__main__":
    harness.main(test)
