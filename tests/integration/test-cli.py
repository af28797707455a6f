#!/usr/bin/python3
"""The command line, as a user meets it.

  - every bad flag, address, URL or value is one clear line on stderr and exit status 2;
  - `cargo-config` prints the [source] snippet; `--write` adds it to CARGO_HOME/config.toml,
    says so when it is already there, and refuses a file that replaces crates-io otherwise;
  - `agent --config FILE` applies the file (command line wins); a bad key or syntax is an error
    naming the file and line;
  - `status` with no agent listening: one line, exit 1;
  - `verify` finds a damaged and a missing blob, quarantines the damaged one, exits 1; then a
    second verify is clean;
  - `id` prints the same key for a store every time.
"""

import os
import subprocess

import harness


def run(t, args, env=None, timeout=30):
    r = subprocess.run([t.cratecast] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def bad(t, args, word):
    rc, out, err = run(t, args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    t.check(rc == 2, "%s: exit %d, expected 2 (stderr %r)" % (args, rc, err))
    t.check(len(lines) == 1 and lines[0].startswith("cratecast: ") and word in lines[0],
            "%s: expected one line mentioning %r on stderr, got %r" % (args, word, err))


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
            (["agent", "--network-key", "/dev/null"], "network-key"),
            (["agent", "--config", "/nonexistent/cratecast.toml"], "/nonexistent"),
            (["frobnicate"], "frobnicate"),
            (["status", "--bogus"], "--bogus"),
            (["cargo-config", "--listen", "nope"], "--listen")]:
        bad(t, args, word)

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
    t.check(rc != 0 and "crates-io" in err, "--write over another replacement: %d %r" % (rc, err))

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

    # status with nobody listening
    rc, _, err = run(t, ["status", "--agent", "http://127.0.0.1:%d" % harness.free_port()])
    lines = err.strip().splitlines()
    t.check(rc == 1 and len(lines) >= 1 and "no agent" in lines[0] and
            all(ln.startswith("help:") for ln in lines[1:]),
            "status without an agent: %d %r (expected one error line, then help: lines)"
            % (rc, err))

    # id is stable
    k1 = t.agent_id(store)
    k2 = t.agent_id(store)
    t.check(k1 == k2, "cratecast id changed: %s then %s" % (k1, k2))

    # verify: a store with a damaged and a missing blob
    up, ag2, _ = t.warm_up("app")
    ag2.stop()
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
