#!/usr/bin/python3
"""The user-cache fixture itself, without the agent: t.user_cargo_home() looks like a real
Linux user's ~/.cargo.

  1. Online against upstream.py, real Cargo locks projects/travel, newapp, pinned and winonly
     exactly as manifest.json says (manifest["projects"][p]["lock"]).
  2. user_cargo_home("travel") (cargo fetch --target <host triple>, then reshaped as a crates.io
     cache): the index cache (.cache/) holds every crate of travel's lockfile, Windows-, wasm-
     and Redox-only ones included (winapi, winapi-*-gnu, windows-targets, windows_x86_64_*,
     js-sys, wasm-bindgen, redox_syscall), in Cargo's cache format and with the registry's
     lines; registry/cache holds exactly the host's .crate files, with the right hashes, and
     none of theirs; registry/index holds only CRATES_IO_DIR, with crates.io's config.json; no
     config.toml. With the upstream stopped and no config, `cargo build --offline` builds travel
     from that cache and prints the expected value; Cargo's own --offline resolves newapp there
     to the versions present (manifest "offline_lock": tempfile 3.3.0, log 0.4.17) and builds it.
     (windows-sys is not in travel's graph -- only tempfile 3.8.0 needs it -- and Cargo
     resolves only the candidates it picks, so windows-sys is not in this cache; logged.)
  3. user_cargo_home("travel", target=None) (plain cargo fetch): every locked crate's .crate is
     there, the Windows and wasm ones included: what the old fixtures looked like.
  4. user_cargo_home("winonly"): winapi (a plain dependency) is downloaded, its
     target = "x86_64-pc-windows-gnu" dependency is not; the binary builds offline.
  5. cargo_fetch_target(..., "x86_64-pc-windows-gnu") downloads exactly a Windows build's crates.
  6. add_private_registry(): the planted files are where it says, the .crate files hash to the
     cksum of their index lines, the cache files parse; Cargo still builds travel offline.
"""

import json
import os

import harness
from harness import registry


def cache_dir(home, sub, d=harness.CRATES_IO_DIR):
    return os.path.join(home, "registry", sub, d)


def index_cache_file(home, name):
    return os.path.join(cache_dir(home, "index"), ".cache", *registry.index_path(name).split("/"))


def crate_files(home):
    d = cache_dir(home, "cache")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def crate_file_names(versions):
    return sorted("%s-%s.crate" % (n, v) for n, vs in versions.items() for v in vs)


def check_index_cache(t, home, lock):
    """Every locked crate has a Cargo index cache file holding the registry's own lines."""
    for name in sorted(lock):
        p = index_cache_file(home, name)
        t.check(os.path.isfile(p), "no index cache file for %s (%s)" % (name, p))
        with open(p, "rb") as f:
            cv, iv, header, recs = harness.parse_cargo_cache(f.read())
        with open(os.path.join(t.registry, "index", registry.index_path(name))) as f:
            want = [(json.loads(ln)["vers"], ln.rstrip("\n")) for ln in f if ln.strip()]
        t.check(recs == want, "index cache of %s holds %s, the registry %s" % (name, recs, want))
        t.check(header.startswith("etag: "), "index cache of %s: header %r" % (name, header))


def check_crates(t, home, want):
    """registry/cache/<crates.io dir> holds exactly want's .crate files, each with its cksum."""
    have = crate_files(home)
    t.check(have == crate_file_names(want), "registry/cache holds %s, expected %s"
            % (have, crate_file_names(want)))
    for name, vs in want.items():
        for v in vs:
            p = os.path.join(cache_dir(home, "cache"), "%s-%s.crate" % (name, v))
            t.check(harness.sha256_file(p) == t.crate(name, v)["cksum"],
                    "%s does not hash to its cksum" % p)


def check_shape(t, home):
    t.check(not os.path.exists(os.path.join(home, "config.toml")),
            "the reshaped home still has a config.toml")
    for sub in ("index", "cache"):
        ds = os.listdir(os.path.join(home, "registry", sub))
        t.check(ds == [harness.CRATES_IO_DIR], "registry/%s holds %s" % (sub, ds))
    with open(os.path.join(cache_dir(home, "index"), "config.json")) as f:
        t.check(json.load(f) == harness.CRATES_IO_CONFIG, "config.json is not crates.io's")


def build_offline(t, proj, home, expect):
    with open(os.path.join(proj, "Cargo.lock")) as f:
        before = f.read()
    t.build_and_run(proj, home, offline=True, expect=expect)
    with open(os.path.join(proj, "Cargo.lock")) as f:
        t.check(f.read() == before, "cargo build --offline rewrote %s/Cargo.lock" % proj)


