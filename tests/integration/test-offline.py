#!/usr/bin/python3
"""(b) Airplane mode: with the upstream gone, the agent serves what its store holds.

Warm-up: Cargo resolves and fetches projects/app through an online agent (the reference
Cargo.lock). With its default (--index-ttl 0) the agent revalidates every index file and so
notices at Cargo's first request that the upstream is gone (with a longer --index-ttl it would
keep serving its cached, unfiltered copy until the TTL ran out). The upstream's config.json has a dl
with no marker at all, so the agent must append Cargo's default /{crate}/{version}/download. Then the upstream is stopped, and Cargo with a fresh CARGO_HOME and a fresh copy
of the project runs generate-lockfile (must equal the reference byte for byte) and build
through the same agent, which must then report itself offline and have needed no upstream.
"""

import harness


def test(t):
    up, ag, ref = t.warm_up("app",
                             dl_style="plain")
    t.check_app_lock(ref)
    n_up = len(up.requests())
    up.stop()

    home = t.cargo_home(ag.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])

    t.wait_status(ag, lambda s: s.get("online") is False, "status.online == false")
    t.check(len(up.requests()) == n_up, "the stopped upstream logged requests")
    # an unknown crate is still a quick 404 offline
    st, _, _ = harness.http_get(ag.port, "/index/no/su/nosuchcrate", timeout=5)
    t.check(st == 404, "offline: unknown crate answered %d, not 404" % st)
    t.check_store_invariant(ag.store)
    t.check(ag.alive(), "agent exited")


if __name__ == "__main__":
    harness.main(test)
