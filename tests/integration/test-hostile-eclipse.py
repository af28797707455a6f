#!/usr/bin/python3
"""Hostile peers, eclipse: a flood of identities or of manifest entries does not shut an
honest peer out.

An honest agent H warms up with projects/app (then restarts on its store with no upstream, its
--peer list naming both victims, so that its hellos tell them where it serves).
  (a) table flood: SYBILS fake peers (tests/integration/fakepeer.py), each its own key and
      port, all live (their hellos and manifests verify; they hold nothing). One more fake, E,
      announces them all, 64 at a time, in its manifests (its sequence moves on each read)
      and news. Victim Va (--upstream none, peer side on, --peer E) fills its table with
      them (waited for up to FLOOD_WAIT_S).
  (b) budget flood: two fakes B1, B2 each sign a manifest of BUDGET_ENTRIES fake crate entries
      (together the 1,000,000 entries all peers may hold). Victim Vb (--upstream none, peer
      side on, --peer B1 --peer B2) fetches both.
Then H starts; each victim learns it only from H's own hellos (port=). Within LEARN_WITHIN_S
each victim must list H (by its key) live with its crates, and Cargo must resolve (the
reference lock) and build projects/app through each victim. Every blob in the victims'
stores hashes to its name.
"""

import json
import time

import fakepeer
import harness

SYBILS = 200
FLOOD_WAIT_S = 20
BUDGET_ENTRIES = 500000
LEARN_WITHIN_S = 30


class Announcer(fakepeer.FakePeer):
    """Announces a new slice of 64 of `addrs` in each manifest and each news message."""

    def __init__(self, addrs, **kw):
        super().__init__(news_hold=1.0, **kw)
        self.addrs = addrs
        self.k = 0

    def _slice(self):
        n = len(self.addrs)
        i = (self.k * 64) % n
        return [self.addrs[(i + j) % n] for j in range(min(64, n))]

    def on_manifest(self, h, q):
        with self.lock:
            self.k += 1
            self.pex = self._slice()
            self._wire = None
        h.reply(200, self.manifest_wire())
        self.bump()

    def on_news(self, h, q):
        with self.lock:
            self.k += 1
            self.news_peers = self._slice()
        if q.get("since") == str(self.gen):
            self.stopping.wait(1.0)
        self.bump()
        h.reply(200, self.news_wire())


def live_count(s, exclude=()):
    return sum(1 for p in s.get("peers") or [] if isinstance(p, dict) and
               p.get("state") == "live" and p.get("addr") not in exclude)


def test(t):
    fakepeer.self_check()
    owned = []
    try:
        _run(t, owned)
    finally:
        for x in owned:
            x.close()


def _run(t, owned):
    up, h0, ref = t.warm_up("app", peer_listen=True)
    locked = t.lock_checksums(ref)
    key_h = t.agent_id(h0)
    store_h = h0.store
    h0.stop()
    up.stop()

    # (a)
    t0 = time.time()
    sybils = [fakepeer.FakePeer(label="S%d" % i, news_hold=20.0) for i in range(SYBILS)]
    owned += sybils
    e = Announcer([s.addr for s in sybils], label="E")
    owned.append(e)
    harness.log("%d sybil fake peers up in %.1fs; announcer E at %s"
                % (SYBILS, time.time() - t0, e.addr))
    # (b)
    b1, b2 = fakepeer.FakePeer(label="B1"), fakepeer.FakePeer(label="B2")
    owned += [b1, b2]
    t0 = time.time()
    for b in (b1, b2):
        b.set_bulk(BUDGET_ENTRIES)
        b.manifest_wire()  # encode (and sign) once, before the victim asks
    harness.log("B1, B2: manifests of %d entries each (%d bytes) made in %.1fs"
                % (BUDGET_ENTRIES, len(b1.manifest_wire()), time.time() - t0))

    va = t.start_agent(upstream=None, peer_listen=True, peers=[e.addr])
    vb = t.start_agent(upstream=None, peer_listen=True, peers=[b1.addr, b2.addr])

    deadline = time.time() + FLOOD_WAIT_S
    sa = sb = None
    while time.time() < deadline:
        sa, sb = va.status(), vb.status()
        b_entries = [harness.peer_entry(sb, addr=b.addr) or {} for b in (b1, b2)]
        b_done = all(x.get("crates") == BUDGET_ENTRIES for x in b_entries) or \
            all(b.requested("/peer/1/manifest") for b in (b1, b2)) and time.time() > deadline - 10
        if live_count(sa, (e.addr,)) >= 60 and b_done:
            break
        time.sleep(0.5)
    na = live_count(sa, (e.addr,))
    harness.log("(a) Va: %d peers in its table, %d live sybils; %d sybils were asked a hello"
                % (len(sa.get("peers") or []), na,
                   sum(1 for s in sybils if s.requested("/peer/1/hello"))))
    harness.log("(b) Vb: %s" % json.dumps([{k: x.get(k) for k in ("addr", "state", "crates")}
                                           for x in sb.get("peers") or []]))
    t.check(e.requested("/peer/1/manifest"), "(a) precondition: Va never read E's manifest")
    t.check(any(s.requested("/peer/1/manifest") for s in sybils),
            "(a) precondition: Va never polled a sybil")
    for b in (b1, b2):
        t.check(b.requested("/peer/1/manifest"),
                "(b) precondition: Vb never fetched %s's manifest" % b.label)

    # the honest agent arrives
    h = t.start_agent(store=store_h, upstream=None, peer_listen=True, peers=[va, vb])
    t.check(t.agent_id(h) == key_h, "H restarted with another key")
    problems = []
    for label, v in (("(a)", va), ("(b)", vb)):
        harness.log("%s waiting up to %ds for the victim to list H" % (label, LEARN_WITHIN_S))
        try:
            ent, s = t.wait_peer(v, key=key_h, pred=lambda x: x.get("state") == "live" and
                                 x.get("crates", 0) >= len(locked),
                                 what="%s the victim lists H live with its crates" % label,
                                 timeout=LEARN_WITHIN_S)
            harness.log("%s victim lists H: %s" % (label, json.dumps(
                {k: ent.get(k) for k in ("addr", "via", "state", "crates")})))
        except harness.Failure:
            harness.log("%s timed out" % label)
            s = v.status()
            hs = [x for x in s.get("peers") or [] if x.get("addr") == h.peer_addr]
            problems.append("%s within %ds the victim did not list the honest H live with its "
                            "crates (%d peers in its table, %d live; its entry for H's address: "
                            "%s)" % (label, LEARN_WITHIN_S, len(s.get("peers") or []),
                                     live_count(s), json.dumps(hs)))
            continue
        home = t.cargo_home(v.registry_url)
        proj = t.project("app")
        rc, out = t.cargo(["generate-lockfile"], proj, home, check=False)
        if rc != 0:
            problems.append("%s cargo generate-lockfile through the victim failed (%d): %s"
                            % (label, rc, out[-1200:]))
            continue
        try:
            t.same_lock(ref, proj)
            t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
        except harness.Failure as ex:
            problems.append("%s %s" % (label, ex))
    for v in (va, vb, h):
        t.check_store_invariant(v.store)
        t.check(v.alive(), "agent pid %d exited" % v.pid)
    t.check(not problems, "eclipse:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    harness.main(test)
