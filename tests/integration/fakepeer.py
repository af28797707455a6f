#!/usr/bin/python3
"""Fake peers for the hostile integration tests: the peer side of protocol v1, in Python.

docs/protocol.md is the contract. This module encodes (and decodes) its four signed messages
with Python's `cryptography` Ed25519, and serves them from a small threaded HTTP server on
127.0.0.1, so that a test can play a peer whose every answer it controls:

    fp = fakepeer.FakePeer()                   # its own fresh Ed25519 key
    fp.add_crate(data)                         # real bytes, listed in the manifest
    fp.set_index("cc-util", lines)             # an index file it signs and lists
    fp.pex = ["127.0.0.1:1234"]                # the manifest's pex list (any strings)
    fp.news_peers = [("127.0.0.1", 1234)]      # the news message's peers (IP literal, port)
    fp.bump()                                  # after a change: seq and news generation move
    ... t.start_agent(peers=[fp.addr]) ...
    fp.requested("/peer/1/crate/")             # what the agent asked, in order
    fp.close()

Behaviour is twisted by subclassing and overriding one of on_hello, on_manifest, on_index,
on_crate, on_news, on_other (each gets the request handler `h` and may use h.reply(),
h.drip(), h.stall(), h.redirect()).

Routes served (GET only):
    /peer/1/hello?nonce=<64 hex>[&port=N]   hello signed over the requester's nonce
    /peer/1/manifest[?since=N]              always a full manifest (since = 0): allowed
    /peer/1/index/<name>                    index message, or 404
    /peer/1/crate/<sha256>                  the bytes, or 404
    /peer/1/news[?since=G][&wait=S]         news; held up to min(S, news_hold) s while G is
                                            the current generation (so an agent's long poll
                                            does not spin), else answered at once

Also here: Observer (a raw TCP server that records every request head it gets and answers a
fixed reply), ListenerFarm (many listening sockets on 127.0.0.x that count connection
attempts), SlowLink (a throttling TCP forwarder that can "heal"), and self_check(), which
checks the encoders against the test vectors printed in docs/protocol.md and runs first in
every hostile test (`python3 fakepeer.py` runs it alone).

Nothing here binds or connects to anything but loopback.
"""

import base64
import hashlib
import http.server
import ipaddress
import os
import re
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                   Ed25519PublicKey)
    from cryptography.exceptions import InvalidSignature
    CRYPTO_MISSING = None
except ImportError as e:  # the tests skip (77): see self_check()
    CRYPTO_MISSING = e

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOL_MD = os.path.join(HERE, "..", "..", "docs", "protocol.md")

MAGIC = b"CCP1"
T_HELLO, T_MANIFEST, T_INDEX, T_NEWS = b"H", b"M", b"I", b"N"
CAP_MANIFEST, CAP_DELTA, CAP_CRATE, CAP_INDEX, CAP_PEX, CAP_NEWS = 1, 2, 4, 8, 0x10, 0x20
CAP_ALL = 0x3f
BODY_MAX = 32 << 20
MANIFEST_CRATES_MAX = 500000
CRATE_ENTRY_LEN = 40  # sha256 + u64 size


def log(msg):
    sys.stdout.write("[%s] fakepeer: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


# ---- keys ---------------------------------------------------------------------------------

class Key:
    """An Ed25519 key pair: a fresh one, or the one made from a 32-byte seed."""

    def __init__(self, seed=None):
        if seed is None:
            self.sk = Ed25519PrivateKey.generate()
        else:
            self.sk = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        self.pk = self.sk.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)

    def sign(self, msg):
        return self.sk.sign(msg)

    @property
    def text(self):
        """The key text (base64url, no padding, 43 characters): what `cratecast id` prints."""
        return key_text(self.pk)

    @property
    def key_id(self):
        return key_id(self.pk)


def key_text(pk):
    return base64.urlsafe_b64encode(pk).rstrip(b"=").decode()


