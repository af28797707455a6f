#!/usr/bin/env python3
"""tests/unit/bundle_vectors.py — the bundle file's test vectors (proto/bundle.h,
docs/bundle.md "Test vectors") computed independently of proto/bundle.c, with
Python's hashlib and the Ed25519 of RFC 8032 written out below (no third-party
module).

Inputs: the key pair from the seed 01 02 .. 20, bundle id a0 a1 .. af, created
1764000000, registry "https://index.crates.io/", two index lines for the crate
"demo" (0.1.0 and 0.2.0, both with the cksum of the one crate), and that
crate: "not really a gzip\\n" three times. It prints the header bytes, the
header's SHA-256, the signature of index chunk 0 and of the end record, and the
SHA-256 of the whole decompressed stream. tests/unit/test-proto-bundle.c holds
the same values; this script exits 1 if any differs from the values below.

When the zstd program is installed, it also decompresses
tests/unit/vectors/bundle-v1.ccb (which checks the frames' content checksums)
and compares the result with the stream computed here.
"""
import hashlib
import os
import shutil
import struct
import subprocess
import sys

# ---- Ed25519 (RFC 8032, section 5.1), for signing only ----------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the group order
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    """Extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(k, pt):
    acc = (0, 1, 1, 0)  # the neutral element
    while k > 0:
        if k & 1:
            acc = point_add(acc, pt)
        pt = point_add(pt, pt)
        k >>= 1
    return acc


def x_from_y(y, sign):
    xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - xx) % P != 0:
        raise ValueError("not on the curve")
    if x & 1 != sign:
        x = P - x
    return x


BASE_Y = 4 * pow(5, P - 2, P) % P
BASE_X = x_from_y(BASE_Y, 0)
BASE = (BASE_X, BASE_Y, 1, BASE_X * BASE_Y % P)


def encode_point(pt):
    x, y, z, _ = pt
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def sha512_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def expand_seed(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8  # clear the low 3 bits and the top bit
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    a, _ = expand_seed(seed)
    return encode_point(scalar_mult(a, BASE))


def sign(seed, msg):
    a, prefix = expand_seed(seed)
    pk = encode_point(scalar_mult(a, BASE))
    r = sha512_int(prefix, msg) % L
    big_r = encode_point(scalar_mult(r, BASE))
    k = sha512_int(big_r, pk, msg) % L
    s = (r + k * a) % L
    return big_r + s.to_bytes(32, "little")


# RFC 8032, section 7.1, TEST 1: the implementation above is Ed25519.
_t1_seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
assert public_key(_t1_seed).hex() == (
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
assert sign(_t1_seed, b"").hex() == (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
    "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")

# ---- the bundle -------------------------------------------------------------

seed = bytes(range(1, 33))
bundle_id = bytes(range(0xa0, 0xb0))
created = 1764000000
registry = b"https://index.crates.io/"
crate = b"not really a gzip\n" * 3
cksum = hashlib.sha256(crate).hexdigest()
lines = [
    ('{"name":"demo","vers":"0.1.0","deps":[],"cksum":"%s","features":{},"yanked":false}'
     % cksum).encode(),
    ('{"name":"demo","vers":"0.2.0","deps":[{"name":"serde","req":"^1.0","features":[],'
     '"optional":false,"default_features":true,"target":null,"kind":"normal"}],'
     '"cksum":"%s","features":{"std":[]},"yanked":false,"rust_version":"1.70"}'
     % cksum).encode(),
]

pk = public_key(seed)
header = (b"CCBUNDLE" + struct.pack(">HH", 1, 0) + pk + bundle_id + struct.pack(">q", created)
          + struct.pack(">H", len(registry)) + registry)
assert len(header) == 70 + len(registry)
header_hash = hashlib.sha256(header).digest()


def signature(rtype, body):
    return sign(seed, b"cratecast/bundle/1/" + rtype + b"\0" + header_hash + body)


chunk_body = struct.pack(">I", 0) + b"".join(line + b"\n" for line in lines)
chunk_sig = signature(b"I", chunk_body)
chunk_body += chunk_sig
index_record = b"I\0\0\0" + struct.pack(">I", len(chunk_body)) + chunk_body

crate_record = b"C" + bytes(7) + hashlib.sha256(crate).digest() + struct.pack(">Q", len(crate))
crate_record += crate

end_body = struct.pack(">QQQQ", 1, len(lines), 1, len(crate))
end_sig = signature(b"E", end_body)
end_body += end_sig
end_record = b"E\0\0\0" + struct.pack(">I", len(end_body)) + end_body

stream = header + index_record + crate_record + end_record

got = {
    "pk": pk.hex(),
    "header": header.hex(),
    "header sha256": header_hash.hex(),
    "chunk 0 sig": chunk_sig.hex(),
    "end sig": end_sig.hex(),
    "stream length": str(len(stream)),
    "stream sha256": hashlib.sha256(stream).hexdigest(),
}
for k, v in got.items():
    print("%-14s %s" % (k + ":", v))

EXPECTED = {
    "pk": "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664",
    "header": "434342554e444c45" "0001" "0000"
              "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
              "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" "0000000069248100" "0018"
              "68747470733a2f2f696e6465782e6372617465732e696f2f",
    "header sha256": "07c1a25d2325050aa2abe73d6201ac8ca961f0ae4412fe608111c3c11bd526ce",
    "chunk 0 sig": "18aa75abf45f6ad2d6018bdf0942ae8855f2af17cf9dc1d3cfa332fb996a15c2"
                   "18a6172976b3b4681b514c7ab0c69868da7a143e20dd6c03dd701eb2f18cce06",
    "end sig": "dff20108c5eccad03cbc589072d399d468e649c90d59b940207351aee0196a15"
               "5b654aec61b7c46e016529ffa3461a1c5a5bd549bafd91491b6d806f57f89a0e",
    "stream length": "810",
    "stream sha256": "4b9350bb8dcd54a472014bb5be6cc6a6ae74eb94b597ebd26b2c42793a62a748",
}
bad = [k for k, v in EXPECTED.items() if got[k] != v]

ccb = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors", "bundle-v1.ccb")
zstd = shutil.which("zstd")
if zstd is None:
    print("bundle-v1.ccb: not checked (no zstd program)")
else:
    out = subprocess.run([zstd, "-dc", ccb], capture_output=True, check=False)
    if out.returncode != 0 or out.stdout != stream:
        bad.append("bundle-v1.ccb")
    else:
        print("bundle-v1.ccb: decompresses to the stream above")

if bad:
    print("differs from the expected vectors: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
