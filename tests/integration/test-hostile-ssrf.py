#!/usr/bin/python3
"""Hostile peers, SSRF: what a peer says can make the agent send a hello, nothing more.

Observers are raw HTTP servers on other loopback ports that record every request they get.
Five victims run side by side (all --upstream none, peer side on), each with its own fake
peer (tests/integration/fakepeer.py) or observer, and one honest agent H (warm with
projects/app) for the build:

  (a) pex junk: fake Fa's manifest pex list holds addresses that would turn into other URLs
      on observer Oa if pasted into "http://%s/peer/1/hello?..." ("127.0.0.1:O/ANY/PATH?x=:1",
      "...#:1", userinfo "evil@127.0.0.1:O", "127.0.0.1:O@evil:1", host names, "[::1]:O/..."
      and "[::ffff:127.0.0.1]:O/..." literals with junk, "/peer/1/crate/..." smuggled in a
      path); its news peers list 127.0.0.1:O. Oa may receive only hello requests
      (GET /peer/1/hello?nonce=<64 hex>[&port=N]) and none carrying credentials.
  (b) redirects: fake R1 answers every hello with 302 to observer Ob; fake R2 is live but
      answers crate, index and news requests with 302 to Ob. Cargo builds projects/app
      through victim Vb (peers R1, R2, H): the build succeeds (from H) and Ob sees nothing.
  (c) hello port=: the test sends victim Vc 30 hellos with port=<observer Oc>. Every answer
      is a hello that verifies and answers our nonce; Oc receives only hellos, at most
      PORT_HELLOS_MAX of them (incoming hellos must not make the agent hammer an address).
  (d) forgotten stays forgotten: fake Fd announces (pex and news, and its sequence moves
      every 3 s so the announcement is re-read) a listening port G that answers garbage.
      Within D_WINDOW_S, G receives at most FORGET_AFTER hellos: after 5 failures the
      address is forgotten even though manifests keep naming it.
  (rate) pex flood: fake Fr announces, 64 at a time in manifests and news, 200 distinct
      addresses 127.0.x.y:port, each a listening socket of the test that records the
      connection and closes it. Within RATE_WINDOW_S of Fr's first manifest, the victim
      contacts at most PEX_BURST + PEX_PER_MINUTE * RATE_WINDOW_S / 60 of them.
Each fake peer must be live at its victim (else the scenario proved nothing). All failures
are collected and reported together.
"""

import json
import math
import re
import threading
import time

import fakepeer
import harness

PORT_HELLOS_MAX = 5        # (c) hellos an address learnt from incoming hellos may get
FORGET_AFTER = 5           # (d) failures after which a pex address is forgotten for good
D_WINDOW_S = 40            # (d) how long the re-announcements are watched
RATE_WINDOW_S = 40         # (rate) the window counted from the flooder's first manifest
PEX_PER_MINUTE = 20        # (rate) new pex addresses a victim may contact per minute ...
PEX_BURST = 16             # ... plus a first burst
RATE_MAX = int(math.ceil(PEX_BURST + PEX_PER_MINUTE * RATE_WINDOW_S / 60.0))
FLOOD_ADDRS = 200
HELLO_PATH = r"^/peer/1/hello\?nonce=[0-9a-fA-F]{64}(&port=[0-9]{1,5})?$"


def junk_pex(o):
    """Addresses that pass the manifest decoder (printable, ':' + 1..5 digits at the end)
    but are not an IP literal and a port; o is the observer's port."""
    z = "0" * 64
    return [
        "127.0.0.1:%d/ANY/PATH?x=:1" % o,
        "127.0.0.1:%d/ANY/PATH#:1" % o,
        "127.0.0.1:%d?q=:1" % o,
        "127.0.0.1:%d/%%2e%%2e/ANY/DOTS:1" % o,
        "127.0.0.1:%d/peer/1/crate/%s?:1" % (o, z),
        "evil@127.0.0.1:%d" % o,
        "127.0.0.1:%d@evil:1" % o,
        "localhost:%d" % o,
        "observer.invalid:%d" % o,
        "0x7f.0.0.1:%d" % o,
        "127.1:%d" % o,
        "2130706433:%d" % o,
        "[::1]:%d/ANY/V6PATH?:1" % o,
        "[::ffff:127.0.0.1]:%d/ANY/V4MAPPED#:1" % o,
        "[::1]x:%d" % o,
        "127.0.0.1:%d:%d" % (o, o),
    ]


