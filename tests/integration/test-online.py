#!/usr/bin/python3
"""(a) Online: real Cargo resolves, fetches and builds through the agent as a caching proxy.

upstream.py serves the generated registry; the agent proxies it; Cargo, in a fresh CARGO_HOME
pointed at the agent, runs generate-lockfile, fetch and build. Then:
  - the lockfile selects the expected versions with the registry's checksums;
  - status (HTTP and `cratecast status --json --agent`) says online, from_upstream > 0;
  - index files are the upstream's lines byte for byte, with an ETag and 304 on If-None-Match;
  - an unknown crate is a quick 404;
  - a second, fresh CARGO_HOME fetches everything again without one more crate download from
    the upstream (served from the store);
  - every blob in the store hashes to its name.
"""

import hashlib
import json
import os
import time

import harness


def test(t):
    up = t.start_upstream()
    ag = t.start_agent(upstream=up.url)

    st, _, body = harness.http_get(ag.port, "/index/config.json")
    t.check(st == 200, "GET /index/config.json answered %d" % st)
    dl = json.loads(body).get("dl", "")
    t.check(dl.startswith("http://127.0.0.1:%d/" % ag.port),
            "config.json dl %r does not point at the agent's port %d" % (dl, ag.port))

    home = t.cargo_home(ag.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.check_app_lock(proj)
    t.cargo(["fetch"], proj, home)
    t.build_and_run(proj, home, offline=True, expect=t.manifest["expected_app_output"])

    s = ag.status()
    harness.log("status: %s" % json.dumps(s, sort_keys=True))
    t.check(s.get("online") is True, "status.online is %r, expected true" % s.get("online"))
    c = s.get("counters", {})
    t.check(c.get("from_upstream", 0) > 0, "counters.from_upstream = %r" % c.get("from_upstream"))
    t.check(c.get("served", 0) > 0, "counters.served = %r" % c.get("served"))
    n_locked = sum(len(v) for v in t.manifest["expected_app_lock"].values())
    store = s.get("store", {})
    t.check(store.get("crates", 0) >= n_locked,
            "store.crates = %r, expected >= %d" % (store.get("crates"), n_locked))
    t.check(store.get("bytes", 0) > 0, "store.bytes = %r" % store.get("bytes"))
    t.check(store.get("index_entries", 0) >= n_locked,
            "store.index_entries = %r" % store.get("index_entries"))
    t.check(isinstance(s.get("peers"), list), "status.peers is not an array")
    for k in ("served", "from_store", "from_upstream", "from_peers", "rejected"):
        t.check(isinstance(c.get(k), int), "counters.%s missing or not an integer" % k)

    # the CLI prints the same document
    _, out = t.run([t.cratecast, "status", "--json", "--agent", ag.url], timeout=30)
    try:
        cli = json.loads(out)
    except ValueError:
        raise harness.Failure("`cratecast status --json` printed non-JSON:\n%s" % out[:2000])
    t.check(cli.get("online") is True and "counters" in cli and "store" in cli,
            "`cratecast status --json` lacks online/counters/store: %s" % out[:2000])

    # index files: upstream's lines byte for byte, ETag, 304
    for name in ("a", "ab", "abc", "cc-util", "bar"):
        p = "/index/" + harness.registry.index_path(name)
        st, hdr, body = harness.http_get(ag.port, p)
        t.check(st == 200, "GET %s answered %d" % (p, st))
        with open(os.path.join(t.registry, "index", harness.registry.index_path(name)), "rb") as f:
            want = set(f.read().splitlines())
        got = set(body.splitlines())
        t.check(got == want, "GET %s: lines differ from upstream's\n got %r\nwant %r"
                % (p, sorted(got), sorted(want)))
        etag = hdr.get("etag")
        t.check(bool(etag), "GET %s has no ETag" % p)
        st2, _, body2 = harness.http_get(ag.port, p, {"If-None-Match": etag})
        t.check(st2 == 304, "GET %s with If-None-Match: %s answered %d, not 304" % (p, etag, st2))
        t.check(body2 == b"", "304 for %s carried a body" % p)

    t0 = time.time()
    st, _, _ = harness.http_get(ag.port, "/index/no/su/nosuchcrate")
    dt = time.time() - t0
    t.check(st == 404, "unknown crate answered %d, not 404" % st)
    t.check(dt < 5, "unknown crate took %.1fs to answer" % dt)

    # a crate download straight from the agent
    c1 = t.crate("a", "1.1.0")
    st, _, body = harness.http_get(ag.port, "/crates/a/1.1.0/%s" % c1["cksum"])
    t.check(st == 200 and hashlib.sha256(body).hexdigest() == c1["cksum"],
            "GET /crates/a/1.1.0/<cksum>: %d, %d bytes, wrong content" % (st, len(body)))

    # caching: a fresh CARGO_HOME gets everything without new upstream downloads
    before = len(up.downloads())
    home2 = t.cargo_home(ag.registry_url)
    proj2 = t.project("app")
    t.cargo(["generate-lockfile"], proj2, home2)
    t.cargo(["fetch"], proj2, home2)
    with open(os.path.join(proj, "Cargo.lock")) as f1, \
            open(os.path.join(proj2, "Cargo.lock")) as f2:
        t.check(f1.read() == f2.read(), "second resolution produced a different Cargo.lock")
    after = len(up.downloads())
    t.check(after == before, "second fetch downloaded %d crates from upstream again"
            % (after - before))
    t.check(before == n_locked, "upstream served %d crate downloads for %d locked crates "
            "(concurrent requests should share one fetch)" % (before, n_locked))
    s2 = ag.status()
    t.check(s2["counters"].get("from_store", 0) > 0,
            "counters.from_store = %r after a warm fetch" % s2["counters"].get("from_store"))

    t.check_store_invariant(ag.store)
    t.check(ag.alive(), "agent exited")


if __name__ == "__main__":
    harness.main(test)
