/* tests/fuzz/replay.c — runs a fuzz target over saved inputs without libFuzzer,
 * so every corpus file and crash reproducer is an ordinary test:
 *
 *     fuzz-route-replay DIR|FILE...
 *
 * Each regular file (directories are read one level deep, in name order) is
 * read whole into an exact-size heap buffer and passed to
 * LLVMFuzzerTestOneInput. A crash or a failed assertion in the target fails
 * the test; an unreadable argument fails it too, so a missing corpus is noticed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_FILE_MAX (128u << 20)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_FILE_MAX) {
        fprintf(stderr, "replay: %s: cannot size or too large\n", path);
        fclose(f);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An empty input is passed as a zero-length buffer, as libFuzzer does. */
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int only_regular(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    int failed = 0, count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[i]) < 0;
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, only_regular, alphasort);
        if (n < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            failed = 1;
            continue;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];
            int pl = snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
            struct stat fst;
            if (pl > 0 && (size_t)pl < sizeof path && stat(path, &fst) == 0 &&
                S_ISREG(fst.st_mode)) {
                failed |= replay_file(path) < 0;
                count++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %d input(s)\n", count);
    return failed ? 1 : 0;
}
