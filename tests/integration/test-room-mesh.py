#!/usr/bin/python3
"""The room under load (issue 7): one address joins the whole room; holdings spread as they
happen.

  1. A is warm (projects/app's and projects/pin's crates). B, C and D are fresh, --upstream none, and each is given
     only --peer A. Within 5 s each of them lists the other two live (A's news carries the peers
     it knows, whatever its manifest does).
  2. B fetches projects/pin (cc-util 1.0.0 from A). Within 1 s C's status shows B holding one
     more crate: B's news carries what B gained (gains=1), so C adds it without fetching B's
     manifest delta and without waiting for a poll period (C's news_gains count for B moves).
     D then fetches projects/app (many crates and index files in quick succession): within
     1 s C lists exactly as many crates for D as D's store holds.
  3. A is stopped. C fetches projects/pin: the crate comes from B, not the original holder.
"""

import time

import harness


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    home = t.cargo_home(a.registry_url)
    pin = t.project("pin")  # A also holds cc-util 1.0.0
    t.cargo(["generate-lockfile"], pin, home)
    t.cargo(["fetch"], pin, home)
    up.stop()
    key_a = t.agent_id(a)
    others = [t.start_agent(upstream=None, peer_listen=True, peers=[a]) for _ in range(3)]
    keys = [t.agent_id(x) for x in others]
    t0 = time.time()
    for i, x in enumerate(others):
        for j, k in enumerate(keys):
            if i != j:
                t.wait_peer(x, key=k, pred=lambda e: e.get("state") == "live",
                            what="agent %d lists agent %d live" % (i, j), timeout=5)
    harness.log("all three know each other %.2f s after start" % (time.time() - t0))
    t.check(time.time() - t0 <= 5.5, "meeting took %.1f s" % (time.time() - t0))

    b, c, d = others
    key_b = keys[0]
    e0 = harness.peer_entry(c.status(), key=key_b) or {}
    before = e0.get("crates", 0)
    gains0 = e0.get("received", {}).get("news_gains", 0)
    manifests0 = e0.get("received", {}).get("manifests", 0)
    pin = t.project("pin")
    home = t.cargo_home(b.registry_url)
    t.cargo(["generate-lockfile"], pin, home)
    t.cargo(["fetch"], pin, home)
    t_gain = time.time()
    e, _ = t.wait_peer(c, key=key_b, pred=lambda e: e.get("crates", 0) > before,
                       what="C sees B's new crate", timeout=5)
    dt = time.time() - t_gain
    harness.log("C saw B's new crate %.3f s after B's fetch ended" % dt)
    t.check(dt <= 1.0, "B's new crate reached C after %.2f s, expected within 1 s" % dt)
    got = e["received"]
    harness.log("C's counts for B: news_gains %d -> %d, manifests %d -> %d"
                % (gains0, got["news_gains"], manifests0, got["manifests"]))
    t.check(got["news_gains"] > gains0, "B's gains did not come with its news: %s" % got)

    # many gains in quick succession (a whole project, crates and index files): C's view
    # of D, built from D's news, ends up listing exactly what D's store holds
    app = t.project("app")
    home = t.cargo_home(d.registry_url)
    t.cargo(["generate-lockfile"], app, home)
    t.cargo(["fetch"], app, home)
    t_done = time.time()
    held = d.status()["store"]["crates"]
    e, _ = t.wait_peer(c, key=keys[2], pred=lambda e: e.get("crates", 0) == held,
                       what="C lists all %d of D's crates" % held, timeout=5)
    dt = time.time() - t_done
    harness.log("C listed D's %d crates %.3f s after D's fetch ended (news_gains %d, "
                "manifests %d)" % (held, dt, e["received"]["news_gains"],
                                   e["received"]["manifests"]))
    t.check(dt <= 1.0, "D's crates reached C after %.2f s, expected within 1 s" % dt)
    t.check(e["received"]["news_gains"] >= 1, "D's gains did not come with its news: %s" % e)

    a.stop()
    t.wait_status(c, lambda s: (harness.peer_entry(s, key=key_a) or {}).get("state") != "live",
                  "C no longer lists A live", timeout=20)
    pin2 = t.project("pin")
    home = t.cargo_home(c.registry_url)
    t.cargo(["generate-lockfile"], pin2, home)
    t.cargo(["fetch"], pin2, home)
    e = harness.peer_entry(c.status(), key=key_b)
    t.check(e and e["received"]["crates"] >= 1,
            "C did not take the crate from B: %s" % e)
    for x in (b, c, d):
        t.check_store_invariant(x.store)


if __name__ == "__main__":
    harness.main(test)
