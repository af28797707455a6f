#!/usr/bin/python3
"""Peers, trust policy: --trust keys accepts exactly the listed keys.

A (online, upstream.py, peer side on) holds projects/app's crates; its key is what
`cratecast id --store A` prints. X is a second agent (empty store) whose key is a real, valid
key that is not A's.
  1. C1 (--upstream none --peer A --trust keys --trust-key <A>) lists A as a live peer and
     Cargo builds the project through it (the reference Cargo.lock; from_peers > 0).
  2. C2 (--upstream none --peer A --trust keys --trust-key <X>) does not use A: Cargo cannot
     resolve the project (no index data from an untrusted peer), C2 stores nothing, counts no
     crate from peers, and if it lists A, not as "live".
  3. A malformed --trust-key (wrong length, wrong alphabet, empty) is one clear line on stderr
     naming the option or the value, and a non-zero exit, within seconds, for both `--trust
     keys` and the default policy.
"""

import base64
import json
import os
import subprocess
import time

import harness


def test(t):
    up, a, ref = t.warm_up("app", peer_listen=True)
    key_a = t.agent_id(a)
    locked = t.lock_checksums(ref)
    x = t.start_agent(upstream=None, peer_listen=True)
    key_x = t.agent_id(x)
    t.check(key_x != key_a, "two stores have the same key %s" % key_a)

    # 1. trusted
    c1 = t.start_agent(upstream=None, peer_listen=True, peers=[a],
                       extra=["--trust", "keys", "--trust-key", key_a])
    ent, _ = t.wait_peer(c1, key=key_a, pred=lambda e: e.get("crates", 0) >= len(locked),
                         what="C1 (trusting A's key) lists A with its crates")
    harness.log("C1's entry for A: %s" % json.dumps(ent))
    home = t.cargo_home(c1.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    s = c1.status()
    t.check(harness.counter(s, "from_peers") > 0, "C1: from_peers = %r"
            % harness.counter(s, "from_peers"))
    t.check_store_invariant(c1.store)

    # 2. only another key is trusted
    c2 = t.start_agent(upstream=None, peer_listen=True, peers=[a],
                       extra=["--trust", "keys", "--trust-key", key_x])
    # give C2 the time C1 needed to take A on (it may list A, rejected), then ask Cargo
    deadline = time.time() + 3
    s = c2.status()
    while time.time() < deadline:
        s = c2.status()
        e = harness.peer_entry(s, key=key_a, addr=a.peer_addr)
        if e is not None and e.get("state") not in (None, "connecting"):
            break
        time.sleep(0.2)
    harness.log("C2's peers before Cargo: %s" % json.dumps(s.get("peers")))
    home = t.cargo_home(c2.registry_url)
    proj = t.project("app")
    rc, out = t.cargo(["generate-lockfile"], proj, home, check=False, timeout=120)
    t.check(rc != 0, "Cargo resolved the project through C2, which trusts only X's key, from A")
    harness.log("cargo generate-lockfile failed as expected: %s"
                % [ln for ln in out.splitlines() if "error" in ln.lower()][:2])
    s = c2.status()
    harness.log("C2 status: %s" % json.dumps(s, sort_keys=True))
    t.check(harness.counter(s, "from_peers") == 0, "C2 fetched %r crates from the untrusted A"
            % harness.counter(s, "from_peers"))
    t.check(not t.check_store_invariant(c2.store), "C2 stored blobs from the untrusted A")
    st = s.get("store") or {}
    t.check(not st.get("crates") and not st.get("index_entries"),
            "C2 stored data from the untrusted A: store %s" % json.dumps(st))
    e = harness.peer_entry(s, key=key_a, addr=a.peer_addr)
    if e is not None and "state" in e:
        t.check(e["state"] != "live", "C2 lists the untrusted A as live: %s" % json.dumps(e))
    t.check(c2.alive(), "C2 exited")

    # 3. malformed keys
    good = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    bad_values = ["not-a-key", good[:-1], good + "A", "!" * 43, good[:20] + "+/" + good[22:], ""]
    for policy in (["--trust", "keys"], []):
        for v in bad_values:
            cmd = [t.cratecast, "agent", "--store", t.fresh_dir("store-bad"), "--listen",
                   "127.0.0.1:%d" % harness.free_port(), "--peer-listen", "off", "--no-mdns",
                   "--no-import", "--upstream", "none"] + policy + ["--trust-key", v]
            try:
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, timeout=10)
            except subprocess.TimeoutExpired:
                raise harness.Failure("`%s` was still running after 10 s (the bad key %r was "
                                      "accepted)" % (" ".join(cmd), v))
            err = r.stderr.decode(errors="replace")
            lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("help: ")]
            harness.log("--trust-key %r -> exit %d: %s" % (v, r.returncode, err.strip()))
            t.check(r.returncode != 0, "--trust-key %r: exit status 0" % v)
            t.check(len(lines) == 1 and lines[0].startswith("error: "),
                    "--trust-key %r: stderr has %d lines besides help: lines, expected one "
                    "'error: ' line:\n%s" % (v, len(lines), err))
            t.check("trust-key" in lines[0] or (v and v in lines[0]),
                    "--trust-key %r: the error names neither the option nor the value: %s"
                    % (v, lines[0]))
            t.check("AddressSanitizer" not in err and "runtime error" not in err,
                    "sanitizer report for --trust-key %r:\n%s" % (v, err))
    for ag in (a, x, c1, c2):
        t.check(ag.alive(), "agent pid %d exited" % ag.pid)


if __name__ == "__main__":
    harness.main(test)
