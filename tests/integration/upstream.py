#!/usr/bin/python3
"""Serve a registry written by registry.py as a sparse registry on loopback: the "upstream".

  GET /config.json                    {"dl": <template>}  (see --dl-style)
  GET /<sparse path>                  index file; ETag = "sha256 of the bytes"; 304 on If-None-Match
  GET .../<crate>/<version>[/<sha>]/download   the .crate (every dl style below lands here)
  anything else                       404

--dl-style:
  markers  dl = http://H:P/files/{lowerprefix}/{crate}/{version}/{sha256-checksum}/download
  plain    dl = http://H:P/api/v1/crates   (no marker: Cargo appends /{crate}/{version}/download)
  prefix   dl = http://H:P/dl/{prefix}/{crate}/{version}/download

Options: --root DIR (required), --port N (0 = pick one; prints "PORT <n>" on stdout),
--corrupt NAME@VERS (repeatable; serve that crate with flipped bytes), --log FILE (one line per
request: "<METHOD> <path> <status> <bytes>"), --fail-index (answer index files with 503, to
simulate a broken upstream), --delay-ms N (sleep before each answer), --dl-port N (the port
the dl template names, for a proxy in front of this server).

Only ever binds 127.0.0.1.
"""

import argparse
import hashlib
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import registry  # noqa: E402


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, opts):
        super().__init__(addr, Handler)
        self.opts = opts
        self.root = os.path.abspath(opts.root)
        self.corrupt = set(opts.corrupt or [])
        self.log_lock = threading.Lock()
        self.log_file = open(opts.log, "a", buffering=1) if opts.log else None
        self.crate_files = {}  # (lowercase name, vers) -> path
        with open(os.path.join(self.root, "manifest.json")) as f:
            for c in json.load(f)["crates"]:
                self.crate_files[(c["name"].lower(), c["vers"])] = (
                    os.path.join(self.root, c["file"]), c["cksum"], c["name"])

    def dl_template(self):
        base = "http://127.0.0.1:%d" % (self.opts.dl_port or self.server_address[1])
        style = self.opts.dl_style
        if style == "plain":
            return base + "/api/v1/crates"
        if style == "prefix":
            return base + "/dl/{prefix}/{crate}/{version}/download"
        return base + "/files/{lowerprefix}/{crate}/{version}/{sha256-checksum}/download"

    def log(self, line):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK
    # add 40 ms to every keep-alive response
    disable_nagle_algorithm = True
    server_version = "cratecast-test-upstream"

    def log_message(self, fmt, *args):  # quiet: the request log is written by _send
        pass

    def _send(self, status, body=b"", ctype="application/octet-stream", headers=None):
        if self.server.opts.delay_ms:
            time.sleep(self.server.opts.delay_ms / 1000.0)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.log("%s %s %d %d" % (self.command, self.path, status, len(body)))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if any(p in (".", "..") or "/" in p or "\0" in p for p in parts):
            return self._send(404, b"not found\n", "text/plain")
        if parts == ["config.json"]:
            body = json.dumps({"dl": self.server.dl_template()}).encode()
            return self._send(200, body, "application/json")
        if parts and parts[-1] == "download" and len(parts) >= 3:
            return self._download(parts)
        return self._index(parts)

    def _download(self, parts):
        # .../<crate>/<version>/download or .../<crate>/<version>/<sha>/download
        sha = None
        if len(parts) >= 4 and len(parts[-2]) == 64:
            sha = parts[-2]
            name, vers = parts[-4], parts[-3]
        else:
            name, vers = parts[-3], parts[-2]
        ent = self.server.crate_files.get((name.lower(), vers))
        if ent is None:
            return self._send(404, b"no such crate\n", "text/plain")
        fpath, cksum, real = ent
        if sha is not None and sha != cksum:
            return self._send(404, b"checksum does not match\n", "text/plain")
        with open(fpath, "rb") as f:
            data = f.read()
        if "%s@%s" % (real, vers) in self.server.corrupt or \
                "%s@%s" % (real.lower(), vers) in self.server.corrupt:
            b = bytearray(data)
            for i in range(len(b) // 3, min(len(b), len(b) // 3 + 16)):
                b[i] ^= 0xFF
            data = bytes(b)
        return self._send(200, data, "application/x-tar")

    def _index(self, parts):
        if not parts:
            return self._send(404, b"not found\n", "text/plain")
        rel = "/".join(parts)
        name = parts[-1]
        if rel.lower() != registry.index_path(name) and rel != registry.index_path(name):
            return self._send(404, b"not found\n", "text/plain")
        fpath = os.path.join(self.server.root, "index", registry.index_path(name))
        try:
            with open(fpath, "rb") as f:
                body = f.read()
        except OSError:
            return self._send(404, b"not found\n", "text/plain")
        if self.server.opts.fail_index:
            return self._send(503, b"unavailable\n", "text/plain")
        etag = '"%s"' % hashlib.sha256(body).hexdigest()
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.server.log("%s %s 304 0" % (self.command, self.path))
            return
        return self._send(200, body, "text/plain", {"ETag": etag})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--corrupt", action="append")
    ap.add_argument("--log")
    ap.add_argument("--dl-style", choices=("markers", "plain", "prefix"), default="markers")
    ap.add_argument("--fail-index", action="store_true")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--dl-port", type=int, default=0,
                    help="port named in the dl template (e.g. a proxy in front of this server)")
    opts = ap.parse_args(argv)
    srv = Upstream(("127.0.0.1", opts.port), opts)

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
