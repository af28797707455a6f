/* store/index.c — index entries: what the registry says each (name, version)
 * of a crate is, where that came from (its origin), and the validators of each
 * crate's upstream index file.
 *
 * Implements the index-entry part of store/store.h (store_index_*,
 * store_cksum_trusted, store_origin_name) on the connection of store/store.c,
 * whose file comment describes the tables, the immutability trigger, the
 * change counter and the transaction states that store_index_put relies on.
 * It keeps store/held.c's held set true: a listing's rows whose blob is held
 * join it, and a dropped entry leaves it before its row goes.
 *
 * Every row of index_entries is trusted: the agent decides trust before it
 * calls store_index_put, so store_cksum_trusted is a lookup on cksum.
 */
#include "proto/name.h"
#include "store/internal.h"
#include "store/store.h"
#include "proto/alloc.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- origins ------------------------------------------------------------------- */

bool store_origin_signed(int origin)
{
    return origin == STORE_ORIGIN_PEER || origin == STORE_ORIGIN_BUNDLE;
}

const char *store_origin_name(int origin)
{
    switch (origin) {
    case STORE_ORIGIN_UPSTREAM:
        return "upstream";
    case STORE_ORIGIN_CARGO_HOME:
        return "cargo-home";
    case STORE_ORIGIN_PEER:
        return "peer";
    case STORE_ORIGIN_BUNDLE:
        return "bundle";
    default:
        return "unknown";
    }
}

/* ---- index entries ------------------------------------------------------------ */

/* The store's key of a crate name (proto_name_lower); -EINVAL when empty or
 * too long. */
static int name_lower(const char *name, char out[PROTO_NAME_MAX + 1])
{
    size_t n = name ? strnlen(name, PROTO_NAME_MAX + 1) : 0;
    if (n == 0 || n > PROTO_NAME_MAX)
        return -EINVAL;
    proto_name_lower(name, out, PROTO_NAME_MAX + 1);
    return 0;
}

static const void *line_bytes(const uint8_t *line)
{
    return line ? (const void *)line : (const void *)""; /* bind "" not NULL */
}

/* The body of store_index_put, inside its own begin/commit. */
static int index_put_locked(struct store *s, const char *name_lc, const struct proto_index_entry *e,
                            int origin, const char *origin_detail)
{
    int64_t now = store__now_s();
    sqlite3_stmt *st = store__stmt(s, ST_ENTRY_FIND);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->vers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *held = sqlite3_column_blob(st, 0);
        bool same = sqlite3_column_bytes(st, 0) == PROTO_SHA256_LEN && held &&
                    memcmp(held, e->content_hash, PROTO_SHA256_LEN) == 0;
        bool held_yanked = sqlite3_column_int(st, 1) != 0;
        sqlite3_reset(st);
        if (!same)
            return -EEXIST;
        if (held_yanked == e->yanked)
            return STORE_PUT_SAME;
        int64_t seq;
        rc = store__seq_next(s, &seq);
        if (rc < 0)
            return rc;
        st = store__stmt(s, ST_ENTRY_YANK);
        sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->vers, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, e->yanked);
        sqlite3_bind_blob(st, 4, line_bytes(e->line), (int)e->line_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, seq);
        rc = store__exec_stmt(s, st);
        return rc < 0 ? rc : STORE_PUT_YANK;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_fail(s);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    int64_t seq;
    rc = store__seq_next(s, &seq);
    if (rc < 0)
        return rc;
    st = store__stmt(s, ST_ENTRY_INSERT);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->vers, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, e->cksum, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, e->yanked);
    sqlite3_bind_blob(st, 6, e->content_hash, PROTO_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, line_bytes(e->line), (int)e->line_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, origin);
    if (origin_detail)
        sqlite3_bind_text(st, 9, origin_detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, now);
    sqlite3_bind_int64(st, 11, seq);
    rc = store__exec_stmt(s, st);
    return rc < 0 ? rc : STORE_PUT_NEW;
}

int store_index_put(struct store *s, const struct proto_index_entry *e, int origin,
                    const char *origin_detail)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(e->name, name_lc) < 0 || e->vers[0] == '\0' ||
        strnlen(e->vers, sizeof e->vers) > PROTO_VERS_MAX || e->line_len > PROTO_LINE_MAX ||
        (e->line == NULL && e->line_len != 0))
        return -EINVAL;

    int rc = store_begin(s);
    if (rc < 0)
        return rc;
    rc = index_put_locked(s, name_lc, e, origin, origin_detail);
    if (rc < 0 && rc != -EEXIST) {
        /* A database error may have undone more than this statement. */
        if (s->depth > 1 && !s->doomed)
            s->doomed = rc;
        store_rollback(s);
        return rc;
    }
    int crc = store_commit(s);
    return crc < 0 ? crc : rc;
}

