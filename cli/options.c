/* cli/options.c — what every command's option parsing shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "cli/options.h"

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
    char *d = given ? strdup(given) : agent_default_store_dir();
    if (d == NULL && given == NULL)
        fprintf(stderr, "cratecast: no --store given and neither XDG_CACHE_HOME nor HOME is set\n");
    else if (d == NULL)
        fprintf(stderr, "cratecast: out of memory\n");
    return d;
}
