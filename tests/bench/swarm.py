#!/usr/bin/python3
"""The classroom benchmark (driven by swarm.sh; not part of the test suite; root only).

  swarm.py --cratecast PATH [--rate 20mbit|100mbit|none] [--students 7] [--runs 3]
           [--setups peer,mesh,mdns,big,static] [--retry default|0]
           [--multiplexing default|false] [--packages 97] [--kb 96] [--out FILE] [--json FILE]

One teacher and STUDENTS students, each a host in its own network namespace on one bridge
(tests/integration/netns.py), each host's uplink (eth0 egress) shaped with
`tc qdisc replace dev eth0 root tbf rate RATE burst 64kb latency 50ms`. Host h0 is the teacher:
an agent with --upstream none whose store already holds the project (warmed once, on loopback in
the root namespace, through upstream.py and an online agent; a copy per setup). Every student
runs a fresh agent (empty store, --upstream none, Cargo side 127.0.0.1:7878, peer side
0.0.0.0:7879) and, when all are ready, `cargo generate-lockfile && cargo fetch` at the same
moment, with a fresh CARGO_HOME, project copy and target directory on /dev/shm.

Setups (how the students find sources):
  peer    each student: --peer TEACHER:7879 only (peer exchange may introduce the others)
  mesh    each student: --peer for every other host that runs an agent (static full mesh)
  mdns    no --peer anywhere; every host runs dbus + avahi-daemon; agents find each other by mDNS
  big     as mdns, with a project of 20 crates of 1 MiB of incompressible data (plus the
          integration app's 8 small packages)
  static  no agents: Cargo on every student straight to one static file server on the teacher
          (nginx if installed, else a threaded Python file server) serving the registry's files

Per setup and run: "alone" (one student, the other hosts idle), then "all" (STUDENTS students).
Time of one measurement = from the release of the students' cargo processes (they were started
before and wait on a FIFO each) until the LAST of them exited. Before the release every agent
answers /-/status and every student lists the teacher live with its manifest (all crates); the
script then waits up to --settle seconds more for each student to list every other running agent
live (the room assembled, as in a class that has been sitting for a minute).

Bytes: every agent's GET /-/status after the run (counters.bytes_to_peers: crate bytes the
teacher served to peers; counters.bytes_from_peers: crate bytes each student stored from peers;
per-peer byte fields when the agent reports them); for the static server its access log
($body_bytes_sent per request); for every setup, the teacher's eth0 TX bytes (`ip -s -j link`
inside its namespace) before/after, which counts everything the teacher put on the wire (crates,
index data, manifests, hellos, HTTP and TCP/IP headers, mDNS).

CPU (user + sys seconds, from the release until the last cargo exited): each student's Cargo
(the release's process is reaped with wait4, whose usage covers `cargo generate-lockfile`, the
exec'd `cargo fetch` and every child they waited for; less what it had used before the release),
each agent (/proc/PID/stat utime + stime + cutime + cstime before and after; for static, the
server and its children), and the whole machine (/proc/stat's cpu line: busy = total - idle -
iowait, which also counts the kernel's softirqs for veth, bridge and tbf, avahi and this script).
The CPU floor is the machine's busy CPU seconds over the online CPUs: the least wall time that
much work can take here; its ratio to one student alone is the least ratio that work allows.
A cargo's end is seen at its exit (a pidfd), no longer within Popen.wait's 50 ms polling.

Cargo configuration: crates-io replaced by the student's agent (static: by the teacher's server);
`[net] retry` unset (Cargo's default, 3) or 0; `[http] multiplexing` unset (Cargo's default,
true: over plain http:// Cargo then asks for an h2c upgrade, which the agent's h2o accepts, so
Cargo talks HTTP/2 to its agent, and HTTP/1.1 to nginx, which ignores the upgrade) or false
(what tests/integration/harness.py uses). Nothing else is set: Cargo's defaults otherwise.

Stores: the agents' stores live on an ext4 file system made for this bench (a sparse image
file in /var/tmp, loop-mounted; --store-fs image, the default when mkfs.ext4 and losetup work),
and every run's stores are kept until the bench ends. On a file system that has just had
thousands of files deleted, ext4 scans the recently freed inodes each time it creates a file
(`recently_deleted` in its inode allocator, for the next 60-300 s): in a profile of a student
agent on the root file system after earlier runs' stores were removed, that scan was 45-50% of
the agent's CPU time. That measures the bench's own cleanup, not the agent. --store-fs tmp puts
the stores in the work directory instead (on whatever file system holds it), still kept until
the end.

Cleanup: namespaces and every process started in them go at the end, on an error, on Ctrl-C
and on SIGTERM (netns.Hosts); the warm-up's processes are stopped by PID (harness.Test); the
store file system is unmounted and its image removed; the work directories (the temporary one,
and the one on /dev/shm) are removed unless CRATECAST_KEEP=1 (which also keeps the image
mounted, and says where).
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench_registry  # noqa: E402
import harness  # noqa: E402
import netns  # noqa: E402

AGENT_PORT = 7878
PEER_PORT = 7879
STATIC_PORT = 8080
TEACHER = 0
SETUPS = ("peer", "mesh", "mdns", "big", "static")
BIG_CRATES = 20
BIG_KB = 1024
log = harness.log


# ---- small helpers ----------------------------------------------------------------------------
def median(v):
    return statistics.median(v) if v else None


def fmt_s(v):
    return "n/a" if v is None else "%.1f" % v


def fmt_cpu(v):
    return "n/a" if v is None else "%.2f" % v


def fmt_runs(v):
    """'median' or 'median (min-max)' of a list of seconds."""
    if not v:
        return "n/a"
    if len(v) == 1:
        return "%.1f" % v[0]
    return "%.1f (%.1f-%.1f)" % (median(v), min(v), max(v))


def status_in(hosts, h, timeout=2):
    """The agent's /-/status on host h (curl inside its namespace), or None."""
    try:
        r = hosts.run(h, ["curl", "-s", "--max-time", str(timeout),
                          "http://127.0.0.1:%d/-/status" % AGENT_PORT], timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0 or not r.stdout:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def counters(st):
    c = (st or {}).get("counters") or {}
    return {k: v for k, v in c.items() if isinstance(v, (int, float))}


def live_ids(st):
    return {p.get("id") for p in (st or {}).get("peers") or []
            if isinstance(p, dict) and p.get("state") == "live" and p.get("id")}


def peer_by_id(st, key):
    for p in (st or {}).get("peers") or []:
        if isinstance(p, dict) and p.get("id") == key:
            return p
    return None


# per-peer byte fields an agent may report in status.peers[] (none in the first versions)
PEER_BYTES_FROM = ("bytes_from", "bytes_received", "bytes_in", "bytes_from_peer", "rx_bytes")


def peer_bytes_from(entry):
    for k in PEER_BYTES_FROM:
        if entry and isinstance(entry.get(k), (int, float)):
            return entry[k]
    return None


# ---- CPU accounting ------------------------------------------------------------------------
CLK_TCK = os.sysconf("SC_CLK_TCK")


def online_cpus():
    return os.sysconf("SC_NPROCESSORS_ONLN")


def machine_busy():
    """CPU seconds every CPU has been busy since boot, from /proc/stat's cpu line: total = user
    + nice + system + idle + iowait + irq + softirq + steal (guest time is already counted in
    user and nice), busy = total - idle - iowait."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                v = [int(x) for x in line.split()[1:9]]
                return (sum(v) - v[3] - v[4]) / CLK_TCK
    raise harness.Failure("/proc/stat has no cpu line")


def proc_cpu(pid):
    """utime + stime + cutime + cstime of pid in seconds (all its threads, and the children it
    has waited for), from /proc/PID/stat; None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    v = s[s.rindex(")") + 2:].split()  # from field 3 (state) on: field n is v[n - 3]
    return sum(int(x) for x in v[11:15]) / CLK_TCK


def tree_cpu(pid):
    """proc_cpu summed over pid and its live descendants (/proc/PID/task/TID/children), or None
    when pid is gone. A descendant that exits in between is counted in its parent's cutime and
    cstime once the parent has waited for it."""
    if proc_cpu(pid) is None:
        return None
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        c = proc_cpu(p)
        if c is None:
            continue
        total += c
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return total


def reap(p, timeout):
    """Wait up to timeout s for the Popen p to exit, then reap it with wait4: its CPU seconds
    (user + sys of the process, and of every child it waited for: exact, whatever ran in it and
    exited before it), and p.returncode set as p.wait() sets it. None on a timeout (p runs on).
    Wakes at the exit (a pidfd), where p.wait(timeout) polls every 50 ms."""
    fd = os.pidfd_open(p.pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        return None
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_utime + ru.ru_stime


def diff(a, b):
    return None if a is None or b is None else b - a


def sum_known(v):
    """sum of a list of seconds, None if any is unknown (or the list is empty)"""
    return None if not v or any(x is None for x in v) else sum(v)


# ---- the registries and the warm teacher store ----------------------------------------------
class Project:
    """A generated registry, the project's lock and size, and a warm store holding it."""

    def __init__(self, kind, reg, store, lock, size, crates_in_store):
        self.kind = kind            # "normal" | "big"
        self.reg = reg              # registry root (index/, crates/, static/, projects/bench)
        self.store = store          # warm agent store (teacher's, to be copied)
        self.lock = lock            # {name: {version: cksum}}
        self.packages = sum(len(v) for v in lock.values())
        self.size = size            # bytes of the locked .crate files
        self.crates_in_store = crates_in_store

    @property
    def project_dir(self):
        return os.path.join(self.reg, "projects", "bench")

    def describe(self):
        syn = [sz for (name, _), sz in self.sizes.items() if name.startswith("bench-")]
        return ("%d packages, %.2f MB of .crate files (the integration app's %d + %d synthetic "
                "crates of %s)" % (self.packages, self.size / 1e6, self.packages - len(syn),
                                   len(syn), "%.0f KB on average" % (sum(syn) / len(syn) / 1e3)
                                   if syn else "-"))


def prepare(t, kind, n, kb, incompressible):
    reg = t.path("registry-" + kind)
    log("generating the %s registry: %d synthetic crates of %d KiB%s ..."
        % (kind, n, kb, " (incompressible)" if incompressible else " of source"))
    t.manifest = bench_registry.generate(reg, n, kb, incompressible)
    t._reg = reg
    up = t.start_upstream()
    ag = t.start_agent(upstream=up.url)
    home = t.cargo_home(ag.registry_url)
    proj = t.project("bench")
    t.cargo(["generate-lockfile"], proj, home)
    t.cargo(["fetch"], proj, home)
    lock = t.lock(proj)
    sizes = {(c["name"], c["vers"]): c["size"] for c in t.manifest["crates"]}
    size = sum(sizes[(name, v)] for name, vs in lock.items() for v in vs)
    n_store = ag.status()["store"]["crates"]
    ag.stop()
    up.stop()
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(proj, ignore_errors=True)
    p = Project(kind, reg, ag.store, lock, size, n_store)
    p.sizes = {(name, v): sizes[(name, v)] for name, vs in lock.items() for v in vs}
    if n_store < p.packages:
        raise harness.Failure("the warm store holds %d crates, the project locks %d"
                              % (n_store, p.packages))
    log("%s project: %s; warm store %s" % (kind, p.describe(), ag.store))
    return p


# ---- one setup ---------------------------------------------------------------------------------
class Room:
    """The namespaces of one setup and what runs in them."""

    def __init__(self, opts, setup, project, hosts, wd, shm, sd):
        self.opts = opts
        self.setup = setup
        self.project = project
        self.hosts = hosts
        self.wd = wd                # on disk: stores, logs
        self.shm = shm              # on /dev/shm: Cargo's side
        self.sd = sd                # the stores (the bench's own ext4, see the docstring)
        self.mdns = setup in ("mdns", "big")
        self.static = setup == "static"
        self.teacher_store = None
        self.server = None          # static server process
        self.server_kind = None
        self.server_log = None
        self.seq = 0

    # -- agents -----------------------------------------------------------------------------
    def agent_argv(self, h, store, peers):
        # AGENT_WRAP="strace -f -c -o /tmp/st" prefixes every student agent (%h: its host)
        wrap = [w.replace("%h", str(h)) for w in os.environ.get("AGENT_WRAP", "").split()]
        argv = (wrap if h != 0 else []) + [self.opts.cratecast, "agent", "--store", store,
                "--listen", "127.0.0.1:%d" % AGENT_PORT,
                "--peer-listen", "0.0.0.0:%d" % PEER_PORT,
                "--upstream", "none", "--no-import"]
        if not self.mdns:
            argv.append("--no-mdns")
        for p in peers:
            argv += ["--peer", "%s:%d" % (self.hosts.addr(p), PEER_PORT)]
        argv += os.environ.get("AGENT_ARGS", "").split()  # e.g. AGENT_ARGS="--upload-slots 2"
        return argv

    def start_agent(self, h, store, peers, tag):
        logpath = os.path.join(self.wd, "agent-%s-h%d.log" % (tag, h))
        f = open(logpath, "wb")
        p = self.hosts.spawn(h, self.agent_argv(h, store, peers), stdout=f,
                             stderr=subprocess.STDOUT)
        f.close()
        p.logpath = logpath
        p.host = h
        return p

    def wait_up(self, procs, timeout=20):
        """{host: status} once every agent answers /-/status."""
        out = {}
        deadline = time.monotonic() + timeout
        while len(out) < len(procs):
            for h, p in procs.items():
                if h in out:
                    continue
                if p.poll() is not None:
                    raise harness.Failure("agent on h%d exited %s:\n%s"
                                          % (h, p.returncode, tail(p.logpath)))
                st = status_in(self.hosts, h)
                if st is not None:
                    out[h] = st
            if len(out) < len(procs):
                if time.monotonic() > deadline:
                    missing = sorted(set(procs) - set(out))
                    raise harness.Failure("agents on %s did not answer /-/status within %ds"
                                          % (missing, timeout))
                time.sleep(0.1)
        return out

    def wait_room(self, procs, ids, students):
        """Every student lists the teacher live with all its crates (required), then up to
        --settle s for every student to list every other running agent live."""
        tid = ids[TEACHER]
        need = self.project.crates_in_store
        t0 = time.monotonic()
        pending = set(students)
        last = {}
        while pending:
            for h in sorted(pending):
                if procs[h].poll() is not None:
                    raise harness.Failure("agent on h%d exited:\n%s" % (h, tail(procs[h].logpath)))
                st = status_in(self.hosts, h)
                last[h] = st
                e = peer_by_id(st, tid)
                if e and e.get("state") == "live" and e.get("crates", 0) >= need:
                    pending.discard(h)
            if pending:
                if time.monotonic() - t0 > self.opts.ready_timeout:
                    raise harness.Failure(
                        "students %s do not list the teacher live after %ds; last status of "
                        "h%d: %s" % (sorted(pending), self.opts.ready_timeout, min(pending),
                                     json.dumps(last.get(min(pending)))[:3000]))
                time.sleep(0.1)
        t_teacher = time.monotonic() - t0
        others = {h: set(ids[x] for x in procs if x != h) for h in students}
        pending = set(students)
        t1 = time.monotonic()
        while pending and time.monotonic() - t1 < self.opts.settle:
            for h in sorted(pending):
                if others[h] <= live_ids(status_in(self.hosts, h)):
                    pending.discard(h)
            if pending:
                time.sleep(0.1)
        return t_teacher, time.monotonic() - t0, sorted(pending)

    # -- mDNS hygiene -------------------------------------------------------------------------
    def mdns_services(self, h, resolve=False):
        """[(name, address)] of the _cratecast._tcp services host h's avahi-daemon knows
        (avahi-browse -t: what its cache holds now)."""
        argv = ["avahi-browse", "-p", "-t"] + (["-r"] if resolve else []) + ["_cratecast._tcp"]
        try:
            r = self.hosts.run(h, argv, timeout=10)
        except subprocess.TimeoutExpired:
            return []
        out = []
        for ln in r.stdout.splitlines():
            f = ln.split(";")
            if resolve and f[0] == "=" and len(f) > 7:
                out.append((f[3], f[7]))
            elif not resolve and f[0] == "+" and len(f) > 3:
                out.append((f[3], None))
        return out

    def mdns_wait_clear(self, timeout=8):
        """After agents stop: until no host's avahi-daemon still lists a _cratecast._tcp
        service, so the next measurement does not meet the last one's records (an agent
        restarted on a host otherwise sees its own predecessor's record disappear a moment
        after it found the new one, and drops a live peer)."""
        deadline = time.monotonic() + timeout
        left = list(range(self.hosts.n))
        while left and time.monotonic() < deadline:
            left = [h for h in left if self.mdns_services(h)]
            if left:
                time.sleep(0.2)
        if left:
            log("%s: hosts %s still list old _cratecast._tcp records" % (self.setup, left))
        return not left

    def mdns_wait_teacher(self, timeout=15):
        """Until a student host's avahi-daemon has resolved the teacher's announcement (the
        teacher has been on the network for a while before class)."""
        addr = self.hosts.addr(TEACHER)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(a == addr for _, a in self.mdns_services(1, resolve=True)):
                return True
            time.sleep(0.2)
        log("%s: the teacher's mDNS announcement was not resolved within %ds" % (self.setup,
                                                                                timeout))
        return False

    # -- the static server ------------------------------------------------------------------
    def start_static(self):
        reg = self.project.reg
        addr = self.hosts.addr(TEACHER)
        bench_registry.static_config(reg, "http://%s:%d" % (addr, STATIC_PORT))
        d = os.path.join(self.wd, "static-server")
        os.makedirs(d, exist_ok=True)
        self.server_log = os.path.join(d, "access.log")
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx",
                                                                          os.X_OK) else None)
        if self.opts.static_server == "python":
            nginx = None
        if nginx:
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write("""worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  log_format bytes '$request_uri $status $body_bytes_sent';
  access_log %(log)s bytes;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  types { application/json json; }
  client_body_temp_path %(d)s/body; proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fcgi; uwsgi_temp_path %(d)s/uwsgi; scgi_temp_path %(d)s/scgi;
  server { listen %(addr)s:%(port)d; root %(reg)s/static; etag on; }
}
""" % {"d": d, "log": self.server_log, "addr": addr, "port": STATIC_PORT, "reg": reg})
            argv = [nginx, "-p", d, "-c", os.path.join(d, "nginx.conf"),
                    "-e", os.path.join(d, "error.log"), "-g", "daemon off;"]
            self.server_kind = "nginx"
        else:
            argv = ["/usr/bin/python3", os.path.join(HERE, "swarm.py"), "--serve-static",
                    os.path.join(reg, "static"), addr, str(STATIC_PORT), self.server_log]
            self.server_kind = "python"
        errf = open(os.path.join(d, "stderr"), "wb")
        self.server = self.hosts.spawn(TEACHER, argv, stdout=errf, stderr=subprocess.STDOUT)
        errf.close()
        url = "http://%s:%d/index/config.json" % (addr, STATIC_PORT)
        deadline = time.monotonic() + 15
        while True:
            r = self.hosts.run(1, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                   "--max-time", "1", url], timeout=10)
            if r.stdout.strip() == "200":
                break
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise harness.Failure("the static server (%s) on the teacher did not answer %s:"
                                      "\n%s" % (self.server_kind, url,
                                                tail(os.path.join(d, "stderr"))))
            time.sleep(0.1)
        log("static server: %s on %s:%d" % (self.server_kind, addr, STATIC_PORT))

    def static_bytes(self, offset):
        """(crate bytes, index bytes, requests) logged by the static server after offset."""
        crates = index = n = 0
        with open(self.server_log, errors="replace") as f:
            f.seek(offset)
            for line in f:
                p = line.split()
                if len(p) < 3 or not p[-1].isdigit():
                    continue
                n += 1
                if p[0].startswith("/crates/"):
                    crates += int(p[-1])
                else:
                    index += int(p[-1])
        return crates, index, n

    def log_offset(self):
        try:
            return os.path.getsize(self.server_log)
        except OSError:
            return 0

    # -- Cargo ------------------------------------------------------------------------------
    def cargo_dirs(self, tag, h):
        base = os.path.join(self.shm, "%s-h%d" % (tag, h))
        home, proj, target = (os.path.join(base, x) for x in ("home", "proj", "target"))
        os.makedirs(home)
        shutil.copytree(self.project.project_dir, proj)
        try:
            os.unlink(os.path.join(proj, "Cargo.lock"))
        except FileNotFoundError:
            pass
        if self.static:
            url = "sparse+http://%s:%d/index/" % (self.hosts.addr(TEACHER), STATIC_PORT)
        else:
            url = "sparse+http://127.0.0.1:%d/index/" % AGENT_PORT
        cfg = ('[source.crates-io]\nreplace-with = "room"\n\n'
               '[source.room]\nregistry = "%s"\n' % url)
        if self.opts.retry != "default":
            cfg += "\n[net]\nretry = %s\n" % self.opts.retry
        if self.opts.multiplexing != "default":
            cfg += "\n[http]\nmultiplexing = %s\n" % self.opts.multiplexing
        with open(os.path.join(home, "config.toml"), "w") as f:
            f.write(cfg)
        return base, home, proj, target

    def cargo_env(self, home, target):
        env = {
            "CARGO_HOME": home,
            "CARGO_TARGET_DIR": target,
            "CARGO_TERM_COLOR": "never",
            "CARGO_TERM_PROGRESS_WHEN": "never",
            "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", os.path.expanduser("~/.rustup")),
        }
        path = os.environ.get("PATH", "")
        cbin = os.path.dirname(self.opts.cargo)
        if cbin not in path.split(":"):
            env["PATH"] = cbin + ":" + path
        return env

    # -- one measurement ----------------------------------------------------------------------
    def measure(self, k, run):
        """k students (h1..hk) fetch at once; returns a dict of results."""
        self.seq += 1
        tag = "r%d-%s" % (run + 1, "alone" if k == 1 else "all%d" % k)
        students = list(range(1, k + 1))
        hosts = self.hosts
        res = {"setup": self.setup, "run": run + 1, "students": k, "tag": tag}
        procs = {}
        ids = {}
        try:
            if not self.static:
                running = [TEACHER] + students
                procs[TEACHER] = self.start_agent(TEACHER, self.teacher_store, [], tag)
                self.wait_up({TEACHER: procs[TEACHER]})
                if self.mdns:
                    self.mdns_wait_teacher()
                for h in students:
                    store = os.path.join(self.sd, "store-%d-%s-h%d" % (self.seq, tag, h))
                    if self.setup == "peer":
                        peers = [TEACHER]
                    elif self.setup == "mesh":
                        peers = [x for x in running if x != h]
                    else:
                        peers = []
                    procs[h] = self.start_agent(h, store, peers, tag)
                sts = self.wait_up(procs)
                ids = {h: st.get("id") for h, st in sts.items()}
                t_teacher, t_room, unsettled = self.wait_room(procs, ids, students)
                res["ready_teacher_s"] = t_teacher
                res["ready_room_s"] = t_room
                res["unsettled"] = unsettled
                log("%s %s: students list the teacher after %.2fs, the room after %.2fs%s"
                    % (self.setup, tag, t_teacher, t_room,
                       " (not all peers seen by h%s)" % ",".join(map(str, unsettled))
                       if unsettled else ""))
            # the cargo processes, each waiting on its own FIFO
            cargos = {}
            fifos = {}
            for h in students:
                base, home, proj, target = self.cargo_dirs(tag, h)
                fifo = os.path.join(base, "go")
                os.mkfifo(fifo)
                fifos[h] = fifo
                logpath = os.path.join(self.wd, "cargo-%s-h%d.log" % (tag, h))
                script = ('read go < "$1" || exit 97\n'
                          'cd "$2" || exit 98\n'
                          '"$3" generate-lockfile && exec "$3" fetch\n')
                f = open(logpath, "wb")
                p = hosts.spawn(h, ["sh", "-c", script, "swarm-student", fifo, proj,
                                    self.opts.cargo],
                                env=self.cargo_env(home, target), stdout=f,
                                stderr=subprocess.STDOUT)
                f.close()
                p.logpath = logpath
                p.proj = proj
                cargos[h] = p
            fds = {}
            deadline = time.monotonic() + 20
            for h, fifo in fifos.items():
                while True:
                    try:
                        fds[h] = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                        break
                    except OSError:  # ENXIO: its reader is not there yet
                        if cargos[h].poll() is not None or time.monotonic() > deadline:
                            raise harness.Failure("the cargo wrapper on h%d did not start:\n%s"
                                                  % (h, tail(cargos[h].logpath)))
                        time.sleep(0.005)
            link0 = {h: hosts.link_stats(h) for h in range(hosts.n)}
            off0 = self.log_offset() if self.static else 0
            ends = {}
            cargo_cpu = {}

            def waiter(h, p):
                cargo_cpu[h] = reap(p, self.opts.cargo_timeout)
                ends[h] = time.monotonic()

            # CPU before the release: agents (the teacher's static server), the waiting cargo
            # wrappers (what `ip netns exec` and sh used so far), the machine
            teacher_pid = self.server.pid if self.static else procs[TEACHER].pid
            cpu0 = {h: tree_cpu(p.pid) for h, p in procs.items() if h != TEACHER}
            cpu0[TEACHER] = tree_cpu(teacher_pid)
            wrap0 = {h: proc_cpu(p.pid) for h, p in cargos.items()}
            busy0 = machine_busy()
            t0 = time.monotonic()
            for h in students:
                os.write(fds[h], b"go\n")
            for fd in fds.values():
                os.close(fd)
            threads = [threading.Thread(target=waiter, args=(h, p), daemon=True)
                       for h, p in cargos.items()]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            t_end = time.monotonic()
            busy1 = machine_busy()
            cpu1 = {h: tree_cpu(p.pid) for h, p in procs.items() if h != TEACHER}
            cpu1[TEACHER] = tree_cpu(teacher_pid)
            # what each student did
            per = {}
            for h, p in cargos.items():
                rc = p.poll()
                if rc is None:
                    hosts.stop(p)
                    rc = "timeout"
                out = tail(p.logpath, 200)
                ok = rc == 0
                pkgs = None
                if ok:
                    lp = os.path.join(p.proj, "Cargo.lock")
                    lk = harness.parse_lock(lp) if os.path.exists(lp) else {}
                    pkgs = sum(len(v) for v in lk.values())
                    if pkgs != self.project.packages:
                        ok = False
                        out += "\n(Cargo.lock has %d registry packages, expected %d)" % (
                            pkgs, self.project.packages)
                per[h] = {"rc": rc, "ok": ok, "seconds": ends.get(h, t_end) - t0,
                          "packages": pkgs, "error": None if ok else error_lines(out)}
            res["per_student"] = per
            res["seconds"] = max(v["seconds"] for v in per.values())
            res["failed"] = sum(1 for v in per.values() if not v["ok"])
            # CPU seconds (user + sys) from the release until the last cargo exited
            for h in students:
                per[h]["cpu_cargo_s"] = diff(wrap0[h], cargo_cpu.get(h))
                per[h]["cpu_agent_s"] = None if self.static else diff(cpu0[h], cpu1[h])
            res["cpu_cargo_s"] = sum_known([per[h]["cpu_cargo_s"] for h in students])
            res["cpu_student_agents_s"] = (0.0 if self.static else
                                           sum_known([per[h]["cpu_agent_s"] for h in students]))
            res["cpu_teacher_s"] = diff(cpu0[TEACHER], cpu1[TEACHER])
            res["cpu_room_s"] = sum_known([res["cpu_cargo_s"], res["cpu_student_agents_s"],
                                           res["cpu_teacher_s"]])
            res["cpu_busy_s"] = busy1 - busy0
            res["cpus"] = online_cpus()
            res["cpu_floor_s"] = res["cpu_busy_s"] / res["cpus"]
            res["cpu_busy_share"] = res["cpu_busy_s"] / (res["cpus"] * (t_end - t0))
            res["cpu_other_s"] = (res["cpu_busy_s"] - res["cpu_room_s"]
                                  if res["cpu_room_s"] is not None else None)
            link1 = {h: hosts.link_stats(h) for h in range(hosts.n)}
            res["tx"] = {h: link1[h]["tx_bytes"] - link0[h]["tx_bytes"] for h in link0}
            res["rx"] = {h: link1[h]["rx_bytes"] - link0[h]["rx_bytes"] for h in link0}
            res["teacher_tx"] = res["tx"][TEACHER]
            all_tx = sum(res["tx"].values())
            res["teacher_tx_share"] = res["teacher_tx"] / all_tx if all_tx else None
            if self.static:
                crates, index, nreq = self.static_bytes(off0)
                res["teacher_sent"] = crates
                res["teacher_index_bytes"] = index
                res["requests"] = nreq
                res["students_from_peers"] = crates
                res["teacher_share"] = 1.0 if crates else None
            else:
                sts = {h: status_in(hosts, h, timeout=5) for h in procs}
                res["status"] = sts
                tc = counters(sts[TEACHER])
                res["teacher_sent"] = tc.get("bytes_to_peers")
                res["teacher_uploads"] = tc.get("served_to_peers")
                res["teacher_busy"] = tc.get("peer_busy")
                got = [counters(sts[h]).get("bytes_from_peers", 0) for h in students]
                res["students_from_peers"] = sum(got)
                res["students_crates_from_peers"] = sum(
                    counters(sts[h]).get("from_peers", 0) for h in students)
                res["students_sent"] = sum(counters(sts[h]).get("bytes_to_peers", 0)
                                           for h in students)
                # how the students learnt what their neighbours gained: manifests (or
                # deltas) applied, and news that carried the gains (absent in older agents)
                for key in ("manifests", "news_gains"):
                    vals = [((e or {}).get("received") or {}).get(key)
                            for h in students for e in (sts[h] or {}).get("peers") or []]
                    res["students_" + key] = (sum(v for v in vals if v is not None)
                                              if any(v is not None for v in vals) else None)
                for h in students:
                    # why the agent could not deliver (its misses: crate, version, reason)
                    ms = [m for m in (sts[h] or {}).get("misses") or [] if isinstance(m, dict)]
                    # a crate nobody could send first (an offline listing's "withheld" is normal)
                    ms.sort(key=lambda m: m.get("kind") != "crate")
                    per[h]["misses"] = ["%s %s (%s): %s" % (m.get("crate"), m.get("version"),
                                                            m.get("kind"), m.get("reason"))
                                        for m in ms[:5]]
                    if not per[h]["ok"] and ms:
                        per[h]["error"].append("agent: " + per[h]["misses"][0])
                if res["teacher_sent"] is not None and res["students_from_peers"]:
                    res["teacher_share"] = res["teacher_sent"] / res["students_from_peers"]
                else:
                    res["teacher_share"] = None
                # per-peer byte counts, where the agent reports them
                fromt = [peer_bytes_from(peer_by_id(sts[h], ids[TEACHER])) for h in students]
                if all(v is not None for v in fromt):
                    res["students_from_teacher"] = sum(fromt)
            size = self.project.size
            res["teacher_multiple"] = (res["teacher_sent"] / size
                                       if res.get("teacher_sent") is not None else None)
            res["teacher_tx_multiple"] = res["teacher_tx"] / size
            log("%s %s: last student done after %.2fs, %d/%d failed; teacher sent %s "
                "(%s of what students got from peers)%s, eth0 TX %.2f MB (%.2fx the project)"
                % (self.setup, tag, res["seconds"], res["failed"], k,
                   "n/a" if res.get("teacher_sent") is None
                   else "%.2f MB" % (res["teacher_sent"] / 1e6),
                   pct(res.get("teacher_share")),
                   ", refused %d uploads as busy" % res["teacher_busy"]
                   if res.get("teacher_busy") else "", res["teacher_tx"] / 1e6,
                   res["teacher_tx_multiple"]))
            log("%s %s: CPU: machine busy %.2f CPU-s (%.0f%% of %d cores; floor %.2fs); room %s "
                "CPU-s: Cargo %s, student agents %s, teacher %s" % (
                    self.setup, tag, res["cpu_busy_s"], 100 * res["cpu_busy_share"], res["cpus"],
                    res["cpu_floor_s"], fmt_cpu(res["cpu_room_s"]), fmt_cpu(res["cpu_cargo_s"]),
                    fmt_cpu(res["cpu_student_agents_s"]), fmt_cpu(res["cpu_teacher_s"])))
            for h, v in sorted(per.items()):
                log("  h%d %s after %.2fs%s" % (
                    h, "ok" if v["ok"] else "FAILED (%s)" % v["rc"], v["seconds"],
                    "" if v["ok"] else ": " + " | ".join(
                        [v["error"][0]] + [e for e in v["error"] if e.startswith("agent:")])))
            return res
        finally:
            for h, p in procs.items():
                hosts.stop(p)  # the stores stay until the bench ends (see the docstring)
            for h in students:
                shutil.rmtree(os.path.join(self.shm, "%s-h%d" % (tag, h)), ignore_errors=True)
            if self.mdns and procs:
                self.mdns_wait_clear()


