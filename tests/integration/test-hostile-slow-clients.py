#!/usr/bin/python3
"""Hostile clients of the peer port: readers that never read and a connection flood cannot
take the agent's uploads, or its Cargo side, away from everyone else.

  (d) never-reading sockets: agent A (online, peer side on, the default 8 upload slots) warms
      up with projects/big (big-blob, BIG_MB MB). The test opens STUCK sockets to A's peer
      port with a tiny receive buffer, each asking for big-blob, and never reads a byte. Then
      HONEST requests (one thread each) GET /peer/1/crate/<cc-util 1.2.0> as a normal
      requester does (on 503, wait Retry-After, ask again). Every one must have been
      answered 200 with the right bytes within SERVE_WITHIN_S: a send deadline must free
      the upload slots the stuck readers hold. (A reader that accepts no byte at all for that
      long has no claim on a slot, whatever the crate's size: a deadline that grows with the
      size, 30 s + size at 64 KiB/s, keeps big-blob's slots ~350 s and fails here.)
  (e) connection flood: agent B (online, empty store, peer side on) is started with the
      common default soft limit of 1024 open files (what a desktop session gives a user's
      processes). The test raises its own RLIMIT_NOFILE, opens FLOOD idle connections to B's
      peer port (re-opening those B closes, at most REOPEN_PER_S a second), and meanwhile
      Cargo resolves and fetches projects/app through B's Cargo port: both must succeed
      within FLOOD_FETCH_S, and the lock must equal the reference. Afterwards B still answers
      a hello.
Every blob in A's and B's stores hashes to its name.
"""

import hashlib
import resource
import selectors
import socket
import threading
import time

import fakepeer
import harness

BIG_MB = 20
STUCK = 12
HONEST = 18
SERVE_WITHIN_S = 40
FLOOD = 1100
REOPEN_PER_S = 100
FLOOD_FETCH_S = 60
USER_NOFILE = 1024


def honest_get(port, path, deadline, out, i):
    """Ask like a requester: 503 -> wait Retry-After (1 s) and ask again, until deadline.
    out[i] = (final status or error, body, time, [every answer])."""
    import http.client
    seen = []
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port,
                                              timeout=max(1, deadline - time.time()))
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            seen.append(r.status)
            if r.status == 503:
                time.sleep(float(r.getheader("Retry-After") or 1))
                continue
            out[i] = (r.status, body, time.time(), seen)
            return
        except (OSError, http.client.HTTPException) as e:
            seen.append(type(e).__name__)
            time.sleep(0.5)
    out[i] = (seen[-1] if seen else None, b"", time.time(), seen)


def stuck_reader(port, path):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode())
    return s


class Flood:
    """n idle connections to port, kept at n: those the server closes are opened again, at most
    REOPEN_PER_S a second (idle connections, not a connect storm)."""

    def __init__(self, port, n):
        self.port, self.n = port, n
        self.sel = selectors.DefaultSelector()
        self.open = 0
        self.opened = 0
        self.closed_by_server = 0
        self.failed = 0
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex(("127.0.0.1", self.port))
            self.sel.register(s, selectors.EVENT_READ)
            self.open += 1
            self.opened += 1
        except OSError:
            self.failed += 1
            s.close()

    def _run(self):
        budget, t_budget = self.n, time.time()
        while not self.stop.is_set():
            now = time.time()
            budget = min(self.n, budget + (now - t_budget) * REOPEN_PER_S)
            t_budget = now
            while self.open < self.n and budget >= 1 and not self.stop.is_set():
                self._connect()
                budget -= 1
            for key, _ in self.sel.select(timeout=0.2):
                s = key.fileobj
                try:
                    d = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if not d:
                    self.sel.unregister(s)
                    s.close()
                    self.open -= 1
                    self.closed_by_server += 1
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()

    def close(self):
        self.stop.set()
        self.th.join(10)


