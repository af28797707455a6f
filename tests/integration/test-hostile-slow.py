#!/usr/bin/python3
"""Hostile or sick sources, slow: a drip, a stall or a stuck upstream flow makes a fetch slow,
never failed, and never wedges the agent.

An honest agent H warms up with projects/app and projects/newapp (so it holds more crates than
the fakes below, which makes the fakes look like the better holders of app's crates).
  (a) drip: fake D (tests/integration/fakepeer.py) lists app's crates and serves their real
      bytes at DRIP_RATE bytes per second. Victim Va: --upstream none, --peer D --peer H.
  (b) stall: fake S lists app's crates and accepts crate requests but never answers. Victim
      Vb: --upstream none, --peer S --peer H.
      For both, once D/S and H are live, Cargo resolves projects/app (the reference lock)
      and `cargo fetch` must succeed within FETCH_WITHIN_S: the victim gives up on the bad
      holder and takes the crate from H. Each fake must have been asked for a crate (else
      the scenario proved nothing).
  (c) a stuck upstream that heals: victim Vc's upstream (index and downloads) is reached
      through a SlowLink (fakepeer.py) at SLOW_RATE bytes per second. Cargo resolves
      projects/app through Vc for SLOW_PHASE_S (it crawls; it is then stopped). PRIME_LEAD_S
      before the end of that phase the test asks Vc for winapi's index file, so that a fetch
      of it is in flight. Then the link heals: new connections go at full speed, the flows
      in the middle of an answer are black-holed (they never deliver another byte), idle
      ones are closed. JOIN_GRACE_S later (the agent may need a few seconds to see that a
      flow is stuck), Cargo resolves and fetches projects/winonly (winapi) through Vc with a
      fresh CARGO_HOME: it must have succeeded HEAL_WITHIN_S after the heal (no request may
      join the stuck fetch; the agent is back online within seconds).
Every blob in the victims' stores hashes to its name.
"""

import json
import threading
import time

import fakepeer
import harness

DRIP_RATE = 5          # (a) bytes per second
FETCH_WITHIN_S = 60    # (a), (b)
SLOW_RATE = 50         # (c) bytes per second
SLOW_PHASE_S = 25      # (c)
PRIME_LEAD_S = 3       # (c) the winapi fetch starts this long before the heal
JOIN_GRACE_S = 7       # (c) the second Cargo starts this long after the heal ...
HEAL_WITHIN_S = 15     # (c) ... and must be done this long after the heal


class Drip(fakepeer.FakePeer):
    def on_crate(self, h, sha):
        data = self.crates.get(sha)
        if data is None:
            return h.reply(404, b"no\n", "text/plain")
        h.drip(data, DRIP_RATE, piece=1)


class Stall(fakepeer.FakePeer):
    def on_crate(self, h, sha):
        h.stall()


def watch(pr):
    """Note when a cargo_bg process exits (pr.t_end), whoever waits for it later."""
    pr.t_end = None

    def run():
        pr.popen.wait()
        pr.t_end = time.time()
    threading.Thread(target=run, daemon=True).start()
    return pr


def run_until(t, pr, deadline):
    """Wait for a cargo_bg process until deadline (absolute); stop it when late.
    Returns (rc or None when it had not exited by the deadline, output)."""
    while pr.alive() and time.time() < deadline:
        time.sleep(0.1)
    late = pr.alive()
    if late:
        pr.stop()
    rc, out = t.cargo_wait(pr, check=False)
    end = getattr(pr, "t_end", None)
    if not late and end is not None and end > deadline:
        late = True
    return (None if late else rc), out


def test(t):
    fakepeer.self_check()
    owned = []
    try:
        _run(t, owned)
    finally:
        for x in owned:
            x.close()


