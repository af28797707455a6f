#!/usr/bin/python3
"""The status page (GET /) in a real browser, and /metrics, on a two-agent fixture.

Agent A (online) warms up with the project; agent B (no upstream, --peer A) builds it from A;
B is then asked for a crate nobody has (a miss). Headless Chromium (Debian's chromium) loads
each agent's page and dumps the DOM it rendered:
  - B's page: offline, A listed as a live peer with bytes received from it, the store's crates,
    bytes fetched from peers and saved for the uplink, the miss in "Recent misses";
  - A's page: online, B listed with bytes sent to it, bytes sent to peers;
  - the page refreshes itself and loads nothing from elsewhere (no src=/href= off the agent);
  - a screenshot of B's page is kept as a test artifact (meson-logs/status-page.png);
  - each agent logged one "sent N crates (X MB) to 127.0.0.1: ..." line for the build.
/metrics on A: every line is a comment or `name{labels} value` in the text format, counters
end in _total, the peer byte counter is > 0, and the request-duration histogram is cumulative
with +Inf equal to _count.
"""

import html.parser
import os
import re
import shutil
import subprocess
import time

import harness


class Dom(html.parser.HTMLParser):
    """Elements by id, peer rows, miss rows, and every src/href."""

    def __init__(self):
        super().__init__()
        self.ids, self.peers, self.misses, self.links, self.meta = {}, [], [], [], []
        self._stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        el = {"tag": tag, "attrs": a, "text": ""}
        self._stack.append(el)
        if "id" in a:
            self.ids[a["id"]] = el
        cls = a.get("class", "").split()
        if tag == "tr" and "peer" in cls:
            self.peers.append(el)
        if tag == "tr" and "miss" in cls:
            self.misses.append(el)
        for k in ("src", "href"):
            if k in a:
                self.links.append(a[k])
        if tag == "meta":
            self.meta.append(a)
            self._stack.pop()

    def handle_endtag(self, tag):
        while self._stack:
            el = self._stack.pop()
            if el["tag"] == tag:
                break

    def handle_data(self, data):
        for el in self._stack:
            el["text"] += data


def chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def browser_dom(t, url):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--user-data-dir=" + t.fresh_dir("chromium"), "--dump-dom", url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    t.check(r.returncode == 0 and b"<html" in r.stdout,
            "chromium --dump-dom %s failed (%d): %s" % (url, r.returncode,
                                                        r.stderr.decode(errors="replace")[-2000:]))
    d = Dom()
    d.feed(r.stdout.decode())
    return d


def screenshot(t, url, path):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--user-data-dir=" + t.fresh_dir("chromium"),
           "--window-size=1280,1000", "--screenshot=" + path, url]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    t.check(r.returncode == 0 and os.path.getsize(path) > 1000,
            "chromium --screenshot failed (%d): %s" % (r.returncode,
                                                      r.stderr.decode(errors="replace")[-2000:]))


def data_bytes(el):
    return int(el["attrs"].get("data-bytes", "-1")) if el else -1


METRIC = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*\})? '
                    r'[-+0-9.eE]+(Inf)?$')


