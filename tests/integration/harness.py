"""Shared helpers for the integration tests: real processes on loopback, real Cargo.

Every test script does:

    import harness
    def test(t):            # t is a harness.Test
        up = t.start_upstream()
        ag = t.start_agent(upstream=up.url)
        home = t.cargo_home(ag.registry_url)
        proj = t.project("app")
        t.cargo(["generate-lockfile"], proj, home)
        t.check(cond, "reason shown on failure")
    harness.main(test)

harness.main() runs the test in a fresh temporary directory, kills every process it started (by
PID, in a finally block), prints the tails of their logs on failure, and exits 0 (pass), 1 (fail)
or 77 (skip: meson's convention). Set CRATECAST_KEEP=1 to keep the temporary directory.

A user's ~/.cargo: t.user_cargo_home("travel") returns a CARGO_HOME filled as a Linux user's is
(index cache for every target's dependencies, .crate files for the host's only) under crates.io's
cache directory name; t.add_private_registry(home) adds a private registry's leftovers;
t.cargo_fetch_target(proj, home, triple) fetches for another target; host_triple() is rustc's.

The agent binary is $CRATECAST, else argv[1], else build/cratecast beside the source tree.
Nothing here ever connects to anything but 127.0.0.1.
"""

import difflib
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import registry  # noqa: E402

PY = sys.executable or "/usr/bin/python3"
CARGO_TIMEOUT = 300
# Agent options that make it revalidate every index file with the upstream (no TTL), so that a
# test which stops the upstream sees the agent go offline at the next index request.
SKIP = 77


# What Cargo calls crates.io's sparse-index cache directory (Cargo >= 1.85; older Cargos said
# index.crates.io-6f17d22bba15001f), and the config.json crates.io serves.
CRATES_IO_DIR = "index.crates.io-1949cf8c6b5b557f"
CRATES_IO_CONFIG = {"dl": "https://static.crates.io/crates", "api": "https://crates.io"}
# What a company's private registry leaves in a CARGO_HOME (add_private_registry).
PRIVATE_DIR = "my-registry.example-0123456789abcdef"
PRIVATE_CONFIG = {"dl": "https://my-registry.example/api/v1/crates/{crate}/{version}/download",
                  "api": "https://my-registry.example"}


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def find_cargo():
    for c in (shutil.which("cargo"), os.path.expanduser("~/.cargo/bin/cargo")):
        if c and os.access(c, os.X_OK):
            return c
    return None


def find_cratecast(argv):
    c = os.environ.get("CRATECAST")
    if not c and len(argv) > 1:
        c = argv[1]
    if not c:
        c = os.path.join(HERE, "..", "..", "build", "cratecast")
    return os.path.abspath(c)