class StoreFs:
    """A fresh ext4 file system for the stores: a sparse image in /var/tmp, mkfs.ext4 with
    its defaults (journal included), loop-mounted on a temporary directory."""

    def __init__(self, gb):
        self.img = None
        self.mnt = None
        fd, self.img = tempfile.mkstemp(prefix="cratecast-swarm-", suffix=".ext4",
                                        dir="/var/tmp")
        os.ftruncate(fd, gb << 30)
        os.close(fd)
        try:
            run_quiet(["mkfs.ext4", "-q", "-F", self.img])
            self.mnt = tempfile.mkdtemp(prefix="cratecast-swarm-stores-")
            run_quiet(["mount", "-o", "loop", self.img, self.mnt])
        except harness.Failure as e:
            self.close()
            raise harness.Failure("%s (STORE_FS=tmp puts the stores in the work directory "
                                  "instead)" % e)
        except Exception:
            self.close()
            raise
        log("stores on a fresh ext4 (%d GiB sparse image %s) at %s" % (gb, self.img, self.mnt))

    def describe(self):
        return "fresh ext4, loop-mounted image"

    def close(self, keep=False):
        if keep and self.mnt:
            log("kept the stores' file system mounted at %s (image %s): umount it and remove "
                "the image when done" % (self.mnt, self.img))
            return
        if self.mnt:
            if subprocess.run(["umount", self.mnt]).returncode == 0:
                os.rmdir(self.mnt)
            else:
                log("could not unmount %s; image %s kept" % (self.mnt, self.img))
                return
        if self.img:
            os.unlink(self.img)


