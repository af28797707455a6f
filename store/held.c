/* store/held.c — serving a crate: does (name, version) have an entry with this
 * cksum, and is its blob here? Answered with the blob file opened, from memory
 * when this connection already knows, from the database when not.
 *
 * Implements store_crate_open and store_blob_open (store/store.h), and the
 * held set that store/index.c fills and invalidates (store__held_put,
 * store__held_forget in store/internal.h).
 *
 * The held set. A bounded map, per connection, of (name_lc, vers, sha256)
 * triples this connection has seen to be an index entry whose blob is
 * recorded, each with the blob's size once a file was opened (unknown when
 * the triple came from a listing). A hit costs one open(2) and no read
 * transaction (SQLite's two fcntl locks and an fstat); a miss asks the
 * database and adds the triple when the blob is held. Only what is held is
 * kept, never "not held" or "no entry": whatever another connection adds
 * (an import, a bundle) can only make a remembered answer more true.
 *
 * What can make a remembered triple wrong, and what happens then:
 *   - its entry is dropped (store_index_drop: the upstream no longer lists it,
 *     or replaced it). Only the agent's own connection drops entries (every
 *     other writer ingests without the upstream's authority, and only adds),
 *     and store_index_drop forgets the triple at once.
 *   - its blob goes: an eviction (the agent's thread-pool connection,
 *     `cratecast gc`), verify finding the file missing or quarantining it.
 *     Each of those removes or renames the file, so the open of the next hit
 *     fails with ENOENT: the triple is forgotten and the database is asked
 *     (the entry without a blob: the crate is fetched again). Between an
 *     eviction's commit and its unlink the file is still served, and those
 *     bytes are still the ones the entry asks for.
 * Bytes served are always those of a file under its blob name, which has the
 * SHA-256 of its name (store/store.h): a remembered triple can cost a fetch
 * or an open, never wrong bytes. A size remembered is the size of the bytes
 * with that digest, so it cannot change either.
 *
 * Shape: STORE_HELD_MAX entries in sets of HELD_WAYS, the set chosen by the
 * digest's first bytes (digests of crates this store trusts: nobody picks
 * collisions, and a full set only costs misses). A set that is full gives up
 * its least recently used way. Versions longer than HELD_VERS_MAX are not
 * kept (they are always asked of the database). Allocated at the first put;
 * an allocation failure only means nothing is remembered.
 */
#include "store/store.h"
#include "store/internal.h"
#include "proto/alloc.h"
#include "proto/name.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELD_WAYS 4
#define HELD_SETS (STORE_HELD_MAX / HELD_WAYS)
#define HELD_VERS_MAX 63
#define SIZE_UNKNOWN UINT64_MAX
_Static_assert((HELD_SETS & (HELD_SETS - 1)) == 0, "HELD_SETS is a power of two");

struct held_entry {
    uint64_t used; /* the set's clock at the last hit or put; 0: the way is empty */
    uint64_t size; /* SIZE_UNKNOWN until a file was opened */
    uint8_t sha[PROTO_SHA256_LEN];
    char name_lc[PROTO_NAME_MAX + 1];
    char vers[HELD_VERS_MAX + 1];
};

struct held_set {
    struct held_entry e[HELD_SETS][HELD_WAYS];
    uint64_t clock;
};

static struct held_entry *set_of(struct held_set *h, const uint8_t sha[PROTO_SHA256_LEN])
{
    uint64_t key;
    memcpy(&key, sha, sizeof key);
    return h->e[key & (HELD_SETS - 1)];
}

static bool matches(const struct held_entry *x, const char *name_lc, const char *vers,
                    const uint8_t sha[PROTO_SHA256_LEN])
{
    return x->used != 0 && memcmp(x->sha, sha, PROTO_SHA256_LEN) == 0 &&
           strcmp(x->name_lc, name_lc) == 0 && strcmp(x->vers, vers) == 0;
}

/* The way holding (name_lc, vers, sha), or NULL. */
static struct held_entry *way_of(struct held_set *h, const char *name_lc, const char *vers,
                                 const uint8_t sha[PROTO_SHA256_LEN])
{
    struct held_entry *set = set_of(h, sha);
    for (int i = 0; i < HELD_WAYS; i++)
        if (matches(&set[i], name_lc, vers, sha))
            return &set[i];
    return NULL;
}

