"""The Debian package, as a user installs it (issue 10).

  - scripts/package.sh builds it (into this test's temporary directory) and prints its path
    as the last line;
  - `dpkg-deb -f` Depends: runtime libraries only (libuv1, libh2o, libsqlite3-0, libsodium23,
    libzstd1, libjansson4, libcurl4, libssl3), never a -dev package; Recommends avahi (dlopened);
  - `dpkg -c` lists the binary, the cargo-cratecast link, the man page and the user units;
  - `dpkg -x` into a temporary root: the man page there is the binary's `help --man`; the units
    point ExecStart= at /usr/bin/cratecast and are not setup's (no marker), and
    `systemd-analyze verify --user` accepts them (run with ExecStart= pointed at the extracted
    binary; skipped where systemd-analyze cannot run);
  - the extracted agent serves, and real `cargo cratecast status --agent URL` with the extracted
    usr/bin first on PATH (and a fresh CARGO_HOME, so no other cargo-cratecast is found) exits 0
    with the status text;
  - `apt-get install --simulate ./cratecast_*.deb` would install no -dev package (skipped where
    apt-get cannot simulate).

Skips (77) only where Debian's tools cannot exist (no dpkg); otherwise a missing dpkg-buildpackage
is installed by package.sh (scripts/install-deps.sh).
"""
import gzip
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.abspath(os.path.join(harness.HERE, "..", ".."))
PACKAGE_TIMEOUT = 800
SETUP_MARKER = "# installed by cratecast setup"
RUNTIME_LIBS = ("libuv1", "libh2o", "libsqlite3-0", "libsodium23", "libzstd1", "libjansson4",
                "libcurl4", "libssl3")
FILES = ("./usr/bin/cratecast", "./usr/bin/cargo-cratecast",
         "./usr/lib/systemd/user/cratecast.socket", "./usr/lib/systemd/user/cratecast.service",
         "./usr/share/man/man1/cratecast.1.gz", "./usr/share/doc/cratecast/README.md",
         "./usr/share/doc/cratecast/docs/operations.md", "./usr/share/doc/cratecast/copyright")


def packages(field):
    """Package names of a Depends/Recommends field ("a (>= 1), b | c" -> [a, b, c])."""
    return [re.split(r"[\s(:]", alt.strip())[0]
            for dep in field.split(",") if dep.strip() for alt in dep.split("|")]


