/* agent/commands.c — `cratecast status`, `cargo-config`, `import-cargo`, `verify`.
 *
 * status asks a running agent (GET /-/status); the others work on the store or
 * on CARGO_HOME directly and are safe while an agent runs (SQLite WAL, blob
 * files renamed into place atomically).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/client.h"
#include "agent/commands.h"
#include "agent/http_client.h"
#include "agent/internal.h"

static char *store_or_default(const char *s)
{
    if (s)
        return strdup(s);
    char *d = agent_default_store_dir();
    if (d == NULL) {
        fprintf(stderr, "cratecast: no --store given and neither XDG_CACHE_HOME nor HOME is set\n");
        exit(2);
    }
    return d;
}

/* ---- status -------------------------------------------------------------- */

static json_int_t geti(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Recent misses, the ones that fail a build (crate, index) before the
 * withheld-version notes; at most 10 lines. */
static void print_misses(json_t *misses)
{
    size_t n = json_array_size(misses);
    if (n == 0) {
        printf("misses:    none\n");
        return;
    }
    printf("misses:    %zu recent (`cratecast why CRATE` for one crate)\n", n);
    int shown = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *m;
        json_array_foreach(misses, i, m)
        {
            const char *kind = json_string_value(json_object_get(m, "kind"));
            bool withheld = kind && strcmp(kind, "withheld") == 0;
            if (withheld != (pass == 1) || shown >= 10)
                continue;
            const char *ver = json_string_value(json_object_get(m, "version"));
            printf("           %s%s%s: %s\n", json_string_value(json_object_get(m, "crate")),
                   ver && !withheld ? " " : "", ver && !withheld ? ver : "",
                   json_string_value(json_object_get(m, "reason")));
            shown++;
        }
    }
    if ((size_t)shown < n)
        printf("           ... and %zu more (status --json)\n", n - (size_t)shown);
}