def test(t):
    fakepeer.self_check()
    problems = []
    t.big_mb = BIG_MB
    t.registry
    big = t.manifest["big"]
    small = t.crate("cc-util", "1.2.0")

    # (d)
    up, a, _ = t.warm_up("big", peer_listen=True)
    st, _, body = harness.http_get(a.peer_port, "/peer/1/crate/" + small["cksum"])
    t.check(st == 200 and hashlib.sha256(body).hexdigest() == small["cksum"],
            "(d) A does not serve cc-util 1.2.0 to a plain request (%d)" % st)
    socks = [stuck_reader(a.peer_port, "/peer/1/crate/" + big["cksum"]) for _ in range(STUCK)]
    time.sleep(2)
    su = a.status().get("uploads")
    harness.log("(d) %d stuck readers of big-blob (%d MB); A's uploads: %s"
                % (STUCK, big["size"] >> 20, su))
    out = [None] * HONEST
    t0 = time.time()
    deadline = t0 + SERVE_WITHIN_S
    ths = [threading.Thread(target=honest_get, args=(a.peer_port, "/peer/1/crate/" +
                                                     small["cksum"], deadline, out, i))
           for i in range(HONEST)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(SERVE_WITHIN_S + 15)
    ok = [o for o in out if o and o[0] == 200 and
          hashlib.sha256(o[1]).hexdigest() == small["cksum"]]
    times = sorted(o[2] - t0 for o in ok)
    harness.log("(d) %d of %d honest requests answered 200 within %ds (first/last after %s s); "
                "A's uploads now %s" % (len(ok), HONEST, SERVE_WITHIN_S,
                                        ["%.1f" % x for x in times[:2] + times[-1:]],
                                        a.status().get("uploads")))
    if len(ok) < HONEST:
        others = sorted({" ".join(str(x) for x in o[3]) for o in out if o and o not in ok})
        problems.append("(d) with %d readers that never read holding A's upload slots, only %d "
                        "of %d honest crate requests were served within %ds (the others ended "
                        "with %s)" % (STUCK, len(ok), HONEST, SERVE_WITHIN_S, others))
    for s in socks:
        s.close()
    t.check_store_invariant(a.store)

    # (e)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FLOOD + 512:
        harness.log("(e) skipped: the hard RLIMIT_NOFILE (%d) does not let the test open %d "
                    "connections" % (hard, FLOOD))
        t.check(not problems, "hostile clients:\n  " + "\n  ".join(problems))
        return
    cap = (1 << 20) if hard == resource.RLIM_INFINITY else hard
    low = min(USER_NOFILE, cap)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        b = t.start_agent(upstream=up.url, peer_listen=True)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    want = min(cap, max(soft, 4 * FLOOD))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    harness.log("(e) B started with RLIMIT_NOFILE %d (hard %d); the test's own limit is now %d"
                % (low, cap, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    flood = Flood(b.peer_port, FLOOD)
    try:
        deadline = time.time() + 10
        while flood.opened < FLOOD and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        harness.log("(e) flood: %d connections open (%d opened, %d closed by B, %d failed)"
                    % (flood.open, flood.opened, flood.closed_by_server, flood.failed))
        home = t.cargo_home(b.registry_url)
        proj = t.project("app")
        t0 = time.time()
        rc, out2 = t.cargo(["generate-lockfile"], proj, home, check=False, timeout=FLOOD_FETCH_S)
        if rc == 0:
            rc, out2 = t.cargo(["fetch"], proj, home, check=False,
                               timeout=max(5, FLOOD_FETCH_S - (time.time() - t0)))
        harness.log("(e) Cargo through B during the flood -> %d after %.1fs; flood: %d open, "
                    "%d opened, %d closed by B" % (rc, time.time() - t0, flood.open,
                                                   flood.opened, flood.closed_by_server))
        if rc != 0:
            problems.append("(e) with %d idle connections on B's peer port, Cargo through B's "
                            "Cargo port failed (%d):\n%s" % (FLOOD, rc, out2[-1200:]))
        elif time.time() - t0 > FLOOD_FETCH_S:
            problems.append("(e) Cargo through B took %.0fs during the flood"
                            % (time.time() - t0))
        else:
            try:
                t.check_app_lock(proj)
            except harness.Failure as e:
                problems.append("(e) %s" % e)
    finally:
        flood.close()
    time.sleep(1)
    try:
        st, hello, _ = fakepeer.hello_request(b.peer_port, timeout=10)
        if st != 200:
            problems.append("(e) after the flood B answers a hello with %d" % st)
    except (OSError, fakepeer.DecodeError) as e:
        problems.append("(e) after the flood B does not answer a hello: %s" % e)
    t.check_store_invariant(b.store)
    for ag in (a, b):
        t.check(ag.alive(), "agent pid %d exited" % ag.pid)
    t.check(not problems, "hostile clients:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    harness.main(test)
