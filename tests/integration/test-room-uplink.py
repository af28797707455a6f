#!/usr/bin/python3
"""The room under load (issue 7): the uplink once per room.

Two agents A and B are online behind one upstream (upstream.py, which counts downloads and
answers each after 400 ms, like a slow uplink), and are each other's --peer. Cargo fetches
projects/app through A and, at the same moment, through B. B sees (by A's news) that A is already
fetching each crate, waits for A, and takes it from A (or A from B, when B's Cargo overtook):
the upstream serves every crate once.
"""

import collections
import time

import harness

# B's Cargo starts this long after A's: at the same moment, as a class does (the agents then
# learn of each other's fetches only through the rendezvous order and news, never by luck of
# timing).
STAGGER_S = 0.0


def test(t):
    up = t.start_upstream(extra=["--delay-ms", "400"])
    a = t.start_agent(upstream=up.url, peer_listen=True)
    b = t.start_agent(upstream=up.url, peer_listen=True, peers=[a])
    key_a, key_b = t.agent_id(a), t.agent_id(b)
    t.wait_peer(a, key=key_b, pred=lambda e: e.get("state") == "live", what="A sees B")
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("state") == "live", what="B sees A")
    pa, pb = t.project("app"), t.project("app")
    ha, hb = t.cargo_home(a.registry_url), t.cargo_home(b.registry_url)
    t.cargo(["generate-lockfile"], pa, ha)
    t.cargo(["generate-lockfile"], pb, hb)
    ra = t.cargo_bg(["fetch"], pa, ha)
    time.sleep(STAGGER_S)
    rb = t.cargo_bg(["fetch"], pb, hb)
    t.cargo_wait(ra)
    t.cargo_wait(rb)
    counts = collections.Counter(path for _, path, st in up.downloads() if st == 200)
    harness.log("upstream downloads: %s" % dict(counts))
    n_locked = sum(len(v) for v in t.manifest["expected_app_lock"].values())
    t.check(len(counts) == n_locked, "the upstream served %d distinct crates, expected %d"
            % (len(counts), n_locked))
    twice = {k: v for k, v in counts.items() if v > 1}
    t.check(not twice, "crates downloaded from the upstream more than once: %s" % twice)
    got = harness.counter(a.status(), "from_peers") + harness.counter(b.status(), "from_peers")
    t.check(got == n_locked, "A and B took %d crates from each other, expected %d (each crate "
            "once from the upstream, once from the neighbour)" % (got, n_locked))


if __name__ == "__main__":
    harness.main(test)
