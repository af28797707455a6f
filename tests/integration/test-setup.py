#!/usr/bin/python3
"""`cratecast setup` and `cratecast setup --undo`, with real Cargo reading what they write.

With a temporary CARGO_HOME, HOME and XDG directories, for each starting point (no file, an
empty file, the table form, the dotted form, the legacy `config`, CRLF without a final line
break, a symbolic link, a file of mode 0600):
  - setup exits 0 and says what it did; Cargo parses the file (`cargo metadata` in a project
    without dependencies) and reads crates-io's replacement as "cratecast" (`cargo config get`,
    with RUSTC_BOOTSTRAP=1 for -Zunstable-options);
  - for the legacy `config`, no config.toml is created (Cargo would warn about both);
  - setup twice changes nothing and says so;
  - without a systemd user session, setup installs the units, says they were not enabled and how
    to run the agent; the units are scripts/systemd/ with this binary's path;
  - undo gives back the file byte for byte (or removes it, where setup created it), keeps its
    mode, and removes the units.
Refused, with nothing changed, the snippet and the reason printed: a foreign replacement of
crates-io (dotted and table forms), an inline `source = { ... }`, a unit file setup did not
install. `--dry-run` changes nothing. With a (fake) systemd user session, setup runs
`systemctl --user daemon-reload` and `enable --now cratecast.socket`, and undo disables it.
`cargo-config --write` and `--remove` share the code.
"""

import os
import stat
import subprocess

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = os.path.join(HERE, "..", "..", "scripts", "systemd")


