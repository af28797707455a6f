#!/usr/bin/python3
"""Bounded store: `cratecast gc` (store_evict) on real stores, and a gc killed mid-eviction.

1. A store made by `cratecast import-cargo` from a CARGO_HOME that Cargo filled from upstream.py.
   last_used is set per blob (oldest first in a known order, one blob pinned by a "prefetch");
   `gc --max-size` evicts exactly the least recently used ones that bring it under the size,
   the pinned one last; index entries stay; `cratecast verify` is clean; the output line is
   "evicted N crates (X MB), store now Y MB". Argument errors exit 2.
2. An agent with --upstream none --no-mdns on that store serves the crates kept and answers 404
   for the evicted ones; an agent with a loopback upstream fetches an evicted one again.
   `gc --max-size 0` beside the live agent: every blob goes, index entries stay, the agent still
   answers its index files and fetches the crates again, also one it had just served from the
   store (which it remembers as held: store/held.c). Then `cratecast verify` beside the agent
   quarantines that crate's blob, damaged after it was served: the agent fetches it again and
   never sends the damaged bytes.
3. Crash consistency: a generated CARGO_HOME with thousands of small crates is imported;
   `cratecast gc --max-size 0` is SIGKILLed after growing delays until the store is empty.
   After each kill: every blob row has its file, every file without a row is listed in the
   eviction journal (blob_unlink), nothing under blobs/ is unverified, and `cratecast verify`
   exits 0. A final gc finishes the journal: no file is left.
"""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import harness
import registry


def db_rows(store, q, args=()):
    c = sqlite3.connect(os.path.join(store, "store.db"), timeout=30)
    try:
        return c.execute(q, args).fetchall()
    finally:
        c.close()


def db_exec(store, q, args=()):
    c = sqlite3.connect(os.path.join(store, "store.db"), timeout=30)
    try:
        c.execute(q, args)
        c.commit()
    finally:
        c.close()


def blob_rows(store):
    return {bytes(r[0]).hex(): r[1] for r in db_rows(store, "SELECT sha256, size FROM blobs")}


def check_consistent(t, store, what):
    """Every row has its file; a file without a row is journalled; files hash to their names."""
    rows = blob_rows(store)
    files = t.check_store_invariant(store)
    journal = {bytes(r[0]).hex() for r in db_rows(store, "SELECT sha256 FROM blob_unlink")}
    missing = [s for s in rows if s not in files]
    t.check(not missing, "%s: %d blob rows without a file, e.g. %s" % (what, len(missing),
                                                                      missing[:3]))
    strays = [s for s in files if s not in rows and s not in journal]
    t.check(not strays, "%s: %d files with no row that the journal does not list, e.g. %s"
            % (what, len(strays), strays[:3]))
    rc, out = t.run([t.cratecast, "verify", "--store", store], timeout=300, check=False)
    t.check(rc == 0, "%s: cratecast verify exited %d:\n%s" % (what, rc, out[-2000:]))
    return rows, files, journal


def index_count(store):
    return db_rows(store, "SELECT count(*) FROM index_entries")[0][0]


def gc(t, store, *args, check=True):
    rc, out = t.run([t.cratecast, "gc", "--store", store] + list(args), timeout=300, check=check)
    harness.log("gc %s: %s" % (" ".join(args), out.strip().replace("\n", " | ")))
    return rc, out


