#!/usr/bin/python3
"""Startup errors, as a user meets them.

A real store is made once (upstream + agent + `cargo fetch` of projects/app, so it holds blobs),
then copied and damaged in one way per case. For each, `cratecast agent` (--no-mdns, --upstream
none, --peer-listen off unless the case is about it, a free --listen port) must:

  - exit with status 1: never abort (134, a libuv assertion), never run;
  - print exactly one error line on stderr, "error: ..." with the case's key phrase, and
    nothing else but "help: ..." lines; no "Assertion", no sanitizer report;
  - leave the store as it was: the same files and directories with the same modes, the same
    bytes in each (store.db, identity.key, every blob). agent.lock's bytes are not compared
    where the agent got as far as taking the lock (the busy ports): it holds the pid; beside a
    running agent, neither are store.db-shm's (SQLite's shared index, which readers mark).

Cases: store.db garbage; store.db of 0 bytes with blobs present; a store made by a newer
cratecast (PRAGMA user_version 99); --store naming a regular file; a file where blobs/ should
be (and, when not root, a store directory without write permission); identity.key mode 0644;
identity.key of the wrong size; a busy --listen port (help: names the process holding it, this
test's own, and --listen); a busy --peer-listen port; both sides on one port; a second agent on
a store whose agent runs (the first keeps serving, and import-cargo, verify, id and status keep
working beside it). Last, pairs of `cratecast import-cargo --store NEW` started at the same
moment on a new store: every process exits 0.
"""

import os
import shutil
import socket
import sqlite3
import stat
import subprocess

import harness

SANITIZER_MARKERS = ("Assertion", "AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def snapshot(path, skip_bytes=("agent.lock",)):
    """{relative path: (kind, mode, bytes)} of path and everything below it. The bytes of the
    files named in skip_bytes are left out (None)."""
    def entry(p, rel):
        st = os.lstat(p)
        if stat.S_ISDIR(st.st_mode):
            return ("dir", stat.S_IMODE(st.st_mode), None)
        data = None
        if os.path.basename(rel) not in skip_bytes:
            with open(p, "rb") as f:
                data = f.read()
        return ("file", stat.S_IMODE(st.st_mode), data)

    out = {".": entry(path, ".")}
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            for n in dirs + files:
                p = os.path.join(root, n)
                out[os.path.relpath(p, path)] = entry(p, os.path.relpath(p, path))
    return out


def describe_change(before, after):
    lines = []
    for k in sorted(set(before) | set(after)):
        a, b = before.get(k), after.get(k)
        if a == b:
            continue
        if a is None:
            lines.append("appeared: %s" % k)
        elif b is None:
            lines.append("vanished: %s" % k)
        elif a[:2] != b[:2]:
            lines.append("changed kind/mode: %s %s -> %s" % (k, a[:2], b[:2]))
        else:
            lines.append("changed bytes: %s (%d -> %d bytes)" % (k, len(a[2] or b""),
                                                                 len(b[2] or b"")))
    return "; ".join(lines)


def env_for(t):
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = t.path("xdg-cache")
    env["CARGO_HOME"] = t.path("no-cargo-home")
    return env


def agent_cmd(t, store, listen_port=None, peer_listen="off"):
    return [t.cratecast, "agent", "--store", store, "--no-mdns", "--upstream", "none",
            "--peer-listen", peer_listen, "--no-import",
            "--listen", "127.0.0.1:%d" % (listen_port or harness.free_port())]


def expect_refused(t, name, cmd, phrase, store, skip_bytes=("agent.lock",), help_expected=True,
                   help_phrases=()):
    """Run cmd; check exit 1, one error line with phrase, only help: lines besides (with each of
    help_phrases in one of them), no abort or sanitizer report, and store unchanged. Returns the
    error line."""
    before = snapshot(store, skip_bytes)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60, env=env_for(t))
    err = r.stderr.decode(errors="replace")
    out = r.stdout.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not ln.startswith("help: ")]
    helps = [ln for ln in lines if ln.startswith("help: ")]
    for marker in SANITIZER_MARKERS:
        t.check(marker not in err, "%s: %r on stderr:\n%s" % (name, marker, err))
    t.check(r.returncode == 1, "%s: exit status %d, expected 1 (134 is an abort)\nstderr: %s"
            % (name, r.returncode, err))
    t.check(len(errors) == 1, "%s: expected exactly one error line (and help: lines), got %r"
            % (name, lines))
    t.check(errors[0].startswith("error: ") and phrase in errors[0],
            "%s: the error line %r does not start with 'error: ' or lacks %r"
            % (name, errors[0], phrase))
    t.check(not help_expected or helps, "%s: no help: line after %r" % (name, errors[0]))
    for hp in help_phrases:
        t.check(any(hp in h for h in helps), "%s: no help: line mentions %r: %r"
                % (name, hp, helps))
    t.check("Input/output error" not in err, "%s: a bare I/O error: %r" % (name, err))
    t.check(out.strip() == "", "%s: printed on stdout: %r" % (name, out))
    after = snapshot(store, skip_bytes)
    t.check(before == after, "%s: the store changed: %s" % (name, describe_change(before, after)))
    harness.log("%s: exit 1, %s%s" % (name, errors[0],
                                       "".join("\n    " + h for h in helps)))
    return errors[0]


