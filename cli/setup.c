/* cli/setup.c — `cratecast setup [--undo]`: point Cargo at the agent and
 * install the systemd user units that start it; undo exactly that.
 *
 * Setup, in this order, stopping at the first refusal:
 *   1. the units are checked: a cratecast.socket or cratecast.service in the
 *      user unit directory that setup did not install (its first line is not
 *      UNIT_MARKER) is refused before anything is written;
 *   2. the Cargo config gets its marked block (cli/cargo_config.h; a refusal
 *      prints the reason and the snippet and changes nothing);
 *   3. the units are written ($XDG_CONFIG_HOME/systemd/user, default
 *      ~/.config/systemd/user; ExecStart is this binary, from /proc/self/exe);
 *   4. where a systemd user session runs ($XDG_RUNTIME_DIR/systemd/private
 *      exists): `systemctl --user daemon-reload` and
 *      `systemctl --user enable --now cratecast.socket`. Without one the units
 *      are left installed but not enabled, and it says how to run the agent.
 * Each step that finds its work done changes nothing, so setup twice is a
 * no-op. Undo goes backwards: the config block is taken out (a damaged block
 * stops it there, so Cargo is never left pointing at an agent that undo has
 * stopped), then the socket is disabled and stopped, the service stopped, and
 * the unit files setup installed (and only those) removed.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/cargo_config.h"
#include "cli/files.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "proto/alloc.h"

#define UNIT_MARKER "# installed by cratecast setup; `cratecast setup --undo` removes it"
#define UNIT_TEXT_MAX 8192

/* scripts/systemd/cratecast.socket and .service are these with the defaults
 * (tests/integration/test-setup.py keeps them the same). */
static const char socket_unit[] = UNIT_MARKER "\n"
                                              "[Unit]\n"
                                              "Description=cratecast: Cargo's registry on this "
                                              "machine (socket)\n"
                                              "\n"
                                              "[Socket]\n"
                                              "ListenStream=%s\n"
                                              "\n"
                                              "[Install]\n"
                                              "WantedBy=sockets.target\n";

static const char service_unit[] = UNIT_MARKER "\n"
                                               "[Unit]\n"
                                               "Description=cratecast: a peer-to-peer crate cache "
                                               "for Cargo\n"
                                               "Requires=cratecast.socket\n"
                                               "After=cratecast.socket\n"
                                               "\n"
                                               "[Service]\n"
                                               "ExecStart=%s agent%s%s\n"
                                               "Restart=on-failure\n";

struct unit {
    const char *name;
    char path[PATH_MAX];
    char text[UNIT_TEXT_MAX]; /* what setup writes */
    bool exists, ours, same;  /* on disk: there, installed by setup, equal to text */
};

struct setup {
    bool undo, dry_run, service;
    const char *listen;
    char url[160];
    char *home;
    char unit_dir[PATH_MAX / 2];
    char exe[PATH_MAX];
    struct unit units[2]; /* socket, service */
    bool session;
    char no_session[PATH_MAX + 64]; /* why there is none */
};

/* The binary's path as an ExecStart= word: % and $ doubled, quoted when it
 * holds a space. -EINVAL for what a unit file cannot say plainly. */
static int exec_word(const char *path, char *out, size_t sz)
{
    size_t n = 0;
    bool quote = strpbrk(path, " \t") != NULL;
    if (quote && n + 1 < sz)
        out[n++] = '"';
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '\'')
            return -EINVAL;
        if (n + 3 >= sz)
            return -ENAMETOOLONG;
        if (c == '%' || c == '$')
            out[n++] = (char)c;
        out[n++] = (char)c;
    }
    if (quote) {
        if (n + 2 >= sz)
            return -ENAMETOOLONG;
        out[n++] = '"';
    }
    out[n] = '\0';
    return 0;
}

static int unit_dir(char *out, size_t sz)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    int n;
    if (x && x[0] == '/')
        n = snprintf(out, sz, "%s/systemd/user", x);
    else if (h && h[0])
        n = snprintf(out, sz, "%s/.config/systemd/user", h);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= sz ? -ENAMETOOLONG : 0;
}

