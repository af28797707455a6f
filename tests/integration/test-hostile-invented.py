#!/usr/bin/python3
"""Hostile peers, an invented version: under --trust open a peer may describe a version nobody
published; offline the agent may list it (docs/security.md), but it must say the version rests
only on a peer's word, and once the upstream is back that version is withdrawn and counted.

A fake peer F (tests/integration/fakepeer.py, its own key) signs the upstream's true index file
of cc-util plus one more line: cc-util 1.9.9, whose .crate it also serves (a real, valid crate
whose sha256 is the cksum it signed). The victim V (--trust open, --upstream U, --peer F):
  1. online, Cargo resolves and fetches projects/loose (cc-util = "1") through V: the
     reference lock (cc-util 1.2.0 from the upstream);
  2. U stops. A fresh resolution through V (offline now) may pick cc-util 1.9.9 (logged);
     `cargo fetch` may fetch it from F. `cratecast why cc-util --json` must then mark 1.9.9 as
     resting only on a peer's word: its entry has a provenance field (ORIGIN_FIELDS, e.g.
     "origin") whose value names a peer, while 1.2.0's does not;
  3. U comes back on the same port; V goes online (within ONLINE_WITHIN_S). A fresh
     `cargo generate-lockfile` through V must select the reference versions (never 1.9.9),
     the index file V serves Cargo for cc-util must not list 1.9.9, and V's status must count
     the withdrawn entry (a counter under status.rejected or status.counters, expected
     rejected.peer_unconfirmed; see COUNTER_NAMES / COUNTER_WORDS).
Every blob in V's store hashes to its name.
"""

import hashlib
import json
import time

import fakepeer
import harness

INVENTED = "1.9.9"
ONLINE_WITHIN_S = 75  # the upstream probe backs off up to 60 s
# where `why --json` may say whose word an index entry rests on (per version)
ORIGIN_FIELDS = ("origin", "index_origin", "entry_origin", "described_by", "vouched_by",
                 "trust", "from")
# the counter of entries withdrawn because the upstream does not publish them
COUNTER_NAMES = ("peer_unconfirmed", "peer_invented", "peer_unpublished", "peer_withdrawn",
                 "unconfirmed", "invented", "withdrawn", "dropped_peer_entries")
COUNTER_WORDS = ("unconfirm", "invent", "unpublish", "withdr", "dropped")


def origin_of(v):
    for k in ORIGIN_FIELDS:
        if k in v:
            return k, v[k]
    return None, None


def names_a_peer(val):
    if isinstance(val, str):
        return "peer" in val.lower()
    if isinstance(val, dict):
        return any(names_a_peer(x) for x in val.values()) or "peer" in json.dumps(val).lower()
    if isinstance(val, list):
        return any(names_a_peer(x) for x in val)
    return False


def withdrawn_counter(s):
    """(name, value) of the first counter that counts withdrawn peer-only entries."""
    for where in ("rejected", "counters"):
        d = s.get(where) if isinstance(s.get(where), dict) else {}
        for k in COUNTER_NAMES:
            if isinstance(d.get(k), int) and d[k] > 0:
                return "%s.%s" % (where, k), d[k]
        for k, v in d.items():
            if isinstance(v, int) and v > 0 and any(w in k for w in COUNTER_WORDS):
                return "%s.%s" % (where, k), v
    return None, None


def test(t):
    fakepeer.self_check()
    import registry
    up = t.start_upstream()
    up_port = up.port

    spec = {"vers": INVENTED, "value": 499, "features": {"default": ["std"], "std": []}}
    data = registry.build_crate("cc-util", spec)
    cksum = hashlib.sha256(data).hexdigest()
    line = registry.index_line("cc-util", spec, cksum)
    true_index = fakepeer.registry_index(t, "cc-util")
    lines = true_index + (b"" if true_index.endswith(b"\n") else b"\n") + line.encode() + b"\n"
    f = fakepeer.FakePeer(label="F")
    f.set_index("cc-util", lines)
    f.add_crate(data)
    harness.log("fake F at %s (key %s) signs cc-util %s, cksum %s"
                % (f.addr, f.key.text, INVENTED, cksum))
    try:
        _run(t, up, up_port, f, cksum)
    finally:
        f.close()