def copy_store(t, base, stem):
    dst = t.fresh_dir(stem)
    shutil.rmtree(dst)
    shutil.copytree(base, dst, symlinks=True)  # copies modes too
    return dst


def held_port():
    """A listening socket on 127.0.0.1 (kept open by the caller) and its port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s, s.getsockname()[1]


def run(t, args, timeout=60):
    r = subprocess.run([t.cratecast] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, env=env_for(t))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def test(t):
    # A real store with blobs, its agent stopped (so agent.lock is there, as it would be).
    up, ag, _ = t.warm_up("app")
    ag.stop()
    up.stop()
    base = ag.store
    blobs = t.check_store_invariant(base)
    t.check(len(blobs) >= 2, "the warm-up stored %d blobs" % len(blobs))
    for f in ("store.db", "identity.key", "agent.lock"):
        t.check(os.path.exists(os.path.join(base, f)), "the warm-up store has no %s" % f)
    t.check(not os.path.exists(os.path.join(base, "store.db-wal")),
            "store.db-wal left after the agent stopped")

    # store.db garbage
    s = copy_store(t, base, "garbage")
    with open(os.path.join(s, "store.db"), "r+b") as f:
        f.write(os.urandom(4096))
    expect_refused(t, "store.db garbage", agent_cmd(t, s), "store.db is not a SQLite database", s)

    # store.db of 0 bytes, blobs present
    s = copy_store(t, base, "empty")
    open(os.path.join(s, "store.db"), "wb").close()
    line = expect_refused(t, "store.db 0 bytes", agent_cmd(t, s), "store.db is empty (0 bytes)", s)
    t.check("blobs" in line, "the 0-byte refusal does not mention the blobs: %r" % line)

    # made by a newer cratecast
    s = copy_store(t, base, "newer")
    db = sqlite3.connect(os.path.join(s, "store.db"))
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    t.check(not os.path.exists(os.path.join(s, "store.db-wal")), "sqlite3 left a WAL file")
    expect_refused(t, "schema 99", agent_cmd(t, s),
                   "made by a newer cratecast (schema 99); this one knows schema 3", s)

    # --store is a regular file
    f = t.path("a-file")
    with open(f, "wb") as fh:
        fh.write(b"not a store\n")
    expect_refused(t, "--store is a file", agent_cmd(t, f), "is a file, not a directory", f)

    # a file where blobs/ should be (what root meets instead of a read-only directory)
    s = copy_store(t, base, "blobs-file")
    shutil.rmtree(os.path.join(s, "blobs"))
    with open(os.path.join(s, "blobs"), "wb") as fh:
        fh.write(b"in the way\n")
    expect_refused(t, "blobs/ is a file", agent_cmd(t, s), "blobs is a file, not a directory", s)

    # a store directory this user cannot write (root writes anyway: skipped)
    if os.geteuid() != 0:
        s = copy_store(t, base, "read-only")
        os.chmod(s, 0o555)
        try:
            expect_refused(t, "store not writable", agent_cmd(t, s), "is not writable", s)
        finally:
            os.chmod(s, 0o700)
    else:
        harness.log("store not writable: skipped (root writes anyway; the blobs/ case stands in)")

    # identity.key readable by others
    s = copy_store(t, base, "key-0644")
    key = os.path.join(s, "identity.key")
    os.chmod(key, 0o644)
    expect_refused(t, "identity.key 0644", agent_cmd(t, s),
                   "the identity key %s is readable by others (mode 0644): chmod 600 it" % key, s)
    # `cratecast id` says the same
    expect_refused(t, "id on identity.key 0644", [t.cratecast, "id", "--store", s],
                   "readable by others (mode 0644)", s)

    # identity.key of the wrong size
    s = copy_store(t, base, "key-size")
    key = os.path.join(s, "identity.key")
    with open(key, "wb") as fh:
        fh.write(os.urandom(10))
    os.chmod(key, 0o600)
    expect_refused(t, "identity.key 10 bytes", agent_cmd(t, s), "is 10 bytes, not 64", s)

    # a busy --listen port
    s = copy_store(t, base, "busy-listen")
    sock, port = held_port()
    try:
        expect_refused(t, "busy --listen", agent_cmd(t, s, listen_port=port),
                       "cannot serve Cargo: 127.0.0.1:%d is already in use" % port, s,
                       help_phrases=("process %d (" % os.getpid(), "--listen ADDR:PORT"))
    finally:
        sock.close()

    # a busy --peer-listen port
    s = copy_store(t, base, "busy-peer")
    sock, port = held_port()
    try:
        cargo_port = harness.free_port()
        while cargo_port == port:
            cargo_port = harness.free_port()
        expect_refused(t, "busy --peer-listen",
                       agent_cmd(t, s, listen_port=cargo_port,
                                 peer_listen="127.0.0.1:%d" % port),
                       "cannot serve peers: 127.0.0.1:%d is already in use" % port, s,
                       help_phrases=("process %d (" % os.getpid(), "--peer-listen off"))
    finally:
        sock.close()

    # both sides on one port: the agent is in its own way
    s = copy_store(t, base, "same-port")
    port = harness.free_port()
    expect_refused(t, "--listen = --peer-listen",
                   agent_cmd(t, s, listen_port=port, peer_listen="127.0.0.1:%d" % port),
                   "127.0.0.1:%d is already in use" % port, s,
                   help_phrases=("this agent listens there itself", "--peer-listen"))

    # a second agent on a store whose agent runs
    s = copy_store(t, base, "second")
    first = t.start_agent(store=s)
    expect_refused(t, "second agent", agent_cmd(t, s),
                   "another cratecast agent (pid %d) is using the store %s" % (first.pid, s), s,
                   skip_bytes=("store.db-shm",))  # SQLite's shared index: readers mark it
    t.check(first.alive(), "the first agent died when a second one was started")
    st, _, _ = harness.http_get(first.port, "/-/status", timeout=5)
    t.check(st == 200, "the first agent answers GET /-/status with %d after the second" % st)
    # the one-shot commands work beside it
    k = t.agent_id(s)
    rc, out, err = run(t, ["verify", "--store", s])
    t.check(rc == 0 and "0 missing, 0 quarantined" in out,
            "verify beside the agent: %d %r %r" % (rc, out, err))
    rc, out, err = run(t, ["import-cargo", "--store", s, t.fresh_dir("empty-cargo-home")])
    t.check(rc == 0, "import-cargo beside the agent: %d %r %r" % (rc, out, err))
    rc, out, err = run(t, ["status", "--agent", first.url])
    t.check(rc == 0, "status beside the agent: %d %r %r" % (rc, out, err))
    rc, out, err = run(t, ["id", "--store", s])
    t.check(rc == 0 and out.strip() == k, "id beside the agent: %d %r %r" % (rc, out, err))
    st, _, _ = harness.http_get(first.port, "/-/status", timeout=5)
    t.check(st == 200 and first.alive(), "the first agent stopped serving (%d)" % st)
    # once it stops, the store is free for the next agent
    first.stop()
    again = t.start_agent(store=s)
    again.status()
    again.stop()

    # two import-cargo at once on a new store: both exit 0, every time
    home = t.fresh_dir("cargo-home-empty")
    for i in range(20):
        new = os.path.join(t.path("new-stores"), "n%d" % i, "store")
        procs = [subprocess.Popen([t.cratecast, "import-cargo", "--store", new, home],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env_for(t)) for _ in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            t.check(p.returncode == 0, "pair %d: import-cargo --store NEW exited %d: %s%s"
                    % (i, p.returncode, out.decode(errors="replace"),
                       err.decode(errors="replace")))
        rc, out, err = run(t, ["verify", "--store", new])
        t.check(rc == 0, "pair %d: verify of the new store: %d %r %r" % (i, rc, out, err))
    harness.log("20 pairs of import-cargo on a new store: every process exited 0")


if __name__ == "__main__":
    harness.main(test)
