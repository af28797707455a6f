/* cli/status_text.c — the status document as text (see status_text.h). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/textbuf.h"
#include "cli/status_text.h"

/* o.a.b as an integer (0 when missing); b may be NULL. */
static long long num(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* o.a as a string, else dflt. */
static const char *str(const json_t *o, const char *a, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, a));
    return s ? s : dflt;
}

/* Bytes, human: "4.61 MB". out holds 32. */
static const char *bytes(long long n, char out[32])
{
    text_bytes(n > 0 ? (uint64_t)n : 0, out, 32);
    return out;
}

static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* "avahi-daemon" -> what a person calls it. */
static const char *discovery_name(const char *mdns)
{
    if (strcmp(mdns, "avahi-daemon") == 0 || strcmp(mdns, "daemon") == 0)
        return "mDNS through the avahi daemon";
    if (strcmp(mdns, "avahi-core") == 0 || strcmp(mdns, "embedded") == 0)
        return "mDNS, embedded (avahi-core, no daemon)";
    if (strcmp(mdns, "off") == 0)
        return "mDNS off (--no-mdns): static peers only";
    if (strcmp(mdns, "none") == 0)
        return "mDNS unavailable (no avahi): static peers only";
    return mdns;
}

static void print_state(FILE *f, const json_t *doc, int64_t now)
{
    const json_t *up = json_object_get(doc, "upstream");
    const char *state = str(up, "state", "?"), *url = str(up, "url", NULL);
    char since[48] = "";
    if (num(up, "since", NULL) > 0) {
        char ago[32];
        text_ago(now, num(up, "since", NULL), ago, sizeof ago);
        snprintf(since, sizeof since, " since %s", ago);
    }
    bool online = json_is_true(json_object_get(doc, "online"));
    if (strcmp(state, "none") == 0)
        fprintf(f, "state:     offline: no upstream, peers only\n");
    else
        fprintf(f, "state:     %s%s (upstream %s, %s)\n", online ? "online" : "offline", since,
                url ? url : "none", state);
    const char *err = str(up, "last_error", NULL);
    if (err && err[0])
        fprintf(f, "           last error: %s\n", err);
    fprintf(f, "cargo:     served at http://%s/ (sparse registry at /index/)\n",
            str(doc, "listen", "?"));
    const char *pl = str(doc, "peer_listen", NULL);
    if (pl && strcmp(pl, "off") == 0)
        fprintf(f, "peer side: off (--peer-listen off)\n");
    else if (pl)
        fprintf(f, "peer side: %s\n", pl);
    const char *key = str(doc, "key_id", NULL);
    fprintf(f, "peers via: %s%s%s\n", discovery_name(str(doc, "mdns", "?")), key ? "; key id " : "",
            key ? key : "");
}

static void print_store(FILE *f, const json_t *doc)
{
    char b[32];
    const json_t *st = json_object_get(doc, "store");
    fprintf(f, "store:     %s\n", str(st, "dir", "?"));
    fprintf(f, "           %lld %s, %s, %lld index entries\n", num(st, "crates", NULL),
            plural(num(st, "crates", NULL), "crate", "crates"), bytes(num(st, "bytes", NULL), b),
            num(st, "index_entries", NULL));
}

static void print_traffic(FILE *f, const json_t *doc)
{
    char b1[32], b2[32];
    const json_t *c = json_object_get(doc, "counters");
    fprintf(f, "to Cargo:  %lld %s (%lld crates, %lld index files), %s sent\n",
            num(c, "served", NULL), plural(num(c, "served", NULL), "answer", "answers"),
            num(c, "crates_served", NULL), num(c, "index_served", NULL),
            bytes(num(c, "bytes_served", NULL), b1));
    fprintf(f, "crates:    %lld from the store, %lld from the upstream, %lld from peers\n",
            num(c, "from_store", NULL), num(c, "from_upstream", NULL), num(c, "from_peers", NULL));
    fprintf(f, "fetched:   %s from the upstream, %s from peers\n",
            bytes(num(c, "bytes_from_upstream", NULL), b1),
            bytes(num(c, "bytes_from_peers", NULL), b2));
    fprintf(f, "to peers:  %lld %s, %s sent (%lld relayed while arriving)\n",
            num(c, "served_to_peers", NULL),
            plural(num(c, "served_to_peers", NULL), "crate", "crates"),
            bytes(num(c, "bytes_to_peers", NULL), b1), num(c, "relayed", NULL));
    const json_t *u = json_object_get(doc, "uploads");
    fprintf(f,
            "transfers: %lld in flight, %lld relaying; uploads %lld of %lld slots busy, %lld "
            "waiting\n",
            num(doc, "transfers", "in_flight"), num(doc, "transfers", "relaying"),
            num(u, "active", NULL), num(u, "slots", NULL), num(u, "waiting", NULL));
    fprintf(f, "rejected:  %lld (bad checksum %lld, conflicting index %lld, bad request %lld)\n",
            num(c, "rejected", NULL), num(doc, "rejected", "checksum"),
            num(doc, "rejected", "conflict"), num(doc, "rejected", "request"));
}

