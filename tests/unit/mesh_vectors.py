#!/usr/bin/env python3
"""tests/unit/mesh_vectors.py — the private mesh's test vectors (proto/mesh.h,
docs/protocol.md "Private meshes") computed independently of proto/mesh.c,
with Python's hashlib.blake2b and base64 only.

For key = bytes 0x00..0x1f it prints the subkeys, the key id, the printable
form, the request header for GET /peer/1/manifest?since=3 at unix time
1764000000 with nonce 0x00..0x0f, and that request's response key.
tests/unit/test-proto-mesh.c holds the same values; run this script to check
them (it exits 1 if any differs from the values below).
"""
import base64
import hashlib
import sys


def h(key, msg):
    return hashlib.blake2b(msg, digest_size=32, key=key).digest()


key = bytes(range(32))
auth = h(key, b"cratecast-mesh-auth-v1")
enc = h(key, b"cratecast-mesh-enc-v1")
key_id = h(key, b"cratecast-mesh-id-v1")[:8].hex()

cksum = hashlib.blake2b(b"cratecast-network-key-v1" + key, digest_size=32).digest()[:4]
b32 = base64.b32encode(key + cksum).decode().rstrip("=").lower()
assert len(b32) == 58
printable = "ccnk1-" + "-".join(b32[i:i + 6] for i in range(0, len(b32), 6))

method, path, time, nonce = "GET", "/peer/1/manifest?since=3", 1764000000, bytes(range(16))
msg = "cratecast-mesh-request-v1\n%s\n%s\n%d\n%s" % (method, path, time, nonce.hex())
mac = h(auth, msg.encode())
header = "v1 %d %s %s" % (time, nonce.hex(), mac.hex())
rkey = h(enc, ("cratecast-mesh-response-v1\n%s\n%d" % (nonce.hex(), time)).encode())

got = {
    "auth": auth.hex(),
    "enc": enc.hex(),
    "id": key_id,
    "printable": printable,
    "header": header,
    "response key": rkey.hex(),
}
for k, v in got.items():
    print("%-13s %s" % (k + ":", v))

EXPECTED = {
    "auth": "ecc52edf5fc9dfda0f644a773972b7a98484c6d8bef78efa5163ecd955681dee",
    "enc": "c79950e575ee0d60544b1abe60810b5edf15d616541ecb9d209f9d0a9c9edb52",
    "id": "5854272255d52d58",
    "printable": "ccnk1-aaaqea-yeauda-ocajbi-fqydio-b4ibce-qtcqkr-mfyyde-nbwha5-dyp3jb-xts4",
    "header": "v1 1764000000 000102030405060708090a0b0c0d0e0f "
              "5bf896fb1e74adc02390238b7f3f78f7429bcbc598d084424559465cbb4178bb",
    "response key": "538552e1b9a6b7753ac77f818445db8b0bf022b06dd1bcf5424f5021d51d7ab3",
}
bad = [k for k, v in EXPECTED.items() if got[k] != v]
if bad:
    print("differs from the expected vectors: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