def test_lru(t, h, up):
    store = t.fresh_dir("store-lru")
    t.run([t.cratecast, "import-cargo", "--store", store, h], timeout=120)
    rows = blob_rows(store)
    t.check(len(rows) >= 6, "import-cargo stored %d blobs, expected >= 6" % len(rows))
    n_index = index_count(store)
    # a known order: the i-th (by sha) was used i hours ago; the oldest one is pinned
    order = sorted(rows)
    now = int(time.time())
    for i, sha in enumerate(order):
        db_exec(store, "UPDATE blobs SET last_used = ? WHERE sha256 = ?",
                (now - 3600 * (len(order) - i), bytes.fromhex(sha)))
    pinned = order[0]
    db_exec(store, "UPDATE blobs SET pinned_at = ? WHERE sha256 = ?", (now - 86400,
                                                                       bytes.fromhex(pinned)))
    total = sum(rows.values())
    # evict three: order[1], order[2], order[3] (order[0] is pinned, so it goes last)
    gone = order[1:4]
    limit = total - sum(rows[s] for s in gone)
    _, out = gc(t, store, "--max-size", str(limit))
    want = "evicted 3 crates (%.1f MB), store now %.1f MB" % (
        sum(rows[s] for s in gone) / 1048576.0, limit / 1048576.0)
    t.check(want in out, "gc printed %r, expected %r" % (out, want))
    left = blob_rows(store)
    t.check(set(left) == set(rows) - set(gone), "gc kept %s, expected all but %s"
            % (sorted(left), gone))
    t.check(index_count(store) == n_index, "index entries %d -> %d after gc"
            % (n_index, index_count(store)))
    check_consistent(t, store, "after gc")
    # again at the same size: a no-op
    _, out = gc(t, store, "--max-size", str(limit))
    t.check("evicted 0 crates" in out, "a second gc at the same size printed %r" % out)
    # --keep-days 0: the pin no longer counts, so the pinned (oldest) blob goes next
    gc(t, store, "--max-size", str(limit - 1), "--keep-days", "0")
    t.check(pinned not in blob_rows(store), "with --keep-days 0 the pinned blob was kept")
    # argument errors
    for args in (["--max-size", "20X"], [], ["--max-size", "1G", "--keep-days", "x"],
                 ["--bogus"]):
        rc, out = gc(t, store, *args, check=False)
        t.check(rc == 2 and out.startswith("error: ") and
                all(ln.startswith("help: ") for ln in out.splitlines()[1:]),
                "gc %s: expected exit 2, an error: line, then help: lines; got %d %r"
                % (args, rc, out))
    # the size from the agent's --config file
    cfg = t.path("agent.toml")
    with open(cfg, "w") as f:
        f.write('store = "%s"\nmax-size = 1G\nno-mdns = true\n' % store)
    rc, out = t.run([t.cratecast, "gc", "--config", cfg], timeout=60)
    t.check("evicted 0 crates" in out, "gc --config printed %r" % out)
    rc, out = t.run([t.cratecast, "agent", "--store", store, "--max-size", "lots"], check=False)
    t.check(rc == 2 and "--max-size lots" in out, "agent --max-size lots: exit %d, %r"
            % (rc, out))
    return store, gone


def test_serve(t, store, gone, up):
    ag = t.start_agent(store=store, upstream=None)
    by_sha = {c["cksum"]: c for c in t.manifest["crates"]}
    kept = [s for s in blob_rows(store) if s in by_sha][:2]
    for sha in kept:
        c = by_sha[sha]
        st, _, body = harness.http_get(ag.port, "/crates/%s/%s/%s" % (c["name"], c["vers"], sha))
        t.check(st == 200 and hashlib.sha256(body).hexdigest() == sha,
                "kept crate %s %s: %d" % (c["name"], c["vers"], st))
    for sha in gone:
        c = by_sha[sha]
        st, _, _ = harness.http_get(ag.port, "/crates/%s/%s/%s" % (c["name"], c["vers"], sha))
        t.check(st == 404, "evicted crate %s %s offline: %d, expected 404"
                % (c["name"], c["vers"], st))
    ag.stop()

    # online: an evicted crate is fetched again from the upstream
    ag = t.start_agent(store=store, upstream=up.url)
    c = by_sha[gone[0]]
    st, _, body = harness.http_get(ag.port, "/crates/%s/%s/%s" % (c["name"], c["vers"], gone[0]))
    t.check(st == 200 and hashlib.sha256(body).hexdigest() == gone[0],
            "evicted crate %s %s online: %d" % (c["name"], c["vers"], st))
    t.wait_status(ag, lambda s: gone[0] in blob_rows(store), "the crate to be stored again")
    path = "/crates/%s/%s/%s" % (c["name"], c["vers"], gone[0])

    def served(what, source):
        st, hdr, body = harness.http_get(ag.port, path)
        t.check(st == 200 and hashlib.sha256(body).hexdigest() == gone[0] and
                hdr.get("x-cratecast-source") == source,
                "%s, %s %s: %d from %r (expected 200 from %s, the right bytes)"
                % (what, c["name"], c["vers"], st, hdr.get("x-cratecast-source"), source))

    served("served from the store", "store")  # now remembered as held

    # gc --max-size 0 beside the live agent: everything goes, the agent carries on
    n_index = index_count(store)
    gc(t, store, "--max-size", "0")
    t.check(not blob_rows(store), "gc --max-size 0 left blobs")
    t.check(index_count(store) == n_index, "gc --max-size 0 touched the index entries")
    st, _, _ = harness.http_get(ag.port, "/index/" + registry.index_path(c["name"]))
    t.check(st == 200, "the agent's index file for %s after gc: %d" % (c["name"], st))
    served("after gc beside the agent", "upstream")
    t.wait_status(ag, lambda s: gone[0] in blob_rows(store), "the crate to be stored again")
    served("again from the store", "store")

    # its blob damaged, then quarantined by verify beside the agent: fetched again
    blob = os.path.join(store, "blobs", gone[0][:2], gone[0])
    with open(blob, "r+b") as f:
        f.write(b"\0damaged\0")
    rc, out = t.run([t.cratecast, "verify", "--store", store], check=False)
    t.check(rc == 1 and "1 quarantined" in out, "verify beside the agent: %d %r" % (rc, out))
    served("after verify quarantined it", "upstream")
    t.check(ag.alive(), "the agent died")
    check_consistent(t, store, "after gc and verify beside an agent")
    ag.stop()


