#!/usr/bin/python3
"""A private mesh (--network-key) on loopback: members share, outsiders get and give nothing.

Keys are made with `cratecast network-key new FILE`. A (online, key K) warms up with the
project; B (key K, --peer A, no upstream) and C (key K, --peer B only) build it from the mesh.
D (key K', --peer A) and E (no key, --peer A) are outsiders. Checks:
  - C learns A through B and builds the project; B and C fetched from peers, A's status says
    mesh = K's id and lists B as live;
  - D and E never see A live and fetch nothing from it (their builds fail: no upstream); A
    counts refused mesh requests; A never lists D or E as live;
  - A's peer side answers 403 with an empty body to a request without the header, with a
    header made with K' (another key), with a stale time, and to a replay of a valid request;
    the header made here in Python from the documented construction (docs/protocol.md) with K
    is accepted once (200, a sealed body that does not start with the envelope's magic);
  - E's peer side (no key) answers 403 to a member's request;
  - B restarted with a new key K2 is no longer served by A (its poll fails, A counts a refusal);
  - the key file must be mode 0600 (0644: exit 2, error naming the file and chmod); a key with
    one character changed is refused (checksum); `network-key new` never overwrites a file.
"""

import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import time

import harness


def new_key(t, name):
    path = os.path.join(t.fresh_dir("key"), name)
    r = subprocess.run([t.cratecast, "network-key", "new", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    t.check(r.returncode == 0, "network-key new failed: %s" % r.stderr.decode())
    t.check(os.stat(path).st_mode & 0o777 == 0o600, "the key file is not mode 0600")
    text = open(path).read().strip()
    t.check(r.stdout.decode().strip() == text, "printed key differs from the file's")
    return path, text


def key_bytes(text):
    """The documented printable form: ccnk1- + base32 of key(32) + checksum(4), dashes."""
    body = text[len("ccnk1-"):].replace("-", "").upper()
    raw = base64.b32decode(body + "=" * (-len(body) % 8))
    key, ck = raw[:32], raw[32:]
    want = hashlib.blake2b(b"cratecast-network-key-v1" + key, digest_size=32).digest()[:4]
    assert ck == want, "checksum construction differs from docs/protocol.md"
    return key


def mesh_header(key, path, when=None, nonce=None):
    auth = hashlib.blake2b(b"cratecast-mesh-auth-v1", digest_size=32, key=key).digest()
    when = int(time.time()) if when is None else when
    nonce = nonce or secrets.token_bytes(16)
    msg = ("cratecast-mesh-request-v1\nGET\n%s\n%d\n%s" % (path, when, nonce.hex())).encode()
    mac = hashlib.blake2b(msg, digest_size=32, key=auth).hexdigest()
    return "v1 %d %s %s" % (when, nonce.hex(), mac)


def raw_get(port, path, header=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % path
    if header:
        req += "X-Cratecast-Mesh: %s\r\n" % header
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def test(t):
    k_path, k_text = new_key(t, "team.key")
    k2_path, _ = new_key(t, "other.key")
    k3_path, _ = new_key(t, "rotated.key")
    key = key_bytes(k_text)
    mesh_id = hashlib.blake2b(b"cratecast-mesh-id-v1", digest_size=32,
                              key=key).digest()[:8].hex()

    # the key file's mode, typos, no overwrite
    loose = os.path.join(t.fresh_dir("key"), "loose.key")
    with open(loose, "w") as f:
        f.write(k_text + "\n")
    os.chmod(loose, 0o644)
    rc, out = t.run([t.cratecast, "agent", "--network-key", loose, "--upstream", "none",
                     "--no-mdns", "--store", t.fresh_dir("store")], check=False, timeout=30)
    t.check(rc == 2 and "error:" in out and loose in out and "chmod 600" in out,
            "a 0644 key file: exit %d:\n%s" % (rc, out))
    typo = os.path.join(t.fresh_dir("key"), "typo.key")
    i = len(k_text) - 3
    bad = k_text[:i] + ("a" if k_text[i] != "a" else "b") + k_text[i + 1:]
    fd = os.open(typo, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (bad + "\n").encode())
    os.close(fd)
    rc, out = t.run([t.cratecast, "agent", "--network-key", typo, "--upstream", "none",
                     "--no-mdns", "--store", t.fresh_dir("store")], check=False, timeout=30)
    t.check(rc == 2 and "checksum" in out, "a key with a typo: exit %d:\n%s" % (rc, out))
    rc, out = t.run([t.cratecast, "network-key", "new", k_path], check=False, timeout=30)
    t.check(rc != 0 and open(k_path).read().strip() == k_text,
            "network-key new overwrote an existing file (exit %d): %s" % (rc, out))

    up, a, ref = t.warm_up("app", peer_listen=True, agent_extra=["--network-key", k_path])
    key_a = t.agent_id(a)
    s = a.status()
    t.check(s.get("mesh") == mesh_id, "A's status.mesh is %r, expected %r (the key id from "
            "docs/protocol.md's construction)" % (s.get("mesh"), mesh_id))
    b = t.start_agent(upstream=None, peer_listen=True, peers=[a],
                      extra=["--network-key", k_path])
    c = t.start_agent(upstream=None, peer_listen=True, peers=[b],
                      extra=["--network-key", k_path])
    d = t.start_agent(upstream=None, peer_listen=True, peers=[a],
                      extra=["--network-key", k2_path])
    e = t.start_agent(upstream=None, peer_listen=True, peers=[a])

    t.wait_peer(c, key=key_a, pred=lambda p: p.get("state") == "live" and p.get("crates", 0) > 0,
                what="C learns A through B", timeout=30)
    home = t.cargo_home(c.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.same_lock(ref, proj)
    t.build_and_run(proj, home, expect=t.manifest["expected_app_output"])
    t.check(harness.counter(c.status(), "from_peers") > 0, "C took nothing from peers")

    # outsiders: nothing either way
    time.sleep(2)
    for name, o in (("D (another key)", d), ("E (no key)", e)):
        so = o.status()
        pa = harness.peer_entry(so, addr=a.peer_addr)
        t.check(pa is None or pa.get("state") != "live",
                "%s lists A as live: %s" % (name, json.dumps(pa)))
        t.check(harness.counter(so, "from_peers") == 0, "%s took crates from peers" % name)
        home_o = t.cargo_home(o.registry_url)
        proj_o = t.project("app")
        r, _ = t.cargo(["generate-lockfile"], proj_o, home_o, check=False, timeout=120)
        t.check(r != 0, "%s resolved the project with no upstream and no mesh peer" % name)
    sa = a.status()
    for o in (d, e):
        po = harness.peer_entry(sa, addr=o.peer_addr)
        t.check(po is None or po.get("state") != "live",
                "A lists an outsider as live: %s" % json.dumps(po))
    t.check(sa.get("rejected", {}).get("mesh", 0) > 0,
            "A counted no refused mesh request: %s" % json.dumps(sa.get("rejected")))

    # the peer side, by hand
    path = "/peer/1/manifest"
    st, body = raw_get(a.peer_port, path)
    t.check(st == 403 and body == b"", "no header: %d %r" % (st, body[:40]))
    st, body = raw_get(a.peer_port, path, mesh_header(key_bytes(open(k2_path).read().strip()),
                                                      path))
    t.check(st == 403 and body == b"", "another key's header: %d %r" % (st, body[:40]))
    st, _ = raw_get(a.peer_port, path, mesh_header(key, path, when=int(time.time()) - 3600))
    t.check(st == 403, "a header an hour old: %d" % st)
    h = mesh_header(key, path)
    st, body = raw_get(a.peer_port, path, h)
    t.check(st == 200 and len(body) > 24 and not body.startswith(b"CCP1"),
            "a valid header made from the documented construction: %d %r" % (st, body[:8]))
    st, body = raw_get(a.peer_port, path, h)
    t.check(st == 403 and body == b"", "a replayed request: %d" % st)
    st, _ = raw_get(a.peer_port, "/peer/1/manifest?since=1", mesh_header(key, path))
    t.check(st == 403, "a header moved to another path: %d" % st)
    st, body = raw_get(e.peer_port, path, mesh_header(key, path))
    t.check(st == 403 and body == b"", "E (no key) answered a member's request: %d" % st)

    # B rotated to a new key: A stops serving it
    before = a.status().get("rejected", {}).get("mesh", 0)
    store_b, port_b = b.store, b.peer_port
    b.stop()
    b2 = t.start_agent(store=store_b, upstream=None, peer_listen=True, peer_port=port_b,
                       peers=[a], extra=["--network-key", k3_path])
    time.sleep(3)
    pa = harness.peer_entry(b2.status(), key=key_a)
    t.check(pa is None or pa.get("state") != "live",
            "B with a new key still has A live: %s" % json.dumps(pa))
    t.check(a.status().get("rejected", {}).get("mesh", 0) > before,
            "A refused none of B's requests after B changed its key")


if __name__ == "__main__":
    harness.main(test)
