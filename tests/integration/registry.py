#!/usr/bin/python3
"""Generate a small, self-contained Cargo registry for the integration tests.

The registry exercises what a real one holds and what the agent must pass through untouched:

  crate      versions                         what it exercises
  a          0.1.0 1.0.0 1.1.0                1-character name (index path 1/a)
  ab         1.0.0 1.1.0                      2 characters (2/ab); dev-dependency; dep on a
  abc        0.3.0 0.3.1 0.3.2(yanked)        3 characters (3/a/abc); the newest is yanked
  foo        1.0.0 2.0.0                      two majors, used twice by `bar`
  bar        0.1.0 0.2.0                      renamed dependency: foo2 = { package = "foo" }
  cc-util    1.0.0 1.1.0 1.2.0                4+ characters (cc/-u/cc-util); features; an optional
                                              dep enabled by a feature ("dep:" syntax, so index
                                              v:2 with features2); a cfg(unix) target dependency
  Mixed_Case 0.1.0                            upper case in the name (index path is lower-cased)

A target-gated world modelled on real crates.io crates (names, version numbers and the shape of
their [target.*] tables are real; the code is generated). Cargo's resolver resolves for every
target, so a Linux `cargo build` looks up the index of all of them but downloads only the host's:

  crate                        versions        dependencies
  libc                         0.2.150 0.2.155
  fastrand                     2.0.0 2.0.1
  log                          0.4.17 0.4.18
  winapi                       0.3.8 0.3.9     winapi-i686-pc-windows-gnu ^0.4 (target =
                                               "i686-pc-windows-gnu", a plain triple), winapi-
                                               x86_64-pc-windows-gnu ^0.4 ("x86_64-pc-windows-gnu");
                                               features fileapi handleapi winbase std
  winapi-i686-pc-windows-gnu   0.4.0
  winapi-x86_64-pc-windows-gnu 0.4.0
  windows_x86_64_gnu           0.48.5 0.52.0
  windows_x86_64_msvc          0.48.5 0.52.0
  windows-targets              0.48.5          windows_x86_64_msvc ^0.48.5 ("x86_64-pc-windows-
                                               msvc"), windows_x86_64_gnu ^0.48.5
                                               ("x86_64-pc-windows-gnu")
                               0.52.0          windows_x86_64_msvc ^0.52 ("x86_64-pc-windows-msvc"),
                                               windows_x86_64_gnu ^0.52 under cfg(all(target_arch =
                                               "x86_64", target_env = "gnu", not(target_abi =
                                               "llvm"), not(windows_raw_dylib))): a cfg that a
                                               Linux x86_64 gnu host satisfies, as the real one does
  windows-sys                  0.48.0          windows-targets ^0.48.5; features Win32_Foundation
                               0.52.0          windows-targets ^0.52   Win32_Storage_FileSystem
  redox_syscall                0.4.1
  wasm-bindgen                 0.2.87 0.2.92
  js-sys                       0.3.64 0.3.69   wasm-bindgen ^0.2.87 / ^0.2.92
  tempfile                     3.3.0           fastrand ^2; libc ^0.2 cfg(unix); winapi ^0.3
                                               cfg(windows) (features fileapi handleapi winbase);
                                               redox_syscall ^0.4 cfg(target_os = "redox")
                               3.8.0           the same with windows-sys ^0.48 cfg(windows)
                                               (features Win32_Foundation Win32_Storage_FileSystem)
                                               instead of winapi
  chrono                       0.4.31          libc ^0.2 cfg(unix); js-sys ^0.3 and wasm-bindgen
                                               ^0.2 under cfg(all(target_arch = "wasm32", not(any(
                                               target_os = "emscripten", target_os = "wasi"))));
                                               windows-targets ^0.48 cfg(windows)

No project of the original set (app, pin, loose, big) can reach these crates.

Each `.crate` is a gzip'd tar whose root directory is `<name>-<version>/`, holding Cargo.toml
and src/lib.rs. Archives are deterministic (fixed mtimes, uid/gid 0, gzip mtime 0), so the same
generator always yields the same checksums.

Output layout (all under the target directory):

  index/<sparse path>          one JSON line per version
  crates/<name>-<vers>.crate   the archives
  projects/app/                the test binary crate depending on several of the above
  projects/pin/                depends on cc-util = "=1.0.0" only (scenario d, warm-up)
  projects/loose/              depends on cc-util = "1" only (scenario d, offline)
  projects/big/                only with generate(..., big_mb=N): app's dependencies plus
                               big-blob 1.0.0, a crate carrying N MB of incompressible data
  projects/travel/             tempfile = "~3.3", chrono = "0.4", log = "=0.4.17": the project a
                               user built online (on Linux it downloads only tempfile, fastrand,
                               libc, chrono and log; its Cargo.lock also needs winapi, windows-
                               targets, js-sys, wasm-bindgen, redox_syscall...)
  projects/newapp/             tempfile = "3", chrono = "0.4", log = "0.4": a new project (online:
                               tempfile 3.8.0, log 0.4.18; offline from travel's cache: the
                               versions that are there, tempfile 3.3.0 and log 0.4.17)
  projects/pinned/             log = "=0.4.18"
  projects/winonly/            winapi = "0.3", a plain dependency (so Linux downloads winapi)
  manifest.json                {"crates": [{"name","vers","cksum","file","yanked","size"}...],
                                "expected_app_lock": {name: [versions]},
                                "expected_app_output": "app ok N",
                                "projects": {project: {"deps": [[name, req]...],
                                             "lock": {name: [versions]},
                                             "output": "<project> ok N",
                                             "host_crates": {name: [versions]}, ...}}}
                               host_crates: the locked crates a build on x86_64 Linux compiles
                               (and `cargo fetch --target <host>` downloads). newapp also has
                               "offline_lock"/"offline_output"/"offline_host_crates": what it
                               must lock and print offline given only travel's user cache.

Usage: registry.py OUTDIR        (also importable: generate(outdir) -> manifest dict)
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

# One value per crate version: the library returns it (plus its dependencies' values), and the
# app prints the sum, so a build that linked the wrong version shows up in the output.


def _dep(name, req, *, optional=False, features=(), default_features=True, target=None,
         kind="normal", package=None):
    return {
        "name": name,
        "req": req,
        "optional": optional,
        "features": list(features),
        "default_features": default_features,
        "target": target,
        "kind": kind,
        "package": package,
    }


# name -> list of version specs. Each spec: vers, deps, features, features2, yanked, value, code.
CRATES = {
    "a": [
        {"vers": "0.1.0", "value": 1},
        {"vers": "1.0.0", "value": 10},
        {"vers": "1.1.0", "value": 11},
    ],
    "ab": [
        {"vers": "1.0.0", "value": 20, "deps": [_dep("a", "^1")]},
        {"vers": "1.1.0", "value": 21, "deps": [_dep("a", "^1.0"),
                                                 _dep("abc", "^0.3", kind="dev")]},
    ],
    "abc": [
        {"vers": "0.3.0", "value": 30},
        {"vers": "0.3.1", "value": 31},
        {"vers": "0.3.2", "value": 32, "yanked": True},
    ],
    "foo": [
        {"vers": "1.0.0", "value": 100},
        {"vers": "2.0.0", "value": 200},
    ],
    "bar": [
        {"vers": "0.1.0", "value": 300, "deps": [_dep("foo", "^1")]},
        {"vers": "0.2.0", "value": 301, "deps": [_dep("foo", "^1"),
                                                  _dep("foo2", "^2", package="foo")]},
    ],
    "cc-util": [
        {"vers": "1.0.0", "value": 400, "features": {"default": ["std"], "std": []}},
        {"vers": "1.1.0", "value": 410, "features": {"default": ["std"], "std": []},
         "deps": [_dep("a", "^1", target="cfg(unix)")]},
        {"vers": "1.2.0", "value": 420, "features": {"default": ["std"], "std": []},
         "features2": {"fancy": ["dep:abc"]},
         "deps": [_dep("a", "^1", target="cfg(unix)"),
                  _dep("abc", "^0.3", optional=True)]},
    ],
    "Mixed_Case": [
        {"vers": "0.1.0", "value": 500},
    ],
}

# The target-gated world (see the table above). Values from 1000 up.
CFG_WASM_WEB = ('cfg(all(target_arch = "wasm32", not(any(target_os = "emscripten", '
                'target_os = "wasi"))))')
CFG_WIN_GNU_052 = ('cfg(all(target_arch = "x86_64", target_env = "gnu", '
                   'not(target_abi = "llvm"), not(windows_raw_dylib)))')
WINAPI_FEATURES = {"std": [], "fileapi": [], "handleapi": [], "winbase": []}
WINDOWS_SYS_FEATURES = {"Win32_Foundation": [], "Win32_Storage_FileSystem": ["Win32_Foundation"]}
TARGET_CRATES = {
    "libc": [
        {"vers": "0.2.150", "value": 1150},
        {"vers": "0.2.155", "value": 1155},
    ],
    "fastrand": [
        {"vers": "2.0.0", "value": 1200},
        {"vers": "2.0.1", "value": 1201},
    ],
    "log": [
        {"vers": "0.4.17", "value": 1417},
        {"vers": "0.4.18", "value": 1418},
    ],
    "winapi-i686-pc-windows-gnu": [
        {"vers": "0.4.0", "value": 1340},
    ],
    "winapi-x86_64-pc-windows-gnu": [
        {"vers": "0.4.0", "value": 1350},
    ],
    "winapi": [
        {"vers": vers, "value": value, "features": dict(WINAPI_FEATURES),
         "deps": [_dep("winapi-i686-pc-windows-gnu", "^0.4", target="i686-pc-windows-gnu"),
                  _dep("winapi-x86_64-pc-windows-gnu", "^0.4", target="x86_64-pc-windows-gnu")]}
        for vers, value in (("0.3.8", 1308), ("0.3.9", 1309))
    ],
    "windows_x86_64_gnu": [
        {"vers": "0.48.5", "value": 1600},
        {"vers": "0.52.0", "value": 1601},
    ],
    "windows_x86_64_msvc": [
        {"vers": "0.48.5", "value": 1610},
        {"vers": "0.52.0", "value": 1611},
    ],
    "windows-targets": [
        {"vers": "0.48.5", "value": 1485,
         "deps": [_dep("windows_x86_64_msvc", "^0.48.5", target="x86_64-pc-windows-msvc"),
                  _dep("windows_x86_64_gnu", "^0.48.5", target="x86_64-pc-windows-gnu")]},
        {"vers": "0.52.0", "value": 1520,
         "deps": [_dep("windows_x86_64_msvc", "^0.52", target="x86_64-pc-windows-msvc"),
                  _dep("windows_x86_64_gnu", "^0.52", target=CFG_WIN_GNU_052)]},
    ],
    "windows-sys": [
        {"vers": "0.48.0", "value": 1700, "features": dict(WINDOWS_SYS_FEATURES),
         "deps": [_dep("windows-targets", "^0.48.5")]},
        {"vers": "0.52.0", "value": 1701, "features": dict(WINDOWS_SYS_FEATURES),
         "deps": [_dep("windows-targets", "^0.52")]},
    ],
    "redox_syscall": [
        {"vers": "0.4.1", "value": 1800},
    ],
    "wasm-bindgen": [
        {"vers": "0.2.87", "value": 1887},
        {"vers": "0.2.92", "value": 1892},
    ],
    "js-sys": [
        {"vers": "0.3.64", "value": 1964, "deps": [_dep("wasm-bindgen", "^0.2.87")]},
        {"vers": "0.3.69", "value": 1969, "deps": [_dep("wasm-bindgen", "^0.2.92")]},
    ],
    "tempfile": [
        {"vers": "3.3.0", "value": 2330,
         "deps": [_dep("fastrand", "^2"),
                  _dep("libc", "^0.2", target="cfg(unix)"),
                  _dep("winapi", "^0.3", target="cfg(windows)",
                       features=("fileapi", "handleapi", "winbase")),
                  _dep("redox_syscall", "^0.4", target='cfg(target_os = "redox")')]},
        {"vers": "3.8.0", "value": 2380,
         "deps": [_dep("fastrand", "^2"),
                  _dep("libc", "^0.2", target="cfg(unix)"),
                  _dep("windows-sys", "^0.48", target="cfg(windows)",
                       features=("Win32_Foundation", "Win32_Storage_FileSystem")),
                  _dep("redox_syscall", "^0.4", target='cfg(target_os = "redox")')]},
    ],
    "chrono": [
        {"vers": "0.4.31", "value": 2431,
         "deps": [_dep("libc", "^0.2", target="cfg(unix)"),
                  _dep("js-sys", "^0.3", target=CFG_WASM_WEB),
                  _dep("wasm-bindgen", "^0.2", target=CFG_WASM_WEB),
                  _dep("windows-targets", "^0.48", target="cfg(windows)")]},
    ],
}
CRATES.update(TARGET_CRATES)

# The versions a fresh resolution of projects/app must select.
EXPECTED_APP_LOCK = {
    "a": ["1.1.0"],
    "ab": ["1.1.0"],
    "abc": ["0.3.1"],
    "foo": ["1.0.0", "2.0.0"],
    "bar": ["0.2.0"],
    "cc-util": ["1.2.0"],
    "Mixed_Case": ["0.1.0"],
}


def index_path(name):
    """Sparse-index path of a crate name (Cargo lower-cases it)."""
    n = name.lower()
    if len(n) == 1:
        return "1/" + n
    if len(n) == 2:
        return "2/" + n
    if len(n) == 3:
        return "3/%s/%s" % (n[0], n)
    return "%s/%s/%s" % (n[0:2], n[2:4], n)


def _lib_ident(name):
    return name.replace("-", "_")


def _toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cargo_toml(name, spec):
    out = ["[package]", "name = %s" % _toml_str(name), "version = %s" % _toml_str(spec["vers"]),
           'edition = "2021"', 'description = "cratecast test fixture"', 'license = "MIT"', ""]
    sections = {}
    for d in spec.get("deps", []):
        if d["kind"] == "dev":
            sect = "dev-dependencies"
        elif d["kind"] == "build":
            sect = "build-dependencies"
        else:
            sect = "dependencies"
        if d["target"]:
            sect = "target.%s.%s" % (_toml_str(d["target"]), sect)
        parts = ["version = %s" % _toml_str(d["req"])]
        if d["package"]:
            parts.append("package = %s" % _toml_str(d["package"]))
        if d["optional"]:
            parts.append("optional = true")
        if not d["default_features"]:
            parts.append("default-features = false")
        if d["features"]:
            parts.append("features = [%s]" % ", ".join(_toml_str(f) for f in d["features"]))
        sections.setdefault(sect, []).append("%s = { %s }" % (d["name"], ", ".join(parts)))
    for sect, lines in sections.items():
        out.append("[%s]" % sect)
        out.extend(lines)
        out.append("")
    feats = dict(spec.get("features", {}))
    feats.update(spec.get("features2", {}))
    if feats:
        out.append("[features]")
        for f, v in feats.items():
            out.append("%s = [%s]" % (f, ", ".join(_toml_str(x) for x in v)))
        out.append("")
    return "\n".join(out)


def _triple_cfg(triple):
    """A cfg expression approximating a plain target triple (arch, os and env; vendor aside)."""
    parts = triple.split("-")
    arch = parts[0]
    if arch in ("i386", "i586", "i686"):
        arch = "x86"
    os_ = parts[2] if len(parts) > 2 else "none"
    terms = ['target_arch = "%s"' % arch, 'target_os = "%s"' % os_]
    if len(parts) > 3:
        terms.append('target_env = "%s"' % parts[3])
    return "all(%s)" % ", ".join(terms)


def _target_cfg(target):
    """The cfg expression under which a dependency's target table applies."""
    if target.startswith("cfg(") and target.endswith(")"):
        return target[4:-1]
    return _triple_cfg(target)