def http_get(port, path, headers=None, timeout=10):
    """(status, headers dict lower-cased, body) of one GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


_HOST_TRIPLE = []


def host_triple():
    """The host triple of the installed rustc (`rustc -vV`, "host: ..."), asked once."""
    if not _HOST_TRIPLE:
        rustc = shutil.which("rustc") or os.path.expanduser("~/.cargo/bin/rustc")
        env = dict(os.environ)
        env.setdefault("RUSTUP_HOME", os.path.expanduser("~/.rustup"))
        try:
            r = subprocess.run([rustc, "-vV"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=120, env=env)
        except OSError as e:
            raise Skip("rustc not found: %s" % e)
        host = [ln.split(":", 1)[1].strip() for ln in r.stdout.decode().splitlines()
                if ln.startswith("host:")]
        if r.returncode != 0 or not host:
            raise Failure("rustc -vV exited %d without a host line: %s"
                          % (r.returncode, (r.stdout + r.stderr).decode(errors="replace")))
        _HOST_TRIPLE.append(host[0])
    return _HOST_TRIPLE[0]


def cargo_cache_bytes(records, header, index_version=2):
    """A Cargo index cache file (registry/index/<dir>/.cache/<path>): cache version 3, the
    index format version (u32 LE), header NUL, then `version NUL json-line NUL` per record.
    records: [(version, json line)]."""
    out = bytes([3]) + struct.pack("<I", index_version) + header.encode() + b"\0"
    for vers, line in records:
        out += vers.encode() + b"\0" + line.encode() + b"\0"
    return out


def parse_cargo_cache(data):
    """(cache version, index format version, header, [(version, json line)]) of the bytes of
    a Cargo index cache file; raises ValueError when they are not one."""
    if len(data) < 6 or data[0] != 3:
        raise ValueError("not a version-3 Cargo index cache file")
    index_version = struct.unpack("<I", data[1:5])[0]
    fields = data[5:].split(b"\0")
    if fields[-1] != b"" or len(fields) % 2 != 0:
        raise ValueError("truncated Cargo index cache file")
    header = fields[0].decode()
    recs = [(fields[i].decode(), fields[i + 1].decode()) for i in range(1, len(fields) - 1, 2)]
    return data[0], index_version, header, recs


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_lock(path):
    """Cargo.lock -> {name: {version: checksum-or-None}} for registry packages."""
    pkgs = {}
    cur = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line == "[[package]]":
                cur = {}
                continue
            if cur is None or "=" not in line:
                continue
            k, v = [x.strip() for x in line.split("=", 1)]
            if v.startswith('"'):
                v = v.strip('"')
            cur[k] = v
            if k in ("source", "checksum", "name", "version") and "name" in cur and \
                    "version" in cur and cur.get("source", "").startswith("registry+"):
                pkgs.setdefault(cur["name"], {})[cur["version"]] = cur.get("checksum")
    return pkgs


class Proc:
    """A child process started by the test; killed by PID at the end of the test."""

    def __init__(self, name, popen, logpath, port):
        self.name = name
        self.popen = popen
        self.log = logpath
        self.port = port

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        if self.popen.poll() is not None:
            return self.popen.returncode
        try:
            os.kill(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            return self.popen.wait(timeout=timeout)

    def tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


class Upstream(Proc):
    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def requests(self):
        """Logged requests as (method, path, status)."""
        out = []
        try:
            with open(self.reqlog) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 3:
                        out.append((p[0], p[1], int(p[2])))
        except OSError:
            pass
        return out

    def downloads(self):
        return [r for r in self.requests() if r[1].endswith("/download")]


class Agent(Proc):
    peer_port = None  # the peer side's port when started with peer_listen=True
    store = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def peer_addr(self):
        """"127.0.0.1:<peer port>" (what --peer and status.peers[].addr say), or None."""
        return "127.0.0.1:%d" % self.peer_port if self.peer_port else None

    @property
    def registry_url(self):
        return "sparse+http://127.0.0.1:%d/index/" % self.port

    def status(self):
        st, _, body = http_get(self.port, "/-/status", timeout=5)
        if st != 200:
            raise Failure("GET /-/status answered %d" % st)
        return json.loads(body)


class Proxy:
    """A TCP forwarder on 127.0.0.1 in front of another port (threads in the test process).

    Used in front of an agent's peer side to slow its answers down (rate: bytes per second
    towards the client, per connection and request; None = as fast as it goes; delay: seconds
    of latency added before each answer's first bytes) and to see what
    was asked of it: `requests` lists (time, path) of every request line, `sent` maps a path to
    the bytes answered so far. When either side closes, both are closed (so a SIGKILLed server
    is a connection cut in the middle of an answer)."""

    REQ = re.compile(rb"(?:GET|HEAD|POST|PUT) (\S+) HTTP/1\.[01]\r\n")

    def __init__(self, target_port, rate=None, delay=0.0):
        self.target = target_port
        self.rate = rate
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = []
        self.sent = {}
        self.socks = []
        self.closed = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def requested(self, suffix):
        with self.lock:
            return [p for _, p in self.requests if p.split("?")[0].endswith(suffix)]

    def bytes_sent(self, suffix):
        with self.lock:
            return sum(n for p, n in self.sent.items() if p.split("?")[0].endswith(suffix))

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for so in socks:
            self._shut(so)

    @staticmethod
    def _shut(so):
        try:
            so.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            so.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                self._shut(c)
                continue
            for so in (c, u):
                so.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.socks += [c, u]
            state = {"path": None, "gen": 0}
            threading.Thread(target=self._up, args=(c, u, state), daemon=True).start()
            threading.Thread(target=self._down, args=(u, c, state), daemon=True).start()

    def _up(self, c, u, state):
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                buf = (buf + d)[-16384:]
                while True:
                    m = self.REQ.search(buf)
                    if not m:
                        break
                    path = m.group(1).decode("latin-1")
                    with self.lock:
                        self.requests.append((time.time(), path))
                        self.sent.setdefault(path, 0)
                    state["path"] = path
                    state["gen"] += 1
                    buf = buf[m.end():]
                u.sendall(d)
        except OSError:
            pass
        finally:
            self._shut(c)
            self._shut(u)

    def _down(self, u, c, state):
        gen, t0, n = -1, time.time(), 0
        chunk = 65536 if not self.rate else max(4096, min(65536, self.rate // 50))
        try:
            while True:
                d = u.recv(chunk)
                if not d:
                    break
                if state["gen"] != gen:  # a new request: its own rate budget
                    if self.delay:
                        time.sleep(self.delay)
                    gen, t0, n = state["gen"], time.time(), 0
                c.sendall(d)
                n += len(d)
                with self.lock:
                    if state["path"] is not None:
                        self.sent[state["path"]] = self.sent.get(state["path"], 0) + len(d)
                if self.rate:
                    delay = n / float(self.rate) - (time.time() - t0)
                    if delay > 0:
                        time.sleep(delay)
        except OSError:
            pass
        finally:
            self._shut(c)
            self._shut(u)


def counter(status, name):
    """A counter from a status document: status.counters.<name>, else status.<name>, else 0."""
    c = status.get("counters") or {}
    v = c.get(name, status.get(name, 0))
    return v if isinstance(v, (int, float)) else 0


def rejections(status):
    """(total, {cause: n}) of a status document's rejections (counters.rejected, rejected{})."""
    causes = status.get("rejected") if isinstance(status.get("rejected"), dict) else {}
    total = counter(status, "rejected")
    return max(total, sum(v for v in causes.values() if isinstance(v, int))), causes