class Redirector(fakepeer.FakePeer):
    """hello_too: every hello is a redirect (never live); else only crate, index, news."""

    def __init__(self, target, hello_too, **kw):
        super().__init__(**kw)
        self.target = target
        self.hello_too = hello_too

    def on_hello(self, h, q):
        if self.hello_too:
            return h.redirect("http://%s/ANY/REDIRECTED-HELLO" % self.target)
        return super().on_hello(h, q)

    def on_crate(self, h, sha):
        h.redirect("http://%s/ANY/REDIRECTED-CRATE/%s" % (self.target, sha))

    def on_index(self, h, name):
        h.redirect("http://%s/ANY/REDIRECTED-INDEX/%s" % (self.target, name))

    def on_news(self, h, q):
        h.redirect("http://%s/ANY/REDIRECTED-NEWS" % self.target)


class Rotator(fakepeer.FakePeer):
    """Announces a different slice of `addrs` (64 at a time) in each manifest and news."""

    def __init__(self, addrs, **kw):
        super().__init__(news_hold=1.0, **kw)
        self.addrs = addrs
        self.k = 0
        self.first_manifest = None

    def _slice(self):
        n = len(self.addrs)
        i = (self.k * 64) % n
        return [self.addrs[(i + j) % n] for j in range(64)]

    def on_manifest(self, h, q):
        with self.lock:
            if self.first_manifest is None:
                self.first_manifest = time.time()
            self.k += 1
            self.pex = self._slice()
            self._wire = None
        h.reply(200, self.manifest_wire())
        self.bump()  # the next hello or news says the sequence moved: fetch again

    def on_news(self, h, q):
        with self.lock:
            self.k += 1
            self.news_peers = self._slice()
        if q.get("since") == str(self.gen):
            self.stopping.wait(1.0)
        self.bump()
        h.reply(200, self.news_wire())


def ticker(stop, every, fn):
    def run():
        while not stop.wait(every):
            fn()
    threading.Thread(target=run, daemon=True).start()


def test(t):
    fakepeer.self_check()
    problems = []
    stop = threading.Event()
    owned = []
    try:
        _run(t, problems, stop, owned)
    finally:
        stop.set()
        for x in owned:
            x.close()
    # the same problem seen again (each retry of a poll) is reported once, with a count
    counts = {}
    for p in problems:
        key = re.sub(r"nonce=[0-9a-fA-F]{16,64}", "nonce=...", p)
        key = re.sub(r"port=\d+", "port=N", key)
        key = re.sub(r"(REDIRECTED-(?:CRATE|INDEX))/\S+", r"\1/<...>", key)
        counts[key] = counts.get(key, 0) + 1
    lines = ["%s%s" % (k, " (x%d)" % n if n > 1 else "") for k, n in counts.items()]
    t.check(not problems, "%d SSRF problem(s):\n  %s" % (len(lines), "\n  ".join(lines)))