# The host the expected values in manifest.json are computed for (the machines the tests run
# on); cfg() expressions are evaluated against these values. TARGET_CFGS also knows a Windows
# target, for a classmate's `cargo fetch --target x86_64-pc-windows-gnu`.
HOST_TRIPLE = "x86_64-unknown-linux-gnu"
TARGET_CFGS = {
    "x86_64-unknown-linux-gnu": {
        "unix": True, "target_family": "unix", "target_os": "linux", "target_arch": "x86_64",
        "target_env": "gnu", "target_vendor": "unknown", "target_pointer_width": "64",
        "target_endian": "little", "target_abi": "",
    },
    "x86_64-pc-windows-gnu": {
        "windows": True, "target_family": "windows", "target_os": "windows",
        "target_arch": "x86_64", "target_env": "gnu", "target_vendor": "pc",
        "target_pointer_width": "64", "target_endian": "little", "target_abi": "",
    },
}
HOST_CFG = TARGET_CFGS[HOST_TRIPLE]


def _cfg_tokens(text):
    toks, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "(),=":
            toks.append(c)
            i += 1
        elif c == '"':
            j = text.index('"', i + 1)
            toks.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            if j == i:
                raise ValueError("bad cfg %r" % text)
            toks.append(text[i:j])
            i = j
    return toks


