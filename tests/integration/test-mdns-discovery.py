"""mDNS discovery between network namespaces, with agent/discovery.c driven by mdns-probe.

  1. avahi-daemon backend: 3 hosts on a bridge, each with its own dbus-daemon and avahi-daemon.
     Every probe finds the other two (and never itself); a TXT seq update on h0 reaches h1 and
     h2; `avahi-browse -rpt _cratecast._tcp` (an independent client) sees the services with
     the documented TXT keys v, id, seq; a probe that stops is reported LOST by the others.
  2. avahi-core backend, no daemon anywhere: the same between 3 hosts (two forced to
     avahi-core, one in auto mode that must fall back to it).
Latencies (start -> FOUND, update -> new seq seen, stop -> LOST) are printed.

Usage: test-mdns-discovery.py MDNS_PROBE. Root only; exit 77 (skip) otherwise.
Exit 0 pass, 1 fail, 77 skip.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns  # noqa: E402

SKIP = 77
FOUND_TIMEOUT = 20     # s, start -> both peers FOUND
UPDATE_TIMEOUT = 10    # s, SIGUSR1 -> new seq seen
LOST_TIMEOUT = 10      # s, SIGTERM -> LOST seen
PORT = 7879


class Failure(Exception):
    pass


def log(msg):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Probe:
    """One mdns-probe in one host; its stdout lines are collected with arrival times."""

    def __init__(self, hosts, host, binary, backend, workdir, env=None):
        self.hosts = hosts
        self.host = host
        self.id = "%016x" % (0xcc00 + host)
        self.addr = hosts.addr(host)
        self.errpath = os.path.join(workdir, "probe-h%d-%s.err" % (host, backend))
        self.lines = []          # (monotonic time, [fields])
        self.cond = threading.Condition()
        err = open(self.errpath, "w")
        self.started = time.monotonic()
        self.p = hosts.spawn(host, [binary, "--backend", backend, "--instance",
                                    "cc-probe-h%d" % host, "--port", str(PORT), "--id", self.id,
                                    "--seq", "1", "--timeout", "240"],
                             env=dict(env or {}, CRATECAST_LOG="debug"),
                             stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.split()))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pred, timeout, what):
        """The arrival time of the first line matching pred."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, f in self.lines:
                    if pred(f):
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("h%d: no %s within %ds; got %r" %
                                  (self.host, what, timeout, [f for _, f in self.lines]))
                self.cond.wait(left)

    def wait_found(self, other, seq, timeout):
        return self.wait_for(lambda f: f[:5] == ["FOUND", other.addr, str(PORT), other.id,
                                                 str(seq)],
                             timeout, "FOUND %s seq %d" % (other.addr, seq))

    def found_self(self):
        return [f for _, f in self.lines if f[:2] == ["FOUND", self.addr] or
                (f[:1] == ["FOUND"] and f[3:4] == [self.id])]

    def backend(self):
        t = self.wait_for(lambda f: f[:1] == ["BACKEND"], 15, "BACKEND line")
        return [f for tt, f in self.lines if tt == t][0][1]

    def stop(self):
        rc = self.hosts.stop(self.p, timeout=10)
        self.reader.join(5)
        return rc

    def stderr_tail(self, n=30):
        try:
            with open(self.errpath) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def exercise(hosts, probes, label):
    """FOUND both ways, a seq update, LOST on stop. Returns the measured latencies."""
    m = {}
    # 1. everyone finds everyone else
    worst = 0.0
    for p in probes:
        for q in probes:
            if p is q:
                continue
            t = p.wait_found(q, 1, FOUND_TIMEOUT)
            worst = max(worst, t - max(p.started, q.started))
    m["found"] = worst
    log("%s: every probe found the %d others; slowest %.2fs after both had started" %
        (label, len(probes) - 1, worst))
    for p in probes:
        check(not p.found_self(), "h%d reported itself: %r" % (p.host, p.found_self()))

    # 2. a TXT update on the first probe reaches the others
    first = probes[0]
    t0 = time.monotonic()
    os.kill(first.p.pid, signal.SIGUSR1)
    first.wait_for(lambda f: f == ["UPDATED", "2"], 5, "UPDATED 2")
    m["update"] = max(p.wait_found(first, 2, UPDATE_TIMEOUT) - t0 for p in probes[1:])
    log("%s: seq 1 -> 2 on h%d seen by all in %.2fs" % (label, first.host, m["update"]))
    return m


def lost_phase(probes, label):
    last = probes[-1]
    t0 = time.monotonic()
    rc = last.stop()
    check(rc == 0, "h%d's probe exited %r on SIGTERM" % (last.host, rc))
    check(any(f == ["EXIT"] for _, f in last.lines), "h%d's probe did not drain its loop" %
          last.host)
    worst = 0.0
    for p in probes[:-1]:
        t = p.wait_for(lambda f: f == ["LOST", last.addr, str(PORT)], LOST_TIMEOUT,
                       "LOST %s" % last.addr)
        worst = max(worst, t - t0)
    log("%s: h%d stopped, LOST seen by all in %.2fs" % (label, last.host, worst))
    return worst


