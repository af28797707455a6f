/* proto/cargo_lock.c — Cargo.lock as a list of packages, built from the
 * proto/toml.h event stream.
 *
 * The callback is a small state machine on the table path:
 *   [[package]], [root]   a package opens: out->pkgs gains a zeroed element
 *                         that its name/version/source/checksum keys fill;
 *   any other header      the open package (if any) closes: name and version
 *                         are required then, and the name is checked against
 *                         its source (registry names are stricter);
 *   version (top level)   the lockfile version;
 *   metadata.<key>        a "checksum ..." key is kept in meta[] and applied
 *                         once all packages are known (v1 lockfiles).
 * Values are checked when they arrive, so an error carries the line of the
 * offending key; a missing name or version carries its package's header line.
 * Anything else is read past. TOML has already checked the whole file before
 * the first event, so every error here is about meaning, not syntax.
 */
#include "proto/cargo_lock.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proto/name.h"
#include "proto/alloc.h"

/* A [metadata] "checksum NAME [VERSION [(SOURCE)]]" entry. */
struct meta {
    char *name;
    char *version; /* NULL: any */
    char *source;  /* NULL: any */
    bool has_checksum;
    uint8_t checksum[PROTO_SHA256_LEN];
};

struct lock {
    struct proto_cargo_lock *out;
    size_t cap;
    unsigned err_line;
    bool seen_version; /* the top-level version key */
    bool any_checksum; /* some package has a checksum key: at least v2 */
    /* the open package, out->pkgs[out->npkgs - 1] */
    bool open;
    bool seen_checksum;
    unsigned pkg_line, name_line;
    struct meta *meta;
    size_t nmeta, metacap;
};

