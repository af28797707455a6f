"""Network namespaces for the mDNS tests: N hosts on one bridge, optionally each with its own
dbus-daemon and avahi-daemon. Run as root with /usr/bin/python3.

Layout of one run (prefix "cc<pid>-", subnet 10.77.X.0/24 with X taken from the PID):

    cc<pid>-br   the bridge's namespace: br0 (multicast snooping off) + the host ends vhN
    cc<pid>-h0   eth0 10.77.X.1/24, lo up, multicast on, 224.0.0.0/4 via eth0
    cc<pid>-h1   eth0 10.77.X.2/24 ...

The root namespace is never touched: veth pairs are created directly inside the namespaces.
With avahi=True, every host gets a work directory DIR with run/ (bind-mounted on /run inside a
private mount namespace), a dbus system bus and an avahi-daemon (host-name, use-ipv6=no,
allow-interfaces=eth0, enable-wide-area=no); clients there only need
DBUS_SYSTEM_BUS_ADDRESS=unix:path=DIR/run/dbus/system_bus_socket, which env(host) returns.

As a module:

    with netns.Hosts(3, avahi=True) as hosts:
        p = hosts.spawn(0, ["mdns-probe", ...], stdout=subprocess.PIPE)
        r = hosts.run(1, ["avahi-browse", "-rpt", "_cratecast._tcp"])
        hosts.addr(2)                       # "10.77.X.3"
        hosts.shape(1, "20mbit")            # tc tbf on h1's eth0 (egress)
        hosts.link_stats(1)["tx_bytes"]     # bytes sent over h1's eth0 so far
        hosts.stop_avahi(0)                 # h0's avahi-daemon exits (SIGTERM: goodbyes)
        hosts.start_avahi_daemon(0)         # ... and runs again on the same bus

Teardown (on exit, exception, SIGTERM, or a second call: idempotent) kills only the processes
this object started (checked to still live in one of its namespaces), then deletes its
namespaces. `Hosts.available()` says why the machine cannot run it (not root, no `ip netns`).

As a CLI:

    netns.py run [--hosts N] [--avahi] -- CMD...   set up, run CMD in the root namespace with
                                                    CC_NETNS_JSON describing the hosts, tear down
    netns.py exec [--hosts N] [--avahi] --host I -- CMD...   same, CMD inside host I
    netns.py cleanup                                delete namespaces of runs whose PID is gone
Exit 77 (skip) when the machine cannot do it.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
IP = shutil.which("ip") or "/usr/sbin/ip"
TC = shutil.which("tc") or "/usr/sbin/tc"

AVAHI_CONF = """[server]
host-name={host}
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-hinfo=no
publish-workstation=no
publish-aaaa-on-ipv4=no

[reflector]
enable-reflector=no

