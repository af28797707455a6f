/* cli/options.c — what every command's option parsing shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/options.h"
#include "store/store.h"
#include "proto/alloc.h"

const char *cli_opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t nl = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, nl) != 0)
        return NULL;
    if (a[nl] == '=')
        return a + nl + 1;
    if (a[nl] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "cratecast: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

char *cli_store_dir(const char *given)
{
    char *d = given ? cc_strdup(given) : agent_default_store_dir();
    if (d == NULL && given == NULL)
        fprintf(stderr, "cratecast: no --store given and neither XDG_CACHE_HOME nor HOME is set\n");
    else if (d == NULL)
        fprintf(stderr, "cratecast: out of memory\n");
    return d;
}

int cli_open_store(const char *cmd, int argc, char **argv, char **dir, struct store **s)
{
    const char *store = NULL;
    *dir = NULL;
    *s = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if ((v = cli_opt_value(argc, argv, &i, "--store")) != NULL) {
            store = v;
        } else {
            fprintf(stderr, "cratecast: %s: unknown argument '%s'\n", cmd, argv[i]);
            return 2;
        }
    }
    if ((*dir = cli_store_dir(store)) == NULL)
        return 2;
    struct store_error err;
    int rc = store_open_err(*dir, s, &err);
    if (rc < 0) {
        agent_store_error(AGENT_STORE_OPEN, rc, *dir, &err);
        store_close(*s);
        *s = NULL;
        free(*dir);
        *dir = NULL;
        return 1;
    }
    return 0;
}
