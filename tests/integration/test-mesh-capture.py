#!/usr/bin/python3
"""A private mesh hides what it carries: a capture of a member-to-member crate transfer holds
no 64-byte run of the crate's bytes.

Two hosts in network namespaces. A (h0) holds projects/big (a 1 MB crate of incompressible
bytes); B (h1) has no upstream and --peer A. tcpdump in h1's namespace records everything on
its eth0 while Cargo fetches the project through B. The TCP payloads of each flow are joined in
capture order and searched for the crate's bytes: a 64-byte run would contain one of its
32-byte blocks at a multiple of 32, so none of those may appear.

Run twice: first an open room (no key), where the same search must find the crate (so the
search can fail), then both agents with one --network-key, where it must find nothing.
"""

import os
import shutil
import struct
import subprocess
import time

import harness
import netns
from room import (PEER_PORT, Holder, cargo_end, cargo_start, log_text, need_room, start_agent,
                  wait_sees_a, wait_started)

BIG_MB = 1


def flows(pcap):
    """TCP payloads per (src, sport, dst, dport), joined in capture order (IPv4, Ethernet)."""
    out = {}
    with open(pcap, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6:
            continue
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        doff = (tcp[12] >> 4) * 4
        payload = tcp[doff:]
        if payload:
            k = (ip[12:16], struct.unpack(">H", tcp[0:2])[0], ip[16:20],
                 struct.unpack(">H", tcp[2:4])[0])
            out.setdefault(k, bytearray()).extend(payload)
    return out


def blocks_found(crate, pcap):
    """How many of the crate's 32-byte blocks at multiples of 32 appear in any flow, how many
    there are, and the TCP payload bytes captured."""
    want = {crate[i:i + 32] for i in range(0, len(crate) - 31, 32)}
    found = set()
    fl = flows(pcap)
    for stream in fl.values():
        b = bytes(stream)
        for i in range(0, len(b) - 31):
            piece = b[i:i + 32]
            if piece in want:
                found.add(piece)
    return len(found), len(want), sum(len(v) for v in fl.values())


def one_run(t, hosts, holder, extra, tag):
    procs = {0: start_agent(t, hosts, 0, holder.store, extra)}
    wait_started(t, hosts, 0, procs[0])
    a_addr = "%s:%d" % (hosts.addr(0), PEER_PORT)
    store_b = t.fresh_dir("store-b-" + tag)
    procs[1] = start_agent(t, hosts, 1, store_b, ["--peer", a_addr] + extra)
    wait_started(t, hosts, 1, procs[1])
    wait_sees_a(hosts, 1, holder.key, holder.crates)
    pcap = t.path("capture-%s.pcap" % tag)
    dump = hosts.spawn(1, ["tcpdump", "-i", "eth0", "-s", "0", "-B", "16384", "-U", "-w", pcap,
                           "tcp"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    run = cargo_start(t, hosts, 1, tag)
    cargo_end(hosts, run)
    time.sleep(0.5)
    hosts.stop(dump, timeout=10)
    for h in (1, 0):
        hosts.stop(procs[h], timeout=30)
    return pcap


def test(t):
    need_room()
    if shutil.which("tcpdump") is None:
        raise harness.Skip("tcpdump not installed")
    holder = Holder(t, BIG_MB)
    with open(os.path.join(t.registry, t.crate(holder.big["name"], holder.big["vers"])["file"]),
              "rb") as f:
        crate = f.read()
    key = os.path.join(t.fresh_dir("key"), "team.key")
    t.run([t.cratecast, "network-key", "new", key], timeout=30)
    with netns.Hosts(2, workdir=t.fresh_dir("netns"), log=harness.log) as hosts:
        try:
            pcap = one_run(t, hosts, holder, [], "open")
            n, total, payload = blocks_found(crate, pcap)
            harness.log("open room: %d of %d blocks of the crate in %d bytes of TCP payload"
                        % (n, total, payload))
            t.check(n > total // 2, "an open room's capture shows only %d of %d blocks: the "
                    "search cannot see the crate" % (n, total))
            pcap = one_run(t, hosts, holder, ["--network-key", key], "mesh")
            n, total, payload = blocks_found(crate, pcap)
            harness.log("mesh: %d of %d blocks of the crate in %d bytes of TCP payload"
                        % (n, total, payload))
            t.check(payload > 0.8 * len(crate),
                    "the mesh capture holds %d bytes of TCP payload, the crate is %d: the "
                    "transfer was not captured" % (payload, len(crate)))
            t.check(n == 0, "a mesh capture shows %d blocks of the crate in the clear" % n)
        except harness.Failure:
            for h in (0, 1):
                harness.log("h%d log:\n%s" % (h, log_text(t, h)[-2000:]))
            raise


if __name__ == "__main__":
    harness.main(test)
