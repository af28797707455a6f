/* store/identity.c — this store's Ed25519 identity key (store_identity).
 *
 * Identity. DIR/identity.key is the 64-byte libsodium Ed25519 secret key, mode
 * 0600. It is made once, in tmp/ like a blob, and published with link(), not
 * rename(): link fails with EEXIST when the name exists, so two stores racing
 * on one directory cannot replace each other's key; the loser reads the
 * winner's. An existing file is only ever read. It is refused, never
 * replaced, when it is not a regular file of exactly 64 bytes whose public
 * half is the one its seed derives (-EBADMSG), when group or others may
 * access it (-EPERM), or when it is a symlink (-ELOOP, O_NOFOLLOW).
 */
#include "store/store.h"
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IDENTITY_FILE "identity.key"

_Static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64,
               "store.h declares 32-byte public and 64-byte secret Ed25519 keys");

/* Read and check the key file: 0 and sk, -ENOENT when there is none, -EPERM,
 * -EBADMSG, -ELOOP (see the file comment), -errno; err says which. */
static int identity_read(const char *path, uint8_t sk[crypto_sign_SECRETKEYBYTES],
                         struct store_error *err)
{
    uint8_t seed[crypto_sign_SEEDBYTES], pk2[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk2[crypto_sign_SECRETKEYBYTES];
    struct stat st;
    size_t got = 0;
    int rc;

    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ELOOP)
            store__explain(
                err, "the identity key %s is a symbolic link, and a key is never read through one",
                path);
        else if (rc != -ENOENT)
            store__explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        store__explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        store__explain(err, "the identity key %s is not a regular file", path);
        rc = -EBADMSG;
        goto out;
    }
    if (st.st_mode & 077) {
        store__explain(err, "the identity key %s is %s by others (mode %04o): chmod 600 it", path,
                       (st.st_mode & 044) ? "readable" : "usable", (unsigned)(st.st_mode & 07777));
        rc = -EPERM;
        goto out;
    }
    if (st.st_size != crypto_sign_SECRETKEYBYTES) {
        store__explain(err,
                       "the identity key %s is %lld bytes, not %d: damaged, or not a cratecast key",
                       path, (long long)st.st_size, crypto_sign_SECRETKEYBYTES);
        rc = -EBADMSG;
        goto out;
    }
    while (got < crypto_sign_SECRETKEYBYTES) {
        ssize_t n = read(fd, sk + got, crypto_sign_SECRETKEYBYTES - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            store__explain(err, "cannot read the identity key %s: %s", path, strerror(-rc));
            goto out;
        }
        if (n == 0) { /* shrank since fstat */
            store__explain(err, "the identity key %s shrank while it was read", path);
            rc = -EBADMSG;
            goto out;
        }
        got += (size_t)n;
    }
    /* seed || public key: the public half must be the one the seed makes, or
     * what we announce would not verify what we sign. */
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    if (crypto_sign_seed_keypair(pk2, sk2, seed) != 0 ||
        sodium_memcmp(sk2, sk, crypto_sign_SECRETKEYBYTES) != 0) {
        store__explain(
            err, "the identity key %s is damaged: its public half is not the one its seed makes",
            path);
        rc = -EBADMSG;
    } else {
        rc = 0;
    }

out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk2, sizeof sk2);
    close(fd);
    return rc;
}

/* Make a new key and publish it as path unless one is there already (then
 * 0 too: the caller reads whichever key won). */
static int identity_create(const struct store *s, const char *path, struct store_error *err)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char tmp[PATH_MAX];
    int fd = -1;
    int rc = store__tmp_create(s->dir, 0600, tmp, sizeof tmp, &fd);
    if (rc < 0) {
        store__explain(err, "cannot create the identity key %s: %s", path, strerror(-rc));
        return rc;
    }
    if (crypto_sign_keypair(pk, sk) != 0) {
        rc = -EIO;
        goto out;
    }
    /* exactly 0600 whatever the umask: the owner must be able to read it back */
    if (fchmod(fd, 0600) < 0) {
        rc = -errno;
        goto out;
    }
    rc = store__write_all(fd, sk, sizeof sk);
    if (rc < 0)
        goto out;
    if (fsync(fd) < 0) {
        rc = -errno;
        goto out;
    }
    /* link, unlike rename, never replaces: EEXIST means another store won. */
    if (link(tmp, path) < 0 && errno != EEXIST) {
        rc = -errno;
        goto out;
    }
    rc = store__fsync_dir(s->dir); /* the winner's name, whoever won, is durable */

out:
    if (rc < 0)
        store__explain(err, "cannot create the identity key %s: %s", path, strerror(-rc));
    sodium_memzero(sk, sizeof sk);
    unlink(tmp); /* before close: see clean_tmp */
    close(fd);
    return rc;
}

int store_identity_err(struct store *s, uint8_t pk[32], uint8_t sk[64], struct store_error *err)
{
    struct store_error local;
    char path[PATH_MAX];
    int rc;

    if (err == NULL)
        err = &local;
    err->text[0] = '\0';
    if (sodium_init() < 0) {
        store__explain(err, "libsodium cannot be initialised");
        rc = -EIO;
        goto fail;
    }
    rc = store__path_fmt(path, sizeof path, "%s/" IDENTITY_FILE, s->dir);
    if (rc < 0) {
        store__explain(err, "the store path %s is too long", s->dir);
        goto fail;
    }
    rc = identity_read(path, sk, err);
    if (rc == -ENOENT) {
        rc = identity_create(s, path, err);
        if (rc < 0)
            goto fail;
        rc = identity_read(path, sk, err); /* what is on disk is the identity */
        if (rc == -ENOENT)
            store__explain(err, "the identity key %s vanished as it was made", path);
    }
    if (rc < 0)
        goto fail;
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    return 0;

fail:
    store__set_errmsg(s, err->text);
    sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
    memset(pk, 0, crypto_sign_PUBLICKEYBYTES);
    return rc;
}

int store_identity(struct store *s, uint8_t pk[32], uint8_t sk[64])
{
    return store_identity_err(s, pk, sk, NULL);
}