def test(t):
    if chromium() is None:
        raise harness.Skip("chromium not installed")
    up, a, ref = t.warm_up("app", peer_listen=True)
    key_a = t.agent_id(a)
    b = t.start_agent(upstream=None, peer_listen=True, peers=[a])
    t.wait_peer(b, key=key_a, addr=a.peer_addr, pred=lambda e: e.get("crates", 0) > 0,
                what="B lists A with its crates")
    home = t.cargo_home(b.registry_url)
    proj = t.project("app")
    t.cargo(["generate-lockfile"], proj, home)
    t.cargo(["fetch"], proj, home)
    st, _, _ = harness.http_get(b.port, "/crates/nosuch/1.0.0/" + "ab" * 32)
    t.check(st == 404, "a crate nobody has answered %d" % st)

    st, hdr, body = harness.http_get(b.port, "/")
    t.check(st == 200 and hdr.get("content-type", "").startswith("text/html"),
            "GET / answered %d %r" % (st, hdr.get("content-type")))

    dom = browser_dom(t, b.url + "/")
    t.check(dom.ids.get("state", {}).get("text", "").strip() == "offline",
            "B's page: #state is %r, expected offline" % dom.ids.get("state", {}).get("text"))
    rows = [r for r in dom.peers if r["attrs"].get("data-addr") == a.peer_addr]
    t.check(len(rows) == 1, "B's page: no peer row for A (%s): %r"
            % (a.peer_addr, [r["attrs"] for r in dom.peers]))
    row = rows[0]
    t.check("live" in row["attrs"].get("class", ""), "B's page: A's row is not live: %r"
            % row["attrs"])
    t.check(key_a[:8] in row["text"], "B's page: A's row does not show its key: %r" % row["text"])
    s = b.status()
    from_a = harness.peer_entry(s, key=key_a)["received"]["bytes"]
    t.check(from_a > 0, "B's status: nothing received from A")
    t.check(("%d crates" % harness.peer_entry(s, key=key_a)["received"]["crates"]) in row["text"],
            "B's page: A's row lacks the crates received: %r" % row["text"])
    crates = int(dom.ids.get("store-crates", {}).get("text", "0").strip() or 0)
    t.check(crates == s["store"]["crates"] and crates > 0,
            "B's page: #store-crates %r, status says %r" % (crates, s["store"]["crates"]))
    for ident, want in (("from-peers-bytes", s["counters"]["bytes_from_peers"]),
                        ("served-bytes", s["counters"]["bytes_served"]),
                        ("store-bytes", s["store"]["bytes"])):
        got = data_bytes(dom.ids.get(ident))
        t.check(got == want and want > 0, "B's page: #%s is %r, status says %r"
                % (ident, got, want))
    t.check(data_bytes(dom.ids.get("saved-bytes")) >= from_a,
            "B's page: #saved-bytes %r < bytes from peers %r"
            % (data_bytes(dom.ids.get("saved-bytes")), from_a))
    t.check(any("nosuch" in m["text"] for m in dom.misses),
            "B's page: the miss of nosuch is not listed: %r" % [m["text"] for m in dom.misses])
    t.check(any(m.get("http-equiv", "").lower() == "refresh" for m in dom.meta),
            "B's page does not refresh itself")
    off = [l for l in dom.links if re.match(r"^[a-z]+:", l) or l.startswith("//")]
    t.check(not off, "B's page loads or links something off the agent: %r" % off)
    t.check(dom.ids.get("listen", {}).get("text") == "127.0.0.1:%d" % b.port,
            "B's page: #listen %r" % dom.ids.get("listen", {}).get("text"))

    art = os.environ.get("MESON_BUILD_ROOT")
    art = os.path.join(art, "meson-logs") if art else t.path()
    os.makedirs(art, exist_ok=True)
    shot = os.path.join(art, "status-page.png")
    screenshot(t, b.url + "/", shot)
    harness.log("screenshot of B's status page: %s (%d bytes)" % (shot, os.path.getsize(shot)))

    dom_a = browser_dom(t, a.url + "/")
    t.check(dom_a.ids.get("state", {}).get("text", "").strip() == "online",
            "A's page: #state is %r" % dom_a.ids.get("state", {}).get("text"))
    sa = a.status()
    t.check(data_bytes(dom_a.ids.get("to-peers-bytes")) == sa["counters"]["bytes_to_peers"] > 0,
            "A's page: #to-peers-bytes %r, status %r" % (data_bytes(dom_a.ids.get("to-peers-bytes")),
                                                         sa["counters"]["bytes_to_peers"]))
    t.check(any(r["attrs"].get("data-addr") == b.peer_addr for r in dom_a.peers),
            "A's page: no row for B (%s): %r" % (b.peer_addr, [r["attrs"] for r in dom_a.peers]))

    # /metrics
    st, hdr, body = harness.http_get(a.port, "/metrics")
    t.check(st == 200 and hdr.get("content-type", "").startswith("text/plain"),
            "GET /metrics answered %d %r" % (st, hdr.get("content-type")))
    vals, types = {}, {}
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        t.check(METRIC.match(line), "/metrics: not in the text format: %r" % line)
        k, v = line.rsplit(" ", 1)
        vals[k] = float(v)
    for name, typ in types.items():
        if typ == "counter":
            t.check(name.endswith("_total"), "/metrics: counter %s does not end in _total" % name)
    t.check(vals.get("cratecast_peer_sent_bytes_total", 0) == sa["counters"]["bytes_to_peers"],
            "/metrics: cratecast_peer_sent_bytes_total %r, status %r"
            % (vals.get("cratecast_peer_sent_bytes_total"), sa["counters"]["bytes_to_peers"]))
    t.check(vals.get("cratecast_online") == 1, "/metrics: cratecast_online %r"
            % vals.get("cratecast_online"))
    h = "cratecast_cargo_request_duration_seconds"
    buckets = [(k, v) for k, v in vals.items() if k.startswith(h + "_bucket")]
    counts = [v for _, v in buckets]
    t.check(counts == sorted(counts), "/metrics: histogram buckets not cumulative: %r" % buckets)
    t.check(vals.get(h + '_bucket{le="+Inf"}') == vals.get(h + "_count") > 0,
            "/metrics: +Inf bucket %r, count %r" % (vals.get(h + '_bucket{le="+Inf"}'),
                                                   vals.get(h + "_count")))
    st, _, _ = harness.http_get(a.peer_port, "/")
    t.check(st == 404, "the peer side serves the status page (%d)" % st)

    # one activity line per build's worth of crates (agent/activity.h): written once the
    # client has asked for nothing for ACTIVITY_QUIET_MS (2 s), at the agent's next timer
    # tick; B's burst ends a little after A's (B serves Cargo what it got from A)
    b_line = r"sent \d+ crates \([\d.]+ MB\) to 127\.0\.0\.1: \d+ from 1 peer\b"
    a_line = r"sent \d+ crates \([\d.]+ MB\) to 127\.0\.0\.1: .*from the upstream"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (re.search(b_line, b.tail(200)) and
                                               re.search(a_line, a.tail(200))):
        time.sleep(0.2)
    t.check(re.search(b_line, b.tail(200)),
            "B logged no activity line for the build:\n%s" % b.tail())
    t.check(re.search(a_line, a.tail(200)),
            "A logged no activity line for the build:\n%s" % a.tail())


if __name__ == "__main__":
    harness.main(test)