def cfg_matches(expr, cfg=None):
    """Evaluate a cfg expression (without the outer cfg()) against cfg (default HOST_CFG)."""
    cfg = HOST_CFG if cfg is None else cfg
    toks = _cfg_tokens(expr)
    pos = [0]

    def take():
        t = toks[pos[0]]
        pos[0] += 1
        return t

    def pred():
        name = take()
        if pos[0] < len(toks) and toks[pos[0]] == "(" and name in ("all", "any", "not"):
            take()
            vals = []
            while toks[pos[0]] != ")":
                vals.append(pred())
                if toks[pos[0]] == ",":
                    take()
            take()
            if name == "all":
                return all(vals)
            if name == "any":
                return any(vals)
            return not vals[0]
        if pos[0] < len(toks) and toks[pos[0]] == "=":
            take()
            return str(cfg.get(name)) == take().strip('"')
        return cfg.get(name) is True

    v = pred()
    if pos[0] != len(toks):
        raise ValueError("trailing tokens in cfg %r" % expr)
    return v


def target_matches(target, triple=HOST_TRIPLE):
    """Whether a dependency with this `target` applies when building for triple (one of
    TARGET_CFGS)."""
    if target is None:
        return True
    if target.startswith("cfg("):
        return cfg_matches(target[4:-1], TARGET_CFGS[triple])
    return target == triple


