#!/usr/bin/python3
"""The room under load (issue 7): a big crate is passed on while it is still arriving.

Network namespaces (netns.py): A on h0 holds projects/big (one crate of 4 MB) behind its only
link, shaped to 8 Mbit/s (about 4 s for the big crate). Fresh agents with no upstream:
  1. B (h1, --peer A) fetches projects/big. While B's transfer of the big crate is in flight,
     C (h2, --peer A --peer B) fetches it too. C takes the big crate from B as it arrives: B's
     status counts a relayed crate, C's counts the bytes from B; both builds succeed with the
     reference Cargo.lock, both stores hold the verified crate, and A's link carried the big
     crate about once (less than twice its size).
  2. B and C leave. D (h3, --peer A) fetches; E (h4, --peer A --peer D) starts while D's transfer
     runs and takes the crate from D as it arrives; D is killed (SIGKILL) mid-transfer. E's build still succeeds
     (the cut-off relay fails and E asks A) and E's store holds only verified crates.
  3. A relay of a relay answers only from its first byte (a ring of classmates relaying from
     each other would wait on itself). A restarts with one upload slot. Each agent is asked for
     the big crate alone, as Cargo asks (index file, then crate): F (h1, no peer side of its
     own) takes it from A, so G (h2) waits in A's upload queue with no byte yet; H (h4, --peer A --peer G) relays from G,
     with no byte either. A request for the crate to H is held, then answered 404 after
     RELAY_HOLD_MS (300 ms). Once F is done, all three get the crate whole (sha256 checked),
     H took it from G, and the three stores hold it verified.

Root only (exit 77 otherwise, or without `ip netns` / curl). Usage: test-room-relay.py CRATECAST.
"""

import hashlib
import subprocess
import time

import harness
import netns
import registry
from room import (AGENT_PORT, PEER_PORT, SANITIZER_MARKERS, Holder, cargo_end, cargo_start,
                  log_text, need_room, start_agent, status_in, wait_sees_a, wait_started)

BIG_MB = 4
RATE = "8mbit"
LATENCY = "500ms"


