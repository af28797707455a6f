#!/usr/bin/python3
"""A peer that lies about the index: its store serves a line for a known (name, version) whose
checksum and dependencies differ from what we hold.

Agent A warms up online (projects/app). Its store is then tampered with behind its back: the
stored line of cc-util 1.0.0 gets another cksum and an extra dependency (the line is what A
signs and serves to peers). Agent C warmed up separately from the same upstream, so it holds the
true entries. C restarts with no upstream and A as its only peer. When Cargo resolves through C:
  - C fetches A's signed index message for cc-util, and every entry that contradicts one C
    holds is rejected and counted (status rejected.peer_conflict > 0);
  - the index file C serves for cc-util still carries the original line, byte for byte;
  - Cargo's lockfile equals the reference and the project builds;
  - C's store holds no entry with the forged checksum.
"""

import json
import os
import sqlite3

import harness

FORGED = "0" * 64


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    orig = t.crate("cc-util", "1.0.0")
    # C: its own warm-up from the same upstream, so it holds the true entries
    c0 = t.start_agent(upstream=up.url)
    home0 = t.cargo_home(c0.registry_url)
    proj0 = t.project("app")
    t.cargo(["generate-lockfile"], proj0, home0)
    t.cargo(["fetch"], proj0, home0)
    st, _, true_index = harness.http_get(c0.port, "/index/" +
                                         harness.registry.index_path("cc-util"))
    t.check(st == 200, "C served cc-util's index with %d" % st)
    c_store = c0.store
    c0.stop()

    # A's stored line of cc-util 1.0.0 becomes a lie (A keeps running: WAL allows it)
    db = sqlite3.connect(os.path.join(a.store, "store.db"), timeout=10)
    row = db.execute("SELECT line FROM index_entries WHERE name_lc = 'cc-util' AND vers = '1.0.0'"
                     ).fetchone()
    t.check(row is not None, "A holds no entry for cc-util 1.0.0")
    entry = json.loads(row[0])
    entry["cksum"] = FORGED
    entry["deps"] = entry.get("deps", []) + [{
        "name": "evil", "req": "^1", "features": [], "optional": False,
        "default_features": True, "target": None, "kind": "normal"}]
    lie = json.dumps(entry, separators=(",", ":")).encode()
    db.execute("UPDATE index_entries SET line = ? WHERE name_lc = 'cc-util' AND vers = '1.0.0'",
               (lie,))
    db.commit()
    db.close()
    _, _, served_by_a = harness.http_get(a.port, "/index/" +
                                          harness.registry.index_path("cc-util"))
    t.check(FORGED.encode() in served_by_a, "the tampered line is not what A serves now")
    # A's manifest announces a new digest for cc-util only after its sequence moves; restart A
    # so that its manifest is rebuilt from the tampered store
    a.stop()
    a2 = t.start_agent(store=a.store, upstream=None, peer_listen=True)
    key_a = t.agent_id(a2)
    up.stop()

    # --offline-index all: the served index lists every entry C holds, not only the versions
    # whose crates it can deliver, so it can be compared with what C served online
    c = t.start_agent(store=c_store, upstream=None, peers=[a2],
                      extra=("--offline-index", "all"))
    t.wait_peer(c, key=key_a, pred=lambda e: e.get("state") == "live", what="C lists A live")
    st, _, served = harness.http_get(c.port, "/index/" + harness.registry.index_path("cc-util"))
    t.check(st == 200, "C answered cc-util's index with %d" % st)
    s = c.status()
    harness.log("C rejected: %s" % json.dumps(s.get("rejected")))
    t.check(s.get("rejected", {}).get("peer_conflict", 0) >= 1,
            "C did not count the contradicting entry: %s" % json.dumps(s.get("rejected")))
    t.check(FORGED.encode() not in served, "C serves the forged line:\n%s" % served.decode())
    t.check(served == true_index, "C's cc-util index changed:\n%s\nwas\n%s"
            % (served.decode(), true_index.decode()))
    t.check(orig["cksum"].encode() in served, "C lost the true cc-util 1.0.0 entry")

    db = sqlite3.connect(os.path.join(c_store, "store.db"), timeout=10)
    n = db.execute("SELECT count(*) FROM index_entries WHERE hex(cksum) = ?",
                   (FORGED.upper(),)).fetchone()[0]
    db.close()
    t.check(n == 0, "C's store holds %d entries with the forged checksum" % n)

    home = t.cargo_home(c.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check_store_invariant(c_store)


if __name__ == "__main__":
    harness.main(test)
