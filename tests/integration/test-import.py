#!/usr/bin/python3
"""(e) Import: a CARGO_HOME that Cargo itself populated feeds an agent with no upstream.

Cargo fetches projects/app directly from upstream.py (no agent) into CARGO_HOME H. The upstream
is stopped. Then, twice:
  1. `cratecast agent --upstream none --import H` (import at start, in the background);
  2. `cratecast import-cargo --store S H`, then an agent on S with --no-import;
and each time a fresh CARGO_HOME resolves the reference Cargo.lock byte for byte and builds.
Off a terminal import-cargo prints exactly one line, the summary; on a terminal (a pty) it
draws a progress bar on stderr (crates done of total, bytes, a rate, the registry directory),
redrawn at most ~10 times a second, then the same one summary line.
  3. a copy of H in which abc-0.3.1.crate was tampered with: import-cargo admits every other
     crate but not that one (its sha256 no longer matches the cksum of its index entry).
"""

import glob
import os
import re
import shutil

import harness


def test(t):
    up = t.start_upstream()
    h = t.cargo_home("sparse+" + up.url, name="up")
    ref = t.project("app")
    t.cargo(["generate-lockfile"], ref, h)
    t.cargo(["fetch"], ref, h)
    t.check_app_lock(ref)
    up.stop()
    n_locked = sum(len(v) for v in t.manifest["expected_app_lock"].values())

    # 1. import at agent start
    ag = t.start_agent(upstream=None, extra=["--import", h], no_import=False)
    t.wait_status(ag, lambda s: s["store"].get("crates", 0) >= n_locked and
                  not (s.get("import") or {}).get("running", False),
                  "the import to finish with >= %d crates" % n_locked, timeout=60)
    home = t.cargo_home(ag.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check_store_invariant(ag.store)
    ag.stop()

    # 2. the import-cargo command, then an agent that does not import
    store = t.fresh_dir("store-cli")
    _, out = t.run([t.cratecast, "import-cargo", "--store", store, h], timeout=120)
    harness.log("import-cargo: %s" % out.strip().replace("\n", " | "))
    lines = [ln for ln in out.splitlines() if ln.strip()]
    added = re.search(r"(\d+) crates added", out)
    t.check(len(lines) == 1 and lines[0].startswith("imported ") and "\r" not in out and
            added and int(added.group(1)) >= n_locked and "/s)" in lines[0],
            "import-cargo off a terminal: expected one summary line, got %r" % out)
    # on a terminal: the bar, then the same summary
    rc, tty, secs = harness.run_on_tty([t.cratecast, "import-cargo", "--store",
                                        t.fresh_dir("store-tty"), h], timeout=120)
    harness.log("import-cargo on a terminal -> %d in %.2fs: %r" % (rc, secs, tty[-400:]))
    regdir = os.listdir(os.path.join(h, "registry", "cache"))[0]
    done = re.findall(r"\] (\d+)/(\d+) crates", tty)  # the last draw: every crate done
    t.check(rc == 0 and "\r[" in tty and done and done[-1][0] == done[-1][1] and
            int(done[-1][0]) >= n_locked and
            re.search(r"crates, [0-9.]+ [kMG]?B of [0-9.]+ [kMG]?B, [0-9.]+ [kMG]?B/s", tty) and
            ("from " + regdir) in tty,
            "import-cargo on a terminal drew no progress bar with crates, bytes, a rate and "
            "the registry directory: %r" % tty[-600:])
    summary = [ln for ln in tty.replace("\r", "\n").splitlines() if ln.startswith("imported ")]
    t.check(len(summary) == 1, "import-cargo on a terminal: %d summary lines" % len(summary))
    t.check(tty.count("\r") <= 10 * secs + 5,
            "import-cargo redrew its bar %d times in %.2fs (at most ~10 a second)"
            % (tty.count("\r"), secs))
    ag2 = t.start_agent(store=store, upstream=None)
    s = ag2.status()
    t.check(s["store"].get("crates", 0) >= n_locked,
            "after import-cargo the store holds %r crates, expected >= %d"
            % (s["store"].get("crates"), n_locked))
    home = t.cargo_home(ag2.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check_store_invariant(store)

    # 3. a tampered .crate in the CARGO_HOME is not imported
    h3 = t.path("cargo-home-tampered")
    shutil.copytree(h, h3, symlinks=True)
    victims = glob.glob(os.path.join(h3, "registry", "cache", "*", "abc-0.3.1.crate"))
    t.check(len(victims) == 1, "expected one abc-0.3.1.crate in %s, found %s" % (h3, victims))
    with open(victims[0], "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x55
        f.seek(0)
        f.write(data)
    store3 = t.fresh_dir("store-tampered")
    t.run([t.cratecast, "import-cargo", "--store", store3, h3], timeout=120)
    blobs = t.check_store_invariant(store3)
    t.check(t.crate("abc", "0.3.1")["cksum"] not in blobs,
            "import-cargo admitted a tampered abc-0.3.1.crate")
    t.check(len(blobs) == n_locked - 1, "import of the tampered home stored %d blobs, expected %d"
            % (len(blobs), n_locked - 1))


if __name__ == "__main__":
    harness.main(test)
