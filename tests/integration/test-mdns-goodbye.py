#!/usr/bin/python3
"""A stale mDNS goodbye in the middle of a transfer does not drop a live peer.

Two hosts (network namespaces on one bridge), each with its own dbus-daemon and avahi-daemon
(netns.py). h0's agent holds projects/big's crates (its store was warmed in the root namespace
through an online agent, then copied; it also holds cc-util 1.0.0, which projects/big does not
use: the probe below) and announces itself; h1's agent starts empty with --upstream none and
finds h0 by mDNS alone. Both agents are forced onto the avahi-daemon backend
(CRATECAST_MDNS_BACKEND), so h0's agent waits for its daemon to come back instead of falling
back to the embedded avahi-core responder. h0's eth0 is shaped (tbf, 8 Mbit/s), so big-blob
(8 MB) takes about 8 s to cross.

Cargo on h1 (inside h1's namespace, net.retry 0: any error fails it) runs `cargo fetch` of
projects/big in the background. Once big-blob's transfer is under way (h0's eth0 has sent
1 MB more than before and h0 reports an active upload or h1 a transfer in flight), h0's
avahi-daemon is stopped with SIGTERM while h0's agent keeps running: the daemon withdraws its
records, i.e. sends mDNS goodbyes. The test waits until h1's agent logs the goodbye, then, for
a second (the window in which h0 is announced nowhere):
  - h1's agent serves cc-util 1.0.0's .crate (only h0 holds it) with 200, not 404, when
    asked at once (what Cargo asks for a crate: GET /crates/NAME/VERS/SHA256);
  - every status of h1 lists h0, and the last one lists it live (its poll after the goodbye
    answered): the goodbye was stale, the peer is kept.
Then h0's avahi-daemon starts again; h0's agent re-registers (avahi-browse on h1 sees its
service again) and h1 lists h0 live via mdns. At the end:
  - Cargo's fetch succeeded and its Cargo.lock is the reference's;
  - h1's log holds "mDNS goodbye; checking whether it is still there" and the transfer of
    big-blob was still under way when it was logged;
  - h1's store holds every crate of projects/big and passes check_store_invariant;
  - both agents exit cleanly on SIGTERM, with no sanitizer report in their logs.
The checks made during the scenario are gathered and reported together at the end, so that a
run against an agent without the fix shows all that went wrong (Cargo's outcome included).

Root only (exit 77 otherwise, or without avahi-daemon). Usage: test-mdns-goodbye.py CRATECAST.
"""

import json
import os
import shutil
import subprocess
import time

import harness
import netns
from room import log_text