def key_id(pk):
    return hashlib.blake2b(pk, digest_size=32).digest()[:8].hex()


# ---- encoding -----------------------------------------------------------------------------

def domain(mtype):
    return b"cratecast/1/" + mtype + b"\0"


def envelope(mtype, body, flags=0):
    return MAGIC + mtype + bytes([flags]) + b"\0\0" + struct.pack(">I", len(body)) + body


def seal(key, mtype, fields):
    """pk || fields || sig(domain || pk || fields), in an uncompressed envelope."""
    body = key.pk + fields
    return envelope(mtype, body + key.sign(domain(mtype) + body))


def encode_hello(key, nonce, seq=0, tm=None, peer_port=0, caps=CAP_ALL, version=1):
    if len(nonce) != 32:
        raise ValueError("nonce must be 32 bytes")
    tm = int(time.time()) if tm is None else tm
    return seal(key, T_HELLO, struct.pack(">HIQQH", version, caps, seq, tm, peer_port) + nonce)


def crate_entries(items):
    """The manifest's crate entries: items are (sha256 bytes or hex, size)."""
    out = bytearray()
    for sha, size in items:
        if isinstance(sha, str):
            sha = bytes.fromhex(sha)
        out += sha + struct.pack(">Q", size)
    return bytes(out)


def bulk_crate_entries(n, size=1000, seed=None):
    """n distinct fake crate entries (random digests) as manifest bytes, quickly."""
    rnd = os.urandom(32 * n) if seed is None else hashlib.shake_256(seed).digest(32 * n)
    sz = struct.pack(">Q", size)
    return b"".join(rnd[i * 32:(i + 1) * 32] + sz for i in range(n))


def encode_manifest(key, seq, since=0, tm=None, crates=(), index=(), pex=(),
                    crates_blob=b"", crates_blob_n=0):
    """crates: [(sha, size)]; index: [(name, sha256-of-file bytes, updated)]; pex: [str];
    crates_blob: extra entries already encoded (bulk_crate_entries), crates_blob_n of them."""
    tm = int(time.time()) if tm is None else tm
    cr = crate_entries(crates)
    ncr = len(crates) + crates_blob_n
    parts = [struct.pack(">QQQI", seq, since, tm, ncr), cr, crates_blob,
             struct.pack(">I", len(index))]
    for name, h, updated in index:
        nb = name.encode()
        parts.append(bytes([len(nb)]) + nb + h + struct.pack(">Q", updated))
    parts.append(struct.pack(">H", len(pex)))
    for a in pex:
        ab = a.encode("latin-1")
        parts.append(bytes([len(ab)]) + ab)
    return seal(key, T_MANIFEST, b"".join(parts))


def encode_index(key, name, lines, tm=None):
    tm = int(time.time()) if tm is None else tm
    nb = name.encode()
    return seal(key, T_INDEX, bytes([len(nb)]) + nb + struct.pack(">QI", tm, len(lines)) + lines)


def peer_value(p):
    """(family, ip bytes, port) of ("ip", port) or "ip:port" / "[v6]:port"."""
    if isinstance(p, str):
        m = re.fullmatch(r"\[(.+)\]:(\d+)|([^:]+):(\d+)", p)
        host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        p = (host, int(port))
    host, port = p
    ip = ipaddress.ip_address(host)
    return (4 if ip.version == 4 else 6), ip.packed, int(port)


def encode_news(key, gen, seq, tm=None, uploads=0, slots=8, waiting=0, fetching=(), peers=()):
    tm = int(time.time()) if tm is None else tm
    parts = [struct.pack(">QQQHHHH", gen, seq, tm, uploads, slots, waiting, len(fetching))]
    for sha in fetching:
        parts.append(bytes.fromhex(sha) if isinstance(sha, str) else sha)
    parts.append(struct.pack(">H", len(peers)))
    for p in peers:
        fam, ip, port = peer_value(p)
        parts.append(bytes([fam]) + ip + struct.pack(">H", port))
    return seal(key, T_NEWS, b"".join(parts))


