#!/usr/bin/python3
"""The room under load (issue 7): busy is never a failed build.

A holds projects/big's crates (one of 2 MB) and allows a single upload at a time
(--upload-slots 1). It runs on host h0 of a set of network namespaces (netns.py) whose uplink is
shaped to RATE (tc tbf on h0's eth0), so sending big-blob takes about two seconds and uploads
overlap: that link is A's only one, so no requester can reach it any faster (on loopback, peer
exchange handed the students A's real address and they bypassed any slow proxy). Five fresh
agents on h1..h5, with no upstream and no mDNS, each given only --peer A (A's 10.x address), run
`cargo fetch` of projects/big at the same moment with Cargo's net.retry = 0 (any error would
fail the build). Every build succeeds, with the reference's Cargo.lock; A queued uploads (it
never had more than one slot); nothing unverified is stored and no student recorded a crate miss.

Root only (exit 77 otherwise, or without `ip netns` / curl). Usage: test-room-busy.py CRATECAST.
"""

import json
import os
import subprocess
import time

import harness
import netns
from room import (AGENT_PORT, PEER_PORT, SANITIZER_MARKERS, Holder, log_text, need_room,
                  start_agent, status_in, wait_sees_a, wait_started)

REQUESTERS = 5
BIG_MB = 2
RATE = "8mbit"           # h0's uplink: big-blob takes ~2 s to cross it
# tbf's queue (rate x latency + burst) is deep enough that the peer protocol's small answers
# wait behind the big transfers instead of being dropped at h0's egress.
LATENCY = "500ms"
def test(t):
    need_room()
    # A's store: projects/big through an online agent (on loopback, before any namespace)
    holder = Holder(t, BIG_MB)
    key_a, n_a, big, locked, store_a, ref = (holder.key, holder.crates, holder.big,
                                             holder.locked, holder.store, holder.ref)

    hosts_n = 1 + REQUESTERS
    with netns.Hosts(hosts_n, workdir=t.fresh_dir("netns"), log=harness.log) as hosts:
        try:
            hosts.shape(0, RATE, latency=LATENCY)
            harness.log("h0's eth0 shaped: tbf rate %s latency %s; big-blob is %d bytes"
                        % (RATE, LATENCY, big["size"]))
            a_addr = "%s:%d" % (hosts.addr(0), PEER_PORT)
            procs = {0: start_agent(t, hosts, 0, store_a, ["--upload-slots", "1"])}
            wait_started(t, hosts, 0, procs[0])
            stores = {}
            for h in range(1, hosts_n):
                stores[h] = t.fresh_dir("store-h%d" % h)
                procs[h] = start_agent(t, hosts, h, stores[h], ["--peer", a_addr])
            for h in range(1, hosts_n):
                wait_started(t, hosts, h, procs[h])
            for h in range(1, hosts_n):
                e = wait_sees_a(hosts, h, key_a, n_a)
                t.check(e.get("addr") == a_addr, "h%d lists A at %r, expected %s"
                        % (h, e.get("addr"), a_addr))
            harness.log("every student lists A (%s) live with %d crates" % (a_addr, n_a))

            # Cargo on every student's host at the same moment
            registry_url = "sparse+http://127.0.0.1:%d/index/" % AGENT_PORT
            runs = []
            for h in range(1, hosts_n):
                proj = t.project("big")
                env = t.cargo_env(t.cargo_home(registry_url), os.path.join(proj, "target"))
                runs.append((h, proj, t.path("cargo-h%d.log" % h), env))
            tx0 = hosts.link_stats(0)["tx_bytes"]
            t0 = time.time()
            cargos = []
            for h, proj, logpath, env in runs:
                with open(logpath, "wb") as f:
                    cargos.append(hosts.spawn(h, [t.cargo_bin, "fetch"], env=env, cwd=proj,
                                              stdout=f, stderr=subprocess.STDOUT))
            harness.log("cargo fetch of projects/big started on h1..h%d" % REQUESTERS)
            peak = 0
            while any(c.poll() is None for c in cargos) and \
                    time.time() - t0 < harness.CARGO_TIMEOUT:
                u = (status_in(hosts, 0) or {}).get("uploads") or {}
                peak = max(peak, u.get("active", 0) + u.get("waiting", 0))
                time.sleep(0.1)
            failed = []
            for (h, proj, logpath, _), c in zip(runs, cargos):
                try:
                    rc = c.wait(timeout=max(1, harness.CARGO_TIMEOUT - (time.time() - t0)))
                except subprocess.TimeoutExpired:
                    hosts.stop(c)
                    rc = "timeout"
                with open(logpath, errors="replace") as f:
                    out = f.read()
                harness.log("cargo fetch on h%d -> %s" % (h, rc))
                if rc != 0:
                    failed.append("h%d (%s):\n%s" % (h, rc, out[-1500:]))
            took = time.time() - t0
            sent = hosts.link_stats(0)["tx_bytes"] - tx0
            harness.log("all cargo fetches done in %.1fs; h0 sent %d bytes over its uplink"
                        % (took, sent))
            t.check(not failed, "%d of %d builds failed while A was busy:\n%s"
                    % (len(failed), REQUESTERS, "\n----\n".join(failed)))

            s = status_in(hosts, 0)
            t.check(s is not None, "A's status did not answer")
            harness.log("A: uploads %s (peak active+waiting seen %d), counters %s" % (
                s.get("uploads"), peak, {k: harness.counter(s, k) for k in
                                         ("served_to_peers", "uploads_queued", "peer_busy")}))
            t.check(harness.counter(s, "uploads_queued") > 0,
                    "A never queued an upload: the test did not create contention")
            t.check(s["uploads"]["slots"] == 1, "A reports %s upload slots"
                    % s["uploads"]["slots"])
            t.check(sent >= big["size"], "h0 sent only %d bytes over its uplink: big-blob (%d "
                    "bytes) did not come from A" % (sent, big["size"]))

            for h, proj, _, _ in runs:
                t.same_lock(ref, proj)
                blobs = t.check_store_invariant(stores[h])
                missing = [ck for ck in locked if ck not in blobs]
                t.check(not missing, "h%d's store lacks %d crates of projects/big: %s"
                        % (h, len(missing), missing))
                st = status_in(hosts, h)
                t.check(st is not None, "h%d's status did not answer" % h)
                harness.log("h%d counters: %s" % (h, {k: harness.counter(st, k) for k in
                                                      ("from_peers", "served_to_peers")}))
                t.check(not [m for m in st.get("misses", []) if m.get("kind") == "crate"],
                        "h%d recorded crate misses: %s" % (h, st.get("misses")))

            problems = []
            for h in sorted(procs):
                rc = hosts.stop(procs[h], timeout=30)
                if rc not in (0, -15):
                    problems.append("agent on h%d exited %r on SIGTERM" % (h, rc))
                text = log_text(t, h)
                problems += ["%s in agent-h%d.log" % (m, h) for m in SANITIZER_MARKERS
                             if m in text]
            t.check(not problems, "; ".join(problems))
            t.check_store_invariant(store_a)
        except (harness.Failure, netns.NetnsError):
            for h in range(hosts_n):
                harness.log("---- agent-h%d.log (tail)\n%s" % (h, log_text(t, h)[-3000:]))
            raise


if __name__ == "__main__":
    harness.main(test)
