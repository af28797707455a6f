#!/usr/bin/python3
"""`cratecast bundle export|import`: a signed file of index entries and crates, for a USB stick.

Agent A (online, upstream.py) fetches projects/app with Cargo; its store is the source.
  a. `bundle export F --lock APP --store A` (also the default --lock: the working directory, a
     Cargo.lock path, and "-" for stdout) carries every index entry A holds for the lock's names
     and exactly the locked .crate files (parsed here: docs/bundle.md's stream, Ed25519
     signatures checked when python3-cryptography is there); off a terminal one "wrote " line.
     Imported into a fresh store B (one "imported " line with the counts), an agent on B with
     no upstream and no peers serves Cargo the reference Cargo.lock and the project builds.
     A store whose blobs were all evicted (gc --max-size 0) cannot export the lock: one
     "missing: NAME VERS: why" line per package, exit 1, no file; --partial writes it.
     --all carries A's whole store.
  a'. A user's own store, imported from a ~/.cargo that `cargo build` filled on Linux (host
     crates only): export lists exactly the other targets' locked crates as missing and writes
     nothing; --partial writes the rest; another store with only that bundle builds the
     project offline from its unchanged lockfile.
  b. --trust-key with another store's key: exit 1, "is not a trusted key: nothing imported",
     nothing stored; with A's key: imported. A store's own key is always trusted.
  c. One byte flipped in the app bundle's decompressed stream (header, index chunk, its
     signature, a crate's digest, size and bytes, the end record; recompressed with zstd) and in
     the compressed --all bundle (10 positions; it holds the 1 MB crate big-blob, so zstd blocks
     before the damage are delivered first): exit 1, an error on stderr; the store never holds a
     blob that does not hash to its name nor an index entry the bundle did not carry, what came
     before the damage is kept, and `cratecast verify` passes.
  d. Truncated files (cuts of the compressed --all bundle, and whole zstd frames whose stream
     stops in the header, after the chunk, inside a crate, before the end record): exit 1, the
     error says truncated/damaged, the store holds only verified things.
  e. A bundle from a store whose line of cc-util 1.0.0 is forged: imported into B (which holds
     the true line): "warning: index entry cc-util 1.0.0 from bundle signer KEY contradicts the
     one already held: rejected", exit 1, B's line unchanged.
  f. Importing the same bundle again: exit 0, 0 new, 0 added.
  g. An import into the store of a running agent D: D's static peer C (no upstream, no crates)
     lists D with the crates within seconds, and Cargo fetches the project through C from D.
  h. `--format local-registry DIR`: plain Cargo (no cratecast) builds the project --offline
     --locked from DIR as a local-registry replacing crates-io.
  i. Usage errors exit 2 with an "error:" line.
  j. On a terminal, export and import draw a progress bar and print one summary line.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import time

import harness
import registry

FORGED = "0" * 64
SUMMARY = re.compile(
    r"imported (?P<file>.+?) \(signed by (?P<key>[A-Za-z0-9_-]{43}), made (?P<date>[^)]+)\) "
    r"into (?P<store>.+?): (?P<entries>\d+) index entr(?:y|ies) \((?P<new>\d+) new, "
    r"(?P<conflicting>\d+) conflicting, (?P<unreadable>\d+) unreadable\), (?P<crates>\d+) "
    r"crates? \((?P<added>\d+) added, (?P<held>\d+) already held, (?P<untrusted>\d+) without a "
    r"trusted index entry, (?P<bad>\d+) bad\)")


def expect(t, cond, msg):
    """A check whose failure is recorded and reported at the end, so that one run shows every
    deviation (the store's invariants stay hard checks: t.check)."""
    if not cond:
        harness.log("CHECK FAILED (continuing): " + msg)
        t.soft.append(msg)


# -- the file format (docs/bundle.md), read independently of the C code ----------------------
def zstd(args, data):
    r = subprocess.run(["zstd", "-q", "--no-progress"] + args, input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return r.returncode, r.stdout


def decompress(data):
    rc, out = zstd(["-d", "-c"], data)
    if rc != 0:
        raise harness.Failure("zstd -d failed on a bundle (%d bytes)" % len(data))
    return out


def compress(stream):
    rc, out = zstd(["-c", "-3"], stream)
    if rc != 0:
        raise harness.Failure("zstd -c failed")
    return out


def parse_stream(s):
    """The records of a decompressed bundle stream, with their offsets; raises Failure on any
    deviation from the layout."""
    def need(cond, what):
        if not cond:
            raise harness.Failure("bundle stream: " + what)
    need(s[:8] == b"CCBUNDLE", "magic is %r" % s[:8])
    version, flags = struct.unpack(">HH", s[8:12])
    need(version == 1 and flags == 0, "version %d flags %d" % (version, flags))
    created = struct.unpack(">q", s[60:68])[0]
    rlen = struct.unpack(">H", s[68:70])[0]
    need(rlen <= 1024 and len(s) >= 70 + rlen, "registry length %d" % rlen)
    b = {"signer": s[12:44], "id": s[44:60], "created": created,
         "registry": s[70:70 + rlen].decode(), "header_end": 70 + rlen,
         "header": s[:70 + rlen], "chunks": [], "crates": [], "end": None, "lines": []}
    off = 70 + rlen
    while off < len(s):
        typ = s[off:off + 1]
        need(b["end"] is None, "a record after the end record at %d" % off)
        if typ in (b"I", b"E"):
            need(s[off + 1:off + 4] == b"\0\0\0", "nonzero pad at %d" % off)
            blen = struct.unpack(">I", s[off + 4:off + 8])[0]
            body = s[off + 8:off + 8 + blen]
            need(len(body) == blen and blen > 64, "record at %d: body %d of %d bytes"
                 % (off, len(body), blen))
            rec = {"off": off, "body_off": off + 8, "body": body[:-64], "sig": body[-64:],
                   "sig_off": off + 8 + blen - 64, "type": typ, "len": 8 + blen}
            if typ == b"I":
                no = struct.unpack(">I", body[:4])[0]
                need(no == len(b["chunks"]), "chunk %d out of order" % no)
                text = body[4:-64]
                need(text.endswith(b"\n") and b"\n\n" not in text, "chunk %d lines" % no)
                rec["lines"] = text[:-1].split(b"\n")
                rec["lines_off"] = off + 12
                b["lines"] += rec["lines"]
                b["chunks"].append(rec)
            else:
                need(blen == 32 + 64, "end record body %d bytes" % blen)
                rec["counts"] = struct.unpack(">4Q", body[:32])
                b["end"] = rec
            off += 8 + blen
        elif typ == b"C":
            need(s[off + 1:off + 8] == b"\0" * 7, "nonzero pad in crate at %d" % off)
            sha = s[off + 8:off + 40].hex()
            size = struct.unpack(">Q", s[off + 40:off + 48])[0]
            data = s[off + 48:off + 48 + size]
            need(len(data) == size, "crate at %d: %d of %d bytes" % (off, len(data), size))
            need(hashlib.sha256(data).hexdigest() == sha, "crate at %d: bytes do not hash to "
                 "its digest %s" % (off, sha))
            b["crates"].append({"off": off, "sha": sha, "size": size, "data_off": off + 48})
            off += 48 + size
        else:
            raise harness.Failure("bundle stream: unknown record type %r at %d" % (typ, off))
    need(b["end"] is not None, "no end record")
    want = (len(b["chunks"]), len(b["lines"]), len(b["crates"]),
            sum(c["size"] for c in b["crates"]))
    need(tuple(b["end"]["counts"]) == want, "end record counts %s, the stream has %s"
         % (b["end"]["counts"], want))
    b["entries"] = set()
    for ln in b["lines"]:
        e = json.loads(ln)
        b["entries"].add((e["name"].lower(), e["vers"], e["cksum"]))
    return b


def check_signatures(t, b):
    """Ed25519 over "cratecast/bundle/1/" TYPE "\\0" || SHA-256(header) || body-without-sig,
    when python3-cryptography is installed."""
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.exceptions import InvalidSignature
    except ImportError:
        harness.log("python3-cryptography missing: bundle signatures not checked here")
        return
    pk = Ed25519PublicKey.from_public_bytes(b["signer"])
    hh = hashlib.sha256(b["header"]).digest()
    for rec in b["chunks"] + [b["end"]]:
        msg = b"cratecast/bundle/1/" + rec["type"] + b"\0" + hh + rec["body"]
        try:
            pk.verify(rec["sig"], msg)
        except InvalidSignature:
            raise harness.Failure("the %s record at stream offset %d: its signature does not "
                                  "verify as docs/bundle.md says" % (rec["type"].decode(),
                                                                     rec["off"]))


def read_bundle(t, path):
    with open(path, "rb") as f:
        raw = f.read()
    b = parse_stream(decompress(raw))
    b["raw"] = raw
    check_signatures(t, b)
    return b


def key_b64(pk):
    return base64.urlsafe_b64encode(pk).decode().rstrip("=")


# -- the command ------------------------------------------------------------------------------
def bundle(t, *args, cwd=None, timeout=120, quiet=False):
    """(rc, stdout, stderr) of `cratecast bundle ARGS` off a terminal."""
    cmd = [t.cratecast, "bundle"] + list(args)
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, cwd=cwd)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if not quiet:
        harness.log("bundle %s -> %d (%.2fs)%s%s" % (
            " ".join(args), r.returncode, time.time() - t0,
            "\n  stdout: " + out.strip().replace("\n", "\n          ") if out.strip() else "",
            "\n  stderr: " + err.strip().replace("\n", "\n          ") if err.strip() else ""))
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        t.check(marker not in err, "sanitizer report from `%s`:\n%s" % (" ".join(cmd), err))
    return r.returncode, out, err


def one_line(t, out, err, prefix, what):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    t.check(len(lines) == 1 and lines[0].startswith(prefix) and "\r" not in out + err,
            "%s off a terminal: expected exactly one %r line on stdout and no bar, got "
            "stdout %r stderr %r" % (what, prefix, out, err))
    return lines[0]


def summary(t, out, what):
    m = SUMMARY.search(out)
    t.check(m is not None, "%s: no summary line of the documented form in %r" % (what, out))
    return {k: (int(v) if v.isdigit() else v) for k, v in m.groupdict().items()}


def export(t, path, *args, cwd=None):
    rc, out, err = bundle(t, "export", path, *args, cwd=cwd)
    t.check(rc == 0, "bundle export %s exited %d:\n%s%s" % (" ".join(args), rc, out, err))
    one_line(t, out, err, "wrote ", "bundle export")
    return read_bundle(t, path) if path != "-" else None


def do_import(t, path, store, *args, want_rc=0):
    rc, out, err = bundle(t, "import", path, "--store", store, *args)
    t.check(rc == want_rc, "bundle import %s into %s exited %d, expected %d:\n%s%s"
            % (path, store, rc, want_rc, out, err))
    return rc, out, err


# -- the store, read directly ---------------------------------------------------------------
def db_rows(store, q, args=()):
    path = os.path.join(store, "store.db")
    if not os.path.exists(path):
        return []
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return c.execute(q, args).fetchall()
    finally:
        c.close()


def store_entries(store):
    return {(r[0], r[1], bytes(r[2]).hex()) for r in
            db_rows(store, "SELECT name_lc, vers, cksum FROM index_entries")}


def store_lines(store):
    return {(r[0], r[1]): bytes(r[2]) for r in
            db_rows(store, "SELECT name_lc, vers, line FROM index_entries")}


def check_store(t, store, carried, what):
    """Every blob hashes to its name and has an entry; every entry was carried; verify passes.
    Returns (entries, blob names)."""
    blobs = t.check_store_invariant(store)
    entries = store_entries(store)
    extra = entries - carried
    t.check(not extra, "%s: the store holds index entries the bundle did not carry: %s"
            % (what, sorted(extra)[:5]))
    cks = {e[2] for e in entries}
    stray = [b for b in blobs if b not in cks]
    t.check(not stray, "%s: blobs without an index entry: %s" % (what, stray[:3]))
    if os.path.exists(os.path.join(store, "store.db")):
        rc, out = t.run([t.cratecast, "verify", "--store", store], timeout=120, check=False)
        t.check(rc == 0, "%s: cratecast verify exited %d:\n%s" % (what, rc, out[-2000:]))
    return entries, set(blobs)


# -- the parts ---------------------------------------------------------------------------------
def part_export(t, a, ref, key_a):
    lock = t.lock(ref)
    locked = {(n.lower(), v, ck) for n, vs in lock.items() for v, ck in vs.items()}
    names = {n.lower() for n in lock}
    held = {e for e in store_entries(a.store) if e[0] in names}

    f1 = t.path("app.ccb")
    b1 = export(t, f1, "--lock", ref, "--store", a.store)
    t.check(b1["signer"] == base64.urlsafe_b64decode(key_a + "="),
            "the bundle's signer %s is not A's key %s" % (key_b64(b1["signer"]), key_a))
    t.check(b1["entries"] == held, "the bundle carries index entries %s, A holds %s for the "
            "lock's names" % (sorted(b1["entries"] - held), sorted(held - b1["entries"])))
    t.check(sorted(c["sha"] for c in b1["crates"]) == sorted(e[2] for e in locked),
            "the bundle carries crates %s, the lock has %s"
            % (sorted(c["sha"] for c in b1["crates"]), sorted(e[2] for e in locked)))
    t.check(abs(b1["created"] - time.time()) < 300, "created %d" % b1["created"])
    harness.log("bundle: %d bytes, registry %r, %d chunks, %d lines, %d crates"
                % (len(b1["raw"]), b1["registry"], len(b1["chunks"]), len(b1["lines"]),
                   len(b1["crates"])))

    # the default --lock (the working directory), a Cargo.lock path, stdout
    def same(b, what):
        t.check(b["entries"] == b1["entries"] and
                sorted(c["sha"] for c in b["crates"]) == sorted(c["sha"] for c in b1["crates"]),
                "%s carries other things than --lock DIR" % what)
    same(export(t, t.path("cwd.ccb"), "--store", a.store, cwd=ref), "the default --lock")
    same(export(t, t.path("file.ccb"), "--lock", os.path.join(ref, "Cargo.lock"),
                "--store", a.store), "--lock Cargo.lock")
    r = subprocess.run([t.cratecast, "bundle", "export", "-", "--lock", ref, "--store",
                        a.store], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    t.check(r.returncode == 0, "bundle export - exited %d: %s" % (r.returncode, r.stderr))
    same(parse_stream(decompress(r.stdout)), "export to stdout")

    # --all: the whole store
    fall = t.path("all.ccb")
    ball = export(t, fall, "--all", "--store", a.store)
    t.check(ball["entries"] == store_entries(a.store) and
            {c["sha"] for c in ball["crates"]} == set(t.store_blobs(a.store)),
            "--all does not carry exactly A's store")
    return f1, b1, locked, fall, ball


def part_import_build(t, f1, b1, locked, key_a, ref):
    b = t.fresh_dir("store-b")
    _, out, err = do_import(t, f1, b)
    s = summary(t, one_line(t, out, err, "imported ", "bundle import"), "import into B")
    n_e, n_c = len(b1["entries"]), len(b1["crates"])
    t.check(s["key"] == key_a and s["entries"] == n_e and s["new"] == n_e and
            s["conflicting"] == 0 and s["unreadable"] == 0 and s["crates"] == n_c and
            s["added"] == n_c and s["held"] == 0 and s["untrusted"] == 0 and s["bad"] == 0,
            "import into a fresh store: %s, expected %d new entries and %d added crates signed "
            "by %s" % (s, n_e, n_c, key_a))
    entries, blobs = check_store(t, b, b1["entries"], "B")
    t.check(entries == b1["entries"], "B holds %d entries, the bundle carried %d"
            % (len(entries), n_e))
    t.check(blobs == {e[2] for e in locked}, "B's blobs are not the locked crates")

    ag = t.start_agent(store=b, upstream=None)
    home = t.cargo_home(ag.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check(harness.counter(ag.status(), "from_upstream") == 0, "B's agent fetched upstream")
    t.check(ag.stop() == 0, "B's agent did not stop cleanly")

    # f. again: nothing new
    before = (store_entries(b), set(t.store_blobs(b)))
    _, out, err = do_import(t, f1, b)
    s = summary(t, out, "re-import")
    t.check(s["new"] == 0 and s["added"] == 0 and s["held"] == n_c and s["bad"] == 0,
            "a second import of the same bundle: %s" % s)
    t.check((store_entries(b), set(t.store_blobs(b))) == before, "a re-import changed B")
    return b


def part_traveller(t):
    """A user's own store, as it really is: imported from a ~/.cargo that `cargo build` filled
    on Linux (host crates only; the lockfile also names winapi, windows-targets, js-sys...).
    Export lists exactly the other targets' crates as missing and writes nothing; --partial
    writes the rest; on a second machine, from that bundle alone, the project builds offline
    from its unchanged lockfile (the agent's offline listing copes with the absent crates)."""
    travel_proj = t.manifest["projects"]["travel"]
    home, travel = t.user_cargo_home("travel")
    t.user_upstream.stop()
    with open(os.path.join(travel, "Cargo.lock")) as f:
        travel_lock = f.read()
    u = t.fresh_dir("store-user")
    t.run([t.cratecast, "import-cargo", "--store", u, home], timeout=120)
    host = {(n, v) for n, vs in travel_proj["host_crates"].items() for v in vs}
    locked = {(n, v) for n, vs in t.lock(travel).items() for v in vs}
    t.check(host < locked, "the travel fixture has no target-only crates (host %d, locked %d)"
            % (len(host), len(locked)))
    fu = t.path("travel.ccb")
    rc, out, err = bundle(t, "export", fu, "--lock", travel, "--store", u)
    miss = set(re.findall(r"^missing: (\S+) (\S+): .+$", err, re.M))
    t.check(rc == 1 and miss == locked - host and not os.path.exists(fu),
            "export of a Linux user's store: exit %d, missing %s (expected the other targets' "
            "%s), file written: %s" % (rc, sorted(miss), sorted(locked - host),
                                       os.path.exists(fu)))
    rc, out, err = bundle(t, "export", fu, "--lock", travel, "--store", u, "--partial")
    t.check(rc == 0 and os.path.exists(fu), "export --partial of a user's store exited %d:\n%s"
            % (rc, err))
    c = t.fresh_dir("store-c")
    do_import(t, fu, c)
    ag = t.start_agent(store=c, upstream=None)
    proj = t.fresh_dir("proj-travel")
    shutil.rmtree(proj)
    shutil.copytree(travel, proj, ignore=shutil.ignore_patterns("target"))
    chome = t.cargo_home(ag.registry_url)
    t.build_and_run(proj, chome, expect=travel_proj["output"])
    with open(os.path.join(proj, "Cargo.lock")) as f:
        t.check(f.read() == travel_lock, "travel's Cargo.lock changed building from the bundle")
    t.check(ag.stop() == 0, "C's agent did not stop cleanly")


def part_missing(t, ref, b1):
    """A store that lost every blob (gc) cannot export the lock, unless --partial."""
    y = t.fresh_dir("store-evicted")
    do_import(t, t.path("app.ccb"), y)
    t.run([t.cratecast, "gc", "--store", y, "--max-size", "0"], timeout=60)
    t.check(not t.store_blobs(y), "gc --max-size 0 left blobs")
    fy = t.path("missing.ccb")
    rc, out, err = bundle(t, "export", fy, "--lock", ref, "--store", y)
    miss = re.findall(r"^missing: (\S+) (\S+): .+$", err, re.M)
    want = sorted((n, v) for n, vs in t.lock(ref).items() for v in vs)
    t.check(rc == 1 and sorted(miss) == want and not os.path.exists(fy),
            "export with every locked crate missing: exit %d, missing lines %s (expected %s), "
            "file written: %s" % (rc, sorted(miss), want, os.path.exists(fy)))
    rc, out, err = bundle(t, "export", fy, "--lock", ref, "--store", y, "--partial")
    t.check(rc == 0 and os.path.exists(fy), "export --partial exited %d" % rc)
    one_line(t, out, err, "wrote ", "export --partial")
    bp = read_bundle(t, fy)
    t.check(bp["entries"] == b1["entries"] and not bp["crates"],
            "export --partial from the evicted store: %d entries, %d crates"
            % (len(bp["entries"]), len(bp["crates"])))


def part_trust(t, f1, b1, key_a, a):
    x = t.fresh_dir("store-x")
    key_x = t.agent_id(x)
    for args in (["--trust-key", key_x], ["--trust", "keys", "--trust-key", key_x]):
        e = t.fresh_dir("store-untrusting")
        rc, out, err = do_import(t, f1, e, *args, want_rc=1)
        t.check(re.search(r"^error: .* is not a trusted key: nothing imported", err, re.M),
                "import %s of A's bundle: stderr %r" % (args, err))
        t.check(key_a in err, "the refusal does not name the signer's key %s: %r" % (key_a, err))
        t.check(not store_entries(e) and not t.store_blobs(e),
                "an import refused for its signer stored %d entries, %d blobs"
                % (len(store_entries(e)), len(t.store_blobs(e))))
    e = t.fresh_dir("store-trusting")
    _, out, _ = do_import(t, f1, e, "--trust-key", key_a)
    s = summary(t, out, "import --trust-key A")
    t.check(s["added"] == len(b1["crates"]), "import --trust-key A: %s" % s)
    # from standard input
    e = t.fresh_dir("store-stdin")
    with open(f1, "rb") as fin:
        r = subprocess.run([t.cratecast, "bundle", "import", "-", "--store", e], stdin=fin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    harness.log("bundle import - < app.ccb -> %d: %s%s" % (r.returncode, r.stdout.decode(),
                                                         r.stderr.decode()))
    expect(t, r.returncode == 0 and len(t.store_blobs(e)) == len(b1["crates"]) and
           store_entries(e) == b1["entries"], "bundle import - (standard input) exited %d and "
           "stored %d crates: %r" % (r.returncode, len(t.store_blobs(e)), r.stderr.decode()))
    # the store's own key is trusted whatever --trust-key says
    _, out, _ = do_import(t, f1, a.store, "--trust-key", key_x)
    s = summary(t, out, "import into A's own store")
    t.check(s["new"] == 0 and s["added"] == 0, "A's own bundle into A: %s" % s)


def flip(data, pos):
    b = bytearray(data)
    b[pos] ^= 0xFF
    return bytes(b)


def part_damage(t, b1, ball):
    """c and d: flipped bytes and truncations; in the decompressed stream of the app's bundle,
    and in the compressed file of the --all bundle (which holds the 1 MB crate big-blob, so
    that zstd's blocks before the damage are delivered before it is found)."""
    stream = decompress(b1["raw"])
    all_sha = [c["sha"] for c in b1["crates"]]
    t.check(len(all_sha) >= 2, "the app bundle has %d crates" % len(all_sha))
    ch, end, c1 = b1["chunks"][0], b1["end"], b1["crates"][1]

    def run_case(name, raw, expect_kept=None, before=(), words=None, rc_ok=(1,),
                 carried=b1["entries"]):
        path = t.path("damaged-%s.ccb" % name)
        with open(path, "wb") as f:
            f.write(raw)
        st = t.fresh_dir("store-dmg")
        rc, out, err = bundle(t, "import", path, "--store", st, quiet=True)
        harness.log("damage %-22s -> %d: %s | %s" % (name, rc, " / ".join(err.strip().splitlines()),
                                                     out.strip()))
        expect(t, rc in rc_ok, "import of a bundle with %s exited %d, expected %s:\n%s%s"
                % (name, rc, rc_ok, out, err))
        if rc != 0:
            expect(t, re.search(r"^(error|warning): .+", err, re.M) is not None,
                   "%s: exit %d and no error line on stderr naming the problem: stderr %r, "
                   "stdout %r" % (name, rc, err, out))
        if words:
            expect(t, re.search(words, err, re.I) is not None,
                   "%s: the error does not say /%s/: %r" % (name, words, err))
        entries, blobs = check_store(t, st, carried, name)
        if expect_kept == "nothing":
            t.check(not entries and not blobs, "%s: %d entries and %d crates were stored from "
                    "a bundle damaged before them" % (name, len(entries), len(blobs)))
        elif expect_kept == "entries":
            expect(t, entries == carried, "%s: the index entries before the damage were not "
                   "kept (%d of %d)" % (name, len(entries), len(carried)))
        for sha in before:
            expect(t, sha in blobs, "%s: the crate %s before the damage was not kept"
                   % (name, sha))
        return rc, out, err, blobs

    # c. one byte of the decompressed stream, recompressed
    cases = [
        ("magic", 0, "nothing"), ("version", 9, "nothing"), ("flags", 11, "nothing"),
        ("signer", 20, "nothing"), ("bundle-id", 50, "nothing"), ("created", 66, "nothing"),
        ("registry-len", 69, "nothing"), ("registry", 72, "nothing"),
        ("chunk-type", ch["off"], "nothing"), ("chunk-len", ch["off"] + 6, "nothing"),
        ("chunk-number", ch["body_off"] + 3, "nothing"),
        ("index-line", ch["lines_off"] + len(b1["lines"][0]) // 2, "nothing"),
        ("index-cksum", ch["lines_off"] + b1["lines"][0].index(b'"cksum"') + 12, "nothing"),
        ("chunk-sig", ch["sig_off"] + 10, "nothing"),
        ("crate-type", c1["off"], "entries"), ("crate-sha", c1["off"] + 20, "entries"),
        ("crate-size", c1["off"] + 46, "entries"),
        ("crate-bytes", c1["data_off"] + c1["size"] // 2, "entries"),
        ("end-type", end["off"], "entries"), ("end-counts", end["body_off"] + 7, "entries"),
        ("end-bytes-count", end["body_off"] + 31, "entries"),
        ("end-sig", end["sig_off"] + 33, "entries"),
    ]
    for name, pos, kept in cases:
        _, _, _, blobs = run_case(name, compress(flip(stream, pos)), kept,
                                  before=all_sha[:1] if kept == "entries" else ())
        if name == "crate-bytes":
            t.check(c1["sha"] not in blobs, "a crate with a flipped byte was stored")
            expect(t, all(s in blobs for s in all_sha if s != c1["sha"]),
                   "a damaged crate's bytes stopped the import of the crates after it")
        if name.startswith("end-"):
            expect(t, blobs == set(all_sha), "%s: the crates before a damaged end record were "
                   "not kept" % name)
    run_case("bytes-after-end", compress(stream + b"E"), "entries", before=all_sha)
    run_case("second-frame-after-end", b1["raw"] + compress(b"junk"), "entries", before=all_sha)

    # c. one byte of the compressed file, at 10 spread positions
    raw, stream = ball["raw"], decompress(ball["raw"])
    carried = ball["entries"]
    harness.log("the --all bundle: %d bytes compressed, %d of stream, crates of %s bytes"
                % (len(raw), len(stream), [c["size"] for c in ball["crates"]]))
    for i in range(10):
        pos = (len(raw) - 1) * i // 9
        damaged = flip(raw, pos)
        rc_z, same = zstd(["-d", "-c"], damaged)
        # a flip zstd does not notice (e.g. a window size that still fits) changes nothing
        ok = (0, 1) if rc_z == 0 and same == stream else (1,)
        run_case("zstd-%d-of-%d" % (pos, len(raw)), damaged, rc_ok=ok, carried=carried)

    # d. truncated
    for n in sorted({4, 13, len(raw) // 3, len(raw) // 2, 2 * len(raw) // 3, len(raw) - 4,
                     len(raw) - 1}):
        _, _, _, blobs = run_case("cut-%d-of-%d" % (n, len(raw)), raw[:n],
                                  words=r"truncat|damag", carried=carried)
        if n == len(raw) - 4:  # only the zstd checksum is missing: every crate was whole
            expect(t, len(blobs) == len(ball["crates"]), "a bundle without its last 4 bytes "
                   "(the zstd checksum) kept %d of %d crates" % (len(blobs), len(ball["crates"])))
    # whole zstd frames whose stream stops at a record boundary: zstd itself sees no damage
    stream, end, ch, c1 = decompress(b1["raw"]), b1["end"], b1["chunks"][0], b1["crates"][1]
    run_case("stream-cut-before-end", compress(stream[:end["off"]]), "entries",
             before=all_sha, words=r"truncat|damag")
    run_case("stream-cut-after-chunk", compress(stream[:ch["off"] + ch["len"]]), "entries",
             words=r"truncat|damag")
    run_case("stream-cut-in-crate", compress(stream[:c1["data_off"] + c1["size"] // 2]),
             "entries", before=all_sha[:1], words=r"truncat|damag")
    run_case("stream-cut-in-header", compress(stream[:40]), "nothing", words=r"truncat|damag")


def part_conflict(t, f1, b_store, ref):
    """e. a bundle whose signer's store holds a forged line of cc-util 1.0.0"""
    x = t.fresh_dir("store-liar")
    do_import(t, f1, x)
    db = sqlite3.connect(os.path.join(x, "store.db"), timeout=10)
    row = db.execute("SELECT line FROM index_entries WHERE name_lc = 'cc-util' AND vers = '1.0.0'"
                     ).fetchone()
    t.check(row is not None, "the liar's store holds no entry for cc-util 1.0.0")
    entry = json.loads(bytes(row[0]))
    entry["cksum"] = FORGED
    db.execute("UPDATE index_entries SET line = ? WHERE name_lc = 'cc-util' AND vers = '1.0.0'",
               (json.dumps(entry, separators=(",", ":")).encode(),))
    db.commit()
    db.close()
    key_x = t.agent_id(x)
    fl = t.path("liar.ccb")
    rc, out, err = bundle(t, "export", fl, "--lock", ref, "--store", x, "--partial")
    t.check(rc == 0 and os.path.exists(fl), "export from the liar's store exited %d" % rc)
    bl = read_bundle(t, fl)
    t.check(("cc-util", "1.0.0", FORGED) in bl["entries"],
            "the liar's bundle does not carry the forged line (export re-derived it?)")
    before = store_lines(b_store)
    blobs_before = set(t.store_blobs(b_store))
    rc, out, err = bundle(t, "import", fl, "--store", b_store)
    want = ("warning: index entry cc-util 1.0.0 from bundle signer %s contradicts the one "
            "already held: rejected" % key_x)
    t.check(rc == 1, "import of a contradicting bundle exited %d, expected 1" % rc)
    t.check(want in err, "stderr lacks %r:\n%s" % (want, err))
    s = summary(t, out, "contradicting import")
    t.check(s["conflicting"] == 1 and s["new"] == 0, "contradicting import: %s" % s)
    t.check(store_lines(b_store) == before, "B's index entries changed")
    t.check(set(t.store_blobs(b_store)) == blobs_before, "B's blobs changed")
    t.check(not [e for e in store_entries(b_store) if e[2] == FORGED],
            "B holds the forged checksum")


def part_live(t, f1, locked, ref):
    """g. import into a running agent's store; its peer sees and uses the crates"""
    d = t.start_agent(upstream=None, peer_listen=True)
    key_d = t.agent_id(d)
    c = t.start_agent(upstream=None, peers=[d])
    t.wait_peer(c, key=key_d, pred=lambda e: e.get("state", "live") == "live",
                what="C lists D live")
    t0 = time.time()
    do_import(t, f1, d.store)
    t1 = time.time()
    t.wait_status(d, lambda s: s["store"].get("crates", 0) >= len(locked),
                  "D's status to count the imported crates", timeout=10)
    t2 = time.time()
    t.wait_peer(c, key=key_d, pred=lambda e: e.get("crates", 0) >= len(locked),
                what="C lists D with the imported crates", timeout=10)
    t3 = time.time()
    harness.log("import %.2fs; D counted them %.2fs after it, C listed them %.2fs after it"
                % (t1 - t0, t2 - t1, t3 - t1))
    expect(t, t3 - t1 < 3, "C (D's static peer) learnt of the crates imported into D's store "
           "only %.1fs after the import (the contract: the agent notices within ~1-2 s and "
           "announces to peers)" % (t3 - t1))
    home = t.cargo_home(c.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.cargo(["fetch"], proj, home)
    s = c.status()
    t.check(harness.counter(s, "from_peers") >= len(locked) and
            harness.counter(s, "bytes_from_peers") > 0,
            "C: from_peers %r, bytes_from_peers %r" % (harness.counter(s, "from_peers"),
                                                      harness.counter(s, "bytes_from_peers")))
    blobs = t.check_store_invariant(c.store)
    t.check(all(e[2] in blobs for e in locked), "C lacks locked crates after the fetch")
    t.check(d.alive() and c.alive(), "an agent exited")


def part_local_registry(t, a, ref):
    """h. plain Cargo, --offline, from a local-registry directory"""
    lr = t.path("stick")
    rc, out, err = bundle(t, "export", "--format", "local-registry", lr, "--lock", ref,
                          "--store", a.store)
    t.check(rc == 0, "export --format local-registry exited %d:\n%s" % (rc, err))
    one_line(t, out, err, "wrote ", "export --format local-registry")
    lock = t.lock(ref)
    for name, vs in lock.items():
        p = os.path.join(lr, "index", *registry.index_path(name).split("/"))
        t.check(os.path.isfile(p), "local registry: no index file %s" % p)
        with open(p) as f:
            lines = [json.loads(ln) for ln in f if ln.strip()]
        t.check(sorted(e["vers"] for e in lines) == sorted(vs),
                "local registry %s lists %s, the lock has %s"
                % (p, sorted(e["vers"] for e in lines), sorted(vs)))
        for v, ck in vs.items():
            cp = os.path.join(lr, "%s-%s.crate" % (name, v))
            t.check(os.path.isfile(cp) and harness.sha256_file(cp) == ck,
                    "local registry: %s missing or not the locked crate" % cp)
    home = t.fresh_dir("cargo-home-stick")
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[source.crates-io]\nreplace-with = "stick"\n\n'
                '[source.stick]\nlocal-registry = "%s"\n' % lr)
    proj = t.project("app")
    shutil.copy(os.path.join(ref, "Cargo.lock"), os.path.join(proj, "Cargo.lock"))
    src = [ln for ln in open(os.path.join(proj, "Cargo.lock")) if ln.startswith("source = ")]
    harness.log("the lock's sources: %s" % sorted(set(s.strip() for s in src)))
    t.cargo(["build", "--offline", "--locked"], proj, home)
    exe = os.path.join(proj, "target", "debug", "app")
    _, out = t.run([exe], timeout=30)
    t.check(out.strip() == t.manifest["expected_app_output"],
            "the app built from the local registry printed %r" % out)
    t.same_lock(ref, proj)


def part_usage(t, a):
    f = t.path("usage.ccb")
    for args in (["frobnicate", f], [], ["export", f, "--all", "--lock", "."],
                 ["import", f, "--store", a.store, "--trust", "keys"], ["export"], ["import"],
                 ["export", f, "--format", "zip", "--store", a.store],
                 ["import", f, "--store", a.store, "--trust", "sometimes"]):
        rc, out, err = bundle(t, *args)
        t.check(rc == 2 and re.match(r"error: ", err) is not None and
                "no such command" not in err,
                "bundle %s: expected exit 2 and an 'error:' line on stderr, got %d %r"
                % (" ".join(args), rc, err))
    t.check(not os.path.exists(f), "a usage error wrote %s" % f)
    rc, out, err = bundle(t, "--help")
    t.check(rc == 0 and "export" in out and "import" in out, "bundle --help: %d %r" % (rc, out))


def part_tty(t, a, fall, ball):
    st = t.fresh_dir("store-tty")
    for what, cmd in (
            ("export", [t.cratecast, "bundle", "export", t.path("tty.ccb"), "--all", "--store",
                        a.store]),
            ("import", [t.cratecast, "bundle", "import", fall, "--store", st])):
        rc, out, secs = harness.run_on_tty(cmd, timeout=60)
        harness.log("bundle %s on a terminal -> %d in %.2fs: %r" % (what, rc, secs, out[-300:]))
        t.check(rc == 0, "bundle %s on a terminal exited %d: %r" % (what, rc, out[-600:]))
        t.check("\r" in out, "bundle %s on a terminal drew no progress bar: %r"
                % (what, out[-600:]))
        lines = out.replace("\r", "\n").splitlines()
        prefix = "wrote " if what == "export" else "imported "
        t.check(len([ln for ln in lines if ln.startswith(prefix)]) == 1,
                "bundle %s on a terminal: not exactly one summary line: %r" % (what, out[-600:]))
    t.check(len(t.store_blobs(st)) == len(ball["crates"]), "the import on a terminal")


def test(t):
    t.soft = []
    t.big_mb = 1  # big-blob 1.0.0 (1 MB, incompressible) joins the registry
    up, a, ref = t.warm_up("app")
    big = t.manifest["big"]
    for path in ("/index/" + registry.index_path(big["name"]),
                 "/crates/%s/%s/%s" % (big["name"], big["vers"], big["cksum"])):
        st, _, body = harness.http_get(a.port, path, timeout=30)
        t.check(st == 200, "A answered %s with %d" % (path, st))
    t.check(hashlib.sha256(body).hexdigest() == big["cksum"], "A served a damaged big-blob")
    t.check_app_lock(ref)
    up.stop()  # nothing below may need it
    key_a = t.agent_id(a)
    t0 = time.time()
    part_usage(t, a)
    f1, b1, locked, fall, ball = part_export(t, a, ref, key_a)
    b = part_import_build(t, f1, b1, locked, key_a, ref)
    part_missing(t, ref, b1)
    part_traveller(t)
    part_trust(t, f1, b1, key_a, a)
    part_damage(t, b1, ball)
    part_conflict(t, f1, b, ref)
    part_live(t, f1, locked, ref)
    part_local_registry(t, a, ref)
    part_tty(t, a, fall, ball)
    t.check_store_invariant(a.store)
    harness.log("bundle checks took %.1fs after the warm-up" % (time.time() - t0))
    t.check(not t.soft, "%d checks failed:\n- %s" % (len(t.soft), "\n- ".join(t.soft)))


if __name__ == "__main__":
    harness.main(test)
