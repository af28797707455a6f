#!/usr/bin/python3
"""Before you go offline (issue 6): `cratecast check` and `cratecast prefetch`, then a classmate on
another OS is served from the machine that prefetched.

  1. The traveller's agent O is online (upstream.py) and imported a Linux user's ~/.cargo filled
     by building projects/travel (host crates only). `check travel` exits 1: the Windows/wasm
     packages are "upstream only"; --json lists them as missing; a directory without a
     Cargo.lock is a usage error (exit 2) that says how to make one.
  2. `prefetch travel` exits 0 having fetched exactly the missing packages from the upstream (one
     summary line, no terminal); `check` then exits 0, and a second prefetch fetches nothing.
  3. The upstream goes away. A classmate's agent C (--upstream none, --peer O) on "Windows":
     `check --room` through C exits 0 while C's own store is empty (`check` alone exits 1);
     `cargo fetch --target x86_64-pc-windows-gnu` of travel through C succeeds, every Windows
     crate coming from O; `check --agent C` then counts them here.
"""

import json
import os
import shutil

import harness

WINDOWS = "x86_64-pc-windows-gnu"


def check(t, ag, proj, *extra):
    rc, out = t.run([t.cratecast, "check", "--agent", ag.url] + list(extra) + [proj],
                    timeout=120, check=False)
    harness.log("check %s -> %d\n%s" % (" ".join(extra), rc, out))
    return rc, out


def test(t):
    projects = t.registry and t.manifest["projects"]
    home, travel = t.user_cargo_home("travel")
    up = t.user_upstream
    lock = projects["travel"]["lock"]
    host = projects["travel"]["host_crates"]
    n_lock = sum(len(v) for v in lock.values())
    n_missing = n_lock - sum(len(v) for v in host.values())

    o = t.start_agent(upstream=up.url, extra=["--import", home], no_import=False,
                      peer_listen=True)
    t.wait_status(o, lambda s: (s.get("import") or {}).get("running") is False,
                  "the import to finish", timeout=60)

    # 1. not ready
    rc, out = check(t, o, travel)
    t.check(rc == 1, "check before prefetch exited %d, expected 1" % rc)
    t.check("winapi" in out and "upstream only" in out, "check does not name what is missing")
    rc, out = check(t, o, travel, "--json")
    t.check(rc == 1, "check --json exited %d" % rc)
    doc = json.loads(out)
    t.check(doc["ok"] is False and len(doc["missing"]) == n_missing,
            "check --json: ok=%s, %d missing, expected %d" % (doc["ok"], len(doc["missing"]),
                                                              n_missing))
    t.check(doc["counts"]["here"] == n_lock - n_missing and
            doc["counts"]["upstream"] == n_missing, "check --json counts: %s" % doc["counts"])
    for p in doc["packages"]:
        want = "here" if p["version"] in host.get(p["name"], []) else "upstream"
        t.check(p["where"] == want, "check says %s %s is %s, expected %s"
                % (p["name"], p["version"], p["where"], want))
    empty = t.fresh_dir("no-lockfile")
    rc, out = check(t, o, empty)
    t.check(rc == 2 and "generate-lockfile" in out,
            "check in a directory without Cargo.lock exited %d:\n%s" % (rc, out))
    rc, out = t.run([t.cratecast, "check", "--bogus"], check=False)
    t.check(rc == 2, "check --bogus exited %d" % rc)

    # 2. prefetch
    before = len(up.downloads())
    rc, out = t.run([t.cratecast, "prefetch", "--agent", o.url, travel], timeout=300,
                    check=False)
    harness.log("prefetch -> %d\n%s" % (rc, out))
    t.check(rc == 0, "prefetch exited %d:\n%s" % (rc, out))
    t.check(len(out.strip().splitlines()) == 1 and "ready to build offline" in out,
            "prefetch off a terminal should print one summary line:\n" + out)
    fetched = up.downloads()[before:]
    t.check(len(fetched) == n_missing, "prefetch downloaded %d crates from the upstream, "
            "expected the %d missing ones" % (len(fetched), n_missing))
    rc, out = check(t, o, travel)
    t.check(rc == 0, "check after prefetch exited %d" % rc)
    rc, out = t.run([t.cratecast, "prefetch", "--agent", o.url, travel], timeout=120)
    t.check(len(up.downloads()) == before + n_missing, "a second prefetch downloaded again")
    # on a terminal: a progress bar on stderr (packages, bytes, from where)
    rc, bar, _ = harness.run_on_tty([t.cratecast, "prefetch", "--agent", o.url, travel])
    harness.log("prefetch on a terminal -> %d: %r" % (rc, bar[-300:]))
    t.check(rc == 0 and "\r[" in bar and "%d/%d packages" % (n_lock, n_lock) in bar and
            "upstream" in bar, "prefetch on a terminal drew no progress bar: %r" % bar[-500:])

    # 3. a classmate on Windows, served by O
    up.stop()
    key_o = t.agent_id(o)
    c = t.start_agent(upstream=None, peer_listen=True, peers=[o])
    t.wait_peer(c, key=key_o, pred=lambda e: e.get("state") == "live" and
                e.get("crates", 0) >= n_lock, what="C sees O live with every travel crate")
    proj = t.fresh_dir("proj-windows")
    shutil.rmtree(proj)
    shutil.copytree(travel, proj, ignore=shutil.ignore_patterns("target"))
    rc, out = check(t, c, proj)
    t.check(rc == 1, "check through C (empty store) exited %d, expected 1" % rc)
    rc, out = check(t, c, proj, "--room")
    t.check(rc == 0, "check --room through C exited %d, expected 0 (all at O)" % rc)
    chome = t.cargo_home(c.registry_url)
    t.cargo_fetch_target(proj, chome, WINDOWS)
    s = c.status()
    win = [n for n in ("winapi", "winapi-x86_64-pc-windows-gnu", "windows-targets",
                       "windows_x86_64_gnu") if n in lock]
    blobs = t.store_blobs(c.store)
    for n in win:
        for v in lock[n]:
            t.check(t.crate(n, v)["cksum"] in blobs, "C does not hold %s %s after the Windows "
                    "fetch" % (n, v))
    t.check(harness.counter(s, "from_peers") >= len(win),
            "C fetched %d crates from peers, expected >= %d"
            % (harness.counter(s, "from_peers"), len(win)))
    with open(os.path.join(proj, "Cargo.lock")) as f1, open(os.path.join(travel,
                                                                         "Cargo.lock")) as f2:
        t.check(f1.read() == f2.read(), "the Windows fetch changed travel's Cargo.lock")
    t.check_store_invariant(c.store)
    t.check_store_invariant(o.store)


if __name__ == "__main__":
    harness.main(test)