BIG_MB = 8
RATE = "8mbit"
# tbf's queue (rate x latency + burst) is deep enough that the mDNS goodbye and the peer
# protocol's small answers are delayed behind the big transfer, never dropped at h0's egress.
LATENCY = "500ms"
AGENT_PORT = 7878
PEER_PORT = 7879
DISCOVERY_TIMEOUT = 60   # generous: the suite also runs this under ASan
GOODBYE_TIMEOUT = 30
UNDER_WAY_BYTES = 1 << 20
GAP_S = 1.0              # how long h0 stays unannounced after h1 saw its goodbye
GOODBYE_LINE = "mDNS goodbye; checking whether it is still there"
OLD_GOODBYE_LINE = "gone from mDNS"   # what agents before the fix logged (and dropped it)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def curl_in(hosts, h, path, out=None, timeout=5):
    """(HTTP status or None, body) of GET 127.0.0.1:AGENT_PORT+path inside host h."""
    argv = ["curl", "-s", "--max-time", str(timeout), "-w", "\n%{http_code}",
            "http://127.0.0.1:%d%s" % (AGENT_PORT, path)]
    if out:
        argv[1:1] = ["-o", out]
    try:
        r = hosts.run(h, argv, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return None, ""
    body, _, code = r.stdout.rpartition("\n")
    return (int(code) if code.isdigit() and int(code) else None), body


def status_in(hosts, h):
    st, body = curl_in(hosts, h, "/-/status", timeout=3)
    if st != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def start_agent(t, hosts, h, store):
    log = open(t.path("agent-h%d.log" % h), "ab")
    p = hosts.spawn(h, [t.cratecast, "agent", "--store", store,
                        "--listen", "127.0.0.1:%d" % AGENT_PORT,
                        "--peer-listen", "0.0.0.0:%d" % PEER_PORT,
                        "--upstream", "none", "--no-import"],
                    env={"CRATECAST_LOG": "debug", "CRATECAST_MDNS_BACKEND": "avahi-daemon"},
                    stdout=log, stderr=log)
    log.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        if status_in(hosts, h) is not None:
            harness.log("agent on h%d: pid %d, store %s" % (h, p.pid, store))
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    raise harness.Failure("agent on h%d did not start; log:\n%s" % (h, log_text(t, h)[-3000:]))


def peer_of(status, key):
    for e in (status or {}).get("peers") or []:
        if isinstance(e, dict) and e.get("id") == key:
            return e
    return None


def wait_mdns_peer(hosts, h, key, min_crates, timeout=DISCOVERY_TIMEOUT):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        s = status_in(hosts, h)
        last = s or last
        e = peer_of(s, key)
        if e and e.get("via") == "mdns" and e.get("state") == "live" and \
                e.get("crates", 0) >= min_crates:
            return time.time() - t0, e
        time.sleep(0.1)
    raise harness.Failure("h%d never listed %s live via mdns with %d crates; last status: %s"
                          % (h, key, min_crates, json.dumps(last)))


def browse_sees(hosts, h, addr, timeout):
    """avahi-browse in host h resolves a _cratecast._tcp service at addr:PEER_PORT."""
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        r = hosts.run(h, ["avahi-browse", "-rpt", "_cratecast._tcp"], timeout=30)
        out = r.stdout
        for line in out.splitlines():
            f = line.split(";", 9)
            if len(f) == 10 and f[0] == "=" and f[7] == addr and f[8] == str(PEER_PORT):
                return True, line
        time.sleep(0.5)
    return False, out


def uploads_active(s):
    u = (s or {}).get("uploads")
    return u.get("active", 0) if isinstance(u, dict) else 0


def in_flight(s):
    tr = (s or {}).get("transfers")
    return tr.get("in_flight", 0) if isinstance(tr, dict) else 0


def test(t):
    why = netns.available() or netns.avahi_available()
    if why:
        raise harness.Skip(why)
    for tool in ("curl", "avahi-browse", "dbus-send"):
        if shutil.which(tool) is None:
            raise harness.Skip("%s not installed" % tool)
    t.big_mb = BIG_MB
    t.net_retry = 0
    t.registry  # generated now, with big-blob
    big = t.manifest["big"]
    probe = t.crate("cc-util", "1.0.0")

    # h0's store: projects/big (and projects/pin, for the probe) through an online agent
    up, a, ref = t.warm_up("big", peer_listen=True)
    pin_home = t.cargo_home(a.registry_url)
    pin = t.project("pin")
    t.cargo(["generate-lockfile"], pin, pin_home)
    t.cargo(["fetch"], pin, pin_home)
    key = t.agent_id(a)
    locked = t.lock_checksums(ref)
    t.check(big["cksum"] in locked, "projects/big's lock does not hold big-blob")
    t.check(probe["cksum"] not in locked, "projects/big's lock holds cc-util 1.0.0")
    warm_store = a.store
    a.stop()
    up.stop()

    problems = []

    def expect(cond, msg):
        if not cond:
            harness.log("PROBLEM: " + msg)
            problems.append(msg)
        return cond

    with netns.Hosts(2, avahi=True, workdir=t.fresh_dir("netns"), log=harness.log) as hosts:
        try:
            stores = []
            for h in range(2):
                st = t.fresh_dir("store-h%d" % h)
                if h == 0:
                    shutil.rmtree(st)
                    shutil.copytree(warm_store, st)
                stores.append(st)
            procs = [start_agent(t, hosts, h, stores[h]) for h in range(2)]
            took, ent = wait_mdns_peer(hosts, 1, key, len(locked))
            harness.log("h1 listed h0 via mdns after %.2fs: %s" % (took, json.dumps(ent)))
            t.check(ent.get("addr", "").startswith(hosts.addr(0) + ":"),
                    "h1 lists h0 at %r, expected %s:..." % (ent.get("addr"), hosts.addr(0)))

            hosts.shape(0, RATE, latency=LATENCY)
            harness.log("h0's eth0 shaped: tbf rate %s latency %s; big-blob is %d bytes"
                        % (RATE, LATENCY, big["size"]))

            # Cargo on h1, in the background
            home = t.cargo_home("sparse+http://127.0.0.1:%d/index/" % AGENT_PORT)
            proj = t.project("big")
            cargo_log = t.path("cargo-h1.log")
            tx0 = hosts.link_stats(0)["tx_bytes"]
            with open(cargo_log, "wb") as f:
                cargo = hosts.spawn(1, [t.cargo_bin, "fetch", "--manifest-path",
                                        os.path.join(proj, "Cargo.toml")],
                                    env=t.cargo_env(home, os.path.join(proj, "target")),
                                    stdout=f, stderr=subprocess.STDOUT)
            t0 = time.time()
            harness.log("cargo fetch of projects/big started on h1 (pid %d)" % cargo.pid)
            big_blob = t.blob_path(stores[1], big["cksum"])

            # until big-blob is crossing h0's eth0
            under_way = None
            while cargo.poll() is None and time.time() - t0 < harness.CARGO_TIMEOUT:
                sent = hosts.link_stats(0)["tx_bytes"] - tx0
                if sent >= UNDER_WAY_BYTES and not os.path.exists(big_blob):
                    s0, s1 = status_in(hosts, 0), status_in(hosts, 1)
                    if uploads_active(s0) >= 1 or in_flight(s1) >= 1:
                        under_way = (time.time() - t0, sent, uploads_active(s0), in_flight(s1))
                        break
                time.sleep(0.05)
            if under_way is None:
                rc = cargo.wait(timeout=60) if cargo.poll() is None else cargo.returncode
                raise harness.Failure(
                    "big-blob's transfer was never seen under way (cargo exited %r after %.1fs; "
                    "h0 sent %d bytes): nothing to interrupt\n%s"
                    % (rc, time.time() - t0, hosts.link_stats(0)["tx_bytes"] - tx0,
                       open(cargo_log, errors="replace").read()[-3000:]))
            harness.log("big-blob under way %.2fs after cargo started: h0 sent %d bytes, h0 "
                        "uploads.active %d, h1 transfers.in_flight %d" % under_way)

            # the goodbye: h0's avahi-daemon leaves, h0's agent keeps running
            log_before = len(log_text(t, 1))
            t_stop = time.time()
            rc = hosts.stop_avahi(0)
            harness.log("h0's avahi-daemon stopped in %.2fs (exit %r)" % (time.time() - t_stop, rc))
            seen = None
            while time.time() - t_stop < GOODBYE_TIMEOUT:
                new = log_text(t, 1)[log_before:]
                if GOODBYE_LINE in new or OLD_GOODBYE_LINE in new:
                    seen = time.time()
                    break
                time.sleep(0.05)
            t.check(seen is not None, "h1 logged no mDNS goodbye within %ds of stopping h0's "
                    "avahi-daemon; h1's log since:\n%s"
                    % (GOODBYE_TIMEOUT, log_text(t, 1)[log_before:][-3000:]))
            still_running = cargo.poll() is None and not os.path.exists(big_blob)
            harness.log("h1 saw the goodbye %.2fs after the daemon's stop (%.2fs into cargo); "
                        "big-blob still in transfer: %s"
                        % (seen - t_stop, seen - t0, still_running))
            expect(still_running, "the goodbye reached h1 after big-blob's transfer had ended "
                   "(%.2fs into cargo): nothing was interrupted" % (seen - t0))

            # the window in which h0 is announced nowhere: at once, what Cargo would ask for a
            # crate only h0 holds (before the fix: 404, as h0 was dropped), then h1's view of h0
            out = t.path("probe.crate")
            st, _ = curl_in(hosts, 1, "/crates/cc-util/1.0.0/%s" % probe["cksum"], out=out,
                            timeout=60)
            got = harness.sha256_file(out) if st == 200 and os.path.exists(out) else None
            harness.log("h1 answered cc-util 1.0.0 (held by h0 alone) with %s %.2fs after the "
                        "goodbye" % (st, time.time() - seen))
            expect(st == 200 and got == probe["cksum"],
                   "h1 answered %s for cc-util 1.0.0 (held by h0, which runs) right after h0's "
                   "stale goodbye (sha256 %s)" % (st, got))
            samples = []
            while time.time() - seen < GAP_S or len(samples) < 3:
                s = status_in(hosts, 1)
                if s is not None:
                    e = peer_of(s, key)
                    samples.append((round(time.time() - seen, 2), e and e.get("state")))
                time.sleep(0.1)
            harness.log("h1's view of h0 after the goodbye (seconds, state): %s" % samples)
            expect(samples and all(state is not None for _, state in samples),
                   "h1 dropped h0 on its stale mDNS goodbye (h0's agent still runs): %s" % samples)
            expect(samples and samples[-1][1] == "live",
                   "h1 does not list h0 live %.1fs after its goodbye: %s" % (GAP_S, samples))

            # h0's avahi-daemon comes back; its agent registers again
            t_start = time.time()
            hosts.start_avahi_daemon(0)
            ok, line = browse_sees(hosts, 1, hosts.addr(0), DISCOVERY_TIMEOUT)
            expect(ok, "avahi-browse on h1 never saw h0's service again after its daemon's "
                   "restart:\n%s" % line)
            if ok:
                harness.log("h0 announced again %.2fs after its daemon's restart: %s"
                            % (time.time() - t_start, line))
            took, ent = wait_mdns_peer(hosts, 1, key, len(locked))
            harness.log("h1 lists h0 live via mdns %.2fs after the restart: %s"
                        % (time.time() - t_start, json.dumps(ent)))

            try:
                rc = cargo.wait(timeout=max(10, harness.CARGO_TIMEOUT - (time.time() - t0)))
            except subprocess.TimeoutExpired:
                hosts.stop(cargo)
                rc = "timeout"
            cargo_out = open(cargo_log, errors="replace").read()
            harness.log("cargo fetch on h1 -> %s (%.1fs)" % (rc, time.time() - t0))
            if expect(rc == 0, "cargo fetch on h1 failed (%s):\n%s" % (rc, cargo_out[-3000:])):
                t.same_lock(ref, proj)

            s1 = status_in(hosts, 1)
            e = peer_of(s1, key)
            expect(e is not None and e.get("state") == "live",
                   "h1 does not list h0 live at the end: %s" % json.dumps(e))
            harness.log("h1 counters: %s" % json.dumps((s1 or {}).get("counters")))
            text = log_text(t, 1)
            expect(GOODBYE_LINE in text, "h1's log lacks %r" % GOODBYE_LINE)
            blobs = t.check_store_invariant(stores[1])
            missing = [ck for ck in locked if ck not in blobs]
            expect(not missing, "h1's store lacks %d crates of projects/big: %s"
                   % (len(missing), missing))

            for h, p in enumerate(procs):
                hosts.stop(p, timeout=30)
                expect(p.returncode in (0, -15), "agent on h%d exited with %r" % (h, p.returncode))
            for h in range(2):
                text = log_text(t, h)
                for marker in SANITIZER_MARKERS:
                    expect(marker not in text, "%s in agent-h%d.log" % (marker, h))
            t.check_store_invariant(stores[0])
        except (harness.Failure, netns.NetnsError):
            for h in range(2):
                harness.log("---- agent-h%d.log (tail)\n%s" % (h, log_text(t, h)[-4000:]))
            raise
    if problems:
        for h in range(2):
            harness.log("---- agent-h%d.log (tail)\n%s" % (h, log_text(t, h)[-4000:]))
    t.check(not problems, "; ".join(problems))


if __name__ == "__main__":
    harness.main(test)
