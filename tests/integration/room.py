"""Shared by the room tests that run agents in network namespaces (netns.py): one agent per
host, Cargo on the host's own loopback, peers on the host's 10.x address.

The agent of host h listens for Cargo on 127.0.0.1:AGENT_PORT inside h's namespace and for peers
on 0.0.0.0:PEER_PORT; its log is t.path("agent-h<h>.log"); status_in() reads its /-/status with
curl inside the namespace.
"""

import json
import os
import shutil
import subprocess
import time

import harness
import netns

AGENT_PORT = 7878        # on each host's own loopback
PEER_PORT = 7879         # on each host's eth0 (0.0.0.0)
START_TIMEOUT = 30
PEER_TIMEOUT = 30
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def status_in(hosts, h):
    """h's agent's /-/status (curl on 127.0.0.1 inside its namespace), or None."""
    try:
        r = hosts.run(h, ["curl", "-s", "--max-time", "3", "-w", "\n%{http_code}",
                          "http://127.0.0.1:%d/-/status" % AGENT_PORT], timeout=15)
    except subprocess.TimeoutExpired:
        return None
    body, _, code = r.stdout.rpartition("\n")
    if code != "200":
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def log_text(t, h):
    try:
        with open(t.path("agent-h%d.log" % h), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def start_agent(t, hosts, h, store, extra):
    log = open(t.path("agent-h%d.log" % h), "ab")
    p = hosts.spawn(h, [t.cratecast, "agent", "--store", store,
                        "--listen", "127.0.0.1:%d" % AGENT_PORT,
                        "--peer-listen", "0.0.0.0:%d" % PEER_PORT,
                        "--upstream", "none", "--no-mdns", "--no-import"] + list(extra),
                    env={"XDG_CACHE_HOME": t.path("xdg-cache-h%d" % h)},
                    stdout=log, stderr=log)
    log.close()
    return p


def wait_started(t, hosts, h, p):
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if status_in(hosts, h) is not None:
            harness.log("agent on h%d (%s): pid %d" % (h, hosts.addr(h), p.pid))
            return
        if p.poll() is not None:
            break
        time.sleep(0.1)
    raise harness.Failure("agent on h%d did not start (exit %r); log:\n%s"
                          % (h, p.poll(), log_text(t, h)[-3000:]))


def wait_sees_a(hosts, h, key, n_a):
    """Until h's agent lists A live with at least n_a crates."""
    deadline = time.time() + PEER_TIMEOUT
    last = None
    while time.time() < deadline:
        s = status_in(hosts, h)
        last = s or last
        e = harness.peer_entry(s or {}, key)
        if e and e.get("state") == "live" and e.get("crates", 0) >= n_a:
            return e
        time.sleep(0.1)
    raise harness.Failure("h%d never listed A live with %d crates; last status: %s"
                          % (h, n_a, json.dumps(last)))


def need_room():
    """Skip unless network namespaces can be made here and curl is installed."""
    why = netns.available()
    if why:
        raise harness.Skip(why)
    if shutil.which("curl") is None:
        raise harness.Skip("curl not installed")


class Holder:
    """The teacher's store, filled on loopback before any namespace: projects/big (with a
    big_mb MB crate) fetched through an online agent, which is then stopped with its upstream."""

    def __init__(self, t, big_mb):
        t.big_mb = big_mb
        t.net_retry = 0
        up, a, ref = t.warm_up("big", peer_listen=True)
        self.key = t.agent_id(a)
        self.crates = a.status()["store"]["crates"]
        self.big = t.manifest["big"]
        self.locked = t.lock_checksums(ref)
        t.check(self.big["cksum"] in self.locked, "projects/big's lock does not hold big-blob")
        self.ref = ref
        self.store = a.store
        a.stop()
        up.stop()


def cargo_start(t, hosts, h, tag, project="big"):
    """`cargo fetch` of project through h's agent, in the background: (popen, project dir,
    log path)."""
    proj = t.project(project)
    registry_url = "sparse+http://127.0.0.1:%d/index/" % AGENT_PORT
    env = t.cargo_env(t.cargo_home(registry_url), os.path.join(proj, "target"))
    logpath = t.path("cargo-%s.log" % tag)
    with open(logpath, "wb") as f:
        p = hosts.spawn(h, [t.cargo_bin, "fetch"], env=env, cwd=proj, stdout=f,
                        stderr=subprocess.STDOUT)
    return p, proj, logpath


def cargo_end(hosts, run, must_pass=True):
    p, proj, logpath = run
    try:
        rc = p.wait(timeout=harness.CARGO_TIMEOUT)
    except subprocess.TimeoutExpired:
        hosts.stop(p)
        rc = "timeout"
    with open(logpath, errors="replace") as f:
        out = f.read()
    if must_pass and rc != 0:
        raise harness.Failure("cargo fetch -> %s:\n%s" % (rc, out[-1500:]))
    return rc