def build(t):
    out = t.path("pkg")
    script = os.path.join(ROOT, "scripts", "package.sh")
    harness.log("running %s %s" % (script, out))
    try:
        r = subprocess.run([script, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=PACKAGE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise harness.Failure("package.sh took more than %ds" % PACKAGE_TIMEOUT)
    lines = r.stdout.decode(errors="replace").strip().splitlines()
    err = r.stderr.decode(errors="replace")
    t.check(r.returncode == 0 and lines, "package.sh exited %d:\n%s\n%s"
            % (r.returncode, "\n".join(lines[-20:]), err[-4000:]))
    deb = lines[-1]
    t.check(os.path.isabs(deb) and deb.endswith(".deb") and os.path.isfile(deb) and
            os.path.basename(deb).startswith("cratecast_"),
            "package.sh's last line is not the path of a cratecast_*.deb: %r" % deb)
    harness.log("built %s (%d bytes)" % (deb, os.path.getsize(deb)))
    return deb


def check_control(t, deb):
    _, info = t.run(["dpkg", "-I", deb])
    _, depends = t.run(["dpkg-deb", "-f", deb, "Depends"])
    _, recommends = t.run(["dpkg-deb", "-f", deb, "Recommends"])
    harness.log("Depends: %s" % depends.strip())
    deps = packages(depends)
    dev = [d for d in deps if d.endswith("-dev")]
    t.check(not dev, "Depends names -dev packages %s:\n%s" % (dev, info))
    for lib in RUNTIME_LIBS:
        t.check(any(d.startswith(lib) for d in deps), "Depends lacks %s: %s" % (lib, depends))
    for forbidden in ("gcc", "meson", "ninja-build", "pkg-config", "debhelper"):
        t.check(forbidden not in deps, "Depends names the build tool %s" % forbidden)
    rec = packages(recommends)
    for p in ("avahi-daemon", "libavahi-client3"):
        t.check(p in rec, "Recommends lacks %s (avahi is dlopened): %r" % (p, recommends))


def check_contents(t, deb):
    _, listing = t.run(["dpkg", "-c", deb])
    entries = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 6:
            entries[parts[5]] = (parts[0], parts[7] if len(parts) >= 8 and parts[6] == "->"
                                 else None)
    for f in FILES:
        t.check(f in entries, "dpkg -c does not list %s:\n%s" % (f, listing))
    mode, target = entries["./usr/bin/cratecast"]
    t.check(mode.startswith("-rwxr-xr-x"), "usr/bin/cratecast is %s" % mode)
    mode, target = entries["./usr/bin/cargo-cratecast"]
    t.check(mode.startswith("l") and target == "cratecast",
            "usr/bin/cargo-cratecast is %s -> %s, not a link to cratecast" % (mode, target))
    dev = [p for p in entries if p.startswith("./usr/include") or p.endswith((".a", ".pc"))]
    t.check(not dev, "the package ships development files: %s" % dev)


def check_units(t, root):
    udir = os.path.join(root, "usr", "lib", "systemd", "user")
    with open(os.path.join(udir, "cratecast.service")) as f:
        service = f.read()
    with open(os.path.join(udir, "cratecast.socket")) as f:
        sock = f.read()
    for name, text in (("cratecast.service", service), ("cratecast.socket", sock)):
        t.check(not text.startswith(SETUP_MARKER) and "@CRATECAST@" not in text,
                "packaged %s is scripts/systemd's unsubstituted, or claims to be setup's "
                "(setup --undo would remove it):\n%s" % (name, text))
    t.check(re.search(r"^ExecStart=/usr/bin/cratecast agent$", service, re.M) is not None,
            "packaged cratecast.service does not start /usr/bin/cratecast agent:\n%s" % service)
    t.check(re.search(r"^ListenStream=127\.0\.0\.1:7878$", sock, re.M) is not None,
            "packaged cratecast.socket does not listen on 127.0.0.1:7878:\n%s" % sock)

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        harness.log("systemd-analyze not found: unit verification skipped")
        return
    # The units as installed, but starting the extracted binary (/usr/bin/cratecast is not
    # installed here); a private runtime directory, since no user manager need be running.
    vdir = t.fresh_dir("units")
    exe = os.path.join(root, "usr", "bin", "cratecast")
    with open(os.path.join(vdir, "cratecast.service"), "w") as f:
        f.write(service.replace("ExecStart=/usr/bin/cratecast", "ExecStart=" + exe))
    with open(os.path.join(vdir, "cratecast.socket"), "w") as f:
        f.write(sock)
    rt = t.fresh_dir("xdg-runtime")
    os.chmod(rt, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=rt)
    rc, out = t.run([analyze, "verify", "--user", os.path.join(vdir, "cratecast.socket"),
                     os.path.join(vdir, "cratecast.service")], env=env, check=False)
    if rc != 0 and ("Failed to initialize manager" in out or "RuntimeDirectory" in out):
        harness.log("systemd-analyze verify --user cannot run here (%s): skipped"
                    % out.strip().splitlines()[-1])
        return
    complaints = [ln for ln in out.splitlines() if "cratecast" in ln]
    t.check(rc == 0 and not complaints,
            "systemd-analyze verify --user: exit %d:\n%s" % (rc, out))
    harness.log("systemd-analyze verify --user: the packaged units are clean")


def check_man(t, root):
    with gzip.open(os.path.join(root, "usr", "share", "man", "man1", "cratecast.1.gz")) as f:
        packaged = f.read().decode()
    _, man = t.run([os.path.join(root, "usr", "bin", "cratecast"), "help", "--man"])
    t.check(packaged == man, "the packaged man page is not the packaged binary's help --man")


def check_apt(t, deb):
    apt = shutil.which("apt-get")
    if not apt:
        harness.log("apt-get not found: install simulation skipped")
        return
    rc, out = t.run([apt, "install", "--simulate", "-o", "Debug::NoLocking=1", deb],
                    timeout=120, check=False)
    if rc != 0:
        harness.log("apt-get install --simulate exited %d: skipped\n%s" % (rc, out[-2000:]))
        return
    inst = re.findall(r"^Inst (\S+)", out, re.M)
    harness.log("apt-get install --simulate would install: %s" % " ".join(inst))
    t.check("cratecast" in inst, "apt-get --simulate would not install cratecast:\n%s" % out)
    dev = [p for p in inst if p.endswith("-dev")]
    t.check(not dev, "apt would install -dev packages %s:\n%s" % (dev, out))


def test(t):
    if not shutil.which("dpkg"):
        raise harness.Skip("not a Debian system (no dpkg)")
    deb = build(t)
    check_control(t, deb)
    check_contents(t, deb)
    root = t.path("root")
    t.run(["dpkg", "-x", deb, root])
    exe = os.path.join(root, "usr", "bin", "cratecast")
    _, version = t.run([exe, "-V"])
    _, deb_version = t.run(["dpkg-deb", "-f", deb, "Version"])
    t.check(deb_version.strip() in version,
            "cratecast -V says %r, the package %r" % (version, deb_version))
    check_man(t, root)
    check_units(t, root)
    check_apt(t, deb)

    # The extracted agent, and Cargo finding the extracted cargo-cratecast on PATH.
    t.cratecast = exe
    ag = t.start_agent()
    home = t.fresh_dir("cargo-home")
    env = t.cargo_env(home, t.path("target"))
    env["PATH"] = os.path.join(root, "usr", "bin") + ":" + env["PATH"]
    rc, out = t.run([t.cargo_bin, "cratecast", "status", "--agent", ag.url], env=env,
                    timeout=120, check=False)
    harness.log("cargo cratecast status -> %d" % rc)
    t.check(rc == 0, "cargo cratecast status exited %d:\n%s" % (rc, out))
    t.check("state:" in out and "store:" in out and ag.store in out and "to Cargo:" in out and
            "127.0.0.1:%d" % ag.port in out,
            "cargo cratecast status did not print the agent's status:\n%s" % out)
    rc = ag.stop()
    t.check(rc in (0, -15), "the packaged agent exited %s on SIGTERM" % rc)


harness.main(test, needs_agent=False)