def _lib_rs(name, spec):
    """A library whose `value()` is its own number plus its normal, non-optional deps' values
    (a target-specific dep's only when built for that target).

    Optional and target-specific deps are referenced under cfg so every feature combination
    compiles; `fancy()` exists only when the feature is on, and the app calls it."""
    lines = ["//! %s %s: generated by cratecast tests/integration/registry.py" % (name, spec["vers"]),
             "", "pub const OWN: u64 = %d;" % spec["value"], ""]
    terms = ["OWN"]
    for d in spec.get("deps", []):
        if d["kind"] != "normal":
            continue
        ident = _lib_ident(d["name"])
        if d["optional"]:
            continue
        if d["target"]:
            # referenced only under the dependency's own cfg (a plain triple: its arch, os and
            # env), so the crate compiles on every target, whichever deps that target gets
            cond = _target_cfg(d["target"])
            lines.append("#[cfg(%s)] fn dep_%s() -> u64 { %s::value() }" % (cond, ident, ident))
            lines.append("#[cfg(not(%s))] fn dep_%s() -> u64 { 0 }" % (cond, ident))
            terms.append("dep_%s()" % ident)
        else:
            terms.append("%s::value()" % ident)
    lines.append("pub fn value() -> u64 { %s }" % " + ".join(terms))
    for d in spec.get("deps", []):
        if d["optional"]:
            ident = _lib_ident(d["name"])
            lines.append('#[cfg(feature = "fancy")] pub fn fancy() -> u64 { %s::value() }' % ident)
    if "std" in spec.get("features", {}):
        lines.append('#[cfg(feature = "std")] pub fn has_std() -> bool { true }')
    lines.append("")
    return "\n".join(lines)