def _run(t, problems, stop, owned):
    oa, ob, oc = fakepeer.Observer(label="Oa"), fakepeer.Observer(label="Ob"), \
        fakepeer.Observer(label="Oc")
    gd = fakepeer.Observer(reply=b"garbage\r\n", label="G")
    farm = fakepeer.ListenerFarm(FLOOD_ADDRS)
    owned += [oa, ob, oc, gd, farm]
    harness.log("observers Oa %s (v6 %s), Ob %s, Oc %s, G %s; %d flood addresses %s .. %s"
                % (oa.addr, oa.v6, ob.addr, oc.addr, gd.addr, FLOOD_ADDRS, farm.addrs[0],
                   farm.addrs[-1]))

    # the honest holder for (b)
    up, h, ref = t.warm_up("app", peer_listen=True)
    locked = fakepeer.lock_crates(t, ref)

    fa = fakepeer.FakePeer(label="Fa")
    fa.pex = junk_pex(oa.port)
    fa.news_peers = [("127.0.0.1", oa.port)]
    r1 = Redirector(ob.addr, hello_too=True, label="R1")
    r2 = Redirector(ob.addr, hello_too=False, label="R2")
    for c in locked:
        r2.list_crate(c["cksum"], c["size"])
        # a hash nobody else lists: the victim asks R2 for each index file
        r2.set_index(c["name"], b"", announce_hash=b"\x01" * 32)
    fd = fakepeer.FakePeer(label="Fd", news_hold=2.0)
    fd.pex = [gd.addr]
    fd.news_peers = [gd.addr]
    fr = Rotator(farm.addrs, label="Fr")
    owned += [fa, r1, r2, fd, fr]

    va = t.start_agent(upstream=None, peer_listen=True, peers=[fa.addr])
    vr = t.start_agent(upstream=None, peer_listen=True, peers=[fr.addr])
    vd = t.start_agent(upstream=None, peer_listen=True, peers=[fd.addr])
    vc = t.start_agent(upstream=None, peer_listen=True)
    vb = t.start_agent(upstream=None, peer_listen=True, peers=[r1.addr, r2.addr, h])
    t0 = time.time()
    ticker(stop, 3.0, fd.bump)

    # (c) hellos with port=Oc
    bad_answers = []
    for i in range(30):
        try:
            st, hello, _ = fakepeer.hello_request(vc.peer_port, own_port=oc.port)
            if st != 200:
                bad_answers.append("hello %d answered %d" % (i, st))
        except (OSError, fakepeer.DecodeError) as e:
            bad_answers.append("hello %d: %s" % (i, e))
        time.sleep(0.1)
    if bad_answers:
        problems.append("(c) the victim's hello answers: %s" % "; ".join(bad_answers[:5]))

    # (b) a build through Vb
    home = t.cargo_home(vb.registry_url)
    proj = t.project("app")
    rc, out = t.cargo(["generate-lockfile"], proj, home, check=False)
    if rc != 0:
        problems.append("(b) cargo generate-lockfile through Vb failed (%d): %s"
                        % (rc, out[-1500:]))
    else:
        try:
            t.same_lock(ref, proj)
        except harness.Failure as e:
            problems.append("(b) %s" % e)
        rc, out = t.cargo(["build"], proj, home, check=False)
        if rc != 0:
            problems.append("(b) cargo build through Vb failed (%d): %s" % (rc, out[-1500:]))
    b_done = time.time()

    # let the windows run out
    while True:
        ends = [t0 + D_WINDOW_S]
        if fr.first_manifest:
            ends.append(fr.first_manifest + RATE_WINDOW_S)
        else:
            ends.append(t0 + RATE_WINDOW_S)
        left = max(ends) - time.time()
        if left <= 0:
            break
        time.sleep(min(left, 1.0))

    # preconditions: each fake peer was heard
    for v, fp, what in ((va, fa, "(a)"), (vr, fr, "(rate)"), (vd, fd, "(d)"), (vb, r2, "(b)")):
        e = harness.peer_entry(v.status(), addr=fp.addr)
        if e is None or e.get("id") != fp.key.text or not fp.requested("/peer/1/manifest"):
            nman = len(fp.requested("/peer/1/manifest"))
            problems.append("%s precondition: fake %s is not known with its key at its victim "
                            "(entry %s, manifests asked %d)" % (what, fp.label, json.dumps(e),
                                                                nman))

    # (a)
    hello_re = re.compile(HELLO_PATH)
    recs = oa.seen()
    harness.log("(a) Oa saw %d requests: %s" % (len(recs), sorted(
        {re.sub(r"nonce=[0-9a-f]+(&port=\d+)?", "nonce=...", r["line"]) for r in recs})))
    for r in recs:
        if r["method"] != "GET" or not hello_re.match(r["path"]):
            problems.append("(a) pex junk reached observer Oa with %r (Host %r)"
                            % (r["line"][:160], r["headers"].get("host")))
        elif "authorization" in r["headers"]:
            problems.append("(a) a pex address's userinfo reached observer Oa as credentials: "
                            "%r Authorization %r" % (r["line"][:100],
                                                     r["headers"]["authorization"]))

    # (b)
    recs = ob.seen()
    harness.log("(b) Ob saw %d requests; R1 asked %d hellos, R2 asked %d crates, %d index "
                "files, %d news (build done %.1fs after start)"
                % (len(recs), len(r1.requested("/peer/1/hello")),
                   len(r2.requested("/peer/1/crate/")), len(r2.requested("/peer/1/index/")),
                   len(r2.requested("/peer/1/news")), b_done - t0))
    if not r1.requested("/peer/1/hello"):
        problems.append("(b) precondition: R1 was never asked for a hello")
    if not (r2.requested("/peer/1/crate/") or r2.requested("/peer/1/index/")
            or r2.requested("/peer/1/news")):
        problems.append("(b) precondition: R2 was never asked for a crate, index or news")
    for r in recs:
        problems.append("(b) a peer's redirect was followed: observer Ob got %r" % r["line"][:160])

    # (c)
    recs = oc.seen()
    hellos = [r for r in recs if hello_re.match(r["path"] or "")]
    others = [r for r in recs if not hello_re.match(r["path"] or "")]
    harness.log("(c) Oc saw %d hellos, %d other requests" % (len(hellos), len(others)))
    for r in others[:5]:
        problems.append("(c) a hello's port= made the victim send %r to that port"
                        % r["line"][:160])
    if len(hellos) > PORT_HELLOS_MAX:
        problems.append("(c) 30 incoming hellos with port=Oc made the victim send Oc %d hellos "
                        "(at most %d allowed)" % (len(hellos), PORT_HELLOS_MAX))

    # (d)
    recs = [r for r in gd.seen() if r["time"] <= t0 + D_WINDOW_S]
    hellos = [r for r in recs if hello_re.match(r["path"] or "")]
    nman = len(fd.requested("/peer/1/manifest"))
    harness.log("(d) G got %d connections, %d hellos in %ds; Fd's manifest was read %d times"
                % (len(recs), len(hellos), D_WINDOW_S, nman))
    if nman < 3:
        problems.append("(d) precondition: Fd's manifest was read only %d times (the "
                        "re-announcement was not seen)" % nman)
    if len(hellos) > FORGET_AFTER:
        problems.append("(d) an address that failed %d times was not forgotten: G got %d hellos "
                        "in %ds while Fd kept announcing it" % (FORGET_AFTER, len(hellos),
                                                               D_WINDOW_S))
    for r in recs:
        if r["path"] and not hello_re.match(r["path"]):
            problems.append("(d) G got a non-hello request %r" % r["line"][:120])

    # (rate)
    start = fr.first_manifest or t0
    hit = farm.contacted(until=start + RATE_WINDOW_S)
    total = farm.contacted()
    harness.log("(rate) %d of %d announced addresses contacted within %ds of the first "
                "manifest (%d by now; bound %d)" % (len(hit), FLOOD_ADDRS, RATE_WINDOW_S,
                                                    len(total), RATE_MAX))
    if len(fr.requested("/peer/1/manifest")) < 2:
        problems.append("(rate) precondition: Fr's manifest was read %d times"
                        % len(fr.requested("/peer/1/manifest")))
    if len(hit) > RATE_MAX:
        problems.append("(rate) the victim contacted %d new pex addresses within %ds (at most "
                        "%d allowed: %d a minute plus a burst of %d)"
                        % (len(hit), RATE_WINDOW_S, RATE_MAX, PEX_PER_MINUTE, PEX_BURST))

    for v in (va, vb, vc, vd, vr, h):
        if not v.alive():
            problems.append("agent pid %d exited" % v.pid)
    t.check_store_invariant(vb.store)


if __name__ == "__main__":
    harness.main(test)