def run_quiet(argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise harness.Failure("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                      r.stdout.strip()))


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


def error_lines(text):
    """Cargo's error and cause lines, most telling first: a failed download is summed up as
    "download of CRATE VERSION: HTTP CODE"."""
    out = []
    m = re.search(r"failed to download from `[^`]*/crates/([^/`]+)/([^/`]+)[^`]*`", text)
    code = re.search(r"got (\d{3})", text)
    if m:
        out.append("download of %s %s: %s" % (m.group(1), m.group(2),
                                               "HTTP " + code.group(1) if code else "failed"))
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("error") or s.startswith("Caused by") or s.startswith("warning: spurious"):
            nxt = lines[i + 1].strip() if s.startswith("Caused by") and i + 1 < len(lines) else ""
            out.append((s + " " + nxt).strip())
    return out[:12] or [ln for ln in lines[-5:] if ln.strip()]


def pct(v):
    return "n/a" if v is None else "%.0f%%" % (100 * v)


def run_setup(opts, setup, projects, wd, shm, store_root, results):
    project = projects["big" if setup == "big" else "normal"]
    avahi = setup in ("mdns", "big")
    swd = os.path.join(wd, setup)
    os.makedirs(swd)
    sshm = os.path.join(shm, setup)
    os.makedirs(sshm)
    ssd = os.path.join(store_root, setup)
    os.makedirs(ssd)
    out = {"setup": setup, "project": project.kind, "packages": project.packages,
           "project_bytes": project.size, "alone": [], "all": []}
    results["setups"].append(out)
    with netns.Hosts(1 + opts.students, avahi=avahi, workdir=os.path.join(swd, "netns"),
                     log=log) as hosts:
        for h in range(hosts.n):
            hosts.shape(h, opts.rate)
        room = Room(opts, setup, project, hosts, swd, sshm, ssd)
        if room.static:
            room.start_static()
            out["server"] = room.server_kind
        else:
            room.teacher_store = os.path.join(ssd, "teacher-store")
            shutil.copytree(project.store, room.teacher_store)
        for run in range(opts.runs):
            for k in (1, opts.students):
                try:
                    r = room.measure(k, run)
                except harness.Failure as e:
                    # one broken measurement does not lose the others: reported, counted failed
                    log("%s run %d (%d students): %s" % (setup, run + 1, k, e))
                    r = {"setup": setup, "run": run + 1, "students": k, "error": str(e),
                         "tag": "r%d-%s" % (run + 1, "alone" if k == 1 else "all%d" % k),
                         "seconds": None, "failed": k, "per_student": {}}
                if not opts.keep_status:
                    r.pop("status", None)
                # the CPU floor against this run's time alone (alone: against its own time)
                alone = r if k == 1 else out["alone"][-1]
                r["cpu_floor_ratio"] = (r["cpu_floor_s"] / alone["seconds"]
                                        if r.get("cpu_floor_s") is not None and
                                        not alone.get("failed") and alone.get("seconds")
                                        else None)
                out["alone" if k == 1 else "all"].append(r)
        if room.server is not None:
            hosts.stop(room.server)
    return out


# ---- the report ----------------------------------------------------------------------------
def summarize(s, students):
    def times(rows):
        """seconds of the runs where every build succeeded; (text, median or None)"""
        clean = [r["seconds"] for r in rows if not r.get("failed") and r.get("seconds")]
        dropped = len(rows) - len(clean)
        if not clean:
            return ("- (every run had failed builds)" if rows else "n/a"), None
        return fmt_runs(clean) + (" [%d of %d runs]" % (len(clean), len(rows))
                                  if dropped else ""), median(clean)
    ta, ma = times(s["alone"])
    tb, mb = times(s["all"])
    failed = sum(r["failed"] for r in s["all"])
    total = students * len(s["all"])
    afailed = sum(r["failed"] for r in s["alone"])

    def med(key, rows):
        v = [r[key] for r in rows if r.get(key) is not None]
        return median(v)

    def cpu_med(key, rows):
        """median over the runs where every build succeeded"""
        return median([r[key] for r in rows if not r.get("failed") and r.get("seconds")
                       and r.get(key) is not None])

    def split(rows):
        v = [cpu_med(k, rows) for k in ("cpu_cargo_s", "cpu_student_agents_s", "cpu_teacher_s")]
        return "n/a" if None in v else "%.2f / %.2f / %.2f" % tuple(v)
    busy_a, busy_b = cpu_med("cpu_busy_s", s["alone"]), cpu_med("cpu_busy_s", s["all"])
    floor_b = cpu_med("cpu_floor_s", s["all"])
    return {
        "setup": s["setup"] + (" (%s)" % s["server"] if s.get("server") else ""),
        "alone": ta, "all": tb,
        "ratio": "%.1fx" % (mb / ma) if ma and mb else "n/a",
        "failed": "%d/%d" % (failed, total) + (" (alone: %d/%d)" % (afailed, len(s["alone"]))
                                                 if afailed else ""),
        "share": pct(med("teacher_share", s["all"])),
        "multiple": ("%.2fx" % med("teacher_multiple", s["all"])
                     if med("teacher_multiple", s["all"]) is not None else "n/a"),
        "tx": "%.2fx (%s)" % (med("teacher_tx_multiple", s["all"]),
                              pct(med("teacher_tx_share", s["all"])))
        if med("teacher_tx_multiple", s["all"]) is not None else "n/a",
        "busy": "%s / %s" % (fmt_cpu(busy_a), fmt_cpu(busy_b)),
        "floor": fmt_cpu(floor_b),
        "floor_ratio": "%.1fx" % (floor_b / ma) if ma and floor_b is not None else "n/a",
        "room_alone": split(s["alone"]),
        "room_all": split(s["all"]),
    }


COLS = [("setup", "setup"), ("alone", "one student alone, s"),
        ("all", "%d students at once, s"), ("ratio", "ratio"),
        ("failed", "builds failed / total"),
        ("share", "teacher's share of crate bytes students got"),
        ("multiple", "teacher sent / project (crates)"),
        ("tx", "teacher eth0 TX / project (share of all TX)"),
        ("busy", "machine busy CPU-s alone / all"),
        ("floor", "CPU floor of all, s"), ("floor_ratio", "CPU floor ratio"),
        ("room_alone", "room CPU-s alone: Cargo / student agents / teacher"),
        ("room_all", "room CPU-s all: Cargo / student agents / teacher")]


LEGEND = [
    "- time: median over runs (min-max) of the time until the LAST student's `cargo "
    "generate-lockfile && cargo fetch` exited; ratio: all at once / one student alone; "
    "failed: builds that failed in the all-at-once runs (and alone, if any)",
    "- teacher's share: the teacher agent's counters.bytes_to_peers over the sum of the students' "
    "counters.bytes_from_peers (crate bytes; the teacher counts a crate's size when an upload "
    "starts, so aborted uploads count too and the share can pass 100%); static: the server's "
    "access log ($body_bytes_sent of /crates/)",
    "- teacher eth0 TX: bytes the teacher's interface sent during the run (ip -s link: crates, "
    "index data, manifests, HTTP, TCP/IP, mDNS) over the project's .crate bytes; in brackets, "
    "its share of what all hosts' interfaces sent",
    "- CPU (medians over the runs in which every build succeeded), counted from the release of "
    "the students' cargo processes until the last exited: machine busy: /proc/stat's cpu line, "
    "total - idle - iowait (every process, the kernel's interrupts and softirqs: veth, bridge, "
    "tbf; avahi, this script); CPU floor: machine busy of the all-at-once run / online CPUs, the "
    "least wall time that much CPU work takes on this machine; CPU floor ratio: that floor / one "
    "student alone (the ratio can not be below it unless the room does less CPU work); room: "
    "user + sys of the students' Cargo processes (wait4 of each `sh -c 'cargo generate-lockfile "
    "&& exec cargo fetch'`, so with every child they waited for), of the student agents and of "
    "the teacher's agent (static: its server and the server's children; /proc/PID/stat utime + "
    "stime + cutime + cstime, before and after)",
]


def header_lines(opts, results):
    p = results["projects"]
    lines = ["swarm bench: %s, "
             "%d students + 1 teacher, %d run(s) per point, net.retry %s, http.multiplexing %s"
             % ("links unshaped" if opts.rate == "none" else
                "rate %s (tbf burst 64kb latency 50ms on every host's eth0)" % opts.rate,
                opts.students, opts.runs,
                "Cargo's default (3)" if opts.retry == "default" else opts.retry,
                "Cargo's default (true)" if opts.multiplexing == "default"
                else opts.multiplexing)]
    for kind in ("normal", "big"):
        if kind in p:
            lines.append("%s: %s" % ("setup big's project" if kind == "big" else
                                     "project of peer, mesh, mdns, static", p[kind]))
    lines.append("cratecast: %s; cargo: %s; %d cores" % (opts.cratecast, results.get(
        "cargo_version", "?"), os.cpu_count()))
    return lines


def report(opts, results):
    rows = [summarize(s, opts.students) for s in results["setups"]]
    cols = [(k, t % opts.students if "%d" in t else t) for k, t in COLS]
    widths = {k: max(len(t), *(len(r[k]) for r in rows)) if rows else len(t) for k, t in cols}
    print()
    for ln in header_lines(opts, results):
        print(ln)
    print("  ".join(t.ljust(widths[k]) for k, t in cols))
    for r in rows:
        print("  ".join(r[k].ljust(widths[k]) for k, _ in cols))
    notes = notes_of(results) + LEGEND
    for n in notes:
        print(n)
    if opts.out:
        with open(opts.out, "w") as f:
            for ln in header_lines(opts, results):
                f.write(ln + "  \n")
            f.write("\n| %s |\n" % " | ".join(t for _, t in cols))
            f.write("|%s|\n" % "|".join(" --- " for _ in cols))
            for r in rows:
                f.write("| %s |\n" % " | ".join(r[k] for k, _ in cols))
            f.write("\n")
            for n in notes:
                f.write("- %s\n" % n.lstrip("- "))
        log("wrote %s" % opts.out)


def notes_of(results):
    notes = []
    if any(r.get("failed") for s in results["setups"] for r in s["alone"] + s["all"]):
        notes.append("- times are over the runs in which every build succeeded ([k of n runs] "
                     "when some had failures); a failed build ends at once, so a run with "
                     "failures says nothing about how long the room takes")
    if any(r.get("teacher_busy") for s in results["setups"] for r in s["all"]):
        notes.append("- teacher refused uploads as busy (503, all upload slots taken): %s" % (
            ", ".join("%s %s: %d" % (s["setup"], r["tag"], r["teacher_busy"])
                      for s in results["setups"] for r in s["alone"] + s["all"]
                      if r.get("teacher_busy"))))
    for s in results["setups"]:
        for r in s["alone"] + s["all"]:
            if r.get("error"):
                notes.append("- %s %s: no measurement: %s" % (s["setup"], r["tag"],
                                                              r["error"][:300]))
            for h, v in sorted(r["per_student"].items()):
                if not v["ok"]:
                    agent = [e for e in v["error"] if e.startswith("agent:")]
                    msg = (v["error"][0] if v["error"] else str(v["rc"])) + (
                        " (%s)" % agent[0] if agent else "")
                    notes.append("- %s %s: h%s failed after %.1fs: %s"
                                 % (s["setup"], r["tag"], h, v["seconds"], msg[:400]))
            if r.get("unsettled"):
                notes.append("- %s %s: h%s did not list every other agent live before the "
                             "start" % (s["setup"], r["tag"], ",".join(map(str, r["unsettled"]))))
    return notes


# ---- a static file server for machines without nginx -----------------------------------------
def serve_static(root, addr, port, logpath):
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *a):
            pass

        def send_head(self):
            f = super().send_head()
            self._len = 0
            if f is not None and hasattr(f, "fileno"):
                self._len = os.fstat(f.fileno()).st_size
            return f

        def log_request(self, code="-", size="-"):
            with lock:
                logf.write("%s %s %d\n" % (self.path, code,
                                           getattr(self, "_len", 0) if code == 200 else 0))

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256
        allow_reuse_address = True

    lock = threading.Lock()
    logf = open(logpath, "a", buffering=1)
    Server((addr, port), Handler).serve_forever()


# ---- main ----------------------------------------------------------------------------------------
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-static"]:
        serve_static(argv[1], argv[2], int(argv[3]), argv[4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cratecast", required=True)
    ap.add_argument("--cargo", default=harness.find_cargo())
    ap.add_argument("--rate", default="20mbit")
    ap.add_argument("--students", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--retry", default="default")
    ap.add_argument("--multiplexing", default="default", choices=("default", "true", "false"))
    ap.add_argument("--packages", type=int, default=97,
                    help="packages in the project's lock (the app's 8 + synthetic crates)")
    ap.add_argument("--kb", type=int, default=96,
                    help="KB of generated source per synthetic crate (96: ~52 KB .crate)")
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--ready-timeout", type=float, default=30.0)
    ap.add_argument("--cargo-timeout", type=float, default=600.0)
    ap.add_argument("--static-server", choices=("nginx", "python"))
    ap.add_argument("--out")
    ap.add_argument("--json")
    ap.add_argument("--keep-status", action="store_true")
    ap.add_argument("--store-fs", choices=("image", "tmp"), default="image",
                    help="where the agents' stores live (see the module docstring)")
    ap.add_argument("--store-fs-gb", type=int, default=16,
                    help="size of the sparse ext4 image for --store-fs image")
    opts = ap.parse_args(argv)
    opts.cratecast = os.path.abspath(opts.cratecast)
    setups = [s.strip() for s in opts.setups.split(",") if s.strip()]
    bad = [s for s in setups if s not in SETUPS]
    if bad:
        ap.error("unknown setup(s) %s; known: %s" % (",".join(bad), ",".join(SETUPS)))
    if opts.retry != "default" and not opts.retry.isdigit():
        ap.error("--retry: default or a number")
    if opts.students < 1 or opts.students > 60:
        ap.error("--students: 1..60")
    why = netns.available()
    if why:
        print("swarm: skipped: %s" % why, file=sys.stderr)
        return netns.SKIP
    if any(s in ("mdns", "big") for s in setups) and netns.avahi_available():
        print("swarm: skipped: %s (needed by mdns/big)" % netns.avahi_available(),
              file=sys.stderr)
        return netns.SKIP
    if not opts.cargo or not os.access(opts.cargo, os.X_OK):
        print("swarm: cargo not found", file=sys.stderr)
        return 1
    if not shutil.which("curl"):
        print("swarm: curl not found", file=sys.stderr)
        return 1
    # Nothing of ours may go through a proxy, nor inherit a caller's Cargo settings.
    for k in list(os.environ):
        if k.lower().endswith("_proxy") or k.startswith("CARGO"):
            del os.environ[k]

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C even when started from a script's background job (which inherits SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGHUP, on_term)

    t = harness.Test([sys.argv[0], opts.cratecast])
    os.chmod(t.tmp, 0o755)  # nginx's workers read the registry from here
    shm_root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    shm = tempfile.mkdtemp(prefix="cratecast-swarm-", dir=shm_root)
    results = {"opts": vars(opts), "setups": [], "projects": {}}
    rc = 1
    storefs = None
    try:
        t.need_agent()
        if opts.store_fs == "image":
            storefs = StoreFs(opts.store_fs_gb)
            store_root = storefs.mnt
        else:
            store_root = os.path.join(t.tmp, "stores")
            os.makedirs(store_root)
        results["store_fs"] = storefs.describe() if storefs else "work directory: " + store_root
        r = subprocess.run([opts.cargo, "-V"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, env=dict(os.environ, RUSTUP_HOME=os.environ.get(
                               "RUSTUP_HOME", os.path.expanduser("~/.rustup"))))
        results["cargo_version"] = r.stdout.strip()
        projects = {}
        if any(s != "big" for s in setups):
            n = opts.packages - sum(len(v) for v in harness.registry.EXPECTED_APP_LOCK.values())
            projects["normal"] = prepare(t, "normal", n, opts.kb, False)
        if "big" in setups:
            projects["big"] = prepare(t, "big", BIG_CRATES, BIG_KB, True)
        for k, p in projects.items():
            results["projects"][k] = p.describe() + (", incompressible" if k == "big" else "")
        if "normal" in projects and projects["normal"].packages != opts.packages:
            log("note: the project locks %d packages, not %d"
                % (projects["normal"].packages, opts.packages))
        for setup in setups:
            log("==== setup %s ====" % setup)
            run_setup(opts, setup, projects, t.tmp, shm, store_root, results)
        report(opts, results)
        rc = 0
    except harness.Failure as e:
        log("bench failed: %s" % e)
        if results["setups"]:
            report(opts, results)
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
        t.cleanup()
        if storefs is not None:
            storefs.close(keep=bool(os.environ.get("CRATECAST_KEEP")))
        if os.environ.get("CRATECAST_KEEP"):
            log("kept %s" % shm)
        else:
            shutil.rmtree(shm, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