def _tar_add(tf, path, data, mode=0o644):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tf.addfile(info, io.BytesIO(data))


def build_crate(name, spec, extra_files=(), compresslevel=9):
    """Return the deterministic .crate bytes of one version.

    extra_files: (relative path, bytes) added under the crate's root directory."""
    root = "%s-%s" % (name, spec["vers"])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        _tar_add(tf, root + "/Cargo.toml", _cargo_toml(name, spec).encode())
        _tar_add(tf, root + "/src/lib.rs", _lib_rs(name, spec).encode())
        for rel, data in extra_files:
            _tar_add(tf, root + "/" + rel, data)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="",
                      compresslevel=compresslevel) as g:
        g.write(raw.getvalue())
    return gz.getvalue()


def index_line(name, spec, cksum):
    deps = []
    for d in spec.get("deps", []):
        e = {k: d[k] for k in ("name", "req", "features", "optional", "default_features",
                               "target", "kind")}
        if d["package"]:
            e["package"] = d["package"]
        deps.append(e)
    obj = {
        "name": name,
        "vers": spec["vers"],
        "deps": deps,
        "cksum": cksum,
        "features": spec.get("features", {}),
        "yanked": bool(spec.get("yanked", False)),
    }
    if "features2" in spec:
        obj["features2"] = spec["features2"]
        obj["v"] = 2
    else:
        obj["v"] = 1
    return json.dumps(obj, separators=(",", ":"))


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def _vtuple(v):
    return tuple(int(x) for x in v.split("."))


