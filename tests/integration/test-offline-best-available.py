#!/usr/bin/python3
"""(d) Offline, Cargo gets the best *available* version, not the newest unknown one.

Online, projects/pin (cc-util = "=1.0.0") is fetched through the agent: the store learns the
whole cc-util index file (1.0.0, 1.1.0, 1.2.0) but holds only the 1.0.0 .crate. With the
upstream stopped, projects/loose (cc-util = "1") must resolve to 1.0.0 and build, because the
agent lists offline only the versions it can deliver. Restarted with --offline-index all on the
same store, the agent lists 1.2.0 again. With its default (--index-ttl 0) the warm agent notices the
upstream's loss at Cargo's first index request (see test-offline.py).
"""

import json

import harness

PATH = "/index/" + harness.registry.index_path("cc-util")


def versions(body):
    out = []
    for line in body.splitlines():
        if line.strip():
            out.append(json.loads(line)["vers"])
    return out


def test(t):
    up, ag, pin = t.warm_up("pin")
    t.check(list(t.lock(pin)["cc-util"]) == ["1.0.0"], "pin did not lock cc-util 1.0.0")
    dls = [r[1] for r in up.downloads()]
    t.check(len(dls) == 1 and "1.0.0" in dls[0],
            "warm-up downloaded %s, expected only cc-util 1.0.0" % dls)
    up.stop()

    home = t.cargo_home(ag.registry_url)
    loose = t.project("loose")
    t.cargo(["generate-lockfile"], loose, home)
    got = list(t.lock(loose).get("cc-util", {}))
    t.check(got == ["1.0.0"], "offline, loose locked cc-util %s, expected the available 1.0.0"
            % got)
    t.build_and_run(loose, home, expect="loose ok 400")

    st, _, body = harness.http_get(ag.port, PATH)
    t.check(st == 200, "offline GET %s answered %d" % (PATH, st))
    t.check(versions(body) == ["1.0.0"], "offline (available) index lists %s, expected [1.0.0]"
            % versions(body))
    ag.stop()

    ag2 = t.start_agent(store=ag.store, upstream=up.url, extra=["--offline-index", "all"])
    st, _, body = harness.http_get(ag2.port, PATH)
    t.check(st == 200, "--offline-index all: GET %s answered %d" % (PATH, st))
    vs = versions(body)
    t.check("1.2.0" in vs and "1.0.0" in vs,
            "--offline-index all lists %s, expected 1.0.0 .. 1.2.0" % vs)
    with open("%s/index/%s" % (t.registry, harness.registry.index_path("cc-util")), "rb") as f:
        want = set(f.read().splitlines())
    t.check(set(body.splitlines()) == want,
            "--offline-index all: lines are not the upstream's bytes")
    t.check(ag2.status().get("online") is False, "agent with a dead upstream says online")


if __name__ == "__main__":
    harness.main(test)