static bool user_session(char *why, size_t sz)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (rt == NULL || rt[0] == '\0') {
        snprintf(why, sz, "$XDG_RUNTIME_DIR is not set");
        return false;
    }
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/systemd/private", rt);
    if (stat(p, &st) < 0) {
        snprintf(why, sz, "%s does not exist", p);
        return false;
    }
    return true;
}

/* `systemctl --user ARGS...`: its exit status, 127 when it cannot be run.
 * Its output goes to our stderr, so stdout stays what setup says. */
static int systemctl(const char *a1, const char *a2, const char *a3)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        const char *argv[] = {"systemctl", "--user", a1, a2, a3, NULL};
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp("systemctl", (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 127;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Reads a unit file as it is on disk into u (exists, ours, same). */
static void unit_look(struct unit *u)
{
    char buf[UNIT_TEXT_MAX + 1];
    FILE *f = fopen(u->path, "re");
    u->exists = u->ours = u->same = false;
    if (f == NULL) {
        u->exists = errno != ENOENT;
        return;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    u->exists = true;
    u->ours = strncmp(buf, UNIT_MARKER "\n", strlen(UNIT_MARKER) + 1) == 0;
    u->same = u->ours && strcmp(buf, u->text) == 0;
}

static int plan_units(struct setup *s)
{
    char word[PATH_MAX * 2];
    ssize_t n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    if (n <= 0) {
        cli_error("cannot find this program's path: %s", strerror(errno));
        return 1;
    }
    s->exe[n] = '\0';
    if (exec_word(s->exe, word, sizeof word) < 0) {
        cli_error("%s cannot be written in a unit file", s->exe);
        cli_hint("install cratecast under a plainer path, or use --no-service");
        return 1;
    }
    if (unit_dir(s->unit_dir, sizeof s->unit_dir) < 0) {
        cli_error("neither XDG_CONFIG_HOME nor HOME is set");
        cli_hint("set one (the units go to $XDG_CONFIG_HOME/systemd/user), or use --no-service");
        return 2;
    }
    bool other = strcmp(s->listen, AGENT_DEFAULT_LISTEN) != 0;
    s->units[0].name = "cratecast.socket";
    s->units[1].name = "cratecast.service";
    int n0 = snprintf(s->units[0].text, sizeof s->units[0].text, socket_unit, s->listen);
    int n1 = snprintf(s->units[1].text, sizeof s->units[1].text, service_unit, word,
                      other ? " --listen " : "", other ? s->listen : "");
    if (n0 < 0 || (size_t)n0 >= sizeof s->units[0].text || n1 < 0 ||
        (size_t)n1 >= sizeof s->units[1].text) {
        cli_error("the path of this cratecast binary is too long for a unit file");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        struct unit *u = &s->units[i];
        snprintf(u->path, sizeof u->path, "%s/%s", s->unit_dir, u->name);
        unit_look(u);
        if (u->exists && !u->ours && !s->undo) {
            cli_error("%s exists and was not installed by cratecast setup; nothing was changed",
                      u->path);
            cli_hint("move it away, or run `cratecast setup --no-service` to leave the units "
                     "alone");
            return 1;
        }
    }
    s->session = user_session(s->no_session, sizeof s->no_session);
    return 0;
}

static int install_units(struct setup *s, bool *changed)
{
    *changed = false;
    for (int i = 0; i < 2; i++) {
        struct unit *u = &s->units[i];
        if (u->same) {
            printf("  %s: already installed\n", u->path);
            continue;
        }
        *changed = true;
        const char *verb = u->exists ? "updated" : "installed";
        if (s->dry_run) {
            printf("  would write %s (%s)\n", u->path, u->exists ? "update" : "install");
            continue;
        }
        int rc = cli_mkdir_p(s->unit_dir);
        if (rc == 0)
            rc = cli_write_file_atomic(u->path, u->text, strlen(u->text), 0644);
        if (rc < 0) {
            cli_error("cannot write %s: %s", u->path, strerror(-rc));
            return 1;
        }
        if (i == 1)
            printf("  %s: %s (runs %s agent)\n", u->path, verb, s->exe);
        else
            printf("  %s: %s (listens on %s)\n", u->path, verb, s->listen);
    }
    return 0;
}

static int enable_units(struct setup *s, bool changed)
{
    if (!s->session) {
        printf("  systemd units not enabled: no systemd user session (%s)\n", s->no_session);
        return 0;
    }
    if (s->dry_run) {
        printf("  would run: systemctl --user daemon-reload; "
               "systemctl --user enable --now cratecast.socket\n");
        return 0;
    }
    if (changed && systemctl("daemon-reload", NULL, NULL) != 0) {
        cli_error("`systemctl --user daemon-reload` failed");
        return 1;
    }
    if (!changed && systemctl("is-enabled", "--quiet", "cratecast.socket") == 0 &&
        systemctl("is-active", "--quiet", "cratecast.socket") == 0) {
        printf("  cratecast.socket: already enabled and listening\n");
        return 0;
    }
    if (systemctl("enable", "--now", "cratecast.socket") != 0) {
        cli_error("`systemctl --user enable --now cratecast.socket` failed");
        cli_hint("`systemctl --user status cratecast.socket` says why (another program on the "
                 "port?)");
        return 1;
    }
    printf("  cratecast.socket: enabled and started (systemctl --user enable --now)\n");
    return 0;
}

/* The wants link `enable` made, when nobody could run `disable`. */
static void remove_wants_link(const struct setup *s)
{
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "%s/sockets.target.wants/cratecast.socket", s->unit_dir);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    if (strcmp(target, s->units[0].path) != 0)
        return;
    if (s->dry_run)
        printf("  would remove %s\n", link);
    else if (unlink(link) == 0)
        printf("  %s: removed\n", link);
}

static int undo_units(struct setup *s)
{
    bool any = false;
    for (int i = 0; i < 2; i++) {
        const struct unit *u = &s->units[i];
        if (u->exists && !u->ours)
            printf("  %s: not installed by cratecast setup, left alone\n", u->path);
        any |= u->ours;
    }
    if (!any) {
        printf("  no systemd units of cratecast setup's in %s\n", s->unit_dir);
        return 0;
    }
    if (s->session && s->dry_run) {
        printf("  would run: systemctl --user disable --now cratecast.socket; "
               "systemctl --user stop cratecast.service\n");
    } else if (s->session) {
        if (systemctl("disable", "--now", "cratecast.socket") != 0)
            cli_error("`systemctl --user disable --now cratecast.socket` failed; removing the "
                      "units anyway");
        else
            printf("  cratecast.socket: disabled and stopped\n");
        systemctl("stop", "cratecast.service", NULL);
    }
    remove_wants_link(s);
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        const struct unit *u = &s->units[i];
        if (!u->ours)
            continue;
        if (s->dry_run) {
            printf("  would remove %s\n", u->path);
        } else if (unlink(u->path) < 0) {
            cli_error("cannot remove %s: %s", u->path, strerror(errno));
            rc = 1;
        } else {
            printf("  %s: removed\n", u->path);
        }
    }
    if (s->session && !s->dry_run)
        systemctl("daemon-reload", NULL, NULL);
    return rc;
}

static int setup_run(struct setup *s)
{
    int rc;
    if (s->service && (rc = plan_units(s)) != 0)
        return rc;
    printf("cratecast setup%s%s:\n", s->undo ? " --undo" : "", s->dry_run ? " (dry run)" : "");
    enum cli_cargo_config_result cfg =
        cli_cargo_config_apply(s->home, s->url, s->undo, s->dry_run, "  ");
    if (cfg == CLI_CARGO_CONFIG_REFUSED)
        return 1;
    if (s->undo) {
        rc = s->service ? undo_units(s) : 0;
        if (rc == 0 && !s->dry_run)
            printf("done: Cargo uses crates.io directly again.\n");
        return rc;
    }
    if (s->service) {
        bool changed;
        if ((rc = install_units(s, &changed)) != 0 || (rc = enable_units(s, changed)) != 0)
            return rc;
    }
    if (s->dry_run)
        return 0;
    if (s->service && s->session)
        printf("next: use cargo as usual; systemd starts the agent on Cargo's first request "
               "(`cratecast status` shows it).\n");
    else
        printf("next: run the agent, `cratecast agent%s%s`, and leave it running; then use "
               "cargo as usual.\n",
               strcmp(s->listen, AGENT_DEFAULT_LISTEN) != 0 ? " --listen " : "",
               strcmp(s->listen, AGENT_DEFAULT_LISTEN) != 0 ? s->listen : "");
    printf("undo: cratecast setup --undo\n");
    return 0;
}

enum { OPT_UNDO = 1, OPT_DRY_RUN, OPT_LISTEN, OPT_CARGO_HOME, OPT_NO_SERVICE };

static const struct cli_option options[] = {
    {OPT_UNDO, "--undo", NULL,
     "take out exactly what setup added: the config block (or the file, if setup created it), "
     "then the units",
     NULL, 0},
    {OPT_DRY_RUN, "--dry-run", NULL, "say what would change, change nothing", NULL, 0},
    {OPT_LISTEN, "--listen", "ADDR:PORT",
     "the agent's Cargo side: the socket unit's address and the config's URL", AGENT_DEFAULT_LISTEN,
     0},
    {OPT_CARGO_HOME, "--cargo-home", "DIR", "the Cargo home whose config is edited",
     "$CARGO_HOME, else ~/.cargo", 0},
    {OPT_NO_SERVICE, "--no-service", NULL, "leave the systemd user units alone", NULL, 0},
    {0},
};

static int run(int argc, char **argv);

const struct cli_command cmd_setup = {
    "setup",
    "point Cargo at the agent, install its systemd user units; --undo takes both out",
    "Adds a marked block that replaces crates-io with the agent to the config file Cargo reads\n"
    "in the Cargo home (as `cargo-config --write` does), then writes cratecast.socket and\n"
    "cratecast.service to $XDG_CONFIG_HOME/systemd/user (default ~/.config/systemd/user) and,\n"
    "where a systemd user session runs, enables the socket, so systemd starts the agent on\n"
    "Cargo's first request. Prints each change and the next step; running it again changes\n"
    "nothing. A config file it cannot edit safely, or unit files it did not install, are left\n"
    "alone: it changes nothing, says why (with the lines to add by hand) and exits 1.\n"
    "docs/operations.md explains each step.\n",
    options,
    run,
};

static int run(int argc, char **argv)
{
    struct setup s = {.service = true, .listen = AGENT_DEFAULT_LISTEN};
    const char *home = NULL, *v;
    struct cli_parser p;
    int id;
    cli_parser_init(&p, &cmd_setup, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == OPT_UNDO)
            s.undo = true;
        else if (id == OPT_DRY_RUN)
            s.dry_run = true;
        else if (id == OPT_NO_SERVICE)
            s.service = false;
        else if (id == OPT_LISTEN)
            s.listen = v;
        else if (id == OPT_CARGO_HOME)
            home = v;
    }
    if (cli_cargo_config_url(s.listen, s.url, sizeof s.url) < 0)
        return cli_usage_error(&cmd_setup, "--listen %s: expected ADDR:PORT, e.g. 127.0.0.1:7878",
                               s.listen);
    s.home = home ? cc_strdup(home) : agent_default_cargo_home();
    if (s.home == NULL) {
        cli_error("neither CARGO_HOME nor HOME is set");
        cli_hint("name the Cargo home with --cargo-home DIR");
        return 2;
    }
    int rc = setup_run(&s);
    free(s.home);
    return rc;
}