def req_matches(req, vers):
    """Whether version vers satisfies a one-comparator Cargo requirement (^, ~, = or bare)."""
    req = req.strip()
    op = "^"
    if req[:1] in "^~=":
        op, req = req[0], req[1:].strip()
    parts = [int(x) for x in req.split(".")]
    v = _vtuple(vers)
    lo = tuple(parts + [0] * (3 - len(parts)))
    if op == "=":
        return v[:len(parts)] == tuple(parts)
    if v < lo:
        return False
    if op == "~":
        keep = 1 if len(parts) == 1 else 2
    else:  # caret: up to the first non-zero part given
        keep = len(parts)
        for i, x in enumerate(parts):
            if x != 0:
                keep = i + 1
                break
    return v[:keep] == tuple(parts[:keep])


def _dep_version(d, chosen):
    real = d["package"] or d["name"]
    vs = [v for v in chosen[real] if req_matches(d["req"], v)]
    if not vs:
        raise ValueError("no chosen version of %s matches %s" % (real, d["req"]))
    return real, vs[0]


def _host_deps(spec, triple=HOST_TRIPLE):
    """The normal, non-optional deps of one version that a build for triple compiles."""
    return [d for d in spec.get("deps", []) if d["kind"] == "normal" and not d["optional"]
            and target_matches(d["target"], triple)]


def _crate_total(name, vers, chosen):
    """value() of one selected version, built for the host, given the versions chosen (locked)
    for its deps."""
    spec = next(s for s in CRATES[name] if s["vers"] == vers)
    total = spec["value"]
    for d in _host_deps(spec):
        real, v = _dep_version(d, chosen)
        total += _crate_total(real, v, chosen)
    return total


def host_closure(roots, chosen, triple=HOST_TRIPLE):
    """{name: [versions]} of the locked crates (chosen: {name: [versions]}) that a build for
    triple compiles, i.e. what `cargo fetch --target triple` downloads, from (name, req) roots
    (a project's direct dependencies)."""
    out = {}
    todo = [_dep_version(_dep(n, r), chosen) for n, r in roots]
    while todo:
        name, vers = todo.pop()
        if vers in out.get(name, []):
            continue
        out.setdefault(name, []).append(vers)
        spec = next(s for s in CRATES[name] if s["vers"] == vers)
        todo += [_dep_version(d, chosen) for d in _host_deps(spec, triple)]
    return {k: sorted(v, key=_vtuple) for k, v in sorted(out.items())}