N_MANY = 3000


def many_crates_home(t):
    """A CARGO_HOME as Cargo leaves it for crates.io, with N_MANY small crates."""
    home = t.fresh_dir("cargo-home-many")
    d = harness.CRATES_IO_DIR
    idx = os.path.join(home, "registry", "index", d)
    cache = os.path.join(home, "registry", "cache", d)
    os.makedirs(cache)
    os.makedirs(idx)
    with open(os.path.join(idx, "config.json"), "w") as f:
        json.dump(harness.CRATES_IO_CONFIG, f)
    for i in range(N_MANY):
        name = "many%04d" % i
        data = (b"crate %d " % i) * (1 + i % 50)
        cksum = hashlib.sha256(data).hexdigest()
        line = registry.index_line(name, {"vers": "1.0.0", "deps": []}, cksum)
        p = os.path.join(idx, ".cache", registry.index_path(name))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(harness.cargo_cache_bytes([("1.0.0", line)], "etag-%d" % i))
        with open(os.path.join(cache, "%s-1.0.0.crate" % name), "wb") as f:
            f.write(data)
    return home


def test_kill(t):
    home = many_crates_home(t)
    store = t.fresh_dir("store-many")
    _, out = t.run([t.cratecast, "import-cargo", "--store", store, home], timeout=300)
    n0 = len(blob_rows(store))
    t.check(n0 >= N_MANY, "import-cargo stored %d blobs of %d: %s" % (n0, N_MANY, out[-1000:]))
    n_index = index_count(store)
    delay, kills, mid, journalled = 0.02, 0, 0, 0
    while blob_rows(store) and kills < 25:
        before = len(blob_rows(store))
        p = subprocess.Popen([t.cratecast, "gc", "--store", store, "--max-size", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        time.sleep(delay)
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = p.wait(timeout=60)
        kills += 1
        rows, files, journal = check_consistent(t, store, "after gc killed at %.0f ms" %
                                                (delay * 1000))
        # verify above finished the journal; count what the kill left before it
        after = len(rows)
        if rc == -signal.SIGKILL and 0 < after < before:
            mid += 1
        if journal:
            journalled += 1
        harness.log("kill %d at %.0f ms (rc %s): %d -> %d blobs, %d files, %d journalled"
                    % (kills, delay * 1000, rc, before, after, len(files), len(journal)))
        delay *= 1.4
    t.check(index_count(store) == n_index, "index entries %d -> %d" % (n_index,
                                                                     index_count(store)))
    _, out = gc(t, store, "--max-size", "0")
    t.check(not blob_rows(store) and not t.store_blobs(store),
            "after the last gc: %d rows, %d files" % (len(blob_rows(store)),
                                                      len(t.store_blobs(store))))
    t.check(not db_rows(store, "SELECT * FROM blob_unlink"), "the eviction journal is not empty")
    harness.log("%d kills, %d landed mid-eviction, %d left a journal" % (kills, mid, journalled))
    t.check(mid > 0, "no kill landed mid-eviction (every gc was killed before it started or "
            "after it ended): the test proved nothing")


def test(t):
    up = t.start_upstream()
    h = t.cargo_home("sparse+" + up.url, name="up")
    ref = t.project("app")
    t.cargo(["generate-lockfile"], ref, h)
    t.cargo(["fetch"], ref, h)
    store, gone = test_lru(t, h, up)
    test_serve(t, store, gone, up)
    test_kill(t)


if __name__ == "__main__":
    harness.main(test)
