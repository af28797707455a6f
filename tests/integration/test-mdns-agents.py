#!/usr/bin/python3
"""Real agents on three hosts (network namespaces on one bridge) that find each other by mDNS
alone — no --peer anywhere — and Cargo on one host builds the project from another host's cache.

  1. avahi-daemon: each host runs its own dbus-daemon and avahi-daemon (netns.py). Host h0's
     agent holds the crates (its store was warmed in the root namespace through an online
     agent, then copied); h1 and h2 start empty with --upstream none. h1's agent must list h0
     via "mdns" with h0's key; Cargo on h1 (a fresh CARGO_HOME, inside h1's namespace) builds
     the project through h1's agent; h1's status counts crates from peers. Then h2 builds too
     and may fetch from h0 or h1 (what h1 fetched spread: its manifest lists the crates).
  2. embedded avahi-core, no daemon anywhere: the same between two hosts.

Root only (exit 77 otherwise). Usage: test-mdns-agents.py CRATECAST.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import harness
import netns

DISCOVERY_TIMEOUT = 30
AGENT_PORT = 7878
PEER_PORT = 7879


def status_in(hosts, h):
    r = hosts.run(h, ["curl", "-s", "--max-time", "2",
                      "http://127.0.0.1:%d/-/status" % AGENT_PORT], timeout=10)
    if r.returncode != 0 or not r.stdout:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def key_id_of(status):
    """The key id (TXT "id") of an agent: 16 hex digits of BLAKE2b-256 of its public key."""
    import base64
    import hashlib
    k = status["id"]
    pk = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
    return hashlib.blake2b(pk, digest_size=32).hexdigest()[:16]


def start_agent(t, hosts, h, store, env=None):
    log = open(t.path("agent-h%d.log" % h), "ab")
    p = hosts.spawn(h, [t.cratecast, "agent", "--store", store,
                        "--listen", "127.0.0.1:%d" % AGENT_PORT,
                        "--peer-listen", "0.0.0.0:%d" % PEER_PORT,
                        "--upstream", "none", "--no-import"],
                    env=dict(env or {}, CRATECAST_LOG="debug"), stdout=log, stderr=log)
    deadline = time.time() + 15
    while time.time() < deadline:
        if status_in(hosts, h) is not None:
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    raise harness.Failure("agent on h%d did not start; log:\n%s" % (
        h, open(t.path("agent-h%d.log" % h), errors="replace").read()[-3000:]))


def wait_mdns_peer(hosts, h, key, min_crates):
    t0 = time.time()
    last = None
    while time.time() - t0 < DISCOVERY_TIMEOUT:
        s = status_in(hosts, h)
        last = s
        for e in (s or {}).get("peers", []):
            if e.get("id") == key and e.get("via") == "mdns" and e.get("state") == "live" \
                    and e.get("crates", 0) >= min_crates:
                return time.time() - t0, e
        time.sleep(0.1)
    raise harness.Failure("h%d never listed %s via mdns with %d crates; last status: %s"
                          % (h, key, min_crates, json.dumps(last)))


def browse_agent(t, hosts, h, addr, key_id, seq):
    """avahi-browse (an independent mDNS client) in host h sees the agent at addr announcing
    _cratecast._tcp on the peer port with TXT v=1, its key id and its current sequence."""
    deadline = time.time() + 15
    out, txt = "", None
    while time.time() < deadline:
        r = hosts.run(h, ["avahi-browse", "-rpt", "_cratecast._tcp"], timeout=30)
        out = r.stdout
        for line in out.splitlines():
            # =;eth0;IPv4;NAME;_cratecast._tcp;local;HOST.local;ADDR;PORT;"k=v" "k=v"
            f = line.split(";", 9)
            if len(f) == 10 and f[0] == "=" and f[7] == addr and int(f[8]) == PEER_PORT:
                txt = dict(item.strip('"').partition("=")[::2] for item in f[9].split('" "'))
                if txt.get("seq") == str(seq):
                    harness.log("avahi-browse on h%d sees %s: %s %s" % (h, addr, f[3], txt))
                    t.check(txt.get("v") == "1" and txt.get("id") == key_id,
                            "TXT of %s is %r, expected v=1 id=%s" % (addr, txt, key_id))
                    return
        time.sleep(0.5)
    raise harness.Failure("avahi-browse on h%d did not see %s with seq=%s (last TXT %r):\n%s"
                          % (h, addr, seq, txt, out))


def cargo_build_in(t, hosts, h, proj, home):
    env = t.cargo_env(home, os.path.join(proj, "target"))
    r = hosts.run(h, [t.cargo_bin, "build", "--manifest-path", os.path.join(proj, "Cargo.toml")],
                  env=env, timeout=harness.CARGO_TIMEOUT)
    harness.log("cargo build on h%d -> %d" % (h, r.returncode))
    t.check(r.returncode == 0, "cargo build on h%d failed:\n%s" % (h, r.stderr[-4000:]))
    exe = os.path.join(proj, "target", "debug", "app")
    out = subprocess.run([exe], stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()
    t.check(out == t.manifest["expected_app_output"], "app on h%d printed %r" % (h, out))


def scenario(t, warm_store, key, nlocked, avahi, nhosts, env=None):
    label = "avahi-daemon" if avahi else "avahi-core"
    with netns.Hosts(nhosts, avahi=avahi, workdir=t.fresh_dir("netns-" + label),
                     log=harness.log) as hosts:
        procs = []
        stores = []
        for h in range(nhosts):
            st = t.fresh_dir("store-%s-h%d" % (label, h))
            shutil.rmtree(st)
            if h == 0:
                shutil.copytree(warm_store, st)
            stores.append(st)
            procs.append(start_agent(t, hosts, h, st, env))
        s0 = status_in(hosts, 0)
        t.check(s0 and s0.get("mdns") == label, "h0 uses %r for mDNS, expected %s"
                % (s0 and s0.get("mdns"), label))
        t.check(s0.get("key_id") == key_id_of(s0), "status key_id %r is not the id of key %s"
                % (s0.get("key_id"), s0.get("id")))
        if avahi:
            browse_agent(t, hosts, 2, hosts.addr(0), key_id_of(s0), s0.get("seq"))
        took, ent = wait_mdns_peer(hosts, 1, key, nlocked)
        harness.log("[%s] h1 listed h0 via mdns after %.2fs: %s" % (label, took, json.dumps(ent)))
        t.check(ent.get("addr", "").startswith(hosts.addr(0) + ":"),
                "h1 lists h0 at %r, expected %s:..." % (ent.get("addr"), hosts.addr(0)))

        home = t.cargo_home("sparse+http://127.0.0.1:%d/index/" % AGENT_PORT)
        proj = t.project("app")
        cargo_build_in(t, hosts, 1, proj, home)
        s1 = status_in(hosts, 1)
        harness.log("[%s] h1 status: %s" % (label, json.dumps(s1.get("counters"))))
        t.check(harness.counter(s1, "from_peers") >= nlocked,
                "h1 fetched %r crates from peers, expected >= %d"
                % (harness.counter(s1, "from_peers"), nlocked))
        t.check_store_invariant(stores[1])

        if nhosts > 2:
            home2 = t.cargo_home("sparse+http://127.0.0.1:%d/index/" % AGENT_PORT)
            proj2 = t.project("app")
            wait_mdns_peer(hosts, 2, key, nlocked)
            cargo_build_in(t, hosts, 2, proj2, home2)
            s2 = status_in(hosts, 2)
            t.check(harness.counter(s2, "from_peers") >= nlocked,
                    "h2 fetched %r crates from peers" % harness.counter(s2, "from_peers"))
            # what h1 fetched spread: its sequence moved, its TXT record changed, and h2
            # lists h1 with those crates in its manifest
            took, _ = wait_mdns_peer(hosts, 2, s1.get("id"), nlocked)
            harness.log("[%s] h2 listed h1 with its new crates %.2fs after its build"
                        % (label, took))
            t.check_store_invariant(stores[2])
        for p in procs:
            hosts.stop(p)
            t.check(p.returncode in (0, -15), "an agent exited with %r" % p.returncode)
        for h in range(nhosts):
            text = open(t.path("agent-h%d.log" % h), errors="replace").read()
            t.check("ERROR: AddressSanitizer" not in text and "runtime error:" not in text,
                    "sanitizer report in agent-h%d.log" % h)
            os.rename(t.path("agent-h%d.log" % h), t.path("agent-%s-h%d.log" % (label, h)))


def test(t):
    why = netns.available()
    if why:
        raise harness.Skip(why)
    up, a, ref = t.warm_up("app", peer_listen=True)
    key = t.agent_id(a)
    locked = t.lock_checksums(ref)
    warm_store = a.store
    a.stop()
    up.stop()
    if netns.avahi_available() is None:
        scenario(t, warm_store, key, len(locked), avahi=True, nhosts=3)
    else:
        harness.log("avahi-daemon not installed: daemon scenario skipped")
    scenario(t, warm_store, key, len(locked), avahi=False, nhosts=2,
             env={"CRATECAST_MDNS_BACKEND": "avahi-core"})


if __name__ == "__main__":
    harness.main(test)
