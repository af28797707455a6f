/* cli/main.c — `cratecast <command>` (also run as `cargo cratecast <command>`). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "cli/commands.h"

static void usage(FILE *f)
{
    fputs("usage: cratecast <command> [options]\n"
          "\n"
          "commands:\n"
          "  agent          run the agent (serves Cargo on 127.0.0.1:7878 by default)\n"
          "  status         show a running agent's state [--json] [--agent URL]\n"
          "  cargo-config   print the ~/.cargo/config.toml snippet [--write]\n"
          "  import-cargo   import an existing Cargo cache [CARGO_HOME] [--store DIR]\n"
          "  verify         re-hash every stored crate, quarantine mismatches [--store DIR]\n"
          "  id             print this agent's public key [--store DIR]\n"
          "  why CRATE      every known version of a crate and where it can come from\n"
          "  check [PATH]   will this project build offline? exit 0 yes, 1 no [--room]\n"
          "  prefetch [PATH] fetch everything the Cargo.lock needs (every target)\n"
          "\n"
          "See `cratecast agent --help` and docs/operations.md.\n",
          f);
}

int main(int argc, char **argv)
{
    /* `cargo cratecast status` runs `cargo-cratecast cratecast status` */
    if (argc > 1 && strcmp(argv[1], "cratecast") == 0) {
        argv++;
        argc--;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        puts("cratecast 0.1.0");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    agent_log_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(cmd, "agent") == 0) {
        rc = cmd_agent(argc - 2, argv + 2);
    } else if (strcmp(cmd, "status") == 0) {
        rc = cmd_status(argc - 2, argv + 2);
    } else if (strcmp(cmd, "cargo-config") == 0) {
        rc = cmd_cargo_config(argc - 2, argv + 2);
    } else if (strcmp(cmd, "import-cargo") == 0) {
        rc = cmd_import_cargo(argc - 2, argv + 2);
    } else if (strcmp(cmd, "id") == 0) {
        rc = cmd_id(argc - 2, argv + 2);
    } else if (strcmp(cmd, "why") == 0) {
        rc = cmd_why(argc - 2, argv + 2);
    } else if (strcmp(cmd, "check") == 0) {
        rc = cmd_check(argc - 2, argv + 2);
    } else if (strcmp(cmd, "prefetch") == 0) {
        rc = cmd_prefetch(argc - 2, argv + 2);
    } else if (strcmp(cmd, "gc") == 0) {
        rc = cmd_gc(argc - 2, argv + 2);
    } else if (strcmp(cmd, "verify") == 0) {
        rc = cmd_verify(argc - 2, argv + 2);
    } else {
        fprintf(stderr, "cratecast: unknown command '%s' (see cratecast --help)\n", cmd);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
