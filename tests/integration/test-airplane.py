#!/usr/bin/python3
"""Airplane mode with a real user's cache (issue 6): offline, never blocked by what the build does
not need, and says why.

The user's ~/.cargo is filled the way a Linux user's is: projects/travel built once online
(`cargo fetch --target <host>`), so the index cache knows winapi, js-sys, wasm-bindgen,
windows-targets, redox_syscall... but registry/cache holds only the host's five crates; it is
shaped like a crates.io cache, and a company's private registry sits beside it. The upstream is
then gone. An agent with --upstream none imports that CARGO_HOME, and through it:

  1. the private registry is not imported (acme-secret unknown; log 0.4.99 never listed), and the
     import says it skipped one registry and why;
  2. travel fetches (`cargo fetch --target <host>`, what a build downloads) and builds again
     from its own Cargo.lock (Windows/wasm entries listed, since nothing in their compatible
     range is here);
  3. newapp (tempfile = "3", chrono, log = "0.4") resolves to what is here: tempfile 3.3.0 and
     log 0.4.17, not 3.8.0 / 0.4.18 (never downloaded), and builds;
  4. pinned (log = "=0.4.18") fails to resolve, winonly (winapi as a real dependency) resolves
     but fails to download with a 404; `status --json` lists both misses, `status` and
     `cratecast why` explain them;
  5. the Cargo side answers 404 for a crate nobody has.
"""

import json
import os
import shutil

import harness


def index_versions(t, ag, name):
    st, _, body = harness.http_get(ag.port, "/index/" + harness.registry.index_path(name))
    if st == 404:
        return []
    t.check(st == 200, "GET the %s index answered %d" % (name, st))
    return [json.loads(ln)["vers"] for ln in body.decode().splitlines() if ln.strip()]


def copy_with_lock(t, src):
    """A fresh copy of a project directory that already holds a Cargo.lock."""
    dst = t.fresh_dir("proj-copy")
    shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target"))
    return dst


