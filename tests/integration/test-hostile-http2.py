#!/usr/bin/python3
"""Hostile peers, HTTP/2: the peer port speaks plain HTTP/1.1 only (docs/protocol.md,
Transport), so no HTTP/2 parser (its streams, HPACK tables, flow control) is reachable from the
LAN.

An agent (--upstream none, peer side on) is sent, on its peer port:
  - the h2c prior-knowledge preface "PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n" followed by an empty
    SETTINGS frame: the answer must not be an HTTP/2 frame (an HTTP/1.x error or a closed
    connection is fine);
  - a hello request with "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c": the answer
    must not be "101 Switching Protocols" nor HTTP/2 frames; it must be an HTTP/1.x answer (a
    200 must carry a hello that verifies and answers our nonce).
Then a plain hello still works. The Cargo port's answers are logged for information only.
"""

import os
import socket
import time

import fakepeer
import harness

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # empty SETTINGS frame, stream 0


def exchange(port, data, timeout=2.5):
    """Send data, read until close, timeout, or a complete HTTP/1 answer. Returns bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not d:
                break
            buf += d
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep and buf.startswith(b"HTTP/1."):
                clen = None
                for ln in head.split(b"\r\n")[1:]:
                    k, _, v = ln.partition(b":")
                    if k.strip().lower() == b"content-length":
                        clen = int(v.strip() or 0)
                if clen is not None and len(body) >= clen:
                    break
    finally:
        s.close()
    return buf


def looks_h2(buf):
    """An HTTP/2 server's first bytes are a SETTINGS frame: 3-byte length, type 4."""
    return len(buf) >= 9 and not buf.startswith(b"HTTP/") and buf[3] == 4


def describe(buf):
    if not buf:
        return "closed without an answer"
    if buf.startswith(b"HTTP/"):
        return repr(buf.split(b"\r\n", 1)[0].decode("latin-1"))
    return "%d bytes %s" % (len(buf), buf[:24].hex())


def test(t):
    fakepeer.self_check()
    ag = t.start_agent(upstream=None, peer_listen=True)
    problems = []

    for label, port in (("peer port", ag.peer_port), ("Cargo port", ag.port)):
        pri = exchange(port, PREFACE + SETTINGS)
        nonce = os.urandom(32)
        upgrade = exchange(port, (
            "GET /peer/1/hello?nonce=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" % (nonce.hex(), port)).encode())
        harness.log("%s: prior-knowledge preface -> %s; Upgrade: h2c -> %s"
                    % (label, describe(pri), describe(upgrade)))
        if label != "peer port":
            continue
        if looks_h2(pri) or (pri and not pri.startswith(b"HTTP/1.")):
            problems.append("the peer port answered the h2c preface with HTTP/2 (%s)"
                            % describe(pri))
        if upgrade.startswith(b"HTTP/1.1 101") or upgrade.startswith(b"HTTP/1.0 101"):
            problems.append("the peer port switched to h2c on Upgrade: %s" % describe(upgrade))
        elif looks_h2(upgrade) or not upgrade.startswith(b"HTTP/1."):
            problems.append("the peer port did not answer the Upgrade request in HTTP/1.x (%s)"
                            % describe(upgrade))
        elif upgrade.startswith(b"HTTP/1.1 200"):
            body = upgrade.partition(b"\r\n\r\n")[2]
            try:
                h = fakepeer.decode_hello(body)
                if h["nonce"] != nonce:
                    problems.append("the hello answered with Upgrade: h2c has another nonce")
            except fakepeer.DecodeError as e:
                problems.append("the hello answered with Upgrade: h2c does not decode: %s" % e)

    st, h, _ = fakepeer.hello_request(ag.peer_port)
    t.check(st == 200 and h is not None, "a plain hello answered %d after the h2c attempts" % st)
    t.check(ag.alive(), "the agent exited")
    t.check(not problems, "HTTP/2 on the peer port:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    harness.main(test)
