#!/usr/bin/python3
"""The fixture itself, without the agent: real Cargo accepts the generated registry.

Cargo resolves, fetches and builds projects/app directly from upstream.py for each `dl` template
style (markers, no marker at all, {prefix}), and the offline rebuild works. This proves that the
generated .crate files and index lines are what Cargo accepts, so a failure in the agent tests
is the agent's. Also checks upstream.py's own ETag / 304 / 404 / --corrupt behaviour.
"""

import hashlib

import harness


def test(t):
    app_out = None
    for style in ("markers", "plain", "prefix"):
        up = t.start_upstream(dl_style=style)
        home = t.cargo_home("sparse+" + up.url, name="up")
        proj = t.project("app")
        t.cargo(["generate-lockfile"], proj, home)
        t.check_app_lock(proj)
        t.cargo(["fetch"], proj, home)
        n = len(up.downloads())
        want = sum(len(v) for v in t.manifest["expected_app_lock"].values())
        t.check(n == want, "[%s] cargo fetch downloaded %d crates, expected %d" % (style, n, want))
        app_out = t.build_and_run(proj, home, offline=True,
                                  expect=t.manifest["expected_app_output"])
        up.stop()
    harness.log("app output: %s" % app_out.strip())

    # scenario (d) projects against the fixture: pin gets 1.0.0, loose gets 1.2.0
    up = t.start_upstream()
    home = t.cargo_home("sparse+" + up.url, name="up")
    pin = t.project("pin")
    t.cargo(["generate-lockfile"], pin, home)
    t.check(list(t.lock(pin)["cc-util"]) == ["1.0.0"], "pin did not select cc-util 1.0.0")
    loose = t.project("loose")
    t.cargo(["generate-lockfile"], loose, home)
    t.check(list(t.lock(loose)["cc-util"]) == ["1.2.0"], "loose did not select cc-util 1.2.0")

    # upstream.py protocol details the agent tests rely on
    st, hdr, body = harness.http_get(up.port, "/1/a")
    t.check(st == 200 and "etag" in hdr, "GET /1/a: %d %s" % (st, hdr))
    st2, _, _ = harness.http_get(up.port, "/1/a", {"If-None-Match": hdr["etag"]})
    t.check(st2 == 304, "If-None-Match with the current ETag answered %d, not 304" % st2)
    st3, _, _ = harness.http_get(up.port, "/no/su/nosuchcrate")
    t.check(st3 == 404, "unknown crate answered %d" % st3)
    up.stop()

    up = t.start_upstream(corrupt=["abc@0.3.1"])
    c = t.crate("abc", "0.3.1")
    st, _, body = harness.http_get(
        up.port, "/files/3/a/abc/0.3.1/%s/download" % c["cksum"])
    t.check(st == 200 and hashlib.sha256(body).hexdigest() != c["cksum"],
            "--corrupt did not corrupt abc 0.3.1")
    home = t.cargo_home("sparse+" + up.url, name="up")
    proj = t.project("app")
    rc, out = t.cargo(["fetch"], proj, home, check=False)
    t.check(rc != 0, "cargo accepted a corrupted crate directly from upstream.py")


if __name__ == "__main__":
    harness.main(test, needs_agent=False)