def avahi_browse_check(hosts, probes):
    """avahi-browse in h1 sees h0's and h2's services with v, id and seq in the TXT."""
    want = {p.addr: p for p in probes if p.host != 1}
    seen = {}
    deadline = time.monotonic() + 15
    out = ""
    while time.monotonic() < deadline and len(seen) < len(want):
        r = hosts.run(1, ["avahi-browse", "-rpt", "_cratecast._tcp"], timeout=30)
        out = r.stdout
        for line in out.splitlines():
            # =;eth0;IPv4;NAME;_cratecast._tcp;local;HOST.local;ADDR;PORT;"k=v" "k=v"
            f = line.split(";", 9)
            if len(f) < 10 or f[0] != "=" or f[7] not in want:
                continue
            txt = {}
            for item in f[9].split('" "'):
                k, _, v = item.strip('"').partition("=")
                txt[k] = v
            seen[f[7]] = (f[3], int(f[8]), txt)
        if len(seen) < len(want):
            time.sleep(0.5)
    check(len(seen) == len(want), "avahi-browse saw %r, want %r; output:\n%s" %
          (sorted(seen), sorted(want), out))
    for addr, (name, port, txt) in seen.items():
        p = want[addr]
        check(name == "cc-probe-h%d" % p.host, "instance name %r for %s" % (name, addr))
        check(port == PORT, "port %d for %s" % (port, addr))
        check(txt.get("v") == "1", "TXT v=%r for %s: %r" % (txt.get("v"), addr, txt))
        check(txt.get("id") == p.id, "TXT id=%r for %s" % (txt.get("id"), addr))
        want_seq = "2" if p.host == 0 else "1"
        check(txt.get("seq") == want_seq, "TXT seq=%r (want %s) for %s" %
              (txt.get("seq"), want_seq, addr))
    log("avahi-browse (h1) sees %s with TXT %s" %
        (", ".join("%s@%s" % (v[0], k) for k, v in sorted(seen.items())),
         sorted(seen[probes[0].addr][2].items())))


def run_case(binary, workdir, avahi, backends, label):
    probes = []
    with netns.Hosts(len(backends), avahi=avahi, workdir=os.path.join(workdir, label),
                     log=log) as hosts:
        try:
            env = {} if avahi else {"CRATECAST_MDNS_IFACE": "eth0"}
            for i, b in enumerate(backends):
                probes.append(Probe(hosts, i, binary, b, workdir, env=env))
            want = "avahi-daemon" if avahi else "avahi-core"
            for p in probes:
                got = p.backend()
                check(got == want, "h%d runs backend %s, want %s" % (p.host, got, want))
            m = exercise(hosts, probes, label)
            if avahi:
                avahi_browse_check(hosts, probes)
            m["lost"] = lost_phase(probes, label)
            for p in probes[:-1]:
                rc = p.stop()
                check(rc == 0, "h%d's probe exited %r" % (p.host, rc))
            return m
        except BaseException:
            for p in probes:
                p.stop()
                sys.stdout.write("--- h%d stdout: %r\n--- h%d stderr (tail):\n%s" %
                                 (p.host, [f for _, f in p.lines], p.host, p.stderr_tail()))
            raise


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MDNS_PROBE", "")
    if not binary or not os.access(binary, os.X_OK):
        log("usage: test-mdns-discovery.py MDNS_PROBE")
        return 1
    why = netns.available()
    if why:
        log("skipped: %s" % why)
        return SKIP
    why = netns.avahi_available() or (None if shutil.which("avahi-browse") else "no avahi-browse")
    if why:
        log("skipped: %s" % why)
        return SKIP
    binary = os.path.abspath(binary)
    workdir = tempfile.mkdtemp(prefix="cc-mdns-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        a = run_case(binary, workdir, True, ["client", "client", "auto"], "avahi-daemon")
        b = run_case(binary, workdir, False, ["core", "core", "auto"], "avahi-core")
        log("latencies (s): avahi-daemon found %.2f update %.2f lost %.2f; "
            "avahi-core found %.2f update %.2f lost %.2f" %
            (a["found"], a["update"], a["lost"], b["found"], b["update"], b["lost"]))
        log("PASS")
        return 0
    except Failure as e:
        log("FAIL: %s" % e)
        return 1
    except netns.NetnsError as e:
        log("FAIL: namespace setup: %s" % e)
        return 1
    finally:
        if os.environ.get("CRATECAST_KEEP"):
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
