#!/usr/bin/python3
"""(g) Hostile requests on the Cargo side: 4xx (or a closed connection), never a foreign byte.

An online agent with a warm store (projects/pin fetched) is sent, over raw sockets, path
traversal raw and percent-encoded, NUL and %2f, invalid crate names and versions, hashes of the
wrong length or alphabet, a 10 KB name, a 100 KB header, garbage request lines, a request line
without an HTTP version, and unsupported methods. Each must answer 4xx (malformed requests may
instead be closed without an answer), and no body may contain /etc/passwd's "root:", a canary
file planted next to and inside the store, or SQLite's file header. Nothing traversal-like may
be forwarded to the upstream. Afterwards config.json and a real download still answer 200.
"""

import os
import socket
import time

import harness

CANARY = b"cratecast-canary-7f3e9d1c"
H64 = "0" * 64


def raw(port, data, timeout=5.0):
    """Send bytes, read until close/timeout. Returns (status or None, response bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
            # stop once a complete response with Content-Length has arrived
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                clen = None
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        try:
                            clen = int(v.strip())
                        except ValueError:
                            pass
                if clen is not None and len(body) >= clen:
                    break
    finally:
        s.close()
    status = None
    if buf.startswith(b"HTTP/"):
        try:
            status = int(buf.split(b" ", 2)[1])
        except (IndexError, ValueError):
            pass
    return status, buf, closed


def get(path, extra=b""):
    return (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra +
            b"Connection: close\r\n\r\n")


# (label, request bytes, may_close): may_close = a closed connection without answer is fine
def cases(good_sha):
    c = []
    paths = [
        b"/index/../../etc/passwd",
        b"/index/../../../../../../etc/passwd",
        b"/index/..%2f..%2f..%2fetc%2fpasswd",
        b"/index/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        b"/index/%2E%2E/%2E%2E/etc/passwd",
        b"/index/3/a/%2e%2e",
        b"/index/..",
        b"/index/../canary.txt",
        b"/index/../store/canary.txt",
        b"/index/canary.txt",
        b"/index/store.db",
        b"/index/../store.db",
        b"/index/2/..",
        b"/index//etc/passwd",
        b"/index/3/a/abc%2f..%2f..%2f..%2fetc%2fpasswd",
        b"/index/1/a%00",
        b"/index/3/a/a%00bc",
        b"/index/3/a/ab%00c/../../../etc/passwd",
        b"/index/1/%2f",
        b"/index/3/a/a%20c",
        b"/index/3/a/a c",
        b"/index/2/-a",
        b"/index/3/a/a$c",
        b"/index/3/a/a%c3%a9c",
        b"/index/3/x/abc",
        b"/index/" + b"x" * 10240,
        b"/index/xx/xx/" + b"x" * 10240,
        b"/crates/%2e%2e/%2e%2e/x",
        b"/crates/../../etc/passwd",
        b"/crates/..%2f..%2f..%2fetc%2fpasswd/1.0.0/" + H64.encode(),
        b"/crates/a/..%2f..%2f/" + H64.encode(),
        b"/crates/a/1.1.0/..%2f..%2fstore.db",
        b"/crates/a/1.1.0/../../../etc/passwd",
        b"/crates/a%2f..%2f../1.1.0/" + good_sha.encode(),
        b"/crates/a%00/1.1.0/" + good_sha.encode(),
        b"/crates/-bad/1.0.0/" + H64.encode(),
        b"/crates/a b/1.0.0/" + H64.encode(),
        b"/crates/" + b"y" * 10240 + b"/1.0.0/" + H64.encode(),
        b"/crates/a/not-a-version/" + good_sha.encode(),
        b"/crates/a/1.1.0/" + good_sha[:63].encode(),
        b"/crates/a/1.1.0/" + good_sha.encode() + b"0",
        b"/crates/a/1.1.0/" + b"g" * 64,
        b"/crates/a/1.1.0/" + b"z" + good_sha[1:].encode(),
        b"/crates/a/1.1.0/" + good_sha[:62].encode() + b"%00",
        b"/crates/a/1.1.0/" + H64.encode(),  # well-formed, wrong: not in the store
        b"/crates/a/1.1.0/" + good_sha.encode() + b"/../../../etc/passwd",
        b"/etc/passwd",
        b"//etc/passwd",
        b"/../../etc/passwd",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/canary.txt",
        b"/store.db",
        b"/-/../../etc/passwd",
    ]
    for p in paths:
        label = p[:80].decode(errors="replace")
        c.append(("GET " + label, get(p), False))
    c += [
        ("100 KB header", get(b"/index/config.json", b"X-Big: " + b"a" * 102400 + b"\r\n"), True),
        ("2000 headers", get(b"/index/config.json",
                             b"".join(b"X-H%d: v\r\n" % i for i in range(2000))), True),
        ("garbage bytes", b"\x00\x01\x02\x03garbage\xff\xfe\r\n\r\n", True),
        ("random words", b"FOO BAR BAZ QUX\r\n\r\n", True),
        ("method only", b"GET\r\n\r\n", True),
        ("no HTTP version", b"GET /index/config.json\r\n\r\n", True),
        ("no version, traversal", b"GET /../../etc/passwd\r\n\r\n", True),
        ("HTTP/9.9", b"GET /index/../../etc/passwd HTTP/9.9\r\nHost: x\r\n\r\n", True),
        ("absolute-form URI", b"GET http://127.0.0.1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n"
         b"Connection: close\r\n\r\n", True),
        ("bare LF traversal", b"GET /index/../../etc/passwd HTTP/1.1\nHost: x\n\n", True),
        ("POST", b"POST /index/config.json HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
         b"Connection: close\r\n\r\nabc", False),
        ("DELETE", b"DELETE /crates/a/1.1.0/" + good_sha.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Connection: close\r\n\r\n", False),
        ("PUT", b"PUT /index/1/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
         b"Connection: close\r\n\r\nx", False),
        ("bad content-length", b"GET /index/config.json HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: -5\r\n\r\n", True),
        ("huge content-length", b"POST /index/config.json HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 99999999999999999999\r\n\r\n", True),
        ("header without colon", b"GET /index/config.json HTTP/1.1\r\nHost x\r\nBad\r\n\r\n",
         True),
    ]
    return c


def test(t):
    up, ag, _ = t.warm_up("pin")
    good = t.crate("cc-util", "1.0.0")
    # canaries next to and inside the store
    parent = os.path.dirname(ag.store)
    for d in (parent, ag.store, os.path.join(ag.store, "blobs")):
        with open(os.path.join(d, "canary.txt"), "wb") as f:
            f.write(CANARY + b"\n")
    n_up = len(up.requests())

    a_sha = t.crate("a", "1.1.0")["cksum"]
    bad = []
    seen = {}
    for label, req, may_close in cases(a_sha):
        try:
            status, resp, closed = raw(ag.port, req)
        except OSError as e:
            status, resp, closed = None, b"", True
            harness.log("%s: connect/send error %s" % (label, e))
        body = resp.partition(b"\r\n\r\n")[2]
        key = status if status is not None else ("closed" if closed else "silent")
        seen.setdefault(key, []).append(label[:40])
        leak = [m for m in (b"root:", CANARY, b"SQLite format") if m in resp]
        if leak:
            bad.append("%s: response contains %r" % (label, leak))
        if status is None:
            if not (may_close and closed):
                bad.append("%s: no HTTP answer (closed=%s, %d bytes)" % (label, closed, len(resp)))
        elif not 400 <= status < 500:
            bad.append("%s: answered %d (body %r)" % (label, status, body[:120]))
        if not ag.alive():
            bad.append("%s: the agent died" % label)
            break
    harness.log("answers: %s" % ", ".join("%s x%d" % (k, len(v)) for k, v in
                                          sorted(seen.items(), key=lambda kv: str(kv[0]))))
    for k in ("closed", 400, 405, 414, 431):
        if k in seen:
            harness.log("  %s: %s" % (k, "; ".join(seen[k])))
    t.check(not bad, "%d hostile requests misbehaved:\n  %s" % (len(bad), "\n  ".join(bad)))

    # nothing traversal-like was forwarded to the upstream
    fwd = [r for r in up.requests()[n_up:]
           if any(m in r[1].lower() for m in ("..", "%2e", "%2f", "passwd", "canary", "%00",
                                              "store.db"))]
    t.check(not fwd, "hostile paths reached the upstream: %s" % fwd[:5])

    # still serving
    st, _, _ = harness.http_get(ag.port, "/index/config.json")
    t.check(st == 200, "GET /index/config.json answered %d after the hostile requests" % st)
    st, _, body = harness.http_get(ag.port, "/crates/cc-util/1.0.0/%s" % good["cksum"])
    t.check(st == 200 and len(body) == good["size"],
            "a real download answered %d (%d bytes) after the hostile requests" % (st, len(body)))
    st, _, _ = harness.http_get(ag.port, "/index/" + harness.registry.index_path("cc-util"))
    t.check(st == 200, "a real index file answered %d after the hostile requests" % st)
    # the canary planted under blobs/ is ours, not the agent's: remove it, then every
    # remaining blob file must hash to its name
    os.unlink(os.path.join(ag.store, "blobs", "canary.txt"))
    t.check_store_invariant(ag.store)


if __name__ == "__main__":
    harness.main(test)
