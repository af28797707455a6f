#!/usr/bin/python3
"""(e) Import: a CARGO_HOME that Cargo itself populated feeds an agent with no upstream.

Cargo fetches projects/app directly from upstream.py (no agent) into CARGO_HOME H. The upstream
is stopped. Then, twice:
  1. `cratecast agent --upstream none --import H` (import at start, in the background);
  2. `cratecast import-cargo --store S H`, then an agent on S with --no-import;
and each time a fresh CARGO_HOME resolves the reference Cargo.lock byte for byte and builds.
  3. a copy of H in which abc-0.3.1.crate was tampered with: import-cargo admits every other
     crate but not that one (its sha256 no longer matches the cksum of its index entry).
"""

import glob
import os
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