int cmd_status(int argc, char **argv)
{
    bool as_json = false;
    const char *url = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if ((v = client_opt_value(argc, argv, &i, "--agent")) != NULL)
            url = v;
        else {
            fprintf(stderr, "cratecast: status: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char full[CLIENT_URL_MAX];
    if (client_url("status", url, "/-/status", full, sizeof full) < 0)
        return 2;
    long http_status;
    json_t *doc = client_get_json("status", full, 5000, &http_status);
    if (doc == NULL)
        return 1;
    if (as_json) {
        client_print_json(doc);
    } else {
        json_t *up = json_object_get(doc, "upstream");
        printf("upstream:  %s (%s)\n",
               json_string_value(json_object_get(up, "url"))
                   ? json_string_value(json_object_get(up, "url"))
                   : "none",
               json_string_value(json_object_get(up, "state")));
        printf("store:     %s\n",
               json_string_value(json_object_get(json_object_get(doc, "store"), "dir")));
        printf("           %lld crates, %.1f MiB, %lld index entries\n",
               (long long)geti(doc, "store", "crates"),
               (double)geti(doc, "store", "bytes") / (1024.0 * 1024.0),
               (long long)geti(doc, "store", "index_entries"));
        json_t *peers = json_object_get(doc, "peers");
        printf("peers:     %zu\n", json_array_size(peers));
        size_t i;
        json_t *p;
        json_array_foreach(peers, i, p)
        {
            const char *id = json_string_value(json_object_get(p, "id"));
            printf("           %-21s %-6s %-10s %5lld crates  %s\n",
                   json_string_value(json_object_get(p, "addr")),
                   json_string_value(json_object_get(p, "via")),
                   json_string_value(json_object_get(p, "state")),
                   (long long)geti(p, "crates", NULL), id ? id : "(no key yet)");
        }
        printf("served:    %lld (crates from store %lld, from upstream %lld, from peers %lld)\n",
               (long long)geti(doc, "counters", "served"),
               (long long)geti(doc, "counters", "from_store"),
               (long long)geti(doc, "counters", "from_upstream"),
               (long long)geti(doc, "counters", "from_peers"));
        printf("rejected:  %lld (bad checksum %lld, conflicting index %lld, bad request %lld)\n",
               (long long)geti(doc, "counters", "rejected"),
               (long long)geti(doc, "rejected", "checksum"),
               (long long)geti(doc, "rejected", "conflict"),
               (long long)geti(doc, "rejected", "request"));
        printf("transfers: %lld in flight\n", (long long)geti(doc, "transfers", "in_flight"));
        print_misses(json_object_get(doc, "misses"));
    }
    json_decref(doc);
    return 0;
}

/* ---- cargo-config -------------------------------------------------------- */

static int snippet(const char *listen, char *out, size_t outsz)
{
    char host[160];
    if (strncmp(listen, "0.0.0.0:", 8) == 0)
        snprintf(host, sizeof host, "127.0.0.1:%s", listen + 8);
    else
        snprintf(host, sizeof host, "%s", listen);
    return snprintf(out, outsz,
                    "[source.crates-io]\n"
                    "replace-with = \"cratecast\"\n"
                    "\n"
                    "[source.cratecast]\n"
                    "registry = \"sparse+http://%s/index/\"\n",
                    host);
}

static int write_config(const char *home, const char *text)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/config.toml", home);
    snprintf(tmp, sizeof tmp, "%s/.config.toml.cratecast-%ld", home, (long)getpid());
    char *old = NULL;
    size_t oldlen = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (n < 0 || n > (1 << 20)) {
            fclose(f);
            fprintf(stderr, "cratecast: %s is too large to edit\n", path);
            return 1;
        }
        old = malloc((size_t)n + 1);
        oldlen = old ? fread(old, 1, (size_t)n, f) : 0;
        fclose(f);
        if (old == NULL)
            return 1;
        old[oldlen] = '\0';
        if (strstr(old, "[source.cratecast]")) {
            printf("%s already points Cargo at cratecast\n", path);
            free(old);
            return 0;
        }
        if (strstr(old, "[source.crates-io]")) {
            fprintf(stderr,
                    "cratecast: %s already replaces crates-io with another source; edit it by "
                    "hand (see `cratecast cargo-config`)\n",
                    path);
            free(old);
            return 1;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "cratecast: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (mkdir(home, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "cratecast: cannot create %s: %s\n", home, strerror(errno));
        free(old);
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (out == NULL) {
        fprintf(stderr, "cratecast: cannot write %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(old);
        return 1;
    }
    if (oldlen) {
        fwrite(old, 1, oldlen, out);
        if (old[oldlen - 1] != '\n')
            fputc('\n', out);
        fputc('\n', out);
    }
    fputs(text, out);
    int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    free(old);
    if (bad || rename(tmp, path) < 0) {
        fprintf(stderr, "cratecast: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    printf("wrote the cratecast source to %s\n", path);
    return 0;
}

int cmd_cargo_config(int argc, char **argv)
{
    bool write = false;
    const char *listen = AGENT_DEFAULT_LISTEN, *home = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        struct sockaddr_storage ss;
        if (strcmp(argv[i], "--write") == 0)
            write = true;
        else if ((v = client_opt_value(argc, argv, &i, "--listen")) != NULL) {
            if (agent_parse_addr(v, &ss) < 0) {
                fprintf(stderr, "cratecast: cargo-config: --listen %s: expected ADDR:PORT\n", v);
                return 2;
            }
            listen = v;
        } else if ((v = client_opt_value(argc, argv, &i, "--cargo-home")) != NULL)
            home = v;
        else {
            fprintf(stderr, "cratecast: cargo-config: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char text[512];
    snippet(listen, text, sizeof text);
    if (!write) {
        fputs(text, stdout);
        return 0;
    }
    char *h = home ? strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        fprintf(stderr, "cratecast: neither CARGO_HOME nor HOME is set\n");
        return 2;
    }
    int rc = write_config(h, text);
    free(h);
    return rc;
}

/* ---- import-cargo -------------------------------------------------------- */

int cmd_import_cargo(int argc, char **argv)
{
    const char *store = NULL, *home = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = client_opt_value(argc, argv, &i, "--store")) != NULL)
            store = v;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "cratecast: import-cargo: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (home == NULL)
            home = argv[i];
        else {
            fprintf(stderr, "cratecast: import-cargo: one CARGO_HOME at a time\n");
            return 2;
        }
    }
    char *dir = store_or_default(store);
    char *h = home ? strdup(home) : agent_default_cargo_home();
    if (h == NULL) {
        fprintf(stderr, "cratecast: neither CARGO_HOME nor HOME is set\n");
        free(dir);
        return 2;
    }
    struct import_result r;
    int rc = agent_import_cargo_home(dir, h, &r);
    if (rc < 0)
        fprintf(stderr, "cratecast: import-cargo: %s\n", r.error_text);
    else
        printf("imported %s into %s: %llu index entries (%llu new, %llu conflicting), "
               "%llu crates added, %llu already held, %llu without a trusted index entry, "
               "%llu bad, in %.2f s\n",
               h, dir, (unsigned long long)r.index_entries, (unsigned long long)r.index_new,
               (unsigned long long)r.conflicts, (unsigned long long)r.crates_added,
               (unsigned long long)r.crates_present, (unsigned long long)r.crates_untrusted,
               (unsigned long long)r.crates_bad, r.seconds);
    if (rc == 0 && r.registries_skipped)
        printf("skipped %llu registr%s that %s not crates.io's (never shared, never served as "
               "crates.io): %s\n",
               (unsigned long long)r.registries_skipped, r.registries_skipped == 1 ? "y" : "ies",
               r.registries_skipped == 1 ? "is" : "are", r.skipped_text);
    free(dir);
    free(h);
    return rc < 0 ? 1 : 0;
}

/* ---- verify -------------------------------------------------------------- */

static void verify_cb(void *ud, const char *sha_hex, const char *problem)
{
    (void)ud;
    printf("%s: %s\n", sha_hex, problem);
}

int cmd_verify(int argc, char **argv)
{
    const char *store = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = client_opt_value(argc, argv, &i, "--store")) != NULL)
            store = v;
        else {
            fprintf(stderr, "cratecast: verify: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char *dir = store_or_default(store);
    struct store *s = NULL;
    struct store_error err;
    int rc = store_open_err(dir, &s, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, dir, &err);
        store_close(s);
        free(dir);
        return 1;
    }
    struct store_verify_result r;
    rc = store_verify(s, verify_cb, NULL, &r);
    store_close(s);
    if (rc < 0) {
        fprintf(stderr, "cratecast: verify: %s\n", strerror(-rc));
        free(dir);
        return 1;
    }
    printf("verified %llu blobs in %s: %llu ok, %llu missing, %llu quarantined\n",
           (unsigned long long)r.checked, dir, (unsigned long long)r.ok,
           (unsigned long long)r.missing, (unsigned long long)r.quarantined);
    free(dir);
    return (r.missing || r.quarantined) ? 1 : 0;
}