static struct held_entry *held_find(struct store *s, const char *name_lc, const char *vers,
                                    const uint8_t sha[PROTO_SHA256_LEN])
{
    struct held_entry *x = s->held ? way_of(s->held, name_lc, vers, sha) : NULL;
    if (x != NULL)
        x->used = ++s->held->clock;
    return x;
}

void store__held_put(struct store *s, const char *name_lc, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN], uint64_t size)
{
    if (s->depth > 0)
        return; /* what an open transaction shows may yet be rolled back */
    if (strlen(name_lc) > PROTO_NAME_MAX || strlen(vers) > HELD_VERS_MAX)
        return;
    struct held_set *h = s->held;
    if (h == NULL && (h = s->held = cc_calloc(1, sizeof *h)) == NULL)
        return;
    struct held_entry *x = way_of(h, name_lc, vers, sha);
    if (x == NULL) {
        struct held_entry *set = set_of(h, sha);
        x = &set[0]; /* an empty way, else the least recently used */
        for (int i = 1; i < HELD_WAYS && x->used != 0; i++)
            if (set[i].used < x->used)
                x = &set[i];
        memcpy(x->sha, sha, PROTO_SHA256_LEN);
        memcpy(x->name_lc, name_lc, strlen(name_lc) + 1);
        memcpy(x->vers, vers, strlen(vers) + 1);
        x->size = SIZE_UNKNOWN;
    }
    if (size != SIZE_UNKNOWN)
        x->size = size;
    x->used = ++h->clock;
}

void store__held_forget(struct store *s, const char *name_lc, const char *vers,
                        const uint8_t sha[PROTO_SHA256_LEN])
{
    struct held_set *h = s->held;
    if (h == NULL)
        return;
    struct held_entry *set = set_of(h, sha);
    for (int i = 0; i < HELD_WAYS; i++)
        if (set[i].used != 0 && memcmp(set[i].sha, sha, PROTO_SHA256_LEN) == 0 &&
            (name_lc == NULL ||
             (strcmp(set[i].name_lc, name_lc) == 0 && strcmp(set[i].vers, vers) == 0)))
            set[i].used = 0;
}

size_t store_held_count(const struct store *s)
{
    size_t n = 0;
    const struct held_set *h = s ? s->held : NULL;
    for (size_t i = 0; h && i < HELD_SETS; i++)
        for (int w = 0; w < HELD_WAYS; w++)
            n += h->e[i][w].used != 0;
    return n;
}

int store_blob_open(const struct store *s, const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size)
{
    char path[PATH_MAX];
    struct stat st;
    int rc = store_blob_path(s, sha, path, sizeof path);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (size == NULL)
        return fd;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode))
        rc = -ENOENT; /* no blob is anything but a file */
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

int store_crate_open(struct store *s, const char *name, const char *vers,
                     const uint8_t sha[PROTO_SHA256_LEN], uint64_t *size)
{
    char name_lc[PROTO_NAME_MAX + 1];
    size_t n = name ? strnlen(name, PROTO_NAME_MAX + 1) : 0;
    if (n == 0 || n > PROTO_NAME_MAX || vers == NULL)
        return -ENOENT; /* no such entry can be stored */
    proto_name_lower(name, name_lc, sizeof name_lc);

    struct held_entry *x = held_find(s, name_lc, vers, sha);
    if (x != NULL) {
        bool known = x->size != SIZE_UNKNOWN;
        int fd = store_blob_open(s, sha, known ? NULL : size);
        if (fd >= 0) {
            if (known)
                *size = x->size;
            else
                x->size = *size;
            return fd;
        }
        if (fd != -ENOENT)
            return fd;
        /* the file went (evicted, quarantined): every triple of it is stale */
        store__held_forget(s, NULL, NULL, sha);
    }

    struct store_index_row row;
    int rc = store_index_get(s, name, vers, &row);
    if (rc < 0)
        return rc; /* -ENOENT, -EIO, -ENOMEM */
    bool same = memcmp(row.cksum, sha, PROTO_SHA256_LEN) == 0, have = row.have_blob;
    store_index_row_free(&row);
    if (!same)
        return -ENOENT;
    if (!have)
        return -ENODATA;
    int fd = store_blob_open(s, sha, size);
    if (fd == -ENOENT)
        return -ENODATA; /* recorded, but its file is gone: fetch it again */
    if (fd >= 0)
        store__held_put(s, name_lc, vers, sha, *size);
    return fd;
}
