#!/usr/bin/python3
"""Every allocation failing in turn (issue 9): no crash, no leak, a clean error.

cratecast's own allocations go through proto/alloc.h; CRATECAST_FAIL_ALLOC=N makes the N-th
fail (once). A scripted sequence runs against a real agent with a loopback upstream: start,
config.json, an index file, a crate (fetched from the upstream into the store), the same crate
again (from the store), status, why, a 404, the peer side's hello and manifest, then SIGTERM.
A first run with CRATECAST_COUNT_ALLOC=1 counts the allocations the sequence makes; then the
sequence runs once per failure point (every one up to FULL, then an even spread up to RUNS_MAX
runs in all). For each run:
  - the agent either refuses to start with one line "error: ..." and exit status 1, or
    it serves: every request gets an HTTP answer (a failed one is 5xx, never a hang or a reset)
  - it exits 0 on SIGTERM (or 1 after a startup error), never by a signal (abort, segfault)
  - no AddressSanitizer, LeakSanitizer or UBSan report in its output (the suite also runs
    under ASan+UBSan: leaks on error paths are caught there)
  - the store stays consistent (every blob hashes to its name), and a clean agent started on
    it afterwards serves the crate
"""

import hashlib
import http.client
import shutil
import os
import re
import signal
import subprocess
import time

import harness

FULL = 150       # every failure point up to here
RUNS_MAX = 260   # then spread the rest over this many runs in all
SANITIZER = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer")


def request(port, path, timeout=20):
    """(status, body) or raise: a failed request must still be an HTTP answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def run_agent(t, up, n, tag):
    """One run of the sequence with allocation n failing (0: none). Returns (rc, output,
    problems)."""
    store = t.fresh_dir("store-%s" % tag)
    port, pport = harness.free_port(), harness.free_port()
    while pport == port:
        pport = harness.free_port()
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = t.path("xdg-cache")
    env.pop("CRATECAST_COUNT_ALLOC", None)
    env.pop("CRATECAST_FAIL_ALLOC", None)
    if n:
        env["CRATECAST_FAIL_ALLOC"] = str(n)
        env["CRATECAST_FAIL_ALLOC_TRACE"] = "1"
    else:
        env["CRATECAST_COUNT_ALLOC"] = "1"
    logpath = t.path("agent-%s.log" % tag)
    cmd = [t.cratecast, "agent", "--store", store, "--listen", "127.0.0.1:%d" % port,
           "--peer-listen", "127.0.0.1:%d" % pport, "--upstream", up.url, "--no-mdns",
           "--no-import"]
    with open(logpath, "wb") as outf:
        p = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env)
    problems = []
    crate = t.crate("foo", "1.0.0")
    seq = ["/index/config.json", "/index/3/f/foo",
           "/crates/foo/1.0.0/%s" % crate["cksum"], "/crates/foo/1.0.0/%s" % crate["cksum"],
           "/-/status", "/-/why/foo", "/index/no/su/nosuchcrate"]
    peer_seq = ["/peer/1/hello?nonce=" + "ab" * 32, "/peer/1/manifest"]
    try:
        started = False
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            try:
                request(port, "/-/status", timeout=2)
                started = True
                break
            except OSError:
                time.sleep(0.02)
        if started:
            for path in seq:
                try:
                    st, body = request(port, path)
                except (OSError, http.client.HTTPException) as e:
                    problems.append("GET %s: no HTTP answer (%s)" % (path, e))
                    continue
                if st >= 500 and st not in (500, 502, 503):
                    problems.append("GET %s: HTTP %d" % (path, st))
                if path.startswith("/crates/") and st == 200 and \
                        hashlib.sha256(body).hexdigest() != crate["cksum"]:
                    problems.append("GET %s: 200 with the wrong bytes" % path)
            for path in peer_seq:
                try:
                    request(pport, path)
                except (OSError, http.client.HTTPException) as e:
                    problems.append("peer GET %s: no HTTP answer (%s)" % (path, e))
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            problems.append("did not exit within 20 s of SIGTERM")
            rc = -9
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    with open(logpath, "r", errors="replace") as f:
        out = f.read()
    if rc < 0:
        problems.append("killed by signal %d" % -rc)
    elif rc not in (0, 1):
        problems.append("exit status %d" % rc)
    if not started and rc == 1:
        lines = [ln for ln in out.splitlines() if ln.strip() and "allocations" not in ln]
        if not any(ln.startswith("error: ") or " cratecast: " in ln for ln in lines):
            problems.append("refused to start without an 'error: ...' line")
    elif not started:
        problems.append("never answered and exited %d" % rc)
    for s in SANITIZER:
        if s in out:
            problems.append("sanitizer report (%s)" % s)
            break
    try:
        t.check_store_invariant(store)
    except harness.Failure as e:
        problems.append("store inconsistent: %s" % e)
    return rc, out, problems, store


def where(t, out):
    """The injected failure's call chain (function file:line), from its backtrace."""
    offs = re.findall(r"cratecast\(\+(0x[0-9a-f]+)\)", out)
    if not offs or shutil.which("addr2line") is None:
        return ""
    try:
        r = subprocess.run(["addr2line", "-f", "-s", "-e", t.cratecast] + offs[1:8],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = r.stdout.split("\n")
    return " <- ".join("%s %s" % (lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2))


def test(t):
    up = t.start_upstream()
    rc, out, problems, _ = run_agent(t, up, 0, "count")
    t.check(not problems, "the sequence fails without any injected failure: %s\n%s"
            % (problems, out[-2000:]))
    total = 0
    for ln in out.splitlines():
        if ln.endswith(" allocations") and "cratecast: " in ln:
            total = int(ln.split("cratecast: ", 1)[1].split()[0])
    t.check(total > 50, "CRATECAST_COUNT_ALLOC reported %d allocations" % total)
    points = list(range(1, min(FULL, total) + 1))
    if total > FULL:
        rest = RUNS_MAX - len(points)
        step = max(1, (total - FULL) // rest)
        points += list(range(FULL + step, total + 1, step))
    harness.log("%d allocations in the sequence; failing each of %d of them in turn"
                % (total, len(points)))
    failures = []
    refused = served = 0
    t0 = time.time()
    last_store = None
    for n in points:
        rc, out, problems, store = run_agent(t, up, n, "f%d" % n)
        if problems:
            failures.append("allocation %d (%s): %s\n%s" % (
                n, where(t, out), "; ".join(problems),
                "\n".join(ln for ln in out.splitlines()[-12:] if "(+0x" not in ln)))
            if len(failures) >= 5:
                break
        if "error: out of memory" in out or rc == 1:
            refused += 1
        else:
            served += 1
        last_store = store
        if n != points[-1]:
            shutil.rmtree(store, ignore_errors=True)
    harness.log("%d runs in %.1fs: %d refused to start, %d served the sequence"
                % (len(points), time.time() - t0, refused, served))
    t.check(not failures, "%d failure point(s) misbehaved:\n%s"
            % (len(failures), "\n----\n".join(failures)))
    # the last store is whole: a clean agent serves the crate from it
    ag = t.start_agent(store=last_store, upstream=up.url)
    crate = t.crate("foo", "1.0.0")
    st, _, body = harness.http_get(ag.port, "/crates/foo/1.0.0/%s" % crate["cksum"])
    t.check(st == 200 and hashlib.sha256(body).hexdigest() == crate["cksum"],
            "a clean agent on the last store answered %d" % st)


if __name__ == "__main__":
    harness.main(test)
