#!/usr/bin/python3
"""The room under load (issue 7): busy is never a failed build.

A holds projects/big's crates (one of 2 MB) and allows a single upload at a time
(--upload-slots 1), behind a proxy that slows its answers to 1 MB/s so uploads overlap. Five
fresh agents with no upstream, each given only --peer A, run `cargo fetch` of projects/big at the
same moment with Cargo's net.retry = 0 (any error would fail the build). Every build succeeds;
A queued uploads (it never had more than one slot); nothing unverified is stored.
"""

import harness

REQUESTERS = 5


def test(t):
    t.big_mb = 2
    t.net_retry = 0
    up, a, ref = t.warm_up("big", agent_extra=["--upload-slots", "1"], peer_listen=True)
    up.stop()
    key_a = t.agent_id(a)
    n_a = a.status()["store"]["crates"]
    px = t.start_proxy(a, rate=1 << 20)
    students = []
    for _ in range(REQUESTERS):
        b = t.start_agent(upstream=None, peer_listen=True, peers=[px.addr])
        students.append(b)
    for b in students:
        t.wait_peer(b, key=key_a, pred=lambda e: e.get("state") == "live" and
                    e.get("crates", 0) >= n_a, what="a student sees A live")
    runs = []
    for b in students:
        proj = t.project("big")
        home = t.cargo_home(b.registry_url)
        runs.append((b, proj, t.cargo_bg(["fetch"], proj, home)))
    failed = []
    for b, proj, pr in runs:
        rc, out = t.cargo_wait(pr, check=False)
        if rc != 0:
            failed.append(out[-1500:])
    t.check(not failed, "%d of %d builds failed while A was busy:\n%s"
            % (len(failed), REQUESTERS, "\n----\n".join(failed)))
    s = a.status()
    harness.log("A: uploads %s, counters %s" % (s.get("uploads"), {
        k: harness.counter(s, k) for k in ("served_to_peers", "uploads_queued", "peer_busy")}))
    t.check(harness.counter(s, "uploads_queued") > 0,
            "A never queued an upload: the test did not create contention")
    t.check(s["uploads"]["slots"] == 1, "A reports %s upload slots" % s["uploads"]["slots"])
    for b, proj, _ in runs:
        t.check_store_invariant(b.store)
        st = b.status()
        t.check(not [m for m in st.get("misses", []) if m.get("kind") == "crate"],
                "a student recorded crate misses: %s" % st.get("misses"))


if __name__ == "__main__":
    harness.main(test)