APP_DEPS = """\
[dependencies]
a = "1"
ab = "1"
abc = "0.3"
bar = "0.2"
cc-util = { version = "1", features = ["fancy"] }
Mixed_Case = "0.1"
"""


# Projects of the target-gated world: (name, requirement) of each direct dependency, and the
# Cargo.lock a fresh online resolution must produce ({name: [versions]}); main() prints
# "<project> ok <sum of the direct deps' value()>".
TRAVEL_LOCK = {
    "tempfile": ["3.3.0"], "fastrand": ["2.0.1"], "libc": ["0.2.155"],
    "winapi": ["0.3.9"], "winapi-i686-pc-windows-gnu": ["0.4.0"],
    "winapi-x86_64-pc-windows-gnu": ["0.4.0"], "redox_syscall": ["0.4.1"],
    "chrono": ["0.4.31"], "js-sys": ["0.3.69"], "wasm-bindgen": ["0.2.92"],
    "windows-targets": ["0.48.5"], "windows_x86_64_gnu": ["0.48.5"],
    "windows_x86_64_msvc": ["0.48.5"], "log": ["0.4.17"],
}
NEWAPP_LOCK = dict(TRAVEL_LOCK, **{"tempfile": ["3.8.0"], "log": ["0.4.18"],
                                   "windows-sys": ["0.48.0"]})
del NEWAPP_LOCK["winapi"], NEWAPP_LOCK["winapi-i686-pc-windows-gnu"]
del NEWAPP_LOCK["winapi-x86_64-pc-windows-gnu"]
TARGET_PROJECTS = {
    "travel": {"deps": [("tempfile", "~3.3"), ("chrono", "0.4"), ("log", "=0.4.17")],
               "lock": TRAVEL_LOCK},
    "newapp": {"deps": [("tempfile", "3"), ("chrono", "0.4"), ("log", "0.4")],
               "lock": NEWAPP_LOCK,
               # offline, given only what building travel left (the same graph as travel's)
               "offline_lock": TRAVEL_LOCK},
    "pinned": {"deps": [("log", "=0.4.18")], "lock": {"log": ["0.4.18"]}},
    "winonly": {"deps": [("winapi", "0.3")],
                "lock": {"winapi": ["0.3.9"], "winapi-i686-pc-windows-gnu": ["0.4.0"],
                         "winapi-x86_64-pc-windows-gnu": ["0.4.0"]}},
}


def _target_projects(outdir):
    """Write projects/<name> for TARGET_PROJECTS; returns manifest["projects"]."""
    out = {}
    for pname, p in TARGET_PROJECTS.items():
        deps = "[dependencies]\n" + "".join('%s = "%s"\n' % (n, r) for n, r in p["deps"])
        call = " + ".join("%s::value()" % _lib_ident(n) for n, _ in p["deps"])
        _project(os.path.join(outdir, "projects", pname), pname, deps,
                 'fn main() { println!("%s ok {}", %s); }\n' % (pname, call))
        ent = {}
        for key in ("lock", "offline_lock"):
            if key not in p:
                continue
            pre = key[:-len("lock")]
            lock = {k: list(v) for k, v in sorted(p[key].items())}
            ent[pre + "lock"] = lock
            ent[pre + "output"] = "%s ok %d" % (pname, sum(
                _crate_total(*_dep_version(_dep(n, r), lock), lock) for n, r in p["deps"]))
            ent[pre + "host_crates"] = host_closure(p["deps"], lock)
        ent["deps"] = [list(d) for d in p["deps"]]
        out[pname] = ent
    return out


def _project(root, name, deps_toml, main_rs):
    _write(os.path.join(root, "Cargo.toml"),
           '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
           '%s\n[workspace]\n' % (name, deps_toml))
    _write(os.path.join(root, "src", "main.rs"), main_rs)


# The optional big crate (generate(..., big_mb=N)): N MB of incompressible, deterministic data
# in data.bin beside a normal lib.rs, so a transfer of it takes long enough to be interrupted.
BIG_NAME = "big-blob"
BIG_VALUE = 600


