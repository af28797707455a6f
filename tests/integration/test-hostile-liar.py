#!/usr/bin/python3
"""Hostile peers, a liar: a peer caught sending bad bytes is not asked again and again.

An honest agent H (online, upstream.py) warms up with projects/app and projects/newapp, so it
holds every crate of both locks; the victim reaches H through a proxy that adds HONEST_DELAY_S
before each answer (an honest holder slower than the liar, so that H is often at its bound of
transfers and the victim is tempted to turn to L). A fake peer L (tests/integration/
fakepeer.py, its own key) lists exactly the same crates with their true sizes, but answers
every crate request with bytes of the right length that are not the crate (a byte flipped in
each). The victim V has --upstream none, its peer side off, and --peer <H's proxy> --peer L.
Once both are live at V, Cargo resolves and builds projects/app, then projects/newapp,
through V:
  - both builds succeed and print the right sums; the app's lock equals the reference;
  - L was asked for at most LIAR_MAX_ASKS crates in all (a first concurrent wave may reach it
    before its first lie is seen; after that, while H holds the crate, L is not asked);
  - V counts rejected.peer_checksum for L's lies; none of L's bytes is in V's store, and
    every blob there hashes to its name.
"""

import hashlib
import json

import fakepeer
import harness

LIAR_MAX_ASKS = 4  # crate requests L may get in all (PEER_INFLIGHT_MAX: one first wave)
HONEST_DELAY_S = 0.5  # added before each of H's answers


class Liar(fakepeer.FakePeer):
    def on_crate(self, h, sha):
        data = self.crates.get(sha)
        if data is None:
            return h.reply(404, b"no\n", "text/plain")
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xFF
        h.reply(200, bytes(bad), "application/octet-stream")


def test(t):
    fakepeer.self_check()
    up, h, ref = t.warm_up("app", peer_listen=True)
    home_h = t.cargo_home(h.registry_url)
    ref2 = t.project("newapp")
    t.cargo(["generate-lockfile"], ref2, home_h)
    t.cargo(["fetch"], ref2, home_h)
    key_h = t.agent_id(h)

    crates = {}
    for c in fakepeer.lock_crates(t, ref) + fakepeer.lock_crates(t, ref2):
        crates[c["cksum"]] = c
    liar = Liar(label="L")
    bad_hashes = []
    for c in crates.values():
        liar.add_crate(c["data"])
        bad = bytearray(c["data"])
        bad[len(bad) // 2] ^= 0xFF
        bad_hashes.append(hashlib.sha256(bytes(bad)).hexdigest())
    harness.log("liar L at %s lists %d crates (key %s)" % (liar.addr, len(crates), liar.key.text))

    try:
        px = t.start_proxy(h, delay=HONEST_DELAY_S)
        v = t.start_agent(upstream=None, peer_listen=False, peers=[px.addr, liar.addr])
        t.wait_peer(v, key=key_h, pred=lambda e: e.get("state") == "live" and
                    e.get("crates", 0) >= len(crates), what="V lists H live with its crates")
        t.wait_peer(v, key=liar.key.text, pred=lambda e: e.get("state") == "live" and
                    e.get("crates", 0) >= len(crates), what="V lists L live with its crates")

        home = t.cargo_home(v.registry_url)
        proj = t.project("app")
        t.cargo(["generate-lockfile"], proj, home)
        t.same_lock(ref, proj)
        t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
        asked_app = len(liar.requested("/peer/1/crate/"))
        proj2 = t.project("newapp")
        t.cargo(["generate-lockfile"], proj2, home)
        t.same_lock(ref2, proj2)
        t.build_and_run(proj2, home, expect=t.manifest["projects"]["newapp"]["output"])
        asked = liar.requested("/peer/1/crate/")
    finally:
        liar.close()

    s = v.status()
    el = harness.peer_entry(s, key=liar.key.text)
    eh = harness.peer_entry(s, key=key_h)
    harness.log("L was asked for %d crates (%d during the app's build); V's entry for L: %s"
                % (len(asked), asked_app, json.dumps(el)))
    harness.log("V's entry for H: received %s; V rejected %s"
                % (json.dumps((eh or {}).get("received")), json.dumps(s.get("rejected"))))
    if not asked:
        harness.log("note: V never asked L (it chose H every time): nothing to penalise")
    else:
        t.check(s.get("rejected", {}).get("peer_checksum", 0) >= 1,
                "L sent %d bad crates but V's rejected.peer_checksum is %r"
                % (len(asked), s.get("rejected", {}).get("peer_checksum")))
    t.check(len(asked) <= LIAR_MAX_ASKS,
            "the liar L was asked for %d crates (at most %d allowed) although the honest H "
            "holds every one: %s" % (len(asked), LIAR_MAX_ASKS,
                                     [p.rsplit("/", 1)[1][:12] for p in asked]))
    blobs = t.check_store_invariant(v.store)
    for bh in bad_hashes:
        t.check(bh not in blobs, "V's store holds L's bad bytes %s" % bh)
    t.check_files_not_hashing_to(v.store, bad_hashes[0])
    t.check(v.alive() and h.alive(), "an agent exited")


if __name__ == "__main__":
    harness.main(test)