def _run(t, owned):
    problems = []
    up, h, ref = t.warm_up("app", peer_listen=True)
    home_h = t.cargo_home(h.registry_url)
    p2 = t.project("newapp")
    t.cargo(["generate-lockfile"], p2, home_h)
    t.cargo(["fetch"], p2, home_h)
    key_h = t.agent_id(h)
    crates = fakepeer.lock_crates(t, ref)

    # (c) first: its slow phase runs while (a) and (b) do their work
    link = fakepeer.SlowLink(0, rate=SLOW_RATE)
    owned.append(link)
    up_c = t.start_upstream(extra=("--dl-port", str(link.port)))
    link.target = up_c.port
    vc = t.start_agent(upstream=link.url)
    home_c1 = t.cargo_home(vc.registry_url)
    pr_c1 = t.cargo_bg(["generate-lockfile"], t.project("app"), home_c1)
    t_slow = time.time()

    d, s = Drip(label="D"), Stall(label="S")
    owned += [d, s]
    for c in crates:
        d.add_crate(c["data"])
        s.add_crate(c["data"])
    va = t.start_agent(upstream=None, peers=[d.addr, h])
    vb = t.start_agent(upstream=None, peers=[s.addr, h])
    jobs = []
    for label, v, fp in (("(a) drip", va, d), ("(b) stall", vb, s)):
        for key in (fp.key.text, key_h):
            t.wait_peer(v, key=key, pred=lambda e: e.get("state") == "live" and
                        e.get("crates", 0) >= len(crates),
                        what="%s: the victim lists %s live" % (label, key))
        home = t.cargo_home(v.registry_url)
        proj = t.project("app")
        t.cargo(["generate-lockfile"], proj, home)
        t.same_lock(ref, proj)
        jobs.append((label, v, fp, proj, watch(t.cargo_bg(["fetch"], proj, home)), time.time()))

    # (c) prime, heal, fetch again
    prime = {}

    def prime_get():
        t0 = time.time()
        try:
            st, _, _ = harness.http_get(vc.port, "/index/wi/na/winapi", timeout=90)
            prime["status"] = st
        except Exception as e:  # the agent may never answer it
            prime["status"] = repr(e)
        prime["after"] = time.time() - t0
    while time.time() < t_slow + SLOW_PHASE_S - PRIME_LEAD_S:
        time.sleep(0.1)
    threading.Thread(target=prime_get, daemon=True).start()
    while time.time() < t_slow + SLOW_PHASE_S:
        time.sleep(0.1)
    st_heal = vc.status()
    link.heal()
    t_heal = time.time()
    primed = [p for tm, p, slow in link.requests if slow and p.endswith("/winapi")]
    harness.log("(c) healed after %.1fs of %d B/s; Vc upstream %s; winapi index in flight: "
                "%s (prime answered: %s)" % (t_heal - t_slow, SLOW_RATE,
                                             json.dumps(st_heal.get("upstream")), primed,
                                             prime.get("status", "not yet")))
    pr_c1.stop()
    t.cargo_wait(pr_c1, check=False)
    while time.time() < t_heal + JOIN_GRACE_S:
        time.sleep(0.1)
    home_c2 = t.cargo_home(vc.registry_url)
    proj_c2 = t.project("winonly")
    deadline = t_heal + HEAL_WITHIN_S
    for step in (["generate-lockfile"], ["fetch"]):
        rc, out = run_until(t, t.cargo_bg(step, proj_c2, home_c2), deadline)
        if rc != 0:
            problems.append("(c) after the upstream link healed, cargo %s through Vc %s "
                            "(started %ds after the heal; must be done %ds after it):\n%s"
                            % (step[0], "was not done in time" if rc is None else
                               "failed (%d)" % rc, JOIN_GRACE_S, HEAL_WITHIN_S, out[-1500:]))
            break
    st_c = vc.status()
    harness.log("(c) %.1fs after the heal: Vc upstream %s; slow requests %d, fast %d"
                % (time.time() - t_heal, json.dumps(st_c.get("upstream")),
                   sum(1 for r in link.requests if r[2]), sum(1 for r in link.requests
                                                              if not r[2])))
    if not primed:
        problems.append("(c) precondition: no fetch of winapi's index was in flight on the "
                        "slow link when it healed (requests: %s)"
                        % [p for _, p, _ in link.requests][-10:])
    if not st_c.get("online"):
        problems.append("(c) %ds after the heal Vc is not online: %s"
                        % (time.time() - t_heal, json.dumps(st_c.get("upstream"))))

    # (a), (b): results
    for label, v, fp, proj, pr, t0 in jobs:
        rc, out = run_until(t, pr, t0 + FETCH_WITHIN_S)
        took = (pr.t_end or time.time()) - t0
        asked = fp.requested("/peer/1/crate/")
        harness.log("%s: cargo fetch -> %s, exited %.1fs after it started; the fake was asked "
                    "for %d crates"
                    % (label, rc, took, len(asked)))
        if rc != 0:
            problems.append("%s: cargo fetch through the victim %s within %ds although H holds "
                            "every crate:\n%s" % (label, "did not finish" if rc is None else
                                                  "failed (%d)" % rc, FETCH_WITHIN_S,
                                                  out[-1200:]))
        else:
            blobs = t.check_store_invariant(v.store)
            missing = [c["cksum"][:12] for c in crates if c["cksum"] not in blobs]
            if missing:
                problems.append("%s: the victim's store lacks %s" % (label, missing))
        if not asked:
            problems.append("%s: precondition: the fake was never asked for a crate (H was "
                            "always chosen first)" % label)
        e = harness.peer_entry(v.status(), key=fp.key.text)
        harness.log("%s: the victim's entry for the fake: %s" % (label, json.dumps(
            {k: (e or {}).get(k) for k in ("state", "fails", "penalty", "failures")})))
    for v in (va, vb, vc):
        t.check_store_invariant(v.store)
        t.check(v.alive(), "agent pid %d exited" % v.pid)
    t.check(not problems, "slow sources:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    harness.main(test)