def run_on_tty(cmd, timeout=60):
    """Run cmd with stdout and stderr on a pseudo-terminal; (exit status, everything it wrote,
    seconds it ran)."""
    import pty
    master, slave = pty.openpty()
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    rc = p.wait(timeout=10)
    return rc, out.decode(errors="replace"), time.time() - t0


def peer_entry(status, key=None, addr=None):
    """The entry of status.peers whose id is key or whose addr is addr, or None."""
    for p in status.get("peers") or []:
        if not isinstance(p, dict):
            continue
        if (key and p.get("id") == key) or (addr and p.get("addr") == addr):
            return p
    return None


class Test:
    def __init__(self, argv):
        self.argv = argv
        self.cratecast = find_cratecast(argv)
        self.cargo_bin = find_cargo()
        self.tmp = tempfile.mkdtemp(prefix="cratecast-it-")
        self.procs = []
        self.proxies = []
        self._reg = None
        self._seq = 0
        self.big_mb = 0  # set before the registry is first used to add projects/big
        self.net_retry = 1  # Cargo's net.retry for every cargo run (0: any error fails the build)

    # -- bookkeeping ----------------------------------------------------------------------
    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        return p

    def fresh_dir(self, stem):
        self._seq += 1
        p = self.path("%s-%d" % (stem, self._seq))
        os.makedirs(p)
        return p

    def check(self, cond, msg):
        if not cond:
            raise Failure(msg)

    def need_agent(self):
        if not os.access(self.cratecast, os.X_OK):
            raise Failure("cratecast binary not found at %s (set CRATECAST)" % self.cratecast)

    def stop_all_checked(self):
        """Stop every process; fail if an agent's log holds a sanitizer report (ASan, LSan,
        UBSan) or an agent did not exit 0 on SIGTERM."""
        problems = []
        for p in reversed(self.procs):
            rc = p.stop(timeout=10)
            if not isinstance(p, Agent):
                continue
            text = p.tail(100000)
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                           "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer"):
                if marker in text:
                    problems.append("agent pid %d: %s in %s" % (p.pid, marker, p.log))
            if rc not in (0, -signal.SIGTERM, None) and not getattr(p, "expect_nonzero", False):
                problems.append("agent pid %d exited %s on SIGTERM (log %s)" % (p.pid, rc, p.log))
        if problems:
            raise Failure("; ".join(problems))

    def cleanup(self):
        for px in self.proxies:
            px.close()
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5)
            except Exception as e:  # keep killing the others
                log("stopping %s (pid %d): %s" % (p.name, p.pid, e))
        if os.environ.get("CRATECAST_KEEP"):
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the registry ---------------------------------------------------------------------
    @property
    def registry(self):
        """The generated registry (root dir), made once per test run."""
        if self._reg is None:
            root = self.path("registry")
            self.manifest = registry.generate(root, big_mb=self.big_mb)
            self._reg = root
        return self._reg

    def crate(self, name, vers):
        self.registry
        for c in self.manifest["crates"]:
            if c["name"] == name and c["vers"] == vers:
                return c
        raise KeyError((name, vers))

    def project(self, name):
        """A fresh copy of projects/<name> (so each run writes its own Cargo.lock)."""
        dst = self.fresh_dir("proj-" + name)
        shutil.rmtree(dst)
        shutil.copytree(os.path.join(self.registry, "projects", name), dst)
        return dst

    # -- processes ------------------------------------------------------------------------
    def start_upstream(self, corrupt=(), dl_style="markers", port=0, extra=()):
        root = self.registry
        n = len(self.procs)
        logpath = self.path("upstream-%d.log" % n)
        reqlog = self.path("upstream-%d.requests" % n)
        cmd = [PY, os.path.join(HERE, "upstream.py"), "--root", root, "--port", str(port),
               "--log", reqlog, "--dl-style", dl_style]
        for c in corrupt:
            cmd += ["--corrupt", c]
        cmd += list(extra)
        errf = open(logpath, "wb")
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
        errf.close()
        up = Upstream("upstream", p, logpath, 0)
        up.reqlog = reqlog
        self.procs.append(up)
        deadline = time.time() + 15
        line = b""
        while time.time() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                b = os.read(p.stdout.fileno(), 64)
                if not b:
                    break
                line += b
        if not line.startswith(b"PORT "):
            raise Failure("upstream.py did not report its port: %r\n%s" % (line, up.tail()))
        up.port = int(line.split()[1])
        log("upstream pid %d on %s" % (p.pid, up.url))
        return up

    def start_agent(self, store=None, upstream=None, port=None, extra=(), no_import=True,
                    ready_timeout=20, peer_listen=False, peer_port=None, peers=()):
        """Start `cratecast agent`; wait until /-/status answers 200. upstream=None -> none.

        peer_listen=True opens the peer side on 127.0.0.1 (peer_port, else a free port) and
        waits until it accepts connections; otherwise --peer-listen off. peers: --peer
        addresses ("host:port" strings or Agents started with peer_listen)."""
        self.need_agent()
        store = store or self.fresh_dir("store")
        for attempt in range(3):
            p_port = port or free_port()
            q_port = None
            if peer_listen:
                q_port = peer_port or free_port()
                while q_port == p_port:
                    q_port = free_port()
            n = len(self.procs)
            logpath = self.path("agent-%d.log" % n)
            cmd = [self.cratecast, "agent", "--store", store, "--listen",
                   "127.0.0.1:%d" % p_port, "--upstream", upstream or "none", "--no-mdns",
                   "--peer-listen", "127.0.0.1:%d" % q_port if q_port else "off"]
            for pa in peers:
                cmd += ["--peer", pa.peer_addr if isinstance(pa, Agent) else pa]
            if no_import:
                cmd.append("--no-import")
            cmd += list(extra)
            outf = open(logpath, "wb")
            env = dict(os.environ)
            env.setdefault("XDG_CACHE_HOME", self.path("xdg-cache"))
            p = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env)
            outf.close()
            ag = Agent("agent", p, logpath, p_port)
            ag.store = store
            ag.cmd = cmd
            ag.peer_port = q_port
            self.procs.append(ag)
            deadline = time.time() + ready_timeout
            status_ok = False
            while time.time() < deadline:
                if not ag.alive():
                    break
                try:
                    st, _, _ = http_get(p_port, "/-/status", timeout=2)
                    status_ok = st == 200
                    if st == 200 and q_port:
                        socket.create_connection(("127.0.0.1", q_port), timeout=2).close()
                    if st == 200:
                        log("agent pid %d on %s (store %s, upstream %s)"
                            % (p.pid, ag.url, store, upstream or "none"))
                        return ag
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.1)
            if ag.alive():
                ag.stop()
                if status_ok:
                    raise Failure("agent's peer side 127.0.0.1:%d accepted no connection within "
                                  "%ds: %s\n%s" % (q_port, ready_timeout, " ".join(cmd),
                                                    ag.tail()))
                raise Failure("agent not ready within %ds: %s\n%s"
                              % (ready_timeout, " ".join(cmd), ag.tail()))
            text = ag.tail()
            if port is None and ("in use" in text.lower() or "eaddrinuse" in text.lower()):
                continue  # lost the free-port race; try another
            raise Failure("agent exited with %s: %s\n%s" % (ag.popen.returncode, " ".join(cmd),
                                                             text))
        raise Failure("agent could not bind a port in 3 attempts")

    def run(self, cmd, timeout=60, env=None, cwd=None, check=True):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout, env=env, cwd=cwd)
        out = r.stdout.decode(errors="replace")
        if check and r.returncode != 0:
            raise Failure("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, out[-4000:]))
        return r.returncode, out

    # -- cargo ----------------------------------------------------------------------------
    def cargo_home(self, registry_url, name="cratecast"):
        """A fresh CARGO_HOME whose crates-io is replaced by registry_url (a sparse+ URL)."""
        home = self.fresh_dir("cargo-home")
        with open(os.path.join(home, "config.toml"), "w") as f:
            f.write('[source.crates-io]\nreplace-with = "%s"\n\n'
                    '[source.%s]\nregistry = "%s"\n\n'
                    '[registries.crates-io]\nprotocol = "sparse"\n\n'
                    '[net]\nretry = 1\n\n'
                    '[http]\ntimeout = 20\nmultiplexing = false\n'
                    % (name, name, registry_url))
        return home

    def cargo_env(self, home, target):
        env = {k: v for k, v in os.environ.items()
               if not k.lower().endswith("_proxy") and not k.startswith("CARGO")
               and not k.startswith("RUSTC_WRAPPER")}
        env.update({
            "CARGO_HOME": home,
            "CARGO_TARGET_DIR": target,
            "CARGO_NET_RETRY": str(self.net_retry),
            "CARGO_HTTP_TIMEOUT": "20",
            "CARGO_TERM_COLOR": "never",
            "CARGO_TERM_PROGRESS_WHEN": "never",
            "CARGO_INCREMENTAL": "0",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        env.setdefault("RUSTUP_HOME", os.path.expanduser("~/.rustup"))
        path = env.get("PATH", "")
        cbin = os.path.expanduser("~/.cargo/bin")
        if cbin not in path.split(":"):
            env["PATH"] = cbin + ":" + path
        return env

    def cargo(self, args, proj, home, target=None, check=True, timeout=CARGO_TIMEOUT):
        """Run real cargo in proj with CARGO_HOME=home; returns (rc, output)."""
        if not self.cargo_bin:
            raise Skip("cargo not found (PATH, ~/.cargo/bin)")
        target = target or os.path.join(proj, "target")
        cmd = [self.cargo_bin] + list(args)
        t0 = time.time()
        try:
            rc, out = self.run(cmd, timeout=timeout, env=self.cargo_env(home, target), cwd=proj,
                               check=False)
        except subprocess.TimeoutExpired:
            raise Failure("cargo %s timed out after %ds in %s" % (" ".join(args), timeout, proj))
        log("cargo %s -> %d (%.1fs)" % (" ".join(args), rc, time.time() - t0))
        if check and rc != 0:
            raise Failure("cargo %s failed (%d) in %s:\n%s" % (" ".join(args), rc, proj,
                                                              out[-4000:]))
        return rc, out

    def build_and_run(self, proj, home, offline=False, expect=None):
        """cargo build (optionally --offline), then run the binary and check its output."""
        args = ["build"] + (["--offline"] if offline else [])
        self.cargo(args, proj, home)
        with open(os.path.join(proj, "Cargo.toml")) as f:
            name = [ln.split('"')[1] for ln in f if ln.startswith("name")][0]
        exe = os.path.join(proj, "target", "debug", name)
        rc, out = self.run([exe], timeout=30)
        if expect is not None:
            self.check(out.strip() == expect, "%s printed %r, expected %r" % (name, out.strip(),
                                                                                expect))
        return out

    def lock(self, proj):
        return parse_lock(os.path.join(proj, "Cargo.lock"))

    def check_app_lock(self, proj):
        """The app's Cargo.lock selects exactly the expected versions with right checksums."""
        self.registry
        self.check_lock(proj, self.manifest["expected_app_lock"])

    def check_lock(self, proj, want):
        """proj's Cargo.lock selects exactly want ({name: [versions]}, e.g.
        manifest["projects"]["travel"]["lock"]), each with the registry's checksum."""
        self.registry
        got = self.lock(proj)
        for name, versions in want.items():
            have = sorted(got.get(name, {}).keys())
            self.check(have == sorted(versions),
                       "Cargo.lock has %s %s, expected %s" % (name, have, sorted(versions)))
            for v in versions:
                ck = got[name][v]
                self.check(ck == self.crate(name, v)["cksum"],
                           "Cargo.lock checksum of %s %s is %s, registry says %s"
                           % (name, v, ck, self.crate(name, v)["cksum"]))
        extra = set(got) - set(want)
        self.check(not extra, "Cargo.lock has unexpected packages %s" % sorted(extra))

    # -- a user's CARGO_HOME ----------------------------------------------------------------
    user_upstream = None  # the upstream user_cargo_home() started (reused while it runs)

    def user_cargo_home(self, project, target="host", upstream=None):
        """A CARGO_HOME filled the way a Linux user's ~/.cargo is, after building project.

        Cargo resolves projects/<project> against an upstream (upstream, else
        self.user_upstream, started here when it is not running) through source replacement,
        then `cargo fetch --target <host triple>` downloads what a build on this host would
        (target=None: plain `cargo fetch`, every target's crates, as old fixtures had; any
        other string: that triple). Resolution looks up the index of every target's
        dependencies, so .cache/ holds winapi, js-sys... while registry/cache holds only the
        host's .crate files. Then the home is reshaped into a crates.io cache: registry/index,
        cache and src/<dir> become CRATES_IO_DIR, index config.json is crates.io's, Cargo's
        .global-cache names the new directory, and config.toml (which named the upstream) is
        removed. `cargo build --offline` with this home (and no config at all) then builds the
        project from its lockfile.

        Returns (home, project dir holding the Cargo.lock Cargo wrote)."""
        if upstream is None:
            if self.user_upstream is None or not self.user_upstream.alive():
                self.user_upstream = self.start_upstream()
            upstream = self.user_upstream
        url = upstream.url if isinstance(upstream, Upstream) else upstream
        home = self.cargo_home("sparse+" + url.rstrip("/") + "/", name="up")
        proj = self.project(project)
        self.cargo(["generate-lockfile"], proj, home)
        if target is None:
            self.cargo(["fetch"], proj, home)
        else:
            self.cargo_fetch_target(proj, home, host_triple() if target == "host" else target)
        self.reshape_as_crates_io(home)
        return home, proj

    def reshape_as_crates_io(self, home):
        """Rename the one registry cache in home (registry/{index,cache,src}/<dir>) to crates.io's
        CRATES_IO_DIR, write crates.io's config.json, rename it in .global-cache (Cargo's
        last-use database) and remove config.toml. Returns the old directory name."""
        reg = os.path.join(home, "registry")
        dirs = os.listdir(os.path.join(reg, "index"))
        self.check(len(dirs) == 1, "%s/registry/index holds %s, expected one registry" % (home,
                                                                                        dirs))
        old = dirs[0]
        for sub in ("index", "cache", "src"):
            src = os.path.join(reg, sub, old)
            if os.path.isdir(src):
                os.rename(src, os.path.join(reg, sub, CRATES_IO_DIR))
        with open(os.path.join(reg, "index", CRATES_IO_DIR, "config.json"), "w") as f:
            json.dump(CRATES_IO_CONFIG, f, separators=(",", ":"))
        db = os.path.join(home, ".global-cache")
        if os.path.exists(db):
            c = sqlite3.connect(db)
            try:
                c.execute("UPDATE registry_index SET name = ? WHERE name = ?",
                          (CRATES_IO_DIR, old))
                c.commit()
            finally:
                c.close()
        os.unlink(os.path.join(home, "config.toml"))
        log("reshaped %s: registry %s -> %s" % (home, old, CRATES_IO_DIR))
        return old

    def add_private_registry(self, home):
        """Plant in home what a company's private registry leaves behind: registry/index/
        PRIVATE_DIR/config.json (PRIVATE_CONFIG), index cache files (.cache/<path>, Cargo's
        format) for acme-secret 1.0.0 and for log 0.4.99 (a private crate named like a public
        one), and registry/cache/PRIVATE_DIR/<name>-<vers>.crate whose sha256 is the cksum of
        its index line: a naive importer would take both as crates.io's.

        Returns {"dir", "config", "crates": [{"name", "vers", "cksum", "value", "crate"
        (path of the .crate), "index_cache" (path), "line" (the index line)}]}."""
        idx = os.path.join(home, "registry", "index", PRIVATE_DIR)
        cache = os.path.join(home, "registry", "cache", PRIVATE_DIR)
        os.makedirs(idx, exist_ok=True)
        os.makedirs(cache, exist_ok=True)
        with open(os.path.join(idx, "config.json"), "w") as f:
            json.dump(PRIVATE_CONFIG, f, separators=(",", ":"))
        planted = []
        for name, vers, value in (("acme-secret", "1.0.0", 9001), ("log", "0.4.99", 9499)):
            spec = {"vers": vers, "value": value}
            data = registry.build_crate(name, spec)
            cksum = hashlib.sha256(data).hexdigest()
            line = registry.index_line(name, spec, cksum)
            cpath = os.path.join(idx, ".cache", *registry.index_path(name).split("/"))
            os.makedirs(os.path.dirname(cpath), exist_ok=True)
            etag = 'etag: "%s"' % hashlib.sha256((line + "\n").encode()).hexdigest()
            with open(cpath, "wb") as f:
                f.write(cargo_cache_bytes([(vers, line)], etag))
            crate = os.path.join(cache, "%s-%s.crate" % (name, vers))
            with open(crate, "wb") as f:
                f.write(data)
            planted.append({"name": name, "vers": vers, "cksum": cksum, "value": value,
                            "crate": crate, "index_cache": cpath, "line": line})
        log("planted private registry %s in %s: %s" % (
            PRIVATE_DIR, home, ", ".join("%s %s" % (c["name"], c["vers"]) for c in planted)))
        return {"dir": PRIVATE_DIR, "config": dict(PRIVATE_CONFIG), "crates": planted}

    def cargo_fetch_target(self, proj, home, triple):
        """`cargo fetch --target triple` in proj (e.g. a classmate on x86_64-pc-windows-gnu):
        downloads the crates a build for that target needs. Returns (rc, output)."""
        return self.cargo(["fetch", "--target", triple], proj, home)

    # -- common scenarios -------------------------------------------------------------------
    def warm_up(self, project="app", agent_extra=(), dl_style="markers", peer_listen=False):
        """Upstream + online agent; Cargo resolves and fetches `project` through it.

        Returns (upstream, agent, project dir); the project's Cargo.lock is the reference."""
        up = self.start_upstream(dl_style=dl_style)
        ag = self.start_agent(upstream=up.url, extra=agent_extra, peer_listen=peer_listen)
        home = self.cargo_home(ag.registry_url)
        proj = self.project(project)
        self.cargo(["generate-lockfile"], proj, home)
        self.cargo(["fetch"], proj, home)
        return up, ag, proj

    def wait_status(self, ag, pred, what, timeout=15):
        """Poll the agent's status until pred(status) holds; returns the status."""
        deadline = time.time() + timeout
        s = None
        while time.time() < deadline:
            try:
                s = ag.status()
                if pred(s):
                    return s
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise Failure("timed out after %ds waiting for %s; last status: %s"
                      % (timeout, what, json.dumps(s)))

    def same_lock(self, ref_proj, proj):
        with open(os.path.join(ref_proj, "Cargo.lock")) as f1, \
                open(os.path.join(proj, "Cargo.lock")) as f2:
            a, b = f1.read(), f2.read()
        if a != b:
            diff = "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                                "reference Cargo.lock", "new Cargo.lock"))
            raise Failure("Cargo.lock differs from the reference:\n" + diff)

    # -- store inspection ------------------------------------------------------------------
    def store_blobs(self, store):
        """{sha256 name: path} of every file under store/blobs; each must hash to its name."""
        out = {}
        bdir = os.path.join(store, "blobs")
        for dirpath, _, files in os.walk(bdir):
            for fn in files:
                p = os.path.join(dirpath, fn)
                out[fn] = p
        return out

    def check_store_invariant(self, store):
        """Every blob file hashes to its own name (nothing unverified under a real name)."""
        blobs = self.store_blobs(store)
        for name, p in blobs.items():
            h = sha256_file(p)
            self.check(h == name, "store blob %s has sha256 %s" % (p, h))
        return blobs


    # -- peers (issue 3) ---------------------------------------------------------------------
    def agent_id(self, ag_or_store):
        """`cratecast id --store DIR`: the agent's public key (43 characters, base64url)."""
        store = ag_or_store.store if isinstance(ag_or_store, Agent) else ag_or_store
        cmd = [self.cratecast, "id", "--store", store]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=30)
        out = r.stdout.decode(errors="replace")
        self.check(r.returncode == 0, "%s exited %d: %s" % (" ".join(cmd), r.returncode,
                                                          (out + r.stderr.decode())[-2000:]))
        lines = [ln for ln in out.splitlines() if ln.strip()]
        self.check(len(lines) == 1 and re.fullmatch(r"[A-Za-z0-9_-]{43}", lines[0].strip()),
                   "`cratecast id` printed %r, expected one 43-character base64url key" % out)
        return lines[0].strip()

    def wait_peer(self, ag, key=None, addr=None, pred=None, what=None, timeout=20):
        """Poll ag's status until status.peers has an entry with id == key or addr == addr for
        which pred(entry) holds. Returns (entry, status)."""
        found = {}

        def ok(s):
            e = peer_entry(s, key, addr)
            if e is not None and (pred is None or pred(e)):
                found["e"] = e
                return True
            return False
        s = self.wait_status(ag, ok, what or "a peer with id %s / addr %s" % (key, addr),
                             timeout=timeout)
        return found["e"], s

    def start_proxy(self, target, rate=None, delay=0.0):
        """A Proxy in front of target (a port, or an Agent's peer side); closed at cleanup."""
        port = target.peer_port if isinstance(target, Agent) else target
        px = Proxy(port, rate, delay)
        self.proxies.append(px)
        log("proxy %s -> 127.0.0.1:%d%s%s" % (px.addr, port,
                                             " (%d KB/s)" % (rate // 1024) if rate else "",
                                             " (+%d ms)" % (delay * 1000) if delay else ""))
        return px

    def kill(self, proc):
        """SIGKILL one process we started (by its PID) and reap it."""
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.popen.wait(timeout=10)
        proc.expect_nonzero = True
        log("killed %s pid %d (SIGKILL)" % (proc.name, proc.pid))

    def cargo_bg(self, args, proj, home, target=None):
        """Start cargo in the background (a Proc named "cargo", output in its log); finish it
        with cargo_wait()."""
        if not self.cargo_bin:
            raise Skip("cargo not found (PATH, ~/.cargo/bin)")
        target = target or os.path.join(proj, "target")
        logpath = self.path("cargo-%d.log" % len(self.procs))
        outf = open(logpath, "wb")
        p = subprocess.Popen([self.cargo_bin] + list(args), stdout=outf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=self.cargo_env(home, target), cwd=proj)
        outf.close()
        pr = Proc("cargo", p, logpath, 0)
        pr.args = list(args)
        pr.t0 = time.time()
        self.procs.append(pr)
        log("cargo %s started in the background (pid %d)" % (" ".join(args), p.pid))
        return pr

    def cargo_wait(self, pr, timeout=CARGO_TIMEOUT, check=True):
        """(rc, output) of a cargo_bg() process."""
        try:
            rc = pr.popen.wait(timeout=max(1, timeout - (time.time() - pr.t0)))
        except subprocess.TimeoutExpired:
            pr.stop()
            raise Failure("cargo %s timed out after %ds" % (" ".join(pr.args), timeout))
        with open(pr.log, errors="replace") as f:
            out = f.read()
        log("cargo %s -> %d (%.1fs)" % (" ".join(pr.args), rc, time.time() - pr.t0))
        if check and rc != 0:
            raise Failure("cargo %s failed (%d):\n%s" % (" ".join(pr.args), rc, out[-4000:]))
        return rc, out

    def blob_path(self, store, sha):
        return os.path.join(store, "blobs", sha[:2], sha)

    def corrupt_blob(self, store, sha):
        """Overwrite 16 bytes in the middle of store/blobs/xx/<sha> in place (same inode, same
        size); returns the sha256 of the damaged bytes."""
        path = self.blob_path(store, sha)
        mode = os.stat(path).st_mode
        os.chmod(path, mode | 0o200)
        try:
            with open(path, "r+b") as f:
                data = bytearray(f.read())
                for i in range(len(data) // 2, min(len(data), len(data) // 2 + 16)):
                    data[i] ^= 0xFF
                f.seek(0)
                f.write(data)
        finally:
            os.chmod(path, mode)
        bad = hashlib.sha256(bytes(data)).hexdigest()
        log("corrupted blob %s (now hashes to %s)" % (path, bad))
        return bad

    def check_files_not_hashing_to(self, root, bad_hash):
        """No file under root (SQLite files aside) has the given sha256."""
        for dirpath, _, files in os.walk(root):
            for fn in files:
                if fn.startswith("store.db"):
                    continue
                p = os.path.join(dirpath, fn)
                self.check(sha256_file(p) != bad_hash, "the corrupted bytes were stored at %s" % p)

    def lock_checksums(self, proj):
        """The sha256 checksums of every registry package in proj's Cargo.lock."""
        return sorted(ck for vs in self.lock(proj).values() for ck in vs.values() if ck)


def main(test_fn, needs_agent=True):
    """Run test_fn(Test) and exit 0 / 1 / 77."""
    name = os.path.basename(sys.argv[0])
    t = Test(sys.argv)
    rc = 1
    try:
        if not t.cargo_bin:
            raise Skip("cargo not found (PATH, ~/.cargo/bin)")
        if needs_agent:
            t.need_agent()
        t0 = time.time()
        test_fn(t)
        t.stop_all_checked()
        log("PASS %s (%.1fs)" % (name, time.time() - t0))
        rc = 0
    except Skip as e:
        log("SKIP %s: %s" % (name, e))
        rc = SKIP
    except Failure as e:
        log("FAIL %s: %s" % (name, e))
        for p in t.procs:
            sys.stdout.write("---- %s (pid %d) log tail: %s\n%s\n" % (p.name, p.pid, p.log,
                                                                      p.tail()))
    except Exception:
        log("FAIL %s: unexpected exception" % name)
        traceback.print_exc(file=sys.stdout)
        for p in t.procs:
            sys.stdout.write("---- %s (pid %d) log tail: %s\n%s\n" % (p.name, p.pid, p.log,
                                                                      p.tail()))
    finally:
        t.cleanup()
    sys.stdout.flush()
    sys.exit(rc)