def snapshot(root):
    """Every file under root: {relative path: bytes}, symbolic links as ('link', target)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            else:
                with open(p, "rb") as fh:
                    out[rel] = fh.read()
    return out


class Env:
    def __init__(self, t, name):
        self.t = t
        self.root = t.fresh_dir(name)
        self.home = os.path.join(self.root, "home")
        self.cargo_home = os.path.join(self.home, ".cargo")
        self.xdg_config = os.path.join(self.root, "xdg-config")
        self.runtime = os.path.join(self.root, "run")
        self.units = os.path.join(self.xdg_config, "systemd", "user")
        for d in (self.home, self.cargo_home, self.runtime):
            os.makedirs(d, exist_ok=True)
        self.proj = os.path.join(self.root, "proj")
        os.makedirs(os.path.join(self.proj, "src"))
        with open(os.path.join(self.proj, "Cargo.toml"), "w") as f:
            f.write('[package]\nname = "p"\nversion = "0.1.0"\nedition = "2021"\n')
        with open(os.path.join(self.proj, "src", "main.rs"), "w") as f:
            f.write("fn main() {}\n")
        self.path_prefix = None

    def env(self):
        e = dict(os.environ)
        for k in ("CARGO_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"):
            e.pop(k, None)
        e.setdefault("RUSTUP_HOME", os.path.expanduser("~/.rustup"))  # cargo is rustup's proxy
        e.update(HOME=self.home, XDG_CONFIG_HOME=self.xdg_config, XDG_RUNTIME_DIR=self.runtime,
                 CARGO_HOME=self.cargo_home)
        if self.path_prefix:
            e["PATH"] = self.path_prefix + ":" + e["PATH"]
        return e

    def run(self, args):
        r = subprocess.run([self.t.cratecast] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30,
                           env=self.env())
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def cargo_reads(self, what):
        """Cargo parses the config, and crates-io's replace-with is 'cratecast'."""
        e = self.env()
        e["PATH"] = os.path.dirname(self.t.cargo_bin) + ":" + e["PATH"]
        r = subprocess.run([self.t.cargo_bin, "metadata", "--format-version", "1",
                            "--no-deps", "--offline"], cwd=self.proj, env=e,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        err = r.stderr.decode(errors="replace")
        self.t.check(r.returncode == 0, "%s: cargo metadata failed: %s" % (what, err))
        # (the legacy `config` itself earns a deprecation warning; both files, another one)
        self.t.check("both" not in err and "could not" not in err,
                     "%s: cargo warned: %s" % (what, err))
        e["RUSTC_BOOTSTRAP"] = "1"
        r = subprocess.run([self.t.cargo_bin, "-Zunstable-options", "config", "get",
                            "--format", "json-value", "source.crates-io.replace-with"],
                           cwd=self.proj, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        out = r.stdout.decode(errors="replace").strip()
        self.t.check(r.returncode == 0 and out == '"cratecast"',
                     "%s: cargo config get says %r %r" % (what, out, r.stderr))
        r = subprocess.run([self.t.cargo_bin, "-Zunstable-options", "config", "get",
                            "--format", "json-value", "source.cratecast.registry"],
                           cwd=self.proj, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        out = r.stdout.decode(errors="replace").strip()
        self.t.check(out == '"sparse+http://127.0.0.1:7878/index/"',
                     "%s: cargo reads the registry as %r" % (what, out))


def expected_units(t):
    exe = os.path.realpath(t.cratecast)
    out = {}
    for name in ("cratecast.socket", "cratecast.service"):
        with open(os.path.join(UNITS, name)) as f:
            out[name] = f.read().replace("@CRATECAST@", exe)
    return out


def case(t, name, files, mode=None, link=False):
    """Setup on a CARGO_HOME holding files ({name: bytes}), checked, then undone."""
    harness.log("case: %s" % name)
    ev = Env(t, name.replace(" ", "-"))
    for fn, data in files.items():
        p = os.path.join(ev.cargo_home, fn)
        if link:
            real = os.path.join(ev.root, "dotfiles-" + fn)
            with open(real, "wb") as f:
                f.write(data)
            os.symlink(real, p)
        else:
            with open(p, "wb") as f:
                f.write(data)
        if mode is not None:
            os.chmod(p, mode)
    before = snapshot(ev.root)

    rc, out, err = ev.run(["setup", "--dry-run"])
    t.check(rc == 0 and "would" in out, "%s: --dry-run: %d %r %r" % (name, rc, out, err))
    t.check(snapshot(ev.root) == before, "%s: --dry-run changed files" % name)

    rc, out, err = ev.run(["setup"])
    t.check(rc == 0, "%s: setup exited %d: %s %s" % (name, rc, out, err))
    t.check("not enabled" in out and "no systemd user session" in out and
            "cratecast agent" in out and "undo" in out,
            "%s: setup without a user session should say the units were not enabled and how "
            "to run the agent: %r" % (name, out))
    ev.cargo_reads(name)
    legacy = "config" in files
    t.check(os.path.exists(os.path.join(ev.cargo_home, "config.toml")) == (not legacy),
            "%s: config.toml %s" % (name, "created beside the legacy config" if legacy
                                    else "missing"))
    for unit, text in expected_units(t).items():
        p = os.path.join(ev.units, unit)
        t.check(os.path.exists(p) and open(p).read() == text,
                "%s: %s differs from scripts/systemd/%s" % (name, p, unit))
    edited = os.path.join(ev.cargo_home, "config" if legacy else "config.toml")
    if mode is not None:
        got = stat.S_IMODE(os.stat(edited).st_mode)
        t.check(got == mode, "%s: mode %o became %o" % (name, mode, got))
    if link:
        t.check(os.path.islink(edited), "%s: the symbolic link was replaced by a file" % name)

    after = snapshot(ev.root)
    rc, out2, err = ev.run(["setup"])
    t.check(rc == 0 and "already" in out2 and snapshot(ev.root) == after,
            "%s: a second setup changed something or did not say so: %r %r" % (name, out2, err))

    rc, out, err = ev.run(["setup", "--undo"])
    t.check(rc == 0, "%s: undo exited %d: %s %s" % (name, rc, out, err))
    now = snapshot(ev.root)
    t.check(now == before, "%s: undo did not restore the files:\nbefore %r\nnow    %r"
            % (name, before, now))
    if mode is not None:
        got = stat.S_IMODE(os.stat(edited).st_mode)
        t.check(got == mode, "%s: undo: mode %o became %o" % (name, mode, got))
    rc, out, err = ev.run(["setup", "--undo"])
    t.check(rc == 0 and "nothing to undo" in out and snapshot(ev.root) == before,
            "%s: a second undo: %d %r %r" % (name, rc, out, err))


def refused(t, name, files, word, args=("setup",), units=None):
    harness.log("refused: %s" % name)
    ev = Env(t, name.replace(" ", "-"))
    for fn, data in files.items():
        with open(os.path.join(ev.cargo_home, fn), "wb") as f:
            f.write(data)
    if units:
        os.makedirs(ev.units)
        for fn, data in units.items():
            with open(os.path.join(ev.units, fn), "w") as f:
                f.write(data)
    before = snapshot(ev.root)
    rc, out, err = ev.run(list(args))
    t.check(rc == 1 and word in err and snapshot(ev.root) == before,
            "%s: expected exit 1, '%s' on stderr and no change; got %d %r %r"
            % (name, word, rc, out, err))
    lines = err.splitlines()
    t.check(lines and lines[0].startswith("error: ") and
            all(ln.startswith("help: ") for ln in lines[1:]),
            "%s: one error: line, then only help: lines %r" % (name, err))
    return err


def test(t):
    case(t, "no file", {})
    case(t, "empty file", {"config.toml": b""})
    case(t, "table form", {"config.toml": b"# my settings\n[net]\nretry = 3\n\n"
                                          b"[source.mirror]  # unused\n"
                                          b"registry = \"sparse+http://m.invalid/\"\n"})
    case(t, "dotted form", {"config.toml": b"net.retry = 3\n"
                                           b"source.mirror.registry = \"sparse+http://m/\"\n"})
    case(t, "legacy config", {"config": b"[net]\nretry = 3\n"})
    case(t, "crlf no final newline", {"config.toml": b"[net]\r\nretry = 3"})
    case(t, "mode 0600", {"config.toml": b"[registries.x]\nindex = \"sparse+http://x/\"\n"},
         mode=0o600)
    case(t, "symbolic link", {"config.toml": b"[net]\nretry = 2\n"}, link=True)

    snip = 'registry = "sparse+http://127.0.0.1:7878/index/"'
    err = refused(t, "foreign table", {"config.toml": b'[source.crates-io]\nreplace-with = "m"\n'
                                                      b'[source.m]\nregistry = "sparse+http://m/"\n'},
                  'replaced by source "m"')
    t.check(snip in err and "--upstream sparse+http://m/" in err,
            "a refusal should print the snippet and the mirror's URL: %r" % err)
    refused(t, "foreign dotted", {"config.toml": b'source.crates-io.replace-with = "mirror"\n'},
            '"mirror"')
    refused(t, "foreign legacy", {"config": b'[source.crates-io]\nreplace-with = "mirror"\n'},
            '"mirror"')
    refused(t, "inline table", {"config.toml": b'source = { m = { registry = "x" } }\n'},
            "inline table")
    refused(t, "not toml", {"config.toml": b"[net\n"}, "not valid TOML")
    refused(t, "foreign unit", {}, "not installed by cratecast setup",
            units={"cratecast.service": "[Service]\nExecStart=/bin/true\n"})
    # the known bug: --write appended a second [source.crates-io] to the dotted form
    refused(t, "cargo-config --write over dotted",
            {"config.toml": b'source.crates-io.replace-with = "mirror"\n'}, '"mirror"',
            args=("cargo-config", "--write"))

    # cargo-config --write / --remove: the same block, the legacy file
    harness.log("cargo-config --write / --remove")
    ev = Env(t, "cargo-config")
    with open(os.path.join(ev.cargo_home, "config"), "wb") as f:
        f.write(b"[net]\nretry = 3\n")
    before = snapshot(ev.root)
    rc, out, err = ev.run(["cargo-config", "--write"])
    t.check(rc == 0 and not os.path.exists(os.path.join(ev.cargo_home, "config.toml")),
            "cargo-config --write with a legacy config: %d %r %r" % (rc, out, err))
    ev.cargo_reads("cargo-config --write")
    rc, out, err = ev.run(["setup", "--no-service"])
    t.check(rc == 0 and "already" in out, "setup after --write: %r" % out)
    rc, out, err = ev.run(["cargo-config", "--remove"])
    t.check(rc == 0 and snapshot(ev.root) == before, "cargo-config --remove: %r %r" % (out, err))

    # a (fake) systemd user session: systemctl is called as it should be
    harness.log("fake systemd user session")
    ev = Env(t, "session")
    os.makedirs(os.path.join(ev.runtime, "systemd"))
    open(os.path.join(ev.runtime, "systemd", "private"), "w").close()
    bindir = os.path.join(ev.root, "bin")
    os.makedirs(bindir)
    calls = os.path.join(ev.root, "systemctl.calls")
    with open(os.path.join(bindir, "systemctl"), "w") as f:
        f.write('#!/bin/sh\necho "$*" >> %s\ncase "$2" in is-*) exit 1;; esac\nexit 0\n' % calls)
    os.chmod(os.path.join(bindir, "systemctl"), 0o755)
    ev.path_prefix = bindir
    rc, out, err = ev.run(["setup"])
    got = open(calls).read().splitlines() if os.path.exists(calls) else []
    t.check(rc == 0 and "--user daemon-reload" in got and
            "--user enable --now cratecast.socket" in got and "enabled and started" in out and
            "systemd starts the agent" in out,
            "setup with a user session: %d %r %r, systemctl calls %r" % (rc, out, err, got))
    os.unlink(calls)
    rc, out, err = ev.run(["setup", "--undo"])
    got = open(calls).read().splitlines() if os.path.exists(calls) else []
    t.check(rc == 0 and "--user disable --now cratecast.socket" in got and
            not os.path.exists(os.path.join(ev.units, "cratecast.socket")),
            "undo with a user session: %d %r %r, systemctl calls %r" % (rc, out, err, got))


harness.main(test)