def test(t):
    t.registry
    projects = t.manifest["projects"]
    triple = harness.host_triple()
    harness.log("host triple: %s" % triple)
    if triple != registry.HOST_TRIPLE:
        raise harness.Skip("manifest.json's host crates are computed for %s, this host is %s"
                           % (registry.HOST_TRIPLE, triple))

    # 1. the projects' online resolutions
    up = t.start_upstream()
    home = t.cargo_home("sparse+" + up.url, name="up")
    for name in ("travel", "newapp", "pinned", "winonly"):
        proj = t.project(name)
        t.cargo(["generate-lockfile"], proj, home)
        t.check_lock(proj, projects[name]["lock"])
    up.stop()

    # 2. a Linux user's cache after building travel
    travel = projects["travel"]
    home, proj = t.user_cargo_home("travel")
    t.check_lock(proj, travel["lock"])
    check_shape(t, home)
    check_index_cache(t, home, travel["lock"])
    check_crates(t, home, travel["host_crates"])
    not_here = sorted(set(travel["lock"]) - set(travel["host_crates"]))
    harness.log("index cache only (no .crate): %s" % ", ".join(not_here))
    for name in ("winapi", "windows-targets", "js-sys", "wasm-bindgen", "redox_syscall"):
        t.check(name in not_here, "%s should be in travel's lock but not downloaded" % name)
    harness.log("windows-sys index cached: %s (not in travel's graph)"
                % os.path.exists(index_cache_file(home, "windows-sys")))
    t.user_upstream.stop()
    build_offline(t, proj, home, travel["output"])

    newapp = projects["newapp"]
    napp = t.project("newapp")
    t.cargo(["generate-lockfile", "--offline"], napp, home)
    t.check_lock(napp, newapp["offline_lock"])
    build_offline(t, napp, home, newapp["offline_output"])

    # 3. the old way: plain cargo fetch downloads every target's crates
    home_all, proj_all = t.user_cargo_home("travel", target=None)
    check_shape(t, home_all)
    check_crates(t, home_all, travel["lock"])

    # 4. a Windows crate as a plain dependency is downloaded; its own triple-gated one is not
    winonly = projects["winonly"]
    home_w, proj_w = t.user_cargo_home("winonly")
    check_index_cache(t, home_w, winonly["lock"])
    check_crates(t, home_w, winonly["host_crates"])
    t.check("winapi-x86_64-pc-windows-gnu" not in winonly["host_crates"],
            "winonly's host crates include the windows-gnu one")
    t.user_upstream.stop()
    build_offline(t, proj_w, home_w, winonly["output"])

    # 5. a classmate on Windows
    up = t.start_upstream()
    home_win = t.cargo_home("sparse+" + up.url, name="up")
    proj_win = t.project("travel")
    t.cargo(["generate-lockfile"], proj_win, home_win)
    t.cargo_fetch_target(proj_win, home_win, "x86_64-pc-windows-gnu")
    want = registry.host_closure(travel["deps"], travel["lock"], "x86_64-pc-windows-gnu")
    got = sorted("%s-%s.crate" % (r[1].split("/")[-4], r[1].split("/")[-3])
                 for r in up.downloads())
    t.check(got == crate_file_names(want), "cargo fetch --target x86_64-pc-windows-gnu "
            "downloaded %s, expected %s" % (got, crate_file_names(want)))
    t.check("winapi" in want and "libc" not in want, "the Windows closure is wrong: %s" % want)
    up.stop()

    # 6. a private registry's leftovers
    priv = t.add_private_registry(home)
    t.check(priv["dir"] == harness.PRIVATE_DIR, "private registry dir %s" % priv["dir"])
    with open(os.path.join(cache_dir(home, "index", harness.PRIVATE_DIR), "config.json")) as f:
        t.check(json.load(f) == harness.PRIVATE_CONFIG, "the private config.json is wrong")
    names = sorted((c["name"], c["vers"]) for c in priv["crates"])
    t.check(names == [("acme-secret", "1.0.0"), ("log", "0.4.99")], "planted %s" % names)
    for c in priv["crates"]:
        t.check(harness.sha256_file(c["crate"]) == c["cksum"], "%s: wrong sha256" % c["crate"])
        t.check(c["crate"] == os.path.join(cache_dir(home, "cache", harness.PRIVATE_DIR),
                                           "%s-%s.crate" % (c["name"], c["vers"])),
                "planted .crate at %s" % c["crate"])
        t.check(c["index_cache"] == index_cache_file(home, c["name"]).replace(
            harness.CRATES_IO_DIR, harness.PRIVATE_DIR), "planted cache at %s" % c["index_cache"])
        with open(c["index_cache"], "rb") as f:
            _, iv, _, recs = harness.parse_cargo_cache(f.read())
        t.check(iv == 2 and recs == [(c["vers"], c["line"])], "%s: records %s" % (c["name"], recs))
        t.check(json.loads(c["line"])["cksum"] == c["cksum"], "%s: line's cksum" % c["name"])
    proj2 = t.project("travel")
    with open(os.path.join(proj, "Cargo.lock")) as f, \
            open(os.path.join(proj2, "Cargo.lock"), "w") as g:
        g.write(f.read())
    build_offline(t, proj2, home, travel["output"])


if __name__ == "__main__":
    harness.main(test, needs_agent=False)