static bool streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *dup(const char *s, size_t n)
{
    char *d = cc_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int fail(struct lock *lk, int rc, unsigned line)
{
    lk->err_line = line;
    return rc;
}

/* The source kinds Cargo writes: registry+URL, sparse+URL, git+URL, path+URL. */
static bool source_valid(const char *s)
{
    static const char *const kinds[] = {"registry+", "sparse+", "git+", "path+"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (starts_with(s, kinds[i]) && s[strlen(kinds[i])] != '\0')
            return true;
    return false;
}

static bool is_registry_source(const char *s)
{
    return s != NULL && (starts_with(s, "registry+") || starts_with(s, "sparse+"));
}

/* A path or git package's name: Cargo allows Unicode letters there. */
static bool local_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* "<none>", or 64 lower-case hex digits. */
static int checksum(const char *s, size_t n, bool *has, uint8_t out[PROTO_SHA256_LEN])
{
    if (streq(s, "<none>")) {
        *has = false;
        return 0;
    }
    if (n != PROTO_SHA256_HEX_LEN)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'F')
            return -EBADMSG; /* Cargo writes lower case; the decoder takes both */
    if (proto_hex_decode(s, n, out, PROTO_SHA256_LEN) != 0)
        return -EBADMSG;
    *has = true;
    return 0;
}

/* ---- packages ----------------------------------------------------------- */

static int open_pkg(struct lock *lk, unsigned line)
{
    struct proto_cargo_lock *out = lk->out;
    if (out->npkgs >= PROTO_CARGO_LOCK_PKGS_MAX)
        return fail(lk, -EMSGSIZE, line);
    if (out->npkgs == lk->cap) {
        size_t cap = lk->cap ? lk->cap * 2 : 16;
        if (cap > PROTO_CARGO_LOCK_PKGS_MAX)
            cap = PROTO_CARGO_LOCK_PKGS_MAX;
        struct proto_cargo_lock_pkg *p = cc_realloc(out->pkgs, cap * sizeof *p);
        if (p == NULL)
            return -ENOMEM;
        out->pkgs = p;
        lk->cap = cap;
    }
    memset(&out->pkgs[out->npkgs++], 0, sizeof out->pkgs[0]);
    lk->open = true;
    lk->seen_checksum = false;
    lk->pkg_line = line;
    return 0;
}

static int close_pkg(struct lock *lk)
{
    if (!lk->open)
        return 0;
    lk->open = false;
    const struct proto_cargo_lock_pkg *p = &lk->out->pkgs[lk->out->npkgs - 1];
    if (p->name == NULL || p->version == NULL)
        return fail(lk, -EBADMSG, lk->pkg_line);
    size_t n = strlen(p->name);
    bool ok = is_registry_source(p->source) ? proto_crate_name_valid(p->name, n)
                                            : local_name_valid(p->name, n);
    return ok ? 0 : fail(lk, -EBADMSG, lk->name_line);
}

/* name, version, source or checksum of the open package; other keys
 * (dependencies, replace ...) are read past. */
static int pkg_key(struct lock *lk, const struct proto_toml_event *ev)
{
    struct proto_cargo_lock_pkg *p = &lk->out->pkgs[lk->out->npkgs - 1];
    const char *k = ev->path[ev->table_len];
    char **slot;
    size_t max;
    if (streq(k, "name")) {
        slot = &p->name;
        max = PROTO_CARGO_LOCK_NAME_MAX;
        lk->name_line = ev->line;
    } else if (streq(k, "version")) {
        slot = &p->version;
        max = PROTO_VERS_MAX;
    } else if (streq(k, "source")) {
        slot = &p->source;
        max = PROTO_CARGO_LOCK_SOURCE_MAX;
    } else if (streq(k, "checksum")) {
        slot = NULL;
        max = PROTO_SHA256_HEX_LEN;
    } else {
        return 0;
    }
    if (ev->type != PROTO_TOML_STRING || ev->in_array)
        return fail(lk, -EBADMSG, ev->line);
    if (slot == NULL) {
        if (lk->seen_checksum ||
            checksum(ev->value, ev->value_len, &p->has_checksum, p->checksum) != 0)
            return fail(lk, -EBADMSG, ev->line);
        lk->seen_checksum = true;
        lk->any_checksum = true;
        return 0;
    }
    if (*slot != NULL)
        return fail(lk, -EBADMSG, ev->line); /* given twice */
    if (slot == &p->version && !proto_version_valid(ev->value, ev->value_len))
        return fail(lk, -EBADMSG, ev->line);
    if (ev->value_len > max)
        return fail(lk, -EMSGSIZE, ev->line);
    if (slot == &p->source && !source_valid(ev->value))
        return fail(lk, -EBADMSG, ev->line);
    if ((*slot = dup(ev->value, ev->value_len)) == NULL)
        return -ENOMEM;
    return 0;
}

/* ---- [metadata] checksums (v1) ------------------------------------------ */

/* key is "checksum NAME [VERSION [(SOURCE)]]", split as Cargo does: on the
 * first two spaces, the rest being the parenthesized source. */
static int meta_key(struct lock *lk, const struct proto_toml_event *ev)
{
    const char *k = ev->path[ev->table_len + ev->key_len - 1];
    if (ev->type != PROTO_TOML_STRING || ev->in_array)
        return fail(lk, -EBADMSG, ev->line); /* [metadata] maps strings to strings */
    if (!starts_with(k, "checksum "))
        return 0;
    if (lk->nmeta >= PROTO_CARGO_LOCK_PKGS_MAX)
        return fail(lk, -EMSGSIZE, ev->line);

    struct meta m = {0};
    const char *name = k + strlen("checksum "), *sp = strchr(name, ' ');
    const char *vers = NULL, *src = NULL;
    size_t nl = sp ? (size_t)(sp - name) : strlen(name), vl = 0, sl = 0;
    if (sp != NULL) {
        vers = sp + 1;
        sp = strchr(vers, ' ');
        vl = sp ? (size_t)(sp - vers) : strlen(vers);
        if (sp != NULL) {
            size_t rl = strlen(sp + 1);
            if (rl < 3 || sp[1] != '(' || sp[rl] != ')')
                return fail(lk, -EBADMSG, ev->line);
            src = sp + 2;
            sl = rl - 2;
        }
    }
    if (checksum(ev->value, ev->value_len, &m.has_checksum, m.checksum) != 0)
        return fail(lk, -EBADMSG, ev->line);
    if ((m.name = dup(name, nl)) == NULL || (vers && (m.version = dup(vers, vl)) == NULL) ||
        (src && (m.source = dup(src, sl)) == NULL)) {
        free(m.name);
        free(m.version);
        return -ENOMEM;
    }
    if (m.source != NULL && !source_valid(m.source)) {
        free(m.name);
        free(m.version);
        free(m.source);
        return fail(lk, -EBADMSG, ev->line);
    }
    if (lk->nmeta == lk->metacap) {
        size_t cap = lk->metacap ? lk->metacap * 2 : 16;
        struct meta *a = cc_realloc(lk->meta, cap * sizeof *a);
        if (a == NULL) {
            free(m.name);
            free(m.version);
            free(m.source);
            return -ENOMEM;
        }
        lk->meta = a;
        lk->metacap = cap;
    }
    lk->meta[lk->nmeta++] = m;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    const struct proto_cargo_lock_pkg *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static bool opt_eq(const char *want, const char *have)
{
    return want == NULL || (have != NULL && streq(want, have));
}

/* Gives each entry to the one package it names; an entry that names none, or
 * several, is ignored (Cargo ignores it too: a stale entry after a merge). */
static int apply_meta(struct lock *lk)
{
    struct proto_cargo_lock *out = lk->out;
    if (out->npkgs == 0)
        return 0;
    struct proto_cargo_lock_pkg **sorted = cc_malloc(out->npkgs * sizeof *sorted);
    if (sorted == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < out->npkgs; i++)
        sorted[i] = &out->pkgs[i];
    qsort(sorted, out->npkgs, sizeof *sorted, by_name);
    for (size_t i = 0; i < lk->nmeta; i++) {
        const struct meta *m = &lk->meta[i];
        size_t lo = 0, hi = out->npkgs; /* first package whose name is >= m->name */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(sorted[mid]->name, m->name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        struct proto_cargo_lock_pkg *hit = NULL;
        size_t hits = 0;
        for (size_t j = lo; j < out->npkgs && streq(sorted[j]->name, m->name); j++) {
            if (opt_eq(m->version, sorted[j]->version) && opt_eq(m->source, sorted[j]->source)) {
                hit = sorted[j];
                hits++;
            }
        }
        if (hits == 1 && !hit->has_checksum) {
            hit->has_checksum = m->has_checksum;
            memcpy(hit->checksum, m->checksum, sizeof hit->checksum);
        }
    }
    free(sorted);
    return 0;
}

/* ---- events ------------------------------------------------------------- */

static int on_event(void *ud, const struct proto_toml_event *ev)
{
    struct lock *lk = ud;
    int rc;
    if (ev->type == PROTO_TOML_TABLE) {
        if ((rc = close_pkg(lk)) != 0)
            return rc;
        if (ev->table_len != 1)
            return 0;
        if (streq(ev->path[0], "package")) {
            if (!ev->array_table)
                return fail(lk, -EBADMSG, ev->line); /* [package]: must be [[package]] */
            return open_pkg(lk, ev->line);
        }
        if (streq(ev->path[0], "root") && !ev->array_table)
            return open_pkg(lk, ev->line);
        return 0;
    }

    size_t n = ev->table_len + ev->key_len;
    if (lk->open && ev->table_len == 1)
        return ev->key_len == 1 ? pkg_key(lk, ev) : 0;
    if (ev->table_len == 0 && streq(ev->path[0], "package"))
        return fail(lk, -EBADMSG, ev->line); /* package = ... is not an array of tables */
    if (n == 1 && streq(ev->path[0], "version")) {
        if (lk->seen_version || ev->type != PROTO_TOML_INTEGER || ev->in_array || ev->integer < 1 ||
            ev->integer > UINT_MAX)
            return fail(lk, -EBADMSG, ev->line);
        lk->seen_version = true;
        lk->out->version = (unsigned)ev->integer;
        return 0;
    }
    if (n == 2 && streq(ev->path[0], "metadata"))
        return meta_key(lk, ev);
    return 0;
}

int proto_cargo_lock_parse(const uint8_t *buf, size_t len, struct proto_cargo_lock *out,
                           unsigned *err_line)
{
    struct lock lk = {.out = out};
    unsigned line = 0;
    memset(out, 0, sizeof *out);
    int rc = proto_toml_parse(buf, len, on_event, &lk, &line);
    if (rc == 0)
        rc = close_pkg(&lk);
    if (rc == 0) {
        /* Cargo: no version key means v1, or v2 once a package has a checksum. */
        if (!lk.seen_version)
            out->version = lk.any_checksum ? 2 : 1;
        if (lk.nmeta > 0 && out->version >= 2) {
            /* [metadata] checksums beside a newer format: a bad merge, and
             * Cargo then trusts no checksum at all. */
            for (size_t i = 0; i < out->npkgs; i++)
                out->pkgs[i].has_checksum = false;
        } else if (lk.nmeta > 0) {
            rc = apply_meta(&lk);
        }
    }
    for (size_t i = 0; i < lk.nmeta; i++) {
        free(lk.meta[i].name);
        free(lk.meta[i].version);
        free(lk.meta[i].source);
    }
    free(lk.meta);
    if (err_line != NULL)
        *err_line = line != 0 ? line : (rc == -EBADMSG || rc == -EMSGSIZE ? lk.err_line : 0);
    if (rc != 0)
        proto_cargo_lock_free(out);
    return rc;
}

void proto_cargo_lock_free(struct proto_cargo_lock *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->npkgs; i++) {
        free(l->pkgs[i].name);
        free(l->pkgs[i].version);
        free(l->pkgs[i].source);
    }
    free(l->pkgs);
    memset(l, 0, sizeof *l);
}

bool proto_cargo_lock_is_registry(const struct proto_cargo_lock_pkg *p)
{
    return p != NULL && is_registry_source(p->source);
}

bool proto_cargo_lock_is_crates_io(const struct proto_cargo_lock_pkg *p)
{
    return p != NULL && p->source != NULL &&
           (streq(p->source, PROTO_CARGO_LOCK_CRATES_IO_GIT) ||
            streq(p->source, PROTO_CARGO_LOCK_CRATES_IO_SPARSE));
}