def _add_big(outdir, manifest, big_mb):
    import random
    spec = {"vers": "1.0.0", "value": BIG_VALUE}
    blob = random.Random(4242).randbytes(int(big_mb * (1 << 20)))
    data = build_crate(BIG_NAME, spec, extra_files=[("data.bin", blob)], compresslevel=1)
    cksum = hashlib.sha256(data).hexdigest()
    fname = "%s-%s.crate" % (BIG_NAME, spec["vers"])
    _write(os.path.join(outdir, "crates", fname), data)
    _write(os.path.join(outdir, "index", index_path(BIG_NAME)),
           index_line(BIG_NAME, spec, cksum) + "\n")
    manifest["crates"].append({"name": BIG_NAME, "vers": spec["vers"], "cksum": cksum,
                               "file": "crates/" + fname, "yanked": False, "size": len(data)})
    manifest["big"] = {"name": BIG_NAME, "vers": spec["vers"], "cksum": cksum,
                       "size": len(data)}


def generate(outdir, big_mb=0):
    """Write the registry into outdir (created if needed) and return the manifest dict.

    big_mb > 0 adds the crate big-blob 1.0.0 (~big_mb MB, incompressible) and projects/big
    (projects/app's dependencies plus big-blob; prints "big ok <app total + 600>")."""
    os.makedirs(outdir, exist_ok=True)
    manifest = {"crates": [], "expected_app_lock": EXPECTED_APP_LOCK}
    for name, specs in CRATES.items():
        lines = []
        for spec in specs:
            data = build_crate(name, spec)
            cksum = hashlib.sha256(data).hexdigest()
            fname = "%s-%s.crate" % (name, spec["vers"])
            _write(os.path.join(outdir, "crates", fname), data)
            lines.append(index_line(name, spec, cksum))
            manifest["crates"].append({"name": name, "vers": spec["vers"], "cksum": cksum,
                                       "file": "crates/" + fname,
                                       "yanked": bool(spec.get("yanked", False)),
                                       "size": len(data)})
        _write(os.path.join(outdir, "index", index_path(name)), "\n".join(lines) + "\n")

    chosen = {k: v for k, v in EXPECTED_APP_LOCK.items()}
    # app: value of each direct dep's value(), plus cc_util::fancy() (= abc's value).
    total = 0
    for name in ("a", "ab", "abc", "bar", "cc-util", "Mixed_Case"):
        total += _crate_total(name, chosen[name][-1], chosen)
    total += _crate_total("abc", chosen["abc"][0], chosen)
    manifest["expected_app_output"] = "app ok %d" % total

    _project(os.path.join(outdir, "projects", "app"), "app", APP_DEPS,
             "fn main() {\n"
             "    assert!(cc_util::has_std());\n"
             "    let total = a::value() + ab::value() + abc::value() + bar::value()\n"
             "        + cc_util::value() + Mixed_Case::value() + cc_util::fancy();\n"
             '    println!("app ok {}", total);\n'
             "}\n")
    _project(os.path.join(outdir, "projects", "pin"), "pin",
             '[dependencies]\ncc-util = "=1.0.0"\n',
             'fn main() { println!("pin ok {}", cc_util::value()); }\n')
    _project(os.path.join(outdir, "projects", "loose"), "loose",
             '[dependencies]\ncc-util = "1"\n',
             'fn main() { println!("loose ok {}", cc_util::value()); }\n')
    manifest["projects"] = _target_projects(outdir)
    if big_mb:
        _add_big(outdir, manifest, big_mb)
        manifest["expected_big_output"] = "big ok %d" % (total + BIG_VALUE)
        _project(os.path.join(outdir, "projects", "big"), "big",
                 APP_DEPS + '%s = "1"\n' % BIG_NAME,
                 "fn main() {\n"
                 "    let total = a::value() + ab::value() + abc::value() + bar::value()\n"
                 "        + cc_util::value() + Mixed_Case::value() + cc_util::fancy()\n"
                 "        + %s::value();\n"
                 '    println!("big ok {}", total);\n'
                 "}\n" % _lib_ident(BIG_NAME))
    _write(os.path.join(outdir, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: registry.py OUTDIR\n")
        return 2
    m = generate(argv[1])
    print("generated %d crate versions in %s" % (len(m["crates"]), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
