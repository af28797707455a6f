#!/usr/bin/python3
"""The command line, as a user meets it.

  - every command's --help (exit 0) names each of its options; `cratecast help CMD` prints the
    same; -V/--version print the version; `help --man` is a man page;
  - every bad flag, address, URL or value is one "error: ..." line on stderr, then only
    "help: ..." lines, and exit status 2; an unknown option's help: line points at --help;
  - `cargo-config` prints the [source] snippet; `--write` adds it to CARGO_HOME/config.toml,
    says so when it is already there, and refuses a file that replaces crates-io otherwise
    (setup and cargo-config --write/--remove in depth: test-setup.py; gc: test-gc.py);
  - `agent --config FILE` applies the file (command line wins); a bad key or syntax is an error
    naming the file and line;
  - `status` with no agent listening: one error line, a help: line saying how to start the agent,
    exit 1;
  - `status` (human) on two agents that shared crates: each says where Cargo is served, the
    discovery backend and key id, names its peers (address, short id) with crates and bytes both
    ways; the holder shows the crates and bytes it sent to peers (> 0), in kB/MB;
  - `verify` finds a damaged and a missing blob, quarantines the damaged one, exits 1; then a
    second verify is clean;
  - `id` prints the same key for a store every time.
"""

import json
import os
import subprocess

import harness