static void row_clear(struct store_index_row *row)
{
    memset(row, 0, sizeof *row);
}

void store_index_row_free(struct store_index_row *row)
{
    if (row == NULL)
        return;
    free(row->line);
    row_clear(row);
}

/* Fill row from the current result row of ST_ENTRY_LIST / ST_ENTRY_GET. */
static int row_fill(sqlite3_stmt *st, struct store_index_row *row)
{
    row_clear(row);
    store__copy_trunc(row->vers, sizeof row->vers, (const char *)sqlite3_column_text(st, 0));
    const void *ck = sqlite3_column_blob(st, 1);
    if (ck && sqlite3_column_bytes(st, 1) == PROTO_SHA256_LEN)
        memcpy(row->cksum, ck, PROTO_SHA256_LEN);
    row->yanked = sqlite3_column_int(st, 2) != 0;
    const void *line = sqlite3_column_blob(st, 3);
    size_t len = (size_t)sqlite3_column_bytes(st, 3);
    row->line = cc_malloc(len + 1);
    if (row->line == NULL)
        return -ENOMEM;
    if (len)
        memcpy(row->line, line, len);
    row->line[len] = '\0';
    row->line_len = len;
    row->have_blob = sqlite3_column_int(st, 4) != 0;
    row->origin = sqlite3_column_int(st, 5);
    return 0;
}

int store_index_list(struct store *s, const char *name, struct store_index_list *out)
{
    char name_lc[PROTO_NAME_MAX + 1];
    size_t cap = 0;
    int rc;

    out->rows = NULL;
    out->n = 0;
    out->updated = 0;
    if (name_lower(name, name_lc) < 0)
        return 0; /* no such name can be stored */
    sqlite3_stmt *st = store__stmt(s, ST_ENTRY_LIST);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = cc_grow((void **)&out->rows, &cap, out->n, sizeof *out->rows, 16)) < 0)
            goto fail;
        rc = row_fill(st, &out->rows[out->n]);
        if (rc < 0)
            goto fail;
        if (out->rows[out->n].have_blob) /* a download of it may follow */
            store__held_put(s, name_lc, out->rows[out->n].vers, out->rows[out->n].cksum,
                            UINT64_MAX);
        out->n++;
        int64_t changed = sqlite3_column_int64(st, 6); /* max(added_at, updated_at) */
        if (changed > out->updated)
            out->updated = changed;
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_fail(s);
        goto fail;
    }
    sqlite3_reset(st);
    return 0;

fail:
    sqlite3_reset(st);
    store_index_list_free(out);
    return rc;
}

void store_index_list_free(struct store_index_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->rows[i].line);
    free(l->rows);
    l->rows = NULL;
    l->n = 0;
    l->updated = 0;
}

int store_index_get(struct store *s, const char *name, const char *vers,
                    struct store_index_row *row)
{
    char name_lc[PROTO_NAME_MAX + 1];
    row_clear(row);
    if (name_lower(name, name_lc) < 0 || vers == NULL)
        return -ENOENT;
    sqlite3_stmt *st = store__stmt(s, ST_ENTRY_GET);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = row_fill(st, row);
    else if (rc == SQLITE_DONE)
        rc = -ENOENT;
    else
        rc = store__db_fail(s);
    sqlite3_reset(st);
    if (rc < 0)
        store_index_row_free(row);
    return rc;
}

