#!/usr/bin/python3
"""Peers, fault: a peer SIGKILLed in the middle of a transfer does not fail the build.

The registry gets big-blob 1.0.0 (~20 MB of incompressible data) and projects/big (app's
dependencies plus big-blob). A and B (both online, one upstream.py) each warm up by fetching
projects/big, so both hold every crate. C (--upstream none, peer side off) knows A and B only
through two throttling proxies (10 MB/s per answer), so big-blob takes ~2 s to cross one of
them. While C's Cargo resolves and fetches, the test watches both proxies; the first one that
has forwarded a quarter of big-blob has its agent SIGKILLed (by PID). Then:
  - Cargo's fetch succeeds (C moved to the other holder), the build runs and prints the sum;
  - the survivor's proxy answered big-blob in full; C's store holds big-blob's verified blob
    and every blob in C's store hashes to its name (nothing half-written under a real name);
  - C keeps serving and its status says from_peers > 0.
"""

import json
import time

import harness

BIG_MB = 20
RATE = 10 << 20  # bytes/s through each proxy


def test(t):
    t.big_mb = BIG_MB
    t.registry  # generated now, with big-blob
    big = t.manifest["big"]
    up = t.start_upstream()
    holders = []
    for label in ("A", "B"):
        ag = t.start_agent(upstream=up.url, peer_listen=True)
        home = t.cargo_home(ag.registry_url)
        proj = t.project("big")
        t.cargo(["generate-lockfile"], proj, home)
        t.cargo(["fetch"], proj, home)
        ag.label = label
        holders.append(ag)
    ref = proj
    locked = t.lock_checksums(ref)
    t.check(big["cksum"] in locked, "projects/big's lock does not hold big-blob")
    keys = {ag.label: t.agent_id(ag) for ag in holders}
    proxies = {ag.label: t.start_proxy(ag, rate=RATE) for ag in holders}

    # C's peer side is off: with it on, C's hellos would tell A and B its address, they would
    # poll C, learn each other's (and their own proxies') addresses from its manifest, and C
    # would learn their direct addresses back through pex, bypassing the proxies.
    c = t.start_agent(upstream=None, peer_listen=False, peers=[proxies["A"].addr,
                                                                proxies["B"].addr])
    for ag in holders:
        _, s = t.wait_peer(c, key=keys[ag.label], addr=proxies[ag.label].addr,
                           pred=lambda e: e.get("crates", 0) >= len(locked),
                           what="C lists %s (through its proxy) with its crates" % ag.label)
    addrs = sorted(e.get("addr") for e in s.get("peers") or [])
    t.check(addrs == sorted(px.addr for px in proxies.values()),
            "C knows peers %s besides the two proxies: the test cannot throttle them" % addrs)

    home = t.cargo_home(c.registry_url)
    proj = t.project("big")
    crate_path = "/peer/1/crate/" + big["cksum"]
    threshold = big["size"] // 4
    killed = None
    # generate-lockfile, then fetch: watch the proxies through both (C could start the big
    # transfer as soon as it has the index)
    for step in (["generate-lockfile"], ["fetch"]):
        pr = t.cargo_bg(step, proj, home)
        deadline = time.time() + 120
        while pr.alive() and time.time() < deadline:
            if killed is None:
                for ag in holders:
                    n = proxies[ag.label].bytes_sent(crate_path)
                    if n >= threshold:
                        harness.log("%s's proxy forwarded %d of %d bytes of big-blob: killing %s"
                                    % (ag.label, n, big["size"], ag.label))
                        t.kill(ag)
                        killed = ag
                        killed_at = n
                        break
            time.sleep(0.02)
        rc, out = t.cargo_wait(pr, check=False)
        t.check(rc == 0, "cargo %s failed (%d) although a live peer holds every crate "
                "(killed: %s):\n%s" % (step[0], rc, killed and killed.label, out[-4000:]))
    t.check(killed is not None,
            "no proxy forwarded %d bytes of big-blob while Cargo ran (A: %d, B: %d bytes; "
            "requests A %s, B %s): nothing was interrupted"
            % (threshold, proxies["A"].bytes_sent(crate_path), proxies["B"].bytes_sent(crate_path),
               proxies["A"].requested(crate_path), proxies["B"].requested(crate_path)))
    t.same_lock(ref, proj)
    survivor = [ag for ag in holders if ag is not killed][0]
    got = proxies[survivor.label].bytes_sent(crate_path)
    harness.log("killed %s after %d bytes; %s answered %d bytes of big-blob (%d requests)"
                % (killed.label, killed_at, survivor.label, got,
                   len(proxies[survivor.label].requested(crate_path))))
    t.check(got >= big["size"], "the survivor %s forwarded only %d of %d bytes of big-blob"
            % (survivor.label, got, big["size"]))

    t.build_and_run(proj, home, offline=True, expect=t.manifest["expected_big_output"])

    s = c.status()
    harness.log("C status: %s" % json.dumps(s, sort_keys=True))
    t.check(harness.counter(s, "from_peers") > 0, "C: from_peers = %r"
            % harness.counter(s, "from_peers"))
    ent = harness.peer_entry(s, key=keys[killed.label])
    harness.log("C's entry for the killed peer: %s" % json.dumps(ent))
    blobs = t.check_store_invariant(c.store)
    missing = [ck for ck in locked if ck not in blobs]
    t.check(not missing, "C's store lacks blobs %s of the lock" % missing)
    st, _, _ = harness.http_get(c.port, "/index/config.json")
    t.check(st == 200, "C: config.json answered %d" % st)
    t.check_store_invariant(survivor.store)
    t.check_store_invariant(killed.store)
    t.check(c.alive() and survivor.alive(), "an agent exited")


if __name__ == "__main__":
    harness.main(test)