def run(t, args, env=None, timeout=30):
    r = subprocess.run([t.cratecast] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def bad(t, args, word):
    """A usage error: exit 2, one "error: " line mentioning word, then only "help: " lines.
    Returns the help: lines."""
    rc, out, err = run(t, args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    t.check(rc == 2, "%s: exit %d, expected 2 (stderr %r)" % (args, rc, err))
    t.check(len(lines) >= 1 and lines[0].startswith("error: ") and word in lines[0],
            "%s: expected an 'error: ' line mentioning %r on stderr, got %r" % (args, word, err))
    t.check(all(ln.startswith("help: ") for ln in lines[1:]),
            "%s: lines after the error that are not help: lines: %r" % (args, err))
    t.check(out == "", "%s: printed on stdout: %r" % (args, out))
    return lines[1:]


# The contract (docs/operations.md): each command and every option its --help must explain.
COMMANDS = {
    "agent": ["--store", "--listen", "--peer-listen", "--upstream", "--peer", "--no-mdns",
              "--import", "--no-import", "--trust", "--trust-key", "--network-key",
              "--offline-index", "--index-ttl", "--upload-slots", "--max-size", "--config"],
    "status": ["--json", "--agent"],
    "why": ["CRATE", "--agent", "--json"],
    "check": ["PATH", "--agent", "--room", "--json"],
    "prefetch": ["PATH", "--agent"],
    "setup": ["--undo", "--dry-run", "--listen", "--cargo-home", "--no-service"],
    "cargo-config": ["--write", "--remove", "--dry-run", "--listen", "--cargo-home"],
    "import-cargo": ["CARGO_HOME", "--store"],
    "verify": ["--store"],
    "gc": ["--max-size", "--store", "--keep-days", "--config"],
    "id": ["--store"],
}


def help_and_version(t):
    rc, top, err = run(t, ["--help"])
    t.check(rc == 0 and err == "", "cratecast --help: %d %r" % (rc, err))
    for cmd, opts in COMMANDS.items():
        t.check(("  %s " % cmd) in top, "cratecast --help does not list %s" % cmd)
        rc, out, err = run(t, [cmd, "--help"])
        t.check(rc == 0 and err == "", "%s --help: exit %d, stderr %r" % (cmd, rc, err))
        t.check(("Usage: cratecast %s" % cmd) in out, "%s --help has no usage line" % cmd)
        for o in opts + ["--help"]:
            t.check(o in out, "%s --help does not mention %s:\n%s" % (cmd, o, out))
        # each option is on a line of its own, with its meaning beside or below it
        for o in opts:
            t.check(any(ln.strip().startswith(o + " ") or ln.strip() == o
                        for ln in out.splitlines()), "%s --help: no row for %s" % (cmd, o))
        rc2, out2, err2 = run(t, ["help", cmd])
        t.check(rc2 == 0 and out2 == out, "`help %s` differs from `%s --help`" % (cmd, cmd))
        rc3, out3, _ = run(t, [cmd, "-h"])
        t.check(rc3 == 0 and out3 == out, "`%s -h` differs from `%s --help`" % (cmd, cmd))
    _, out, _ = run(t, ["agent", "--help"])
    for d in ("[default: 127.0.0.1:7878]", "[default: 0.0.0.0:7879]",
              "[default: https://index.crates.io/]"):
        t.check(d in out, "agent --help does not give the default %s" % d)
    for args in (["-V"], ["--version"]):
        rc, out, err = run(t, args)
        t.check(rc == 0 and out.startswith("cratecast ") and out.strip().split()[1][0].isdigit(),
                "%s: %d %r %r" % (args, rc, out, err))
    rc, out, _ = run(t, ["help", "--man"])
    t.check(rc == 0 and out.startswith(".\\\"") and ".TH CRATECAST 1" in out and
            all(("\n.SS \"%s\"\n" % c.replace("-", "\\-")) in out for c in COMMANDS),
            "help --man: %d %r" % (rc, out[:300]))
    page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "doc",
                        "cratecast.1")
    t.check(not os.path.exists(page) or open(page).read() == out,
            "doc/cratecast.1 differs from `cratecast help --man`: run scripts/gen-man.sh")
    rc, _, err = run(t, ["help", "frobnicate"])
    t.check(rc == 2 and err.startswith("error: ") and "frobnicate" in err,
            "help frobnicate: %d %r" % (rc, err))
    # no command: a usage error that lists the commands
    rc, _, err = run(t, [])
    t.check(rc == 2 and err.startswith("error: ") and "Usage: cratecast" in err and
            "agent, status" in err, "no command: %d %r" % (rc, err))


def status_text(t, ag):
    """`cratecast status` (human) and `status --json` of ag: (text, document)."""
    rc, out, err = run(t, ["status", "--agent", ag.url])
    t.check(rc == 0 and err == "", "status: exit %d, stderr %r" % (rc, err))
    rc, js, _ = run(t, ["status", "--json", "--agent", ag.url])
    t.check(rc == 0, "status --json: exit %d" % rc)
    return out, json.loads(js)


def human_bytes(n):
    """Bytes as the status page and `cratecast status` write them (agent/status_page.c)."""
    units, v, u = ["B", "kB", "MB", "GB", "TB"], float(n), 0
    while v >= 1000 and u < 4:
        v /= 1000
        u += 1
    if u == 0:
        return "%d B" % n
    return "%.*f %s" % (2 if v < 10 else 1 if v < 100 else 0, v, units[u])


def status_two_agents(t, a):
    """A holds the project's crates; B (no upstream, --peer A) fetches them through A. The human
    status of each says what its JSON says: where Cargo is served, the discovery backend and key
    id, each peer (address, short id) with the crates and bytes both ways, and on A the crates
    and bytes sent to peers."""
    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    key_a = t.agent_id(a)
    t.wait_peer(b, key=key_a, pred=lambda e: e.get("crates", 0) > 0, what="B lists A")
    home = t.cargo_home(b.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.cargo(["fetch"], proj, home)
    t.wait_status(a, lambda s: harness.counter(s, "bytes_to_peers") > 0, "A counts bytes to peers")
    for name, ag in (("A", a), ("B", b)):
        out, doc = status_text(t, ag)
        harness.log("status of %s:\n%s" % (name, out))
        c = doc["counters"]
        want = ["cargo:     served at http://%s/" % doc["listen"],
                "peers via: mDNS off",  # the harness starts agents with --no-mdns
                "key id %s" % doc["key_id"],
                "to Cargo:  %d answer" % c["served"],
                "to peers:  %d crate" % c["served_to_peers"],
                "%s sent" % human_bytes(c["bytes_to_peers"]),
                "%s from peers" % human_bytes(c["bytes_from_peers"]),
                "peers:     %d" % len(doc["peers"])]
        for p in doc["peers"]:
            want.append("%s  %s  %s  %s" % (p["addr"], (p["id"] or "")[:8] or "(no key)",
                                            p["via"], p["state"]))
            want.append("received %d crate" % p["received"]["crates"])
            want.append("sent %d crate" % p["sent"]["crates"])
        for w in want:
            t.check(w in out, "status of %s does not show %r:\n%s" % (name, w, out))
        t.check("MiB" not in out, "status of %s mixes byte units:\n%s" % (name, out))
        if name == "A":
            t.check(c["served_to_peers"] > 0 and c["bytes_to_peers"] > 0,
                    "A sent nothing to peers: %r" % c)
            t.check(human_bytes(c["bytes_to_peers"]) != "0 B", "A's bytes to peers: 0")
        else:
            t.check(key_a[:8] in out and a.peer_addr in out,
                    "B's status does not name A (%s, %s):\n%s" % (a.peer_addr, key_a[:8], out))
            t.check(c["from_peers"] > 0 and "%d from peers" % c["from_peers"] in out,
                    "B's status: crates from peers %r:\n%s" % (c["from_peers"], out))
    b.stop()


def test(t):
    store = t.fresh_dir("store")
    for args, word in [
            (["agent", "--listen", "nonsense"], "--listen"),
            (["agent", "--listen", "127.0.0.1:99999"], "--listen"),
            (["agent", "--listen", "127.0.0.1:"], "--listen"),
            (["agent", "--peer-listen", "x:y"], "--peer-listen"),
            (["agent", "--upstream", "ftp://example.invalid/"], "--upstream"),
            (["agent", "--peer", "nohost"], "--peer"),
            (["agent", "--trust", "maybe"], "--trust"),
            (["agent", "--trust", "keys"], "--trust-key"),
            (["agent", "--trust-key", "short"], "--trust-key"),
            (["agent", "--offline-index", "some"], "--offline-index"),
            (["agent", "--index-ttl", "-1"], "--index-ttl"),
            (["agent", "--frobnicate"], "--frobnicate"),
            (["agent", "--store"], "--store"),
            (["agent", "--no-mdns=yes"], "--no-mdns"),
            (["agent", "stray"], "stray"),
            (["why"], "CRATE"),
            (["why", "Not A Crate"], "crate name"),
            (["why", "serde", "tokio"], "tokio"),
            (["verify", "--store"], "--store"),
            (["id", "extra"], "extra"),
            (["check", "--bogus"], "--bogus"),
            (["prefetch", "--agent", "ftp://x"], "--agent"),
            (["import-cargo", "a", "b"], "b"),
            (["status", "--agent", "nohttp"], "--agent"),
            (["-x"], "-x"),
            (["agent", "--network-key", "/dev/null"], "network-key"),
            (["agent", "--config", "/nonexistent/cratecast.toml"], "/nonexistent"),
            (["frobnicate"], "frobnicate"),
            (["status", "--bogus"], "--bogus"),
            (["cargo-config", "--listen", "nope"], "--listen"),
            (["cargo-config", "--write", "--remove"], "--remove"),
            (["setup", "--listen", "nope"], "--listen"),
            (["setup", "extra"], "extra"),
            (["agent", "--max-size", "0"], "--max-size"),
            (["agent", "--max-size", "lots"], "--max-size"),
            (["gc", "--max-size", "20X"], "--max-size"),
            (["gc", "--keep-days", "x", "--max-size", "1G"], "--keep-days"),
            (["gc", "--store", store], "no size")]:
        bad(t, args, word)
    # an unknown option: help: names the near one and points at --help
    helps = bad(t, ["agent", "--lsiten", "127.0.0.1:1"], "--lsiten")
    t.check(any("--listen" in h for h in helps) and any("cratecast agent --help" in h
                                                         for h in helps),
            "agent --lsiten: the help: lines %r name neither --listen nor --help" % helps)
    for cmd in COMMANDS:
        helps = bad(t, [cmd, "--frobnicate"], "--frobnicate")
        t.check(any(("cratecast %s --help" % cmd) in h for h in helps),
                "%s --frobnicate: no help: line pointing at --help: %r" % (cmd, helps))
    # a bad value: help: gives the option's meaning and default
    helps = bad(t, ["agent", "--upload-slots", "0"], "--upload-slots")
    t.check(any("[default: 8]" in h for h in helps), "--upload-slots 0: %r" % helps)
    helps = bad(t, ["agent", "--max-size", "20X"], "--max-size")
    t.check(any("[default: no limit]" in h for h in helps), "--max-size 20X: %r" % helps)
    help_and_version(t)

    # cargo-config
    rc, out, _ = run(t, ["cargo-config", "--listen", "127.0.0.1:7999"])
    t.check(rc == 0 and 'replace-with = "cratecast"' in out and
            'registry = "sparse+http://127.0.0.1:7999/index/"' in out,
            "cargo-config printed %r" % out)
    home = t.fresh_dir("cargo-home")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[net]\nretry = 3\n')
    rc, out, err = run(t, ["cargo-config", "--write", "--cargo-home", home])
    text = open(os.path.join(home, "config.toml")).read()
    t.check(rc == 0 and text.startswith("[net]\nretry = 3\n") and "[source.cratecast]" in text,
            "cargo-config --write gave %d %r %r; file now %r" % (rc, out, err, text))
    rc, out, _ = run(t, ["cargo-config", "--write", "--cargo-home", home])
    t.check(rc == 0 and "already" in out and open(os.path.join(home, "config.toml")).read()
            == text, "a second --write changed the file or did not say so: %r" % out)
    other = t.fresh_dir("cargo-home-other")
    with open(os.path.join(other, "config.toml"), "w") as f:
        f.write('[source.crates-io]\nreplace-with = "mirror"\n')
    rc, _, err = run(t, ["cargo-config", "--write", "--cargo-home", other])
    t.check(rc == 1 and err.startswith("error: ") and "crates-io" in err and "\nhelp: " in err,
            "--write over another replacement: %d %r" % (rc, err))

    # --config
    cfg = t.path("agent.toml")
    with open(cfg, "w") as f:
        f.write('# test\nupstream = "none"\nimport = false\nmdns = false\n'
                'peer-listen = "off"\nlisten = "127.0.0.1:1"\n')
    port = harness.free_port()
    ag = t.start_agent(store=store, no_import=False,
                       extra=("--config", cfg, "--listen", "127.0.0.1:%d" % port), port=port)
    s = ag.status()
    t.check(s.get("upstream", {}).get("state") == "none" and s.get("import") is None
            and s.get("mdns") == "off", "the config file was not applied: %r" % s)
    ag.stop()
    badcfg = t.path("bad.toml")
    with open(badcfg, "w") as f:
        f.write('listen = "127.0.0.1:7000"\nfrobnicate = 1\n')
    bad(t, ["agent", "--config", badcfg], "bad.toml:2")
    with open(badcfg, "w") as f:
        f.write('listen = "127.0.0.1:7000\n')
    bad(t, ["agent", "--config", badcfg], "bad.toml:1")

    # status, why, check with nobody listening: how to start the agent
    url = "http://127.0.0.1:%d" % harness.free_port()
    proj = t.fresh_dir("proj")
    with open(os.path.join(proj, "Cargo.lock"), "w") as f:
        f.write('version = 3\n\n[[package]]\nname = "serde"\nversion = "1.0.0"\n'
                'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
                'checksum = "%s"\n' % ("0" * 64))
    for args in (["status"], ["why", "serde"], ["check", proj]):
        rc, out, err = run(t, args + ["--agent", url])
        lines = err.strip().splitlines()
        t.check(rc == 1 and len(lines) >= 2 and lines[0].startswith("error: ") and
                "no agent" in lines[0] and url in lines[0] and
                all(ln.startswith("help: ") for ln in lines[1:]) and
                any("cratecast agent" in ln for ln in lines[1:]) and out == "",
                "%s without an agent: %d %r (expected one error line, then help: lines naming "
                "`cratecast agent`)" % (args, rc, err))

    # id is stable
    k1 = t.agent_id(store)
    k2 = t.agent_id(store)
    t.check(k1 == k2, "cratecast id changed: %s then %s" % (k1, k2))

    # status, read by a person, on two agents that shared crates; then verify on the first's store
    up, ag2, _ = t.warm_up("app", peer_listen=True)
    status_two_agents(t, ag2)
    ag2.stop()
    # verify: a store with a damaged and a missing blob
    blobs = t.store_blobs(ag2.store)
    t.check(len(blobs) >= 2, "the warm-up stored %d blobs" % len(blobs))
    names = sorted(blobs)
    with open(blobs[names[0]], "r+b") as f:
        f.write(b"\0garbage\0")
    os.unlink(blobs[names[1]])
    rc, out, err = run(t, ["verify", "--store", ag2.store])
    t.check(rc == 1 and "1 missing, 1 quarantined" in out, "verify: %d %r %r" % (rc, out, err))
    t.check(os.path.exists(os.path.join(ag2.store, "quarantine", names[0])),
            "the damaged blob is not in quarantine/")
    t.check(not os.path.exists(blobs[names[0]]), "the damaged blob is still under its name")
    rc, out, _ = run(t, ["verify", "--store", ag2.store])
    t.check(rc == 0 and "0 missing, 0 quarantined" in out, "second verify: %d %r" % (rc, out))
    t.check_store_invariant(ag2.store)


if __name__ == "__main__":
    harness.main(test)
