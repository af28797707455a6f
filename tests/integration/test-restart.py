#!/usr/bin/python3
"""(c) Airplane mode after a restart: a new agent process on the same store serves the build.

Warm-up through an online agent; then both the agent and the upstream are stopped and a new
agent is started on the same store, first still configured with the (now dead) upstream URL,
then with --upstream none. (The upstream's dl template uses {prefix}.) Each time a fresh CARGO_HOME must produce the reference Cargo.lock
byte for byte and build the project.
"""

import harness


def test(t):
    up, ag, ref = t.warm_up("app", dl_style="prefix")
    before = ag.status()["store"]
    store = ag.store
    up.stop()
    rc = ag.stop()
    t.check(rc is not None, "agent did not stop")
    harness.log("agent exited with %s after SIGTERM" % rc)

    for upstream in (up.url, None):
        ag2 = t.start_agent(store=store, upstream=upstream)
        after = ag2.status()["store"]
        for k in ("crates", "bytes", "index_entries"):
            t.check(after.get(k) == before.get(k), "store.%s was %r before the restart, %r after"
                    % (k, before.get(k), after.get(k)))
        home = t.cargo_home(ag2.registry_url)
        proj = t.project("app")
        t.cargo(["generate-lockfile"], proj, home)
        t.same_lock(ref, proj)
        t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
        s = t.wait_status(ag2, lambda s: s.get("online") is False, "status.online == false")
        t.check(s["counters"].get("from_store", 0) > 0, "counters.from_store = %r"
                % s["counters"].get("from_store"))
        t.check_store_invariant(store)
        ag2.stop()


if __name__ == "__main__":
    harness.main(test)