def test(t):
    projects = t.registry and t.manifest["projects"]
    home, travel = t.user_cargo_home("travel")
    private = t.add_private_registry(home)
    t.user_upstream.stop()
    with open(os.path.join(travel, "Cargo.lock")) as f:
        travel_lock = f.read()

    ag = t.start_agent(upstream=None, extra=["--import", home], no_import=False)
    s = t.wait_status(ag, lambda s: (s.get("import") or {}).get("running") is False,
                      "the import to finish", timeout=60)
    imp = s["import"]
    harness.log("import: %s" % json.dumps(imp))
    # 1. private registry skipped, and said so
    t.check(imp.get("registries_skipped") == 1 and harness.PRIVATE_DIR in imp.get("skipped", ""),
            "import did not report the skipped private registry: %s" % json.dumps(imp))
    t.check(imp.get("crates_added") == len(projects["travel"]["host_crates"]),
            "import added %s crates, expected the %d host crates"
            % (imp.get("crates_added"), len(projects["travel"]["host_crates"])))
    t.check(index_versions(t, ag, "acme-secret") == [], "the private crate acme-secret is served")
    t.check("0.4.99" not in index_versions(t, ag, "log"), "the private log 0.4.99 is listed")
    for c in private["crates"]:
        t.check(c["cksum"] not in t.store_blobs(ag.store),
                "the private %s %s was stored" % (c["name"], c["vers"]))

    # 2. the earlier project again, from its lockfile, as a build fetches (host crates only)
    proj = copy_with_lock(t, travel)
    chome = t.cargo_home(ag.registry_url)
    t.cargo_fetch_target(proj, chome, harness.host_triple())
    t.build_and_run(proj, chome, expect=projects["travel"]["output"])
    with open(os.path.join(proj, "Cargo.lock")) as f:
        t.check(f.read() == travel_lock, "travel's Cargo.lock changed offline")

    # the listing: ranges with something here show only that; empty ranges show everything
    t.check(index_versions(t, ag, "log") == ["0.4.17"],
            "offline log lists %s, expected only 0.4.17" % index_versions(t, ag, "log"))
    t.check(index_versions(t, ag, "tempfile") == ["3.3.0"],
            "offline tempfile lists %s" % index_versions(t, ag, "tempfile"))
    t.check(index_versions(t, ag, "winapi") == ["0.3.8", "0.3.9"],
            "offline winapi lists %s, expected both (none is here)"
            % index_versions(t, ag, "winapi"))

    # 3. a new project resolves to what is here
    newapp = t.project("newapp")
    chome = t.cargo_home(ag.registry_url)
    t.cargo(["generate-lockfile"], newapp, chome)
    t.check_lock(newapp, projects["newapp"]["offline_lock"])
    t.build_and_run(newapp, chome, expect=projects["newapp"]["offline_output"])

    # 4a. a version nobody has: resolution fails, the miss is recorded
    pinned = t.project("pinned")
    rc, out = t.cargo(["generate-lockfile"], pinned, t.cargo_home(ag.registry_url), check=False)
    t.check(rc != 0 and "log" in out, "pinned (log =0.4.18) resolved offline:\n%s" % out[-2000:])
    # 4b. a dependency that is really downloaded but held nowhere: 404, recorded
    winonly = t.project("winonly")
    chome = t.cargo_home(ag.registry_url)
    t.cargo(["generate-lockfile"], winonly, chome)
    rc, out = t.cargo(["fetch"], winonly, chome, check=False)
    t.check(rc != 0 and "winapi" in out, "winonly fetched winapi offline:\n%s" % out[-2000:])
    s = ag.status()
    misses = s.get("misses")
    harness.log("misses: %s" % json.dumps(misses))
    t.check(isinstance(misses, list), "status has no misses array")
    for m in misses:
        for k in ("crate", "version", "reason", "at"):
            t.check(k in m, "a miss lacks %r: %s" % (k, m))
    t.check(any(m["crate"] == "log" and m["version"] == "0.4.18" for m in misses),
            "no miss for log 0.4.18 (withheld): %s" % misses)
    t.check(any(m["crate"] == "winapi" and m["version"] == "0.3.9" and m.get("kind") == "crate"
                for m in misses), "no miss for the winapi 0.3.9 download: %s" % misses)
    # 5. the Cargo side says 404 for it (Cargo >= 1.96 treats only 404 as "not found")
    ck = t.crate("winapi", "0.3.9")["cksum"]
    st, _, _ = harness.http_get(ag.port, "/crates/winapi/0.3.9/" + ck)
    t.check(st == 404, "a crate nobody has answered %d, expected 404" % st)
    st, _, _ = harness.http_get(ag.port, "/index/" + harness.registry.index_path("nosuchcrate"))
    t.check(st == 404, "an unknown crate's index answered %d" % st)
    t.check(any(m["crate"] == "nosuchcrate" and m["version"] is None
                for m in ag.status()["misses"]), "no miss for the unknown crate")

    # what a user reads
    _, out = t.run([t.cratecast, "status", "--agent", ag.url])
    harness.log("status:\n" + out)
    t.check("winapi 0.3.9" in out and "misses" in out, "`status` does not show the misses")
    _, out = t.run([t.cratecast, "why", "winapi", "--agent", ag.url])
    harness.log("why winapi:\n" + out)
    lines = [ln.split() for ln in out.splitlines()]
    t.check(any(ln[:3] == ["0.3.9", "yes", "nowhere"] for ln in lines if len(ln) >= 3),
            "`why winapi` does not say 0.3.9 is listed but nowhere:\n" + out)
    _, out = t.run([t.cratecast, "why", "log", "--agent", ag.url])
    lines = [ln.split() for ln in out.splitlines()]
    t.check(any(ln[:3] == ["0.4.17", "yes", "here"] for ln in lines if len(ln) >= 3) and
            any(ln[:3] == ["0.4.18", "no", "nowhere"] for ln in lines if len(ln) >= 3),
            "`why log` does not explain 0.4.17 / 0.4.18:\n" + out)
    _, out = t.run([t.cratecast, "why", "log", "--json", "--agent", ag.url])
    doc = json.loads(out)
    t.check([v["version"] for v in doc["versions"]] == ["0.4.17", "0.4.18"],
            "why --json versions: %s" % doc["versions"])
    rc, out = t.run([t.cratecast, "why", "no/such", "--agent", ag.url], check=False)
    t.check(rc == 2 and "error" in out.lower() or rc == 2, "why with a bad name exited %d" % rc)
    t.check_store_invariant(ag.store)


if __name__ == "__main__":
    harness.main(test)
