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
  manifest.json                {"crates": [{"name","vers","cksum","file","yanked"}...],
                                "expected_app_lock": {name: [versions]}}

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


def _lib_rs(name, spec):
    """A library whose `value()` is its own number plus its normal, non-optional deps' values.

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
            lines.append("#[cfg(unix)] fn dep_%s() -> u64 { %s::value() }" % (ident, ident))
            lines.append("#[cfg(not(unix))] fn dep_%s() -> u64 { 0 }" % ident)
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


def _crate_total(name, vers, chosen):
    """value() of one selected version given the versions chosen for its deps (app's graph)."""
    spec = next(s for s in CRATES[name] if s["vers"] == vers)
    total = spec["value"]
    for d in spec.get("deps", []):
        if d["kind"] != "normal" or d["optional"]:
            continue
        real = d["package"] or d["name"]
        want_major = d["req"].lstrip("^").split(".")[0]
        vs = [v for v in chosen[real] if v.split(".")[0] == want_major]
        total += _crate_total(real, vs[0], chosen)
    return total


APP_DEPS = """\
[dependencies]
a = "1"
ab = "1"
abc = "0.3"
bar = "0.2"
cc-util = { version = "1", features = ["fancy"] }
Mixed_Case = "0.1"
"""


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