static void print_peer(FILE *f, const json_t *p, int64_t now)
{
    char id[16], seen[32], rx[32], tx[32];
    const char *key = str(p, "id", NULL);
    if (key)
        snprintf(id, sizeof id, "%.8s", key);
    else
        snprintf(id, sizeof id, "(no key)");
    text_ago(now, num(p, "last_seen", NULL), seen, sizeof seen);
    fprintf(f, "           %s  %s  %s  %s  %lld %s, seen %s\n", str(p, "addr", "?"), id,
            str(p, "via", "?"), str(p, "state", "?"), num(p, "crates", NULL),
            plural(num(p, "crates", NULL), "crate", "crates"), seen);
    fprintf(f, "             received %lld %s (%s), sent %lld %s (%s)",
            num(p, "received", "crates"), plural(num(p, "received", "crates"), "crate", "crates"),
            bytes(num(p, "received", "bytes"), rx), num(p, "sent", "crates"),
            plural(num(p, "sent", "crates"), "crate", "crates"),
            bytes(num(p, "sent", "bytes"), tx));
    static const char *const causes[] = {"transport", "timeout",   "busy",
                                         "checksum",  "signature", "not_held"};
    const json_t *fails = json_object_get(p, "failures");
    bool any = false;
    for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++) {
        long long n = num(fails, causes[i], NULL);
        if (n == 0)
            continue;
        fprintf(f, "%s %s %lld", any ? "," : "; failures:", causes[i], n);
        any = true;
    }
    fputc('\n', f);
}

static void print_peers(FILE *f, const json_t *doc, int64_t now)
{
    const json_t *peers = json_object_get(doc, "peers");
    fprintf(f, "peers:     %zu\n", json_array_size(peers));
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p)
    {
        print_peer(f, p, now);
    }
}

/* Recent misses, the ones that fail a build (crate, index) before the
 * withheld-version notes; at most 10 lines. */
static void print_misses(FILE *f, const json_t *misses)
{
    size_t n = json_array_size(misses);
    if (n == 0) {
        fprintf(f, "misses:    none\n");
        return;
    }
    fprintf(f, "misses:    %zu recent (`cratecast why CRATE` for one crate)\n", n);
    int shown = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        const json_t *m;
        json_array_foreach(misses, i, m)
        {
            const char *kind = str(m, "kind", "");
            bool withheld = strcmp(kind, "withheld") == 0;
            if (withheld != (pass == 1) || shown >= 10)
                continue;
            const char *ver = str(m, "version", NULL);
            fprintf(f, "           %s%s%s: %s\n", str(m, "crate", "?"), ver && !withheld ? " " : "",
                    ver && !withheld ? ver : "", str(m, "reason", "?"));
            shown++;
        }
    }
    if ((size_t)shown < n)
        fprintf(f, "           ... and %zu more (status --json)\n", n - (size_t)shown);
}

static void print_import(FILE *f, const json_t *imp)
{
    if (!json_is_object(imp)) {
        fprintf(f, "import:    none at start\n");
        return;
    }
    if (json_is_true(json_object_get(imp, "running"))) {
        fprintf(f, "import:    running\n");
        return;
    }
    const char *err = str(imp, "error", NULL);
    if (err) {
        fprintf(f, "import:    failed: %s\n", err);
        return;
    }
    const json_t *secs = json_object_get(imp, "seconds");
    fprintf(f,
            "import:    %lld crates added, %lld already held, %lld without a trusted index entry; "
            "%lld index entries (%lld new, %lld conflicting), in %.2f s\n",
            num(imp, "crates_added", NULL), num(imp, "crates_present", NULL),
            num(imp, "crates_untrusted", NULL), num(imp, "index_entries", NULL),
            num(imp, "index_new", NULL), num(imp, "conflicts", NULL),
            json_is_number(secs) ? json_number_value(secs) : 0.0);
    if (num(imp, "registries_skipped", NULL) > 0)
        fprintf(f, "           skipped (not crates.io's): %s\n", str(imp, "skipped", "?"));
}

void status_text_print(FILE *f, const json_t *doc, int64_t now)
{
    print_state(f, doc, now);
    print_store(f, doc);
    print_traffic(f, doc);
    print_peers(f, doc, now);
    print_misses(f, json_object_get(doc, "misses"));
    print_import(f, json_object_get(doc, "import"));
}
