#!/usr/bin/python3
"""The agent keeps its store under --max-size, and peers learn what it evicted.

Agent A (online, peer side on) warms up with the project, then is restarted on the same store
with --max-size half of what its crates take. Checks:
  - within a few seconds A evicts least-recently-used crates until the store is under the limit,
    and logs one info line saying so (index entries stay);
  - agent B, A's static peer that held A's manifest from before, is sent A's full manifest
    (a delta cannot remove crates) and lists A with only the crates A still holds;
  - Cargo through A still builds the project: evicted crates come again from the upstream;
  - every blob left hashes to its name and every record has its file (`cratecast verify`).
"""

import json
import time

import harness


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    key_a = t.agent_id(a)
    full = a.status()["store"]
    harness.log("A's store before: %s" % json.dumps(full))
    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("crates", 0) == full["crates"],
                what="B lists A with all %d crates" % full["crates"])

    limit = full["bytes"] // 2
    store, peer_port = a.store, a.peer_port
    t.check(a.stop() == 0, "A did not stop cleanly")
    a2 = t.start_agent(store=store, upstream=up.url, peer_listen=True, peer_port=peer_port,
                       extra=["--max-size", str(limit)])
    deadline = time.time() + 20
    s = a2.status()
    while time.time() < deadline and s["store"]["bytes"] > limit:
        time.sleep(0.3)
        s = a2.status()
    harness.log("A's store after: %s" % json.dumps(s["store"]))
    t.check(s["store"]["bytes"] <= limit, "A's store is %d bytes, over --max-size %d after 20 s"
            % (s["store"]["bytes"], limit))
    t.check(0 < s["store"]["crates"] < full["crates"],
            "A holds %d of %d crates after eviction" % (s["store"]["crates"], full["crates"]))
    t.check(s["store"]["index_entries"] == full["index_entries"],
            "index entries changed with eviction: %d -> %d"
            % (full["index_entries"], s["store"]["index_entries"]))
    t.check("evicted" in a2.tail(), "A logged no eviction:\n%s" % a2.tail())

    left = s["store"]["crates"]
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("crates") == left,
                what="B lists A with the %d crates it kept" % left, timeout=30)

    home = t.cargo_home(a2.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check(harness.counter(a2.status(), "from_upstream") > 0,
            "A fetched nothing again from the upstream after evicting")
    a2.stop()
    b.stop()
    t.run([t.cratecast, "verify", "--store", store], timeout=60)


if __name__ == "__main__":
    harness.main(test)