[rlimits]
"""


class NetnsError(Exception):
    pass


def _sh(argv, check=True, timeout=30, **kw):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise NetnsError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
    return r


def available():
    """None when namespaces can be made here, else the reason to skip."""
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists(IP):
        return "no ip(8)"
    try:
        r = _sh([IP, "netns", "list"], check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return "ip netns: %s" % e
    if r.returncode != 0:
        return "ip netns unavailable: %s" % r.stderr.strip()
    return None


def avahi_available():
    missing = [b for b in ("dbus-daemon", "avahi-daemon", "unshare", "mount")
               if shutil.which(b) is None and not os.path.exists("/usr/sbin/" + b)]
    return "missing: " + ", ".join(missing) if missing else None


def _ns_inode(ns):
    try:
        return os.stat("/run/netns/" + ns).st_ino
    except OSError:
        return None


def _pid_netns_inode(pid):
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino
    except OSError:
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Hosts:
    def __init__(self, n, avahi=False, workdir=None, prefix=None, log=None):
        if n < 1 or n > 200:
            raise ValueError("1..200 hosts")
        self.n = n
        self.avahi = avahi
        self.prefix = prefix or "cc%d-" % os.getpid()
        self.subnet = 20 + os.getpid() % 200            # 10.77.X.0/24
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cc-netns-")
        self.log = log or (lambda msg: None)
        self._namespaces = []      # created, in order
        self._procs = []           # Popen we started (spawn, avahi-daemon)
        self._pids = []            # forked daemons (dbus-daemon): (pid, namespace)
        self._avahi = {}           # host index -> Popen of its avahi-daemon (the latest)
        self._torn_down = False
        self._up = False

    # ---- naming --------------------------------------------------------------------------
    def ns(self, host):
        return "%sh%d" % (self.prefix, self._index(host))

    @property
    def bridge_ns(self):
        return self.prefix + "br"

    def _index(self, host):
        if isinstance(host, int):
            i = host
        else:
            m = re.fullmatch(r"(?:.*h)?(\d+)", str(host))
            if not m:
                raise ValueError("unknown host %r" % (host,))
            i = int(m.group(1))
        if not 0 <= i < self.n:
            raise ValueError("host %r out of range" % (host,))
        return i

    def addr(self, host):
        return "10.77.%d.%d" % (self.subnet, self._index(host) + 1)

    def hostname(self, host):
        return "cc%dh%d" % (os.getpid(), self._index(host))

    def hostdir(self, host):
        return os.path.join(self.workdir, "h%d" % self._index(host))

    def env(self, host, extra=None):
        e = dict(os.environ)
        if self.avahi:
            e["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=%s/run/dbus/system_bus_socket" % \
                self.hostdir(host)
        else:
            e.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
            # Point clients at a bus that does not exist, never at the root namespace's.
            e["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=%s/no-bus" % self.hostdir(host)
        if extra:
            e.update(extra)
        return e

    def describe(self):
        return {"prefix": self.prefix, "bridge": self.bridge_ns, "avahi": self.avahi,
                "hosts": [{"name": "h%d" % i, "ns": self.ns(i), "addr": self.addr(i),
                           "dir": self.hostdir(i),
                           "DBUS_SYSTEM_BUS_ADDRESS": self.env(i)["DBUS_SYSTEM_BUS_ADDRESS"]}
                          for i in range(self.n)]}

    # ---- set up --------------------------------------------------------------------------
    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def _add_ns(self, ns):
        _sh([IP, "netns", "add", ns])
        self._namespaces.append(ns)

    def setup(self):
        why = available()
        if why:
            raise NetnsError(why)
        atexit.register(self.teardown)
        try:
            self._add_ns(self.bridge_ns)
            br = [IP, "-n", self.bridge_ns]
            _sh(br + ["link", "set", "lo", "up"])
            _sh(br + ["link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
            _sh(br + ["link", "set", "br0", "up"])
            for i in range(self.n):
                ns = self.ns(i)
                self._add_ns(ns)
                h = [IP, "-n", ns]
                _sh(h + ["link", "add", "eth0", "type", "veth", "peer", "name", "vh%d" % i,
                         "netns", self.bridge_ns])
                _sh(br + ["link", "set", "vh%d" % i, "master", "br0"])
                _sh(br + ["link", "set", "vh%d" % i, "up"])
                _sh(h + ["addr", "add", "%s/24" % self.addr(i), "dev", "eth0"])
                _sh(h + ["link", "set", "eth0", "multicast", "on"])
                _sh(h + ["link", "set", "eth0", "up"])
                _sh(h + ["link", "set", "lo", "up"])
                _sh(h + ["route", "add", "224.0.0.0/4", "dev", "eth0"])
                os.makedirs(self.hostdir(i), exist_ok=True)
            if self.avahi:
                for i in range(self.n):
                    self.start_avahi(i)
                for i in range(self.n):
                    self.wait_avahi(i)
            self._up = True
            self.log("netns: %d hosts on 10.77.%d.0/24 (prefix %s, avahi %s)" %
                     (self.n, self.subnet, self.prefix, "yes" if self.avahi else "no"))
        except BaseException:
            self.teardown()
            raise
        return self

    def start_avahi(self, host):
        """A private /run, a system bus and avahi-daemon inside the host's namespace."""
        i = self._index(host)
        d = self.hostdir(i)
        for sub in ("run", "run/dbus", "run/avahi-daemon"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        conf = os.path.join(d, "avahi-daemon.conf")
        with open(conf, "w") as f:
            f.write(AVAHI_CONF.format(host=self.hostname(i)))
        pidfile = os.path.join(d, "dbus.pid")
        script = ("set -e; mount --bind {run} /run; "
                  "dbus-daemon --system --fork --print-pid > {pidfile}; "
                  "exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {conf}").format(
                      run=os.path.join(d, "run"), pidfile=pidfile, conf=conf)
        logf = open(os.path.join(d, "avahi-daemon.log"), "w")
        p = subprocess.Popen([IP, "netns", "exec", self.ns(i), "unshare", "-m",
                              "--propagation", "private", "sh", "-c", script],
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        logf.close()
        self._procs.append(p)
        self._avahi[i] = p
        # dbus-daemon --fork returns once its socket is up and the pid written.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    pid = int(f.read().split()[0])
                self._pids.append((pid, self.ns(i)))
                return
            except (OSError, ValueError, IndexError):
                pass
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise NetnsError("dbus-daemon did not start in %s (see %s)" %
                         (self.ns(i), os.path.join(d, "avahi-daemon.log")))

    def wait_avahi(self, host, timeout=15):
        """Until the host's avahi-daemon answers on its bus (server state RUNNING = 2)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = subprocess.run(["dbus-send", "--system", "--print-reply",
                                "--dest=org.freedesktop.Avahi", "/",
                                "org.freedesktop.Avahi.Server.GetState"],
                               env=self.env(host), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=10)
            last = r.stdout.strip()
            if r.returncode == 0 and re.search(r"int32 2\b", r.stdout):
                return
            time.sleep(0.1)
        raise NetnsError("avahi-daemon in %s not running: %s" % (self.ns(host), last))

    def avahi_pid(self, host):
        """PID of the avahi-daemon this object started in host, None when it is not running."""
        p = self._avahi.get(self._index(host))
        return p.pid if p is not None and p.poll() is None else None

    def stop_avahi(self, host, timeout=10):
        """Stop host's avahi-daemon gracefully: SIGTERM to its PID alone (it withdraws its
        records first, i.e. sends mDNS goodbye packets), SIGKILL after timeout. The host's
        dbus-daemon keeps running, so clients on that bus see the daemon leave and can wait for
        it to come back (start_avahi_daemon). Only a daemon this object started and that still
        lives in host's namespace is signalled. Returns its exit status (None: none running)."""
        i = self._index(host)
        p = self._avahi.get(i)
        if p is None or p.poll() is not None:
            return None
        if _pid_netns_inode(p.pid) != _ns_inode(self.ns(i)):
            raise NetnsError("pid %d is not in %s: not stopped" % (p.pid, self.ns(i)))
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
        self.log("netns: avahi-daemon pid %d in %s stopped (%s)" % (p.pid, self.ns(i),
                                                                   p.returncode))
        return p.returncode

    def start_avahi_daemon(self, host, wait=True, timeout=15):
        """Start avahi-daemon again in host after stop_avahi(): same private /run (bind mount
        in a new mount namespace), same config, same dbus-daemon. Waits until it runs unless
        wait is False. Returns the Popen (its pid is avahi-daemon's; stopped at teardown)."""
        i = self._index(host)
        if not self.avahi:
            raise NetnsError("hosts made without avahi")
        if self.avahi_pid(i) is not None:
            raise NetnsError("avahi-daemon already runs in %s" % self.ns(i))
        d = self.hostdir(i)
        conf = os.path.join(d, "avahi-daemon.conf")
        script = ("set -e; mount --bind {run} /run; "
                  "exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {conf}").format(
                      run=os.path.join(d, "run"), conf=conf)
        logf = open(os.path.join(d, "avahi-daemon.log"), "a")
        p = subprocess.Popen([IP, "netns", "exec", self.ns(i), "unshare", "-m",
                              "--propagation", "private", "sh", "-c", script],
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        logf.close()
        self._procs.append(p)
        self._avahi[i] = p
        if wait:
            self.wait_avahi(i, timeout)
        self.log("netns: avahi-daemon pid %d in %s started again" % (p.pid, self.ns(i)))
        return p

    # ---- run -----------------------------------------------------------------------------
    def _argv(self, host, argv):
        return [IP, "netns", "exec", self.ns(host)] + [str(a) for a in argv]

    def run(self, host, argv, env=None, timeout=60, check=False, input=None):
        """Run argv to completion inside host; returns CompletedProcess (text, captured)."""
        return subprocess.run(self._argv(host, argv), env=self.env(host, env), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, check=check)

    def spawn(self, host, argv, env=None, stdout=None, stderr=None, **kw):
        """Start argv in the background inside host (its own session: killed, with its
        children, at teardown). `ip netns exec` execs argv, so p.pid is argv's pid."""
        p = subprocess.Popen(self._argv(host, argv), env=self.env(host, env),
                             stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             start_new_session=True, **kw)
        self._procs.append(p)
        return p

    # ---- links ---------------------------------------------------------------------------
    def shape(self, host, rate, burst="64kb", latency="50ms"):
        """Shape the host's uplink: `tc qdisc replace dev eth0 root tbf rate RATE burst BURST
        latency LATENCY` inside its namespace (egress of eth0; tbf is the one shaper this kind
        of kernel has). rate None or "none" removes any shaping. Gone with the namespace."""
        argv = [IP, "netns", "exec", self.ns(host), TC, "qdisc"]
        if rate in (None, "none"):
            _sh(argv + ["del", "dev", "eth0", "root"], check=False)
            return
        _sh(argv + ["replace", "dev", "eth0", "root", "tbf", "rate", str(rate), "burst",
                    str(burst), "latency", str(latency)])

    def link_stats(self, host, dev="eth0"):
        """{"tx_bytes", "rx_bytes", "tx_packets", "rx_packets"} of dev inside the host's
        namespace (`ip -s -j link`): the kernel's own count of what went over the wire."""
        r = _sh([IP, "-n", self.ns(host), "-s", "-j", "link", "show", "dev", dev])
        st = json.loads(r.stdout)[0]["stats64"]
        return {"tx_bytes": st["tx"]["bytes"], "rx_bytes": st["rx"]["bytes"],
                "tx_packets": st["tx"]["packets"], "rx_packets": st["rx"]["packets"]}

    # ---- tear down -----------------------------------------------------------------------
    def _ours(self, pid):
        ino = _pid_netns_inode(pid)
        return ino is not None and ino in {_ns_inode(ns) for ns in self._namespaces}

    def stop(self, p, timeout=5):
        """SIGTERM a process from spawn() (its session too), SIGKILL after timeout."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                p.wait(5)
        return p.returncode

    def teardown(self):
        if self._torn_down:
            return
        self._torn_down = True
        for p in reversed(self._procs):
            try:
                self.stop(p, timeout=3)
            except Exception as e:  # keep tearing down
                sys.stderr.write("netns: stopping %d: %s\n" % (p.pid, e))
        for pid, ns in self._pids:
            if _alive(pid) and _pid_netns_inode(pid) == _ns_inode(ns):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        while any(_alive(pid) for pid, _ in self._pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid, ns in self._pids:
            if _alive(pid) and _pid_netns_inode(pid) == _ns_inode(ns):
                os.kill(pid, signal.SIGKILL)
        # Anything still inside our namespaces was started by us (they are ours alone).
        for ns in self._namespaces:
            r = _sh([IP, "netns", "pids", ns], check=False)
            for tok in r.stdout.split():
                if tok.isdigit() and _pid_netns_inode(int(tok)) == _ns_inode(ns):
                    sys.stderr.write("netns: killing leftover pid %s in %s\n" % (tok, ns))
                    try:
                        os.kill(int(tok), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for ns in reversed(self._namespaces):
            for _ in range(20):
                if _sh([IP, "netns", "del", ns], check=False).returncode == 0 or \
                        not os.path.exists("/run/netns/" + ns):
                    break
                time.sleep(0.1)
            else:
                sys.stderr.write("netns: could not delete %s\n" % ns)
        self._namespaces = []
        if self._own_workdir and not os.environ.get("CRATECAST_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)


def cleanup_stale(log=print):
    """Delete namespaces named cc<pid>-* whose run (pid) is gone, killing what runs in them."""
    r = _sh([IP, "netns", "list"], check=False)
    n = 0
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(r"cc(\d+)-(?:br|h\d+)", name)
        if not m or _alive(int(m.group(1))):
            continue
        ino = _ns_inode(name)
        for tok in _sh([IP, "netns", "pids", name], check=False).stdout.split():
            if tok.isdigit() and _pid_netns_inode(int(tok)) == ino:
                try:
                    os.kill(int(tok), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _sh([IP, "netns", "del", name], check=False)
        log("deleted %s" % name)
        n += 1
    return n


def _main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "exec"):
        s = sub.add_parser(name)
        s.add_argument("--hosts", type=int, default=3)
        s.add_argument("--avahi", action="store_true")
        if name == "exec":
            s.add_argument("--host", type=int, default=0)
        s.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("cleanup")
    a = ap.parse_args(argv)
    why = available()
    if why:
        print("netns: skipped: %s" % why, file=sys.stderr)
        return SKIP
    if a.cmd == "cleanup":
        cleanup_stale()
        return 0
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("a command is needed after --")
    if a.avahi and avahi_available():
        print("netns: skipped: %s" % avahi_available(), file=sys.stderr)
        return SKIP
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with Hosts(a.hosts, avahi=a.avahi, log=lambda m: print(m, file=sys.stderr)) as hosts:
        if a.cmd == "run":
            env = dict(os.environ, CC_NETNS_JSON=json.dumps(hosts.describe()))
            return subprocess.run(cmd, env=env).returncode
        return subprocess.run(hosts._argv(a.host, cmd), env=hosts.env(a.host)).returncode


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
