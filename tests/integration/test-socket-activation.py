#!/usr/bin/python3
"""Socket activation (systemd's sd_listen_fds protocol), without a running systemd.

`systemd-socket-activate` (Debian's systemd package) plays cratecast.socket: it listens on the
Cargo port and starts `cratecast agent` only when the first connection arrives, handing the
listening socket over (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES). Checks:
  - nothing runs the agent before a request; real Cargo's first request starts it and
    generate-lockfile + fetch succeed through the handed-over socket; the agent says it uses it;
  - the port stays the socket's: the agent was given a different --listen and still serves
    Cargo on the socket (and tells Cargo that address in config.json);
  - after the agent is stopped, the next request starts a new one on the same store, which
    serves the crates it already holds (upstream stopped);
  - two sockets named cargo and peer (FileDescriptorName=) go to their sides;
  - LISTEN_FDS naming something that is not a listening socket: one error line, exit 1.
"""

import json
import os
import shutil
import socket
import subprocess
import time

import harness


def activator(t, port, store, upstream, extra_listen=(), names=None, listen_arg=None):
    """systemd-socket-activate on 127.0.0.1:port running the agent; returns a harness.Proc."""
    logpath = t.path("activate-%d.log" % len(t.procs))
    cmd = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port]
    for l in extra_listen:
        cmd += ["-l", l]
    if names:
        cmd += ["--fdname", names]
    cmd += ["--", t.cratecast, "agent", "--store", store, "--upstream", upstream, "--no-mdns",
            "--no-import", "--listen", listen_arg or "127.0.0.1:%d" % port]
    if not extra_listen:
        cmd += ["--peer-listen", "off"]
    else:
        cmd += ["--peer-listen", extra_listen[0]]
    outf = open(logpath, "wb")
    env = dict(os.environ)
    env.setdefault("XDG_CACHE_HOME", t.path("xdg-cache"))
    p = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=env)
    outf.close()
    pr = harness.Proc("activate", p, logpath, port)
    t.procs.append(pr)
    deadline = time.time() + 10
    while time.time() < deadline:  # listening (by the activator) before anything connects
        try:
            with open("/proc/net/tcp") as f:
                if (":%04X 00000000:0000 0A" % port) in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.05)
    return pr


def agent_running(pr):
    """The activator execs the agent in its own process: its command line says which."""
    try:
        with open("/proc/%d/cmdline" % pr.pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return len(argv) > 1 and argv[1] == b"agent"


def test(t):
    if shutil.which("systemd-socket-activate") is None:
        raise harness.Skip("systemd-socket-activate not installed (Debian package systemd)")
    up = t.start_upstream()
    store = t.fresh_dir("store")
    port = harness.free_port()
    pr = activator(t, port, store, up.url, listen_arg="127.0.0.1:%d" % harness.free_port())
    time.sleep(0.3)
    t.check(pr.alive() and not agent_running(pr),
            "the agent runs before any request (or the activator died):\n%s" % pr.tail())

    # the first request (Cargo's) starts the agent on the handed-over socket
    url = "sparse+http://127.0.0.1:%d/index/" % port
    home = t.cargo_home(url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.check_app_lock(proj)
    t.cargo(["fetch"], proj, home)
    t.check(agent_running(pr), "no agent after Cargo's requests:\n%s" % pr.tail())
    t.check("handed over by the service manager" in pr.tail(),
            "the agent does not say it uses the handed-over socket:\n%s" % pr.tail())
    st, _, body = harness.http_get(port, "/index/config.json")
    dl = json.loads(body).get("dl", "")
    t.check(dl.startswith("http://127.0.0.1:%d/" % port),
            "config.json's dl %r is not the socket's address (port %d)" % (dl, port))
    st, _, body = harness.http_get(port, "/-/status")
    crates = json.loads(body).get("store", {}).get("crates", 0)
    t.check(crates > 0, "status shows %r crates after the fetch" % crates)

    # stopped: the next request starts a new agent on the same store, upstream gone
    t.check(pr.stop() == 0, "the activated agent did not exit 0 on SIGTERM:\n%s" % pr.tail())
    up.stop()
    pr2 = activator(t, port, store, "none")
    home2 = t.cargo_home(url)
    shutil.copy(os.path.join(proj, "Cargo.lock"), os.path.join(proj, "Cargo.lock.keep"))
    shutil.rmtree(os.path.join(home, "registry"), ignore_errors=True)
    t.cargo(["fetch"], proj, home2)
    t.check(agent_running(pr2), "no agent after the second start:\n%s" % pr2.tail())
    pr2.stop()

    # two named sockets: cargo and peer
    port3, peer3 = harness.free_port(), harness.free_port()
    pr3 = activator(t, port3, t.fresh_dir("store"), "none",
                    extra_listen=["127.0.0.1:%d" % peer3], names="cargo:peer",
                    listen_arg="127.0.0.1:%d" % harness.free_port())
    st, _, body = harness.http_get(port3, "/-/status")
    t.check(st == 200, "Cargo side on the 'cargo' socket answered %d" % st)
    s = socket.create_connection(("127.0.0.1", peer3), timeout=5)
    s.sendall(b"GET /peer/1/hello?nonce=" + b"00" * 32 + b" HTTP/1.0\r\n\r\n")
    reply = s.recv(64)
    s.close()
    t.check(reply.startswith(b"HTTP/1.") and b" 200" in reply[:16],
            "the peer side on the 'peer' socket answered %r" % reply[:40])
    pr3.stop()

    # LISTEN_FDS for this process, but fd 3 is not a listening socket
    env = dict(os.environ, LISTEN_FDS="1", XDG_CACHE_HOME=t.path("xdg-cache"))
    script = ("import os,sys; os.environ['LISTEN_PID']=str(os.getpid()); "
              "r,w=os.pipe(); os.dup2(r,3); os.execv(sys.argv[1], sys.argv[1:])")
    r = subprocess.run(["python3", "-c", script, t.cratecast, "agent", "--store",
                        t.fresh_dir("store"), "--upstream", "none", "--no-mdns", "--no-import",
                        "--peer-listen", "off"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30, env=env, pass_fds=())
    out = r.stdout.decode(errors="replace")
    t.check(r.returncode == 1, "a bad LISTEN_FDS: exit %d, expected 1:\n%s" % (r.returncode, out))
    t.check(out.startswith("error: ") and "LISTEN_FDS" in out,
            "a bad LISTEN_FDS: no error line naming it:\n%s" % out)


if __name__ == "__main__":
    harness.main(test)