int store_index_drop(struct store *s, const char *name, const char *vers, bool *blob_dropped)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (blob_dropped)
        *blob_dropped = false;
    struct store_index_row row;
    int rc = store_index_get(s, name, vers, &row);
    if (rc < 0)
        return rc;
    uint8_t sha[PROTO_SHA256_LEN];
    memcpy(sha, row.cksum, sizeof sha);
    store_index_row_free(&row);
    if (name_lower(name, name_lc) < 0)
        return -ENOENT;
    /* before anything is deleted: a rollback only costs a database read */
    store__held_forget(s, name_lc, vers, sha);
    if ((rc = store_begin(s)) < 0)
        return rc;
    sqlite3_stmt *st = store__stmt(s, ST_ENTRY_DELETE);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store__db_fail(s);
    sqlite3_reset(st);
    /* a blob whose only trusted entry this was is not trusted any more */
    bool orphan = false;
    if (rc == 0) {
        st = store__stmt(s, ST_CKSUM_COUNT);
        sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            orphan = sqlite3_column_int64(st, 0) == 0;
        else
            rc = store__db_fail(s);
        sqlite3_reset(st);
    }
    if (rc == 0 && orphan) {
        st = store__stmt(s, ST_BLOB_DELETE);
        sqlite3_bind_blob(st, 1, sha, PROTO_SHA256_LEN, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store__db_fail(s);
        sqlite3_reset(st);
    }
    if (rc < 0) {
        store_rollback(s);
        return rc;
    }
    if ((rc = store_commit(s)) < 0)
        return rc;
    if (orphan) {
        char path[4096];
        if (store_blob_path(s, sha, path, sizeof path) >= 0 && unlink(path) == 0 && blob_dropped)
            *blob_dropped = true;
    }
    return 0;
}

int store_index_confirm(struct store *s, const char *name, const char *vers, int origin,
                        const char *origin_detail)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(name, name_lc) < 0 || vers == NULL)
        return -ENOENT;
    sqlite3_stmt *st = store__stmt(s, ST_ENTRY_CONFIRM);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vers, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, origin);
    sqlite3_bind_text(st, 4, origin_detail, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store__db_fail(s);
    sqlite3_reset(st);
    return rc;
}

bool store_cksum_trusted(struct store *s, const uint8_t sha[PROTO_SHA256_LEN])
{
    return store__sha_has_row(s, ST_CKSUM_TRUSTED, sha);
}

int store_index_meta_get(struct store *s, const char *name, struct store_index_meta *m)
{
    char name_lc[PROTO_NAME_MAX + 1];
    memset(m, 0, sizeof *m);
    if (name_lower(name, name_lc) < 0)
        return -ENOENT;
    sqlite3_stmt *st = store__stmt(s, ST_META_GET);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store__copy_trunc(m->etag, sizeof m->etag, (const char *)sqlite3_column_text(st, 0));
        store__copy_trunc(m->last_modified, sizeof m->last_modified,
                          (const char *)sqlite3_column_text(st, 1));
        m->fetched_at = sqlite3_column_int64(st, 2);
        m->not_found = sqlite3_column_int(st, 3) != 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = -ENOENT;
    } else {
        rc = store__db_fail(s);
    }
    sqlite3_reset(st);
    return rc;
}

int store_index_meta_put(struct store *s, const char *name, const struct store_index_meta *m)
{
    char name_lc[PROTO_NAME_MAX + 1];
    if (name_lower(name, name_lc) < 0)
        return -EINVAL;
    sqlite3_stmt *st = store__stmt(s, ST_META_PUT);
    sqlite3_bind_text(st, 1, name_lc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->etag, (int)strnlen(m->etag, sizeof m->etag), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->last_modified,
                      (int)strnlen(m->last_modified, sizeof m->last_modified), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, m->fetched_at);
    sqlite3_bind_int(st, 5, m->not_found);
    return store__exec_stmt(s, st);
}

int store_index_ingest(struct store *s, const struct proto_index_entry *e, int origin,
                       const char *detail)
{
    int rc = store_index_put(s, e, origin, detail);
    if (rc == STORE_PUT_NEW)
        return STORE_INGEST_NEW;
    if (rc == STORE_PUT_SAME || rc == STORE_PUT_YANK) {
        if (origin == STORE_ORIGIN_UPSTREAM &&
            store_index_confirm(s, e->name, e->vers, origin, detail) < 0)
            return -EIO;
        return STORE_INGEST_HELD;
    }
    if (rc != -EEXIST)
        return rc < 0 ? rc : -EIO;
    if (origin != STORE_ORIGIN_UPSTREAM)
        return STORE_INGEST_CONFLICT;
    struct store_index_row row;
    if (store_index_get(s, e->name, e->vers, &row) < 0)
        return STORE_INGEST_CONFLICT;
    int held = row.origin;
    store_index_row_free(&row);
    if (!store_origin_signed(held) || store_index_drop(s, e->name, e->vers, NULL) < 0)
        return STORE_INGEST_CONFLICT;
    rc = store_index_put(s, e, origin, detail);
    return rc < 0 ? rc : STORE_INGEST_REPLACED;
}
