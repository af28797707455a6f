/* tests/unit/tmp_root.h — a fresh directory per test under $TMPDIR (else
 * /tmp), removed with everything in it afterwards: the store/ unit tests'
 * fixture root. Include after <cmocka.h>. */
#ifndef CRATECAST_TESTS_TMP_ROOT_H
#define CRATECAST_TESTS_TMP_ROOT_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* root (n bytes) becomes a new directory named prefix-XXXXXX. */
static inline void tmp_root_make(char *root, size_t n, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, n, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    assert_non_null(mkdtemp(root));
}

static inline int tmp_root_rm_one(const char *path, const struct stat *sb, int flag,
                                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tmp_root_remove(const char *root)
{
    nftw(root, tmp_root_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