def _run(t, up, up_port, f, cksum):
    v = t.start_agent(upstream=up.url, peers=[f.addr], extra=("--trust", "open"))
    t.wait_peer(v, key=f.key.text, pred=lambda e: e.get("state") == "live",
                what="V lists F live")
    home = t.cargo_home(v.registry_url)
    ref = t.project("loose")
    t.cargo(["generate-lockfile"], ref, home)
    t.cargo(["fetch"], ref, home)
    ref_lock = t.lock(ref)
    t.check(list(ref_lock.get("cc-util", {})) == ["1.2.0"],
            "online, projects/loose locked cc-util %s" % sorted(ref_lock.get("cc-util", {})))

    # 2. offline
    up.stop()
    home2 = t.cargo_home(v.registry_url)
    proj2 = t.project("loose")
    rc, out = t.cargo(["generate-lockfile"], proj2, home2, check=False)
    offline_lock = t.lock(proj2) if rc == 0 else {}
    harness.log("offline: generate-lockfile -> %d, cc-util %s" % (
        rc, sorted(offline_lock.get("cc-util", {}))))
    if rc == 0 and INVENTED in offline_lock.get("cc-util", {}):
        rc, out = t.cargo(["fetch"], proj2, home2, check=False)
        harness.log("offline: cargo fetch (cc-util %s from F) -> %d" % (INVENTED, rc))
    s = v.status()
    t.check(not s.get("online"), "V still says online with its upstream stopped: %s"
            % json.dumps(s.get("upstream")))
    _, why_out = t.run([t.cratecast, "why", "cc-util", "--json", "--agent", v.url], timeout=30)
    why = json.loads(why_out)
    versions = {x.get("version"): x for x in why.get("versions") or []}
    harness.log("offline why cc-util: %s" % json.dumps(
        {k: {kk: x.get(kk) for kk in x if kk not in ("cksum",)} for k, x in versions.items()}))
    problems = []
    inv = versions.get(INVENTED)
    if inv is None:
        harness.log("offline, V does not know cc-util %s at all (allowed)" % INVENTED)
    else:
        k, val = origin_of(inv)
        if k is None or not names_a_peer(val):
            problems.append("offline, `cratecast why cc-util --json` lists %s (listed=%s, source "
                            "%s) without saying it rests only on a peer's word: no field %s "
                            "naming a peer in %s" % (INVENTED, inv.get("listed"), inv.get("source"),
                                                     "/".join(ORIGIN_FIELDS), json.dumps(inv)))
        k2, val2 = origin_of(versions.get("1.2.0", {}))
        if k is not None and names_a_peer(val2):
            problems.append("`why` marks the upstream's cc-util 1.2.0 as a peer's word too: %s=%r"
                            % (k2, val2))

    # 3. the upstream is back
    up2 = t.start_upstream(port=up_port)
    t0 = time.time()
    t.wait_status(v, lambda s: s.get("online") is True, "V back online", timeout=ONLINE_WITHIN_S)
    harness.log("V online again %.1fs after the upstream came back" % (time.time() - t0))
    home3 = t.cargo_home(v.registry_url)
    proj3 = t.project("loose")
    rc, out = t.cargo(["generate-lockfile"], proj3, home3, check=False)
    if rc != 0:
        problems.append("online again, cargo generate-lockfile failed (%d): %s" % (rc, out[-1500:]))
    else:
        got = t.lock(proj3)
        harness.log("online again: cc-util %s" % sorted(got.get("cc-util", {})))
        if INVENTED in got.get("cc-util", {}):
            problems.append("online again, Cargo locked the invented cc-util %s (the upstream "
                            "never published it)" % INVENTED)
        try:
            t.same_lock(ref, proj3)
        except harness.Failure as e:
            problems.append(str(e))
    st, _, body = harness.http_get(v.port, "/index/" + registry_path("cc-util"))
    served = [json.loads(ln).get("vers") for ln in body.decode().splitlines() if ln.strip()] \
        if st == 200 else []
    harness.log("online again, V serves cc-util versions %s" % served)
    if INVENTED in served:
        problems.append("online again, V still serves Cargo cc-util %s in its index file (%s)"
                        % (INVENTED, served))
    s = v.status()
    name, val = withdrawn_counter(s)
    harness.log("status rejected %s; counter of withdrawn entries: %s = %s"
                % (json.dumps(s.get("rejected")), name, val))
    if name is None:
        problems.append("V's status counts no withdrawn peer-only entry (expected e.g. "
                        "rejected.peer_unconfirmed >= 1): rejected %s, counters %s"
                        % (json.dumps(s.get("rejected")), json.dumps(s.get("counters"))))
    st, _, _ = harness.http_get(v.port, "/crates/cc-util/%s/%s" % (INVENTED, cksum))
    harness.log("online again, a direct download of cc-util %s answers %d" % (INVENTED, st))
    t.check_store_invariant(v.store)
    t.check(v.alive() and up2.alive(), "a process exited")
    t.check(not problems, "an invented version:\n  " + "\n  ".join(problems))


def registry_path(name):
    import registry
    return registry.index_path(name)


if __name__ == "__main__":
    harness.main(test)
