#!/usr/bin/python3
"""Peer benchmarks (driven by bench-peer.sh; not part of the test suite).

  bench_peer.py [--cratecast PATH] [--runs N] [--crates N] [--kb KB] [--static nginx|python]
                [--skip-fetch] [--skip-start] [--skip-mdns]

1. Fetch: `cargo fetch` of projects/bench (tests/bench/bench_registry.py: the integration
   fixture plus N synthetic crates), each run with a fresh CARGO_HOME and no Cargo.lock, from
     static      nginx serving the registry's files (python upstream.py when nginx is missing)
     peer        a fresh agent (empty store, --upstream none) whose only source is one peer
                 agent (--peer) that holds every crate, on the same host
     agent+static  a fresh agent whose upstream is the static server (the agent's own cost
                 without peers: same bytes, same hops, plain HTTP instead of the peer protocol)
   The fresh agents are started, and wait until they list the peer, before the clock starts.
2. Start-up: the time from spawning an agent N to
     - N's status listing its --peer O2 live (hello verified, manifest held): N can use O2;
     - O2 (which was not told about N) listing N live: it learns N from N's hello;
     - O1, started 1 s before N with --peer <N's address>, listing N live: O1's reconnect
       back-off is part of this time;
   polling the agents' /-/status every 50 ms. Then with mDNS alone: two hosts in network
   namespaces with their own dbus + avahi-daemon (tests/integration/netns.py, root only;
   reported as skipped otherwise); O on h0, then N on h1: N lists O, O lists N (by whatever
   path: N's hello comes first), O has found N by mDNS itself (its entry says via "mdns").

Everything runs on 127.0.0.1, in a temporary directory removed at the end (CRATECAST_KEEP=1
keeps it). Only processes this script started are stopped, by PID.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import bench_registry  # noqa: E402
import harness  # noqa: E402

POLL = 0.05


def stats(v):
    if not v:
        return "n/a"
    return "%.3f (%.3f-%.3f)" % (statistics.median(v), min(v), max(v))


def live(e):
    return e is not None and e.get("state", "live") == "live"


def start_static(t, kind):
    """nginx (or upstream.py) serving the bench registry; returns its index URL."""
    reg = t.registry
    if kind == "nginx":
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        port = harness.free_port()
        bench_registry.static_config(reg, "http://127.0.0.1:%d" % port)
        d = t.path("nginx")
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  types { application/json json; }
  client_body_temp_path %(d)s/body; proxy_temp_path %(d)s/proxy;
  fastcgi_temp_path %(d)s/fcgi; uwsgi_temp_path %(d)s/uwsgi; scgi_temp_path %(d)s/scgi;
  server { listen 127.0.0.1:%(port)d; root %(reg)s/static; etag on; }
}
""" % {"d": d, "port": port, "reg": reg})
        logf = open(os.path.join(d, "stderr"), "wb")
        p = subprocess.Popen([nginx, "-p", d, "-c", os.path.join(d, "nginx.conf"), "-g",
                              "daemon off;"], stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        logf.close()
        t.procs.append(harness.Proc("nginx", p, os.path.join(d, "stderr"), port))
        url = "http://127.0.0.1:%d/index/" % port
    else:
        up = t.start_upstream(dl_style="plain")
        url = up.url
        port = up.port
    path = "/index/config.json" if kind == "nginx" else "/config.json"
    deadline = time.time() + 10
    while True:
        try:
            if harness.http_get(port, path, timeout=1)[0] == 200:
                return url
        except OSError:
            pass
        if time.time() > deadline:
            raise harness.Failure("the static server did not answer")
        time.sleep(0.05)


def timed_fetch(t, registry_url):
    if not registry_url.startswith("sparse+"):
        registry_url = "sparse+" + registry_url
    home = t.cargo_home(registry_url)
    proj = t.project("bench")
    t0 = time.monotonic()
    t.cargo(["fetch"], proj, home)
    dt = time.monotonic() - t0
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(proj, ignore_errors=True)
    return dt


def bench_fetch(t, opts, results):
    up = t.start_upstream()
    static_kind = opts.static or ("nginx" if (shutil.which("nginx") or
                                              os.access("/usr/sbin/nginx", os.X_OK)) else "python")
    static_url = start_static(t, static_kind)
    results["static_kind"] = "nginx" if static_kind == "nginx" else "upstream.py"

    # the peer: warmed through upstream.py, then restarted with --upstream none
    a = t.start_agent(upstream=up.url, peer_listen=True)
    harness.log("warming the peer's store ...")
    timed_fetch(t, a.registry_url)
    n_crates = a.status()["store"]["crates"]
    a.stop()
    # the same crates in a second store, served by a member of a private mesh
    mesh_key = os.path.join(t.fresh_dir("key"), "mesh.key")
    subprocess.run([t.cratecast, "network-key", "new", mesh_key], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mesh_store = t.fresh_dir("store-mesh")
    shutil.rmtree(mesh_store)
    shutil.copytree(a.store, mesh_store, ignore=shutil.ignore_patterns("agent.lock"))
    a = t.start_agent(store=a.store, upstream=None, peer_listen=True, peer_port=a.peer_port)
    key_a = t.agent_id(a)
    am = t.start_agent(store=mesh_store, upstream=None, peer_listen=True,
                       extra=["--network-key", mesh_key])
    key_am = t.agent_id(am)
    up.stop()
    results["fetch_crates"] = n_crates
    results["fetch_bytes"] = a.status()["store"]["bytes"]

    rows = {"static": [], "peer": [], "peer-mesh": [], "agent+static": []}
    ready = []
    for i in range(opts.runs):
        harness.log("fetch run %d/%d" % (i + 1, opts.runs))
        rows["static"].append(timed_fetch(t, static_url))

        t0 = time.monotonic()
        n = t.start_agent(upstream=None, peers=[a])
        t.wait_peer(n, key=key_a, pred=lambda e: live(e) and e.get("crates", 0) >= n_crates,
                    what="the fresh agent lists the peer", timeout=30)
        ready.append(time.monotonic() - t0)
        rows["peer"].append(timed_fetch(t, n.registry_url))
        s = n.status()
        if harness.counter(s, "from_peers") <= 0:
            raise harness.Failure("the fresh agent fetched nothing from the peer: %s"
                                  % json.dumps(s))
        n.stop()
        shutil.rmtree(n.store, ignore_errors=True)

        nm = t.start_agent(upstream=None, peers=[am], extra=["--network-key", mesh_key])
        t.wait_peer(nm, key=key_am, pred=lambda e: live(e) and e.get("crates", 0) >= n_crates,
                    what="the fresh mesh member lists the mesh peer", timeout=30)
        rows["peer-mesh"].append(timed_fetch(t, nm.registry_url))
        if harness.counter(nm.status(), "from_peers") <= 0:
            raise harness.Failure("the fresh mesh member fetched nothing from its peer")
        nm.stop()
        shutil.rmtree(nm.store, ignore_errors=True)

        m = t.start_agent(upstream=static_url)
        rows["agent+static"].append(timed_fetch(t, m.registry_url))
        m.stop()
        shutil.rmtree(m.store, ignore_errors=True)
    results["fetch"] = rows
    results["fetch_ready"] = ready
    am.stop()
    a.stop()
    return a.store


def poll_until(checks, t0, timeout=60):
    """checks: {label: fn() -> bool}; polls every POLL s; returns {label: seconds since t0 or
    None}. A check that raises counts as not yet."""
    got = {k: None for k in checks}
    deadline = t0 + timeout
    while any(v is None for v in got.values()) and time.monotonic() < deadline:
        now = time.monotonic() - t0
        for k, fn in checks.items():
            if got[k] is None:
                try:
                    if fn():
                        got[k] = now
                except (OSError, ValueError, harness.Failure,
                        harness.http.client.HTTPException, subprocess.SubprocessError):
                    pass
        time.sleep(POLL)
    return got


def bench_start(t, opts, results, warm_store):
    """Start-up to 'listed', static peers.

    Each run: O1 (empty store) started 1 s earlier with --peer <N's address> (its first tries
    fail: N is not up yet); O2 (empty store) started earlier, knowing nothing. N (a copy of the
    warm store, so its manifest lists every crate) starts with --peer O2. Measured from N's
    spawn: N lists O2 live; O2 lists N live (it learns N from N's hello); O1 lists N live (its
    own retries, with back-off)."""
    out = {"sees": [], "seen_hello": [], "seen_retry": []}
    for i in range(opts.runs):
        n_store = t.fresh_dir("store-n")
        shutil.rmtree(n_store)
        shutil.copytree(warm_store, n_store)
        n_peer_port = harness.free_port()
        n_addr = "127.0.0.1:%d" % n_peer_port
        o1 = t.start_agent(upstream=None, peer_listen=True, peers=[n_addr])
        o2 = t.start_agent(upstream=None, peer_listen=True)
        key_o2 = t.agent_id(o2)
        time.sleep(1.0)  # O1's first attempt at N fails: a realistic "peer comes up later"
        n_port = harness.free_port()
        cmd = [t.cratecast, "agent", "--store", n_store, "--listen", "127.0.0.1:%d" % n_port,
               "--upstream", "none", "--no-mdns", "--no-import", "--peer-listen", n_addr,
               "--peer", o2.peer_addr]
        logpath = t.path("agent-n-%d.log" % i)
        logf = open(logpath, "wb")
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        logf.close()
        n = harness.Agent("agent", p, logpath, n_port)
        n.store = n_store
        n.peer_port = n_peer_port
        t.procs.append(n)
        got = poll_until({
            "sees": lambda: live(harness.peer_entry(n.status(), key=key_o2)),
            "seen_hello": lambda: live(harness.peer_entry(o2.status(), addr=n_addr)),
            "seen_retry": lambda: live(harness.peer_entry(o1.status(), addr=n_addr)),
        }, t0)
        if not n.alive():
            raise harness.Failure("agent N exited:\n%s" % n.tail())
        harness.log("start run %d: %s" % (i + 1, got))
        for k, v in got.items():
            if v is not None:
                out[k].append(v)
        for ag in (n, o1, o2):
            ag.stop()
        shutil.rmtree(n_store, ignore_errors=True)
    out["runs"] = opts.runs
    results["start_static"] = out


def bench_start_mdns(t, opts, results, warm_store):
    """The same with mDNS only: two hosts in network namespaces, each with its own dbus and
    avahi-daemon (tests/integration/netns.py); O runs on h0, then N (warm store) starts on h1.
    Statuses are read with curl inside each namespace (+~10-20 ms per poll)."""
    try:
        import netns
    except ImportError:
        results["start_mdns"] = "skipped: tests/integration/netns.py is missing"
        return
    why = netns.available() or netns.avahi_available()
    if why:
        results["start_mdns"] = "skipped: %s" % why
        return
    if not shutil.which("curl"):
        results["start_mdns"] = "skipped: no curl"
        return

    def status(hosts, h):
        r = hosts.run(h, ["curl", "-s", "--max-time", "1", "http://127.0.0.1:7878/-/status"],
                      timeout=5)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout else {}

    def lists(st, host_addr, via=None):
        return any(live(e) and str(e.get("addr", "")).startswith(host_addr + ":") and
                   (via is None or e.get("via") == via) for e in st.get("peers") or [])

    def agent(hosts, h, store, logpath):
        cmd = [t.cratecast, "agent", "--store", store, "--listen", "127.0.0.1:7878",
               "--peer-listen", "%s:7879" % hosts.addr(h), "--upstream", "none", "--no-import"]
        logf = open(logpath, "wb")
        p = hosts.spawn(h, cmd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        return p

    out = {"sees": [], "seen": [], "seen_mdns": [], "runs": opts.runs}
    wd = t.path("netns")
    os.makedirs(wd)
    with netns.Hosts(2, avahi=True, workdir=wd, log=harness.log) as hosts:
        for i in range(opts.runs):
            o_store = t.fresh_dir("store-o-mdns")
            o_log = t.path("agent-o-mdns-%d.log" % i)
            o = agent(hosts, 0, o_store, o_log)
            deadline = time.monotonic() + 20
            while not status(hosts, 0):
                if time.monotonic() > deadline or o.poll() is not None:
                    raise harness.Failure("agent O (mDNS) did not start:\n%s"
                                          % open(o_log, errors="replace").read()[-3000:])
                time.sleep(0.1)
            time.sleep(1.0)  # O's own announcement is established
            n_store = t.fresh_dir("store-n-mdns")
            shutil.rmtree(n_store)
            shutil.copytree(warm_store, n_store)
            n_log = t.path("agent-n-mdns-%d.log" % i)
            t0 = time.monotonic()
            n = agent(hosts, 1, n_store, n_log)
            got = poll_until({
                "sees": lambda: lists(status(hosts, 1), hosts.addr(0)),
                "seen": lambda: lists(status(hosts, 0), hosts.addr(1)),
                "seen_mdns": lambda: lists(status(hosts, 0), hosts.addr(1), via="mdns"),
            }, t0, timeout=30)
            harness.log("mDNS start run %d: %s" % (i + 1, got))
            for k in ("sees", "seen", "seen_mdns"):
                if got[k] is not None:
                    out[k].append(got[k])
            for p in (n, o):
                hosts.stop(p)
            if not out["sees"] and not out["seen"] and i == 0:
                with open(n_log, errors="replace") as f:
                    harness.log("agent N (mDNS) log:\n%s" % f.read()[-2000:])
            shutil.rmtree(n_store, ignore_errors=True)
    results["start_mdns"] = out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cratecast", default=os.environ.get("CRATECAST",
                                                          os.path.join(ROOT, "build",
                                                                       "cratecast")))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--crates", type=int, default=150)
    ap.add_argument("--kb", type=int, default=16)
    ap.add_argument("--static", choices=("nginx", "python"))
    ap.add_argument("--skip-fetch", action="store_true")
    ap.add_argument("--skip-start", action="store_true")
    ap.add_argument("--skip-mdns", action="store_true")
    opts = ap.parse_args(argv)

    t = harness.Test([sys.argv[0], opts.cratecast])
    os.chmod(t.tmp, 0o755)  # nginx's workers read the registry from here
    results = {}
    rc = 1
    try:
        t.need_agent()
        if not t.cargo_bin:
            raise harness.Failure("cargo not found")
        reg = t.path("registry")
        harness.log("generating the bench registry (%d synthetic crates of ~%d KB) ..."
                    % (opts.crates, opts.kb))
        t.manifest = bench_registry.generate(reg, opts.crates, opts.kb)
        t._reg = reg
        warm = None
        if not opts.skip_fetch or not opts.skip_start:
            if opts.skip_fetch:
                opts_runs, opts.runs = opts.runs, 1
                warm = bench_fetch(t, opts, {})
                opts.runs = opts_runs
            else:
                warm = bench_fetch(t, opts, results)
        if not opts.skip_start:
            bench_start(t, opts, results, warm)
            if opts.skip_mdns:
                results["start_mdns"] = "skipped (SKIP_MDNS)"
            else:
                bench_start_mdns(t, opts, results, warm)
        t.stop_all_checked()
        report(results, opts)
        rc = 0
    except harness.Failure as e:
        harness.log("bench failed: %s" % e)
        for p in t.procs:
            sys.stdout.write("---- %s (pid %d) log tail: %s\n%s\n" % (p.name, p.pid, p.log,
                                                                      p.tail()))
    finally:
        t.cleanup()
    return rc


def report(r, opts):
    print()
    print("host: %d cores; runs: %d; cratecast: %s" % (os.cpu_count(), opts.runs, opts.cratecast))
    if "fetch" in r:
        f = r["fetch"]
        print("cargo fetch of projects/bench: %d crate versions, %.1f MB; fresh CARGO_HOME, no "
              "Cargo.lock" % (r["fetch_crates"], r["fetch_bytes"] / 1e6))
        print("%-46s %24s" % ("source", "seconds: median (min-max)"))
        print("%-46s %24s" % ("static files (%s), Cargo direct" % r["static_kind"],
                              stats(f["static"])))
        print("%-46s %24s" % ("fresh agent <- 1 peer (peer protocol)", stats(f["peer"])))
        print("%-46s %24s" % ("same, both in a private mesh (--network-key)",
                              stats(f["peer-mesh"])))
        print("%-46s %24s" % ("fresh agent <- %s as its upstream" % r["static_kind"],
                              stats(f["agent+static"])))
        if f["peer"] and f["peer-mesh"]:
            print("mesh / open peer: %.2fx (medians; target <= 1.2x)"
                  % (statistics.median(f["peer-mesh"]) / statistics.median(f["peer"])))
        if f["static"] and f["peer"]:
            print("peer / static: %.2fx (medians)" % (statistics.median(f["peer"]) /
                                                      statistics.median(f["static"])))
        print("(fresh agent start -> peer listed with its manifest, before the clock: %s s)"
              % stats(r["fetch_ready"]))
    if "start_static" in r:
        s = r["start_static"]
        n = s["runs"]
        print()
        print("time from an agent's start until ... (polled every %d ms)" % (POLL * 1000))
        print("%-56s %24s" % ("", "seconds: median (min-max)"))
        print("%-56s %24s" % ("static: it lists its --peer live, with manifest (%d/%d)"
                              % (len(s["sees"]), n), stats(s["sees"])))
        print("%-56s %24s" % ("static: that peer lists it live (from hello) (%d/%d)"
                              % (len(s["seen_hello"]), n), stats(s["seen_hello"])))
        print("%-56s %24s" % ("static: a peer retrying its --peer lists it (%d/%d)"
                              % (len(s["seen_retry"]), n), stats(s["seen_retry"])))
    if "start_mdns" in r:
        m = r["start_mdns"]
        if isinstance(m, str):
            print("mDNS: %s" % m)
        else:
            print("%-56s %24s" % ("mDNS: it lists the other host live (%d/%d)"
                                  % (len(m["sees"]), m["runs"]), stats(m["sees"])))
            print("%-56s %24s" % ("mDNS: the other host lists it live (%d/%d)"
                                  % (len(m["seen"]), m["runs"]), stats(m["seen"])))
            print("%-56s %24s" % ("mDNS: ... and has found it by mDNS itself (%d/%d)"
                                  % (len(m["seen_mdns"]), m["runs"]), stats(m["seen_mdns"])))
            print("(the new agent's avahi-daemon already knows the running one, so it finds it "
                  "at once;\n the running one hears the newcomer's hello before its own "
                  "browse resolves the newcomer)")


if __name__ == "__main__":
    sys.exit(main())