# ---- decoding (uncompressed messages: what the agent sends for hello and news) -----------

class DecodeError(Exception):
    pass


def open_message(buf, mtype):
    """Check the envelope and the signature; returns (pk, fields) of an uncompressed message."""
    if len(buf) < 12 or buf[:4] != MAGIC:
        raise DecodeError("bad magic")
    if buf[4:5] != mtype:
        raise DecodeError("type %r, expected %r" % (buf[4:5], mtype))
    if buf[5] != 0 or buf[6:8] != b"\0\0":
        raise DecodeError("flags %d / reserved %r (compressed messages are not decoded here)"
                          % (buf[5], buf[6:8]))
    n = struct.unpack(">I", buf[8:12])[0]
    body = buf[12:]
    if len(body) != n or n < 96:
        raise DecodeError("body length %d, envelope says %d" % (len(body), n))
    pk, sig = body[:32], body[-64:]
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, domain(mtype) + body[:-64])
    except InvalidSignature:
        raise DecodeError("signature does not verify")
    return pk, body[32:-64]


def decode_hello(buf):
    pk, f = open_message(buf, T_HELLO)
    if len(f) != 56:
        raise DecodeError("hello fields are %d bytes" % len(f))
    version, caps, seq, tm, port = struct.unpack(">HIQQH", f[:24])
    return {"pk": pk, "version": version, "caps": caps, "seq": seq, "time": tm,
            "peer_port": port, "nonce": f[24:56]}


def decode_news(buf):
    pk, f = open_message(buf, T_NEWS)
    gen, seq, tm, up, slots, waiting, nf = struct.unpack(">QQQHHHH", f[:32])
    off = 32
    fetching = [f[off + 32 * i: off + 32 * (i + 1)] for i in range(nf)]
    off += 32 * nf
    (np_,) = struct.unpack(">H", f[off:off + 2])
    off += 2
    peers = []
    for _ in range(np_):
        fam = f[off]
        ln = 4 if fam == 4 else 16
        ip = ipaddress.ip_address(f[off + 1:off + 1 + ln])
        (port,) = struct.unpack(">H", f[off + 1 + ln:off + 3 + ln])
        peers.append((str(ip), port))
        off += 3 + ln
    if off != len(f):
        raise DecodeError("news has %d trailing bytes" % (len(f) - off))
    return {"pk": pk, "gen": gen, "seq": seq, "time": tm, "uploads": up, "slots": slots,
            "waiting": waiting, "fetching": fetching, "peers": peers}


def decode_manifest(buf):
    pk, f = open_message(buf, T_MANIFEST)
    seq, since, tm, nc = struct.unpack(">QQQI", f[:28])
    off = 28
    crates = []
    for _ in range(nc):
        crates.append((f[off:off + 32], struct.unpack(">Q", f[off + 32:off + 40])[0]))
        off += 40
    (ni,) = struct.unpack(">I", f[off:off + 4])
    off += 4
    index = []
    for _ in range(ni):
        ln = f[off]
        name = f[off + 1:off + 1 + ln].decode()
        off += 1 + ln
        index.append((name, f[off:off + 32], struct.unpack(">Q", f[off + 32:off + 40])[0]))
        off += 40
    (npx,) = struct.unpack(">H", f[off:off + 2])
    off += 2
    pex = []
    for _ in range(npx):
        ln = f[off]
        pex.append(f[off + 1:off + 1 + ln].decode("latin-1"))
        off += 1 + ln
    if off != len(f):
        raise DecodeError("manifest has %d trailing bytes" % (len(f) - off))
    return {"pk": pk, "seq": seq, "since": since, "time": tm, "crates": crates,
            "index": index, "pex": pex}


# ---- self-check against docs/protocol.md ------------------------------------------------

