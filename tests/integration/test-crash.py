#!/usr/bin/python3
"""Fault: the agent is SIGKILLed in the middle of a crate download, then restarted on the same
store.

The registry gets big-blob 1.0.0 (~20 MB of incompressible data). The upstream sits behind a
throttling proxy (10 MB/s) that its dl template names, so the download takes ~2 s. Cargo fetches
projects/big through the agent; once the proxy has forwarded a quarter of big-blob, the agent is
killed (SIGKILL, by PID). Then:
  - Cargo fails cleanly (non-zero exit), and nothing is under a real blob name that does not
    hash to it; the store holds no big-blob blob;
  - an agent restarted on the same store opens it, empties tmp/, and the same `cargo fetch`
    completes; every blob of the lock is then verified in the store.
"""

import os
import time

import harness

BIG_MB = 20
RATE = 10 << 20


def test(t):
    t.big_mb = BIG_MB
    t.registry
    big = t.manifest["big"]
    px = harness.Proxy(0, rate=RATE)  # target set once the upstream has a port
    t.proxies.append(px)
    up = t.start_upstream(extra=("--dl-port", str(px.port)))
    px.target = up.port
    harness.log("proxy %s -> upstream 127.0.0.1:%d (10 MB/s)" % (px.addr, up.port))

    ag = t.start_agent(upstream="http://%s/" % px.addr)
    store = ag.store
    home = t.cargo_home(ag.registry_url)
    proj = t.project("big")
    t.cargo(["generate-lockfile"], proj, home)
    locked = t.lock_checksums(proj)
    suffix = "/" + big["cksum"] + "/download"
    pr = t.cargo_bg(["fetch"], proj, home)
    deadline = time.time() + 60
    killed_at = None
    while pr.alive() and time.time() < deadline:
        n = px.bytes_sent(suffix)
        if n >= big["size"] // 4:
            t.kill(ag)
            killed_at = n
            break
        time.sleep(0.02)
    t.check(killed_at is not None, "big-blob's download never reached a quarter (%d bytes)"
            % px.bytes_sent(suffix))
    harness.log("killed the agent after %d of %d bytes of big-blob" % (killed_at, big["size"]))
    rc, out = t.cargo_wait(pr, check=False)
    t.check(rc != 0, "cargo fetch succeeded although its agent was killed")
    blobs = t.check_store_invariant(store)
    t.check(big["cksum"] not in blobs, "big-blob is in the store although its download died")

    ag2 = t.start_agent(store=store, upstream="http://%s/" % px.addr)
    leftovers = os.listdir(os.path.join(store, "tmp"))
    t.check(not leftovers, "tmp/ still holds %s after the restart" % leftovers)
    home2 = t.cargo_home(ag2.registry_url)
    t.cargo(["fetch"], proj, home2)
    blobs = t.check_store_invariant(store)
    missing = [ck for ck in locked if ck not in blobs]
    t.check(not missing, "the store lacks %s after the second fetch" % missing)
    st, _, _ = harness.http_get(ag2.port, "/index/config.json")
    t.check(st == 200 and ag2.alive(), "the restarted agent does not serve")


if __name__ == "__main__":
    harness.main(test)
