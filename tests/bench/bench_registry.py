#!/usr/bin/python3
"""Registry for the benchmarks: the integration fixture plus N synthetic crates.

  bench_registry.py OUTDIR [N] [KB] [--incompressible]

Writes the integration registry (tests/integration/registry.py) into OUTDIR, then adds N crates
`bench-NNN` 1.0.0 (each with ~KB kilobytes of incompressible-ish source, so downloads weigh
something), a project projects/bench depending on all of them and on projects/app's crates,
and a static copy for a plain file server:

  OUTDIR/static/index/config.json   {"dl": "<base>/crates/{crate}-{version}.crate"}  (base is
                                    filled in by static_config(); see bench-fetch.sh)
  OUTDIR/static/index/<sparse path>  the index files
  OUTDIR/static/crates/<name>-<vers>.crate

Also: bench_registry.py --config OUTDIR BASEURL  rewrites static/index/config.json.
"""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import registry  # noqa: E402


def generate(outdir, n=150, kb=16, incompressible=False):
    """incompressible=True: each bench crate carries kb KiB of random bytes (data.bin, not
    compiled; gzip level 1), so its .crate weighs ~kb KiB on the wire; otherwise ~kb KB of
    generated Rust source (hex comments: the .crate is ~0.55 x kb)."""
    m = registry.generate(outdir)
    rnd = random.Random(1234)
    deps = []
    for i in range(n):
        name = "bench-%03d" % i
        spec = {"vers": "1.0.0", "value": i}
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            root = "%s-1.0.0" % name
            registry._tar_add(tf, root + "/Cargo.toml", registry._cargo_toml(name, spec).encode())
            if incompressible:
                registry._tar_add(tf, root + "/src/lib.rs", registry._lib_rs(name, spec).encode())
                registry._tar_add(tf, root + "/data.bin", rnd.randbytes(kb * 1024))
            else:
                # the fixture's lib.rs plus a second source file holding the filler
                filler = "".join("// %016x\n" % rnd.getrandbits(64)
                                 for _ in range(kb * 1024 // 20))
                registry._tar_add(tf, root + "/src/lib.rs",
                                  (registry._lib_rs(name, spec) + "mod filler;\n").encode())
                registry._tar_add(tf, root + "/src/filler.rs", filler.encode())
        gz = io.BytesIO()
        with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, filename="",
                           compresslevel=1 if incompressible else 9) as g:
            g.write(raw.getvalue())
        data = gz.getvalue()
        cksum = hashlib.sha256(data).hexdigest()
        fname = "%s-1.0.0.crate" % name
        with open(os.path.join(outdir, "crates", fname), "wb") as f:
            f.write(data)
        ip = os.path.join(outdir, "index", registry.index_path(name))
        os.makedirs(os.path.dirname(ip), exist_ok=True)
        with open(ip, "w") as f:
            f.write(registry.index_line(name, spec, cksum) + "\n")
        m["crates"].append({"name": name, "vers": "1.0.0", "cksum": cksum,
                            "file": "crates/" + fname, "yanked": False, "size": len(data)})
        deps.append('%s = "1"' % name)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(m, f, indent=1)
    registry._project(os.path.join(outdir, "projects", "bench"), "bench",
                      registry.APP_DEPS + "\n".join(deps) + "\n",
                      "fn main() {}\n")
    st = os.path.join(outdir, "static")
    shutil.rmtree(st, ignore_errors=True)
    shutil.copytree(os.path.join(outdir, "index"), os.path.join(st, "index"))
    shutil.copytree(os.path.join(outdir, "crates"), os.path.join(st, "crates"))
    return m


def static_config(outdir, base):
    with open(os.path.join(outdir, "static", "index", "config.json"), "w") as f:
        json.dump({"dl": base.rstrip("/") + "/crates/{crate}-{version}.crate"}, f)


def main(argv):
    if len(argv) >= 2 and argv[1] == "--config":
        static_config(argv[2], argv[3])
        return 0
    incompressible = "--incompressible" in argv
    argv = [a for a in argv if a != "--incompressible"]
    n = int(argv[2]) if len(argv) > 2 else 150
    kb = int(argv[3]) if len(argv) > 3 else 16
    m = generate(argv[1], n, kb, incompressible)
    print("%d crate versions in %s" % (len(m["crates"]), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