def _doc_vectors(text):
    """{"seed","pk","key text","key id","hello","manifest","news"} from the test vectors."""
    i = text.find("## Test vectors")
    if i < 0:
        raise AssertionError("docs/protocol.md has no '## Test vectors' section")
    tv = text[i:]
    blocks = re.findall(r"```\n(.*?)```", tv, re.S)
    heads = [m.group(1) for m in re.finditer(r"^### (\w+)", tv, re.M)]
    out = {}
    for line in blocks[0].splitlines():
        m = re.match(r"(seed|pk|key text|key id)\s+(\S+)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    for head, block in zip(heads, blocks[1:]):
        hexs = []
        for line in block.splitlines():
            tok = line.split()
            if len(tok) == 2 and re.fullmatch(r"[0-9a-f]+", tok[1]):
                hexs.append(tok[1])
            elif len(tok) == 1 and re.fullmatch(r"[0-9a-f]+", tok[0]):
                hexs.append(tok[0])
        out[head.lower()] = "".join(hexs)
    return out


def self_check(path=PROTOCOL_MD):
    """Encode the documented vectors and compare byte for byte; raises AssertionError.
    Without Python's `cryptography` package, raises harness.Skip (exit 77)."""
    if CRYPTO_MISSING is not None:
        import harness
        raise harness.Skip("Python's cryptography package (Ed25519) is missing for %s: %s"
                           % (sys.executable, CRYPTO_MISSING))
    with open(path) as f:
        vec = _doc_vectors(f.read())
    for k in ("seed", "pk", "key text", "key id", "hello", "manifest", "news"):
        if not vec.get(k):
            raise AssertionError("docs/protocol.md: no test vector for %r" % k)
    key = Key(seed=bytes(range(32)))
    checks = []

    def same(what, got, want):
        if got != want:
            raise AssertionError("self-check: %s is\n  %s\nthe vector in docs/protocol.md is\n"
                                 "  %s" % (what, got, want))
        checks.append(what)

    same("seed", bytes(range(32)).hex(), vec["seed"])
    same("pk", key.pk.hex(), vec["pk"])
    same("key text", key.text, vec["key text"])
    same("key id", key.key_id, vec["key id"])
    tm = 1700000000
    hello = encode_hello(key, bytes(range(0xa0, 0xc0)), seq=42, tm=tm, peer_port=7879,
                         caps=0x1f)
    same("hello (%d bytes)" % len(hello), hello.hex(), vec["hello"])
    empty = hashlib.sha256(b"").digest()
    man = encode_manifest(key, 7, 0, tm, crates=[(empty, 1234)],
                          index=[("serde", b"\xab" * 32, tm)], pex=["192.0.2.7:7879"])
    same("manifest (%d bytes)" % len(man), man.hex(), vec["manifest"])
    news = encode_news(key, 5, 7, tm, uploads=2, slots=8, waiting=1, fetching=[empty],
                       peers=[("192.0.2.7", 7879), "[2001:db8::1]:7879"])
    same("news (%d bytes)" % len(news), news.hex(), vec["news"])
    # the decoders read back what the encoders wrote (and verify the documented signatures)
    h = decode_hello(bytes.fromhex(vec["hello"]))
    assert h["seq"] == 42 and h["peer_port"] == 7879 and h["pk"] == key.pk, h
    m = decode_manifest(bytes.fromhex(vec["manifest"]))
    assert m["pex"] == ["192.0.2.7:7879"] and m["crates"] == [(empty, 1234)], m
    n = decode_news(bytes.fromhex(vec["news"]))
    assert n["peers"] == [("192.0.2.7", 7879), ("2001:db8::1", 7879)], n
    bad = bytearray(bytes.fromhex(vec["news"]))
    bad[40] ^= 1
    try:
        decode_news(bytes(bad))
        raise AssertionError("self-check: a changed news body still verifies")
    except DecodeError:
        pass
    log("self-check against docs/protocol.md: %s: ok" % ", ".join(checks))
    return True


# ---- the fake peer's HTTP server -----------------------------------------------------------

HELLO_RE = re.compile(r"[0-9a-fA-F]{64}")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # a client that went away in the middle of an answer is normal here


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "fakepeer"

    def log_message(self, fmt, *args):
        pass

    @property
    def fp(self):
        return self.server.fp

    def reply(self, status, body=b"", ctype="application/x-cratecast", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def redirect(self, location, status=302):
        self.reply(status, b"moved\n", "text/plain", {"Location": location})

    def drip(self, body, rate, piece=None):
        """200 with the full Content-Length, then the body at `rate` bytes per second."""
        piece = piece or max(1, int(rate // 10) or 1)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        off = 0
        while off < len(body) and not self.fp.stopping.is_set():
            self.wfile.write(body[off:off + piece])
            self.wfile.flush()
            off += piece
            self.fp.stopping.wait(piece / float(rate))
        self.close_connection = True

    def stall(self):
        """Read the request, then never answer (until the fake peer is closed)."""
        self.fp.stopping.wait()
        self.close_connection = True

    def do_GET(self):
        fp = self.fp
        u = urllib.parse.urlsplit(self.path)
        q = {}
        for part in u.query.split("&") if u.query else []:
            k, _, v = part.partition("=")
            q.setdefault(k, v)
        with fp.lock:
            fp.requests.append((time.time(), self.path, self.client_address[0]))
        path = u.path
        try:
            if path == "/peer/1/hello":
                return fp.on_hello(self, q)
            if path == "/peer/1/manifest":
                return fp.on_manifest(self, q)
            if path.startswith("/peer/1/index/"):
                return fp.on_index(self, path[len("/peer/1/index/"):].lower())
            if path.startswith("/peer/1/crate/"):
                return fp.on_crate(self, path[len("/peer/1/crate/"):].lower())
            if path == "/peer/1/news":
                return fp.on_news(self, q)
            return fp.on_other(self, q)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True


class FakePeer:
    """One fake agent: its own key, its own port on 127.0.0.1. See the module docstring."""

    def __init__(self, key=None, caps=CAP_ALL, label="fake", news_hold=10.0):
        self.key = key or Key()
        self.caps = caps
        self.label = label
        self.news_hold = news_hold
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests = []  # (time, path, client ip)
        self.seq = 1
        self.gen = 1
        self.crates = {}  # sha hex -> bytes it serves
        self.listed = {}  # sha hex -> size announced in the manifest
        self.crates_blob, self.crates_blob_n = b"", 0  # bulk fake entries
        self.index_files = {}  # name -> index-file bytes
        self.index_hash = {}  # name -> the hash its manifest announces (default: the real one)
        self.pex = []
        self.news_peers = []
        self.fetching = []
        self._wire = None
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.fp = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.5}, daemon=True)
        self.thread.start()

    # -- what it holds ------------------------------------------------------------------
    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def add_crate(self, data, size=None, serve=True):
        """List a crate (its sha256 and size) in the manifest; serve the bytes when serve."""
        sha = hashlib.sha256(data).hexdigest()
        self.listed[sha] = len(data) if size is None else size
        if serve:
            self.crates[sha] = data
        self._wire = None
        return sha

    def list_crate(self, sha, size):
        self.listed[sha] = size
        self._wire = None

    def set_bulk(self, n, size=1000):
        """n random crate entries in the manifest (a budget flood)."""
        self.crates_blob, self.crates_blob_n = bulk_crate_entries(n, size), n
        self._wire = None

    def set_index(self, name, lines, announce_hash=None):
        self.index_files[name.lower()] = lines
        if announce_hash is not None:
            self.index_hash[name.lower()] = announce_hash
        self._wire = None

    def bump(self):
        """Something changed: the manifest sequence and the news generation move."""
        with self.lock:
            self.seq += 1
            self.gen += 1
            self._wire = None

    # -- messages -----------------------------------------------------------------------
    def manifest_pex(self):
        return list(self.pex)

    def news_peer_list(self):
        return list(self.news_peers)

    def manifest_wire(self, since=0):
        with self.lock:
            if self._wire is not None and self._wire[0] == self.seq:
                return self._wire[1]
            seq = self.seq
        index = []
        for name, lines in sorted(self.index_files.items()):
            h = self.index_hash.get(name) or hashlib.sha256(lines).digest()
            index.append((name, h, int(time.time())))
        wire = encode_manifest(self.key, seq, 0, crates=sorted(self.listed.items()), index=index,
                               pex=self.manifest_pex(), crates_blob=self.crates_blob,
                               crates_blob_n=self.crates_blob_n)
        with self.lock:
            self._wire = (seq, wire)
        return wire

    def news_wire(self):
        return encode_news(self.key, self.gen, self.seq, fetching=self.fetching,
                           peers=self.news_peer_list())

    # -- routes (override to twist) ------------------------------------------------------
    def on_hello(self, h, q):
        nonce = q.get("nonce", "")
        if not HELLO_RE.fullmatch(nonce):
            return h.reply(400, b"bad nonce\n", "text/plain")
        h.reply(200, encode_hello(self.key, bytes.fromhex(nonce), seq=self.seq,
                                  peer_port=self.port, caps=self.caps))

    def on_manifest(self, h, q):
        h.reply(200, self.manifest_wire())

    def on_index(self, h, name):
        lines = self.index_files.get(name)
        if lines is None:
            return h.reply(404, b"no\n", "text/plain")
        h.reply(200, encode_index(self.key, name, lines))

    def on_crate(self, h, sha):
        data = self.crates.get(sha)
        if data is None:
            return h.reply(404, b"no\n", "text/plain")
        h.reply(200, data, "application/octet-stream")

    def on_news(self, h, q):
        try:
            since = int(q.get("since", "0") or 0)
            wait = int(q.get("wait", "0") or 0)
        except ValueError:
            return h.reply(400, b"bad\n", "text/plain")
        deadline = time.time() + min(wait, self.news_hold)
        while since == self.gen and time.time() < deadline and not self.stopping.is_set():
            self.stopping.wait(0.1)
        h.reply(200, self.news_wire())

    def on_other(self, h, q):
        h.reply(404, b"not found\n", "text/plain")

    # -- what it was asked ---------------------------------------------------------------
    def requested(self, prefix=""):
        with self.lock:
            return [p for _, p, _ in self.requests if p.startswith(prefix)]

    def close(self, wait=False):
        """Stop answering. The server loop notices within its poll interval (0.5 s); without
        wait, close() returns at once (closing hundreds of fakes must not take minutes)."""
        self.stopping.set()

        def stop():
            try:
                self.server.shutdown()
                self.server.server_close()
            except OSError:
                pass
        th = threading.Thread(target=stop, daemon=True)
        th.start()
        if wait:
            th.join(5)


# ---- registry data for fake holders ---------------------------------------------------------

def registry_crate(t, name, vers):
    """The generated registry's record of name vers, with its bytes under "data"."""
    c = dict(t.crate(name, vers))
    with open(os.path.join(t.registry, c["file"]), "rb") as f:
        c["data"] = f.read()
    return c


def lock_crates(t, proj):
    """Every registry package of proj's Cargo.lock as registry_crate() records."""
    out = []
    for name, versions in sorted(t.lock(proj).items()):
        for vers in sorted(versions):
            out.append(registry_crate(t, name, vers))
    return out


def registry_index(t, name):
    """The upstream's index-file bytes of a crate (what an honest peer signs)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import registry
    with open(os.path.join(t.registry, "index", registry.index_path(name)), "rb") as f:
        return f.read()


def hello_request(port, nonce=None, own_port=None, timeout=5):
    """GET /peer/1/hello on 127.0.0.1:port as a requester would (port=own_port). Returns
    (status, decoded hello or None, nonce)."""
    import http.client
    nonce = nonce or os.urandom(32)
    path = "/peer/1/hello?nonce=" + nonce.hex()
    if own_port:
        path += "&port=%d" % own_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200:
        return r.status, None, nonce
    h = decode_hello(body)
    if h["nonce"] != nonce:
        raise DecodeError("the hello does not answer our nonce")
    return r.status, h, nonce


# ---- an observer: records every request head it receives ---------------------------------

class Observer:
    """A raw TCP server on 127.0.0.1 (and [::1] on the same port when possible) that records
    every connection and request head, then sends `reply` and closes. records: dicts with
    time, family, client, raw (bytes), line, method, path, headers (lower-case keys)."""

    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self, reply=NOT_FOUND, label="observer", v6=True):
        self.reply = reply
        self.label = label
        self.lock = threading.Lock()
        self.records = []
        self.connections = 0
        self.closed = False
        self.socks = []
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(256)
        self.port = s.getsockname()[1]
        self.socks.append((4, s))
        if v6:
            try:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s6.bind(("::1", self.port))
                s6.listen(256)
                self.socks.append((6, s6))
            except OSError:
                pass
        for fam, so in self.socks:
            threading.Thread(target=self._accept, args=(fam, so), daemon=True).start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def v6(self):
        return len(self.socks) > 1

    def _accept(self, fam, so):
        while not self.closed:
            try:
                c, peer = so.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(fam, c, peer), daemon=True).start()

    def _serve(self, fam, c, peer):
        buf = b""
        c.settimeout(3)
        try:
            while b"\r\n\r\n" not in buf and len(buf) < 65536:
                d = c.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        head = buf.split(b"\r\n\r\n", 1)[0]
        lines = head.split(b"\r\n")
        first = lines[0].decode("latin-1") if lines else ""
        parts = first.split(" ")
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        rec = {"time": time.time(), "family": fam, "client": peer[0], "raw": buf[:4096],
               "line": first, "method": parts[0] if parts else "",
               "path": parts[1] if len(parts) > 1 else "", "headers": headers}
        with self.lock:
            self.records.append(rec)
        try:
            if buf and self.reply:
                c.sendall(self.reply)
        except OSError:
            pass
        try:
            c.close()
        except OSError:
            pass

    def seen(self):
        with self.lock:
            return list(self.records)

    def close(self):
        self.closed = True
        for _, so in self.socks:
            try:
                so.close()
            except OSError:
                pass


# ---- many listening addresses that count connection attempts ------------------------------

class ListenerFarm:
    """n listening sockets, one on each of 127.0.0.<first>..127.0.0.<first+n-1> (ephemeral
    ports). Every accepted connection is recorded (time, index) and closed at once.
    addrs[i] is "127.0.0.x:port"."""

    def __init__(self, n, first=10):
        self.lock = threading.Lock()
        self.hits = []
        self.socks = []
        self.addrs = []
        self.closed = False
        for i in range(n):
            ip = "127.0.%d.%d" % ((first + i) // 250, 1 + (first + i) % 250)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((ip, 0))
            s.listen(64)
            s.setblocking(False)
            self.socks.append(s)
            self.addrs.append("%s:%d" % (ip, s.getsockname()[1]))
        self.index = {s.fileno(): i for i, s in enumerate(self.socks)}
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.closed:
            try:
                r, _, _ = select.select(self.socks, [], [], 0.2)
            except (OSError, ValueError):
                return
            for s in r:
                try:
                    c, _ = s.accept()
                except OSError:
                    continue
                with self.lock:
                    self.hits.append((time.time(), self.index[s.fileno()]))
                c.close()

    def contacted(self, until=None):
        """Indexes of the addresses that got a connection (before `until`)."""
        with self.lock:
            return sorted({i for t, i in self.hits if until is None or t <= until})

    def close(self):
        self.closed = True
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


# ---- a throttled link that heals -------------------------------------------------------------

class SlowLink:
    """A TCP forwarder on 127.0.0.1 in front of target_port. Until heal(), every answer goes
    to the client at `rate` bytes per second (a few bytes every 100 ms). heal(): connections
    opened from then on are forwarded at full speed; the older ones that are in the middle
    of an answer are black-holed (never another byte: a stuck flow), the idle older ones are
    closed. requests: (time, path, slow) of every request line seen."""

    REQ = re.compile(rb"(?:GET|HEAD) (\S+) HTTP/1\.[01]\r\n")

    def __init__(self, target_port, rate=50):
        self.target = target_port
        self.rate = rate
        self.healed = False
        self.closed = False
        self.lock = threading.Lock()
        self.requests = []
        self.conns = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def heal(self):
        with self.lock:
            self.healed = True
            old = list(self.conns)
        for st in old:
            if not st["fast"]:
                if st["asked"] > st["answered"] or st["pending"]:
                    st["blackhole"] = True
                else:
                    self._shut(st)

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            old = list(self.conns)
        for st in old:
            self._shut(st)

    @staticmethod
    def _shut(st):
        st["dead"] = True
        for so in (st["c"], st["u"]):
            try:
                so.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                so.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            st = {"c": c, "u": u, "fast": self.healed, "blackhole": False, "dead": False,
                  "asked": 0, "answered": 0, "pending": b""}
            with self.lock:
                self.conns.append(st)
            threading.Thread(target=self._up, args=(st,), daemon=True).start()
            threading.Thread(target=self._down, args=(st,), daemon=True).start()

    def _up(self, st):
        buf = b""
        try:
            while not st["dead"]:
                d = st["c"].recv(65536)
                if not d:
                    break
                buf = (buf + d)[-16384:]
                while True:
                    m = self.REQ.search(buf)
                    if not m:
                        break
                    with self.lock:
                        self.requests.append((time.time(), m.group(1).decode("latin-1"),
                                              not st["fast"]))
                        st["asked"] += 1
                    buf = buf[m.end():]
                if st["blackhole"]:
                    continue
                st["u"].sendall(d)
        except OSError:
            pass
        finally:
            if not st["blackhole"]:
                self._shut(st)

    def _down(self, st):
        """Forward the upstream's bytes; count complete answers (Content-Length framing)."""
        u, c = st["u"], st["c"]
        parse = b""  # answer bytes sent but not framed yet
        body_left = 0
        try:
            while not st["dead"]:
                slow = not st["fast"]
                r, _, _ = select.select([u], [], [], 0 if slow else 0.2)
                if r:
                    d = u.recv(65536)
                    if not d:
                        break
                    st["pending"] += d
                if slow:
                    time.sleep(0.1)  # rate/10 bytes every 100 ms
                if st["blackhole"] or not st["pending"]:
                    continue
                n = max(1, self.rate // 10) if slow else len(st["pending"])
                out, st["pending"] = st["pending"][:n], st["pending"][n:]
                c.sendall(out)
                parse += out
                while True:
                    if body_left:
                        k = min(body_left, len(parse))
                        body_left -= k
                        parse = parse[k:]
                        if body_left:
                            break
                        st["answered"] += 1
                        continue
                    if b"\r\n\r\n" not in parse:
                        break
                    head, parse = parse.split(b"\r\n\r\n", 1)
                    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                    body_left = int(m.group(1)) if m else 0
                    if body_left == 0:
                        st["answered"] += 1
        except OSError:
            pass
        finally:
            if not st["blackhole"]:
                self._shut(st)


if __name__ == "__main__":
    if CRYPTO_MISSING is not None:
        log("SKIP: Python's cryptography package is missing: %s" % CRYPTO_MISSING)
        sys.exit(77)
    try:
        self_check(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1].endswith(".md")
                   else PROTOCOL_MD)
    except AssertionError as e:
        log("FAIL: %s" % e)
        sys.exit(1)
    sys.exit(0)
