#!/usr/bin/python3
"""A synthetic CARGO_HOME for tests/bench/bench-import.sh.

  bench_import.py HOME [N_CRATES] [TOTAL_MB] [EXTRA_VERSIONS] [MIN_KB] [MAX_KB]

Writes, under HOME/registry/ in crates.io's sparse-index directory (index.crates.io-1949cf8c6b5b557f,
as Cargo >= 1.85 names it):
  cache/<dir>/<name>-<vers>.crate     N_CRATES files (default 2000) of incompressible bytes
                                      totalling ~TOTAL_MB MiB (default 1024): sizes drawn from a
                                      log-normal (median ~1/3 of the mean), clamped to
                                      MIN_KB..MAX_KB (default 4 KiB..8 MiB),
                                      scaled so that they sum to the total
  index/<dir>/.cache/<sparse path>    one Cargo index cache file (proto/cargo_cache.h, cache
                                      version 3) per crate name, listing its versions that have a
                                      .crate plus EXTRA_VERSIONS (default 2) that do not (as in a
                                      real cache: the index lists versions never downloaded)
  index/<dir>/config.json             crates.io's

The bytes are not gzipped tarballs: the import only hashes and copies them. A name holds two
versions on average.
Prints one line: "crates N bytes B names M index_entries E".
"""

import hashlib
import json
import os
import random
import struct
import sys

CRATES_IO_DIR = "index.crates.io-1949cf8c6b5b557f"
MIN_SIZE = 4 << 10
MAX_SIZE = 8 << 20


def index_path(name):
    n = name.lower()
    if len(n) <= 2:
        return "%d/%s" % (len(n), n)
    if len(n) == 3:
        return "3/%s/%s" % (n[0], n)
    return "%s/%s/%s" % (n[0:2], n[2:4], n)


def index_line(name, vers, cksum):
    return json.dumps({"name": name, "vers": vers, "deps": [], "cksum": cksum,
                       "features": {}, "yanked": False, "v": 1}, separators=(",", ":"))


def cache_bytes(records):
    out = bytearray([3]) + struct.pack("<I", 2) + b"etag: \"bench\"\0"
    for vers, line in records:
        out += vers.encode() + b"\0" + line.encode() + b"\0"
    return bytes(out)


def sizes(rnd, n, total, lo=MIN_SIZE, hi=MAX_SIZE):
    raw = [rnd.lognormvariate(0.0, 1.5) for _ in range(n)]
    for _ in range(20):  # scale, clamp, repeat until the clamped sizes sum to ~total
        k = total / sum(min(max(x, lo), hi) for x in raw)
        raw = [x * k for x in raw]
    return [int(min(max(x, lo), hi)) for x in raw]


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    home = argv[1]
    n = int(argv[2]) if len(argv) > 2 else 2000
    total = (int(argv[3]) if len(argv) > 3 else 1024) << 20
    extra = int(argv[4]) if len(argv) > 4 else 2
    lo = int(argv[5]) << 10 if len(argv) > 5 else MIN_SIZE
    hi = int(argv[6]) << 10 if len(argv) > 6 else MAX_SIZE
    rnd = random.Random(20261124)
    cache = os.path.join(home, "registry", "cache", CRATES_IO_DIR)
    index = os.path.join(home, "registry", "index", CRATES_IO_DIR)
    os.makedirs(cache, exist_ok=True)
    os.makedirs(os.path.join(index, ".cache"), exist_ok=True)
    with open(os.path.join(index, "config.json"), "w") as f:
        json.dump({"dl": "https://static.crates.io/crates", "api": "https://crates.io"}, f)
    names = {}  # name -> [(vers, cksum or None)]
    i = 0
    nbytes = 0
    for size in sizes(rnd, n, total, lo, hi):
        if i == 0 or rnd.random() < 0.5:
            name = "bench-import-%05d" % len(names)
            names[name] = []
        vers = "%d.%d.%d" % (len(names[name]) + 1, rnd.randrange(10), rnd.randrange(10))
        data = os.urandom(size)
        cksum = hashlib.sha256(data).hexdigest()
        with open(os.path.join(cache, "%s-%s.crate" % (name, vers)), "wb") as f:
            f.write(data)
        names[name].append((vers, cksum))
        nbytes += size
        i += 1
    entries = 0
    for name, held in names.items():
        recs = [(v, index_line(name, v, ck)) for v, ck in held]
        for j in range(extra):
            v = "0.%d.%d" % (j + 1, rnd.randrange(100))
            recs.insert(0, (v, index_line(name, v, os.urandom(32).hex())))
        p = os.path.join(index, ".cache", index_path(name))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(cache_bytes(recs))
        entries += len(recs)
    print("crates %d bytes %d names %d index_entries %d" % (i, nbytes, len(names), entries))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