def wait_transfer(hosts, h, timeout=20):
    """Until h's agent has a crate transfer in flight (then the big one is on its way)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = status_in(hosts, h) or {}
        if s.get("transfers", {}).get("in_flight", 0) > 0:
            return
        time.sleep(0.05)
    raise harness.Failure("h%d never had a transfer in flight" % h)


def get_big_start(t, hosts, h, big):
    """h's agent asked for big-blob as Cargo asks: its index file, then (in the background)
    the crate. Returns the curl process and the path its body goes to."""
    base = "http://127.0.0.1:%d" % AGENT_PORT
    r = hosts.run(h, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      base + "/index/" + registry.index_path(big["name"])], timeout=30)
    t.check(r.stdout == "200", "h%d: index of %s -> %s" % (h, big["name"], r.stdout))
    out = t.path("big-h%d.crate" % h)
    p = hosts.spawn(h, ["curl", "-s", "--max-time", "60", "-o", out, "-w", "%{http_code}",
                        "%s/crates/%s/%s/%s" % (base, big["name"], big["vers"], big["cksum"])],
                    stdout=subprocess.PIPE)
    return p, out


def get_big_end(t, hosts, h, get, big):
    p, out = get
    code = p.communicate(timeout=60)[0].decode()
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    t.check(code == "200" and digest == big["cksum"],
            "h%d: the big crate -> %s, sha256 %s" % (h, code, digest))


def test(t):
    need_room()
    # A's store: projects/big through an online agent (on loopback, before any namespace)
    holder = Holder(t, BIG_MB)
    key_a, n_a, big, locked, store_a, ref = (holder.key, holder.crates, holder.big,
                                             holder.locked, holder.store, holder.ref)

    with netns.Hosts(5, workdir=t.fresh_dir("netns"), log=harness.log) as hosts:
        procs = {}
        try:
            hosts.shape(0, RATE, latency=LATENCY)
            a_addr = "%s:%d" % (hosts.addr(0), PEER_PORT)
            peer = {h: "%s:%d" % (hosts.addr(h), PEER_PORT) for h in range(5)}
            procs[0] = start_agent(t, hosts, 0, store_a, [])
            wait_started(t, hosts, 0, procs[0])
            stores = {h: t.fresh_dir("store-h%d" % h) for h in range(1, 5)}
            extra = {1: ["--peer", a_addr], 2: ["--peer", a_addr, "--peer", peer[1]],
                     3: ["--peer", a_addr], 4: ["--peer", a_addr, "--peer", peer[3]]}
            for h in range(1, 5):
                procs[h] = start_agent(t, hosts, h, stores[h], extra[h])
            for h in range(1, 5):
                wait_started(t, hosts, h, procs[h])
            for h in range(1, 5):
                wait_sees_a(hosts, h, key_a, n_a)

            # 1. C takes the big crate from B while B is still receiving it
            tx0 = hosts.link_stats(0)["tx_bytes"]
            run_b = cargo_start(t, hosts, 1, "b")
            wait_transfer(hosts, 1)
            time.sleep(1.0)
            t0 = time.time()
            run_c = cargo_start(t, hosts, 2, "c")
            cargo_end(hosts, run_b)
            tb = time.time() - t0
            cargo_end(hosts, run_c)
            tc = time.time() - t0
            sent = hosts.link_stats(0)["tx_bytes"] - tx0
            sb, sc = status_in(hosts, 1) or {}, status_in(hosts, 2) or {}
            key_b = sb.get("id") or (sb.get("identity") or {}).get("key")
            from_b = next((p.get("received", {}) for p in sc.get("peers", [])
                           if p.get("addr") == peer[1]), {})
            harness.log("B done %.1f s and C done %.1f s after C started; B relayed %d; C got "
                        "from B %s; h0 sent %d bytes (big crate %d)"
                        % (tb, tc, harness.counter(sb, "relayed"), from_b, sent, big["size"]))
            t.check(harness.counter(sb, "relayed") >= 1,
                    "B relayed nothing: %s" % sb.get("counters"))
            t.check(from_b.get("bytes", 0) >= big["size"],
                    "C did not take the big crate from B (%s; key %s)" % (from_b, key_b))
            t.check(sent < 2 * big["size"],
                    "A's link carried %d bytes: the big crate more than once" % sent)
            for h in (1, 2):
                t.same_lock(ref, run_b[1] if h == 1 else run_c[1])
                blobs = t.check_store_invariant(stores[h])
                t.check(all(ck in blobs for ck in locked), "h%d's store lacks crates" % h)

            # 2. the relay's source is killed mid-transfer: E's build succeeds all the same.
            # B and C leave first, so that A is again the only holder.
            problems = []
            for h in (1, 2):
                rc = hosts.stop(procs.pop(h), timeout=30)
                if rc not in (0, -15):
                    problems.append("agent on h%d exited %r on SIGTERM" % (h, rc))
            run_d = cargo_start(t, hosts, 3, "d")
            wait_transfer(hosts, 3)
            time.sleep(1.0)
            run_e = cargo_start(t, hosts, 4, "e")
            deadline = time.time() + 20
            relaying = 0
            while time.time() < deadline and not relaying:
                relaying = ((status_in(hosts, 3) or {}).get("transfers") or {}).get("relaying", 0)
                time.sleep(0.05)
            t.check(relaying > 0, "D never relayed the big crate to E")
            time.sleep(0.5)
            procs[3].kill()
            procs[3].wait(timeout=10)
            harness.log("killed the agent on h3 (D) while E took the big crate from it")
            cargo_end(hosts, run_d, must_pass=False)
            cargo_end(hosts, run_e)
            blobs = t.check_store_invariant(stores[4])
            t.check(all(ck in blobs for ck in locked), "E's store lacks crates")
            t.check_store_invariant(stores[3])

            procs.pop(3)  # killed above
            for h in sorted(procs):
                rc = hosts.stop(procs.pop(h), timeout=30)
                if rc not in (0, -15):
                    problems.append("agent on h%d exited %r on SIGTERM" % (h, rc))

            # 3. a relay of a relay is held until its first byte, and refused without one.
            # Each agent is asked for the big crate alone (its index file, then the crate, as
            # Cargo would), so that each has exactly one transfer in flight.
            procs[0] = start_agent(t, hosts, 0, store_a, ["--upload-slots", "1"])
            wait_started(t, hosts, 0, procs[0])
            stores3 = {h: t.fresh_dir("store3-h%d" % h) for h in (1, 2, 4)}
            # F has no peer side: nobody can relay from it (G must wait for A with no byte)
            extra3 = {1: ["--peer", a_addr, "--peer-listen", "off"], 2: ["--peer", a_addr],
                      4: ["--peer", a_addr, "--peer", peer[2]]}
            for h in (1, 2, 4):
                procs[h] = start_agent(t, hosts, h, stores3[h], extra3[h])
            for h in (1, 2, 4):
                wait_started(t, hosts, h, procs[h])
                wait_sees_a(hosts, h, key_a, n_a)
            gets = {}
            for h in (1, 2, 4):  # F takes A's only slot (about 4 s), G waits for it, H relays
                gets[h] = get_big_start(t, hosts, h, big)
                wait_transfer(hosts, h)
                time.sleep(0.3)  # its news (it is fetching the big crate) reaches the others
            t0 = time.time()
            r = hosts.run(4, ["curl", "-s", "--max-time", "5", "-o", "/dev/null", "-D", "-",
                              "-w", "\n%{http_code}",
                              "http://%s/peer/1/crate/%s" % (peer[4], big["cksum"])], timeout=15)
            waited = time.time() - t0
            code = r.stdout.rpartition("\n")[2]
            harness.log("a request to H, which relays the big crate from G: %s after %.2f s"
                        % (code, waited))
            t.check(code == "404" and waited >= 0.25,
                    "H did not hold a relay request while its own relay had no byte, then "
                    "answer 404: %s after %.2f s" % (code, waited))
            for h in (1, 2, 4):
                get_big_end(t, hosts, h, gets[h], big)
            sh = status_in(hosts, 4) or {}
            from_g = next((p.get("received", {}) for p in sh.get("peers", [])
                           if p.get("addr") == peer[2]), {})
            harness.log("H got from G %s" % from_g)
            t.check(from_g.get("bytes", 0) >= big["size"],
                    "H did not take the big crate from G (%s)" % from_g)
            for h in (1, 2, 4):
                blobs = t.check_store_invariant(stores3[h])
                t.check(big["cksum"] in blobs, "h%d's store lacks the big crate" % h)
            for h in sorted(procs):
                rc = hosts.stop(procs.pop(h), timeout=30)
                if rc not in (0, -15):
                    problems.append("agent on h%d exited %r on SIGTERM" % (h, rc))
            for h in range(5):
                text = log_text(t, h)
                problems += ["%s in agent-h%d.log" % (m, h) for m in SANITIZER_MARKERS
                             if m in text]
            t.check(not problems, "; ".join(problems))
        except (harness.Failure, netns.NetnsError):
            for h in range(5):
                harness.log("---- agent-h%d.log (tail)\n%s" % (h, log_text(t, h)[-2500:]))
            raise


if __name__ == "__main__":
    harness.main(test)
