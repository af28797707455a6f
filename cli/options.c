/* cli/options.c — the command tables of cli/options.h at work: parsing argv,
 * usage errors, --help text and its roff form for the man page.
 *
 * --help layout (Cargo's, from clap):
 *     <summary>
 *
 *     Usage: cratecast CMD [OPTIONS] ARGS
 *
 *     <about>
 *
 *     Arguments:
 *       PATH  meaning [default: .]
 *
 *     Options:
 *           --listen ADDR:PORT  meaning [default: 127.0.0.1:7878]
 *       -h, --help              print this help
 * Text wraps at HELP_COLS; a label wider than LABEL_MAX puts its meaning on
 * the next line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cli/options.h"
#include "store/store.h"
#include "proto/alloc.h"
#include "proto/options.h"

#define HELP_COLS 100
#define LABEL_MAX 30
#define NBSP '\1' /* a space wrap() does not break at: "[default: X]" stays on one line */

static const struct cli_option help_row = {0, "--help", NULL, "print this help", NULL, 0};

static bool is_option(const struct cli_option *o)
{
    return o->name[0] == '-';
}

/* ---- messages ------------------------------------------------------------ */

static void vline(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("error: ", fmt, ap);
    va_end(ap);
    return 1;
}

void cli_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("help: ", fmt, ap);
    va_end(ap);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline("error: ", fmt, ap);
    va_end(ap);
    fputs("help: ", stderr);
    cli_usage_line(cmd, stderr);
    fprintf(stderr, " (`cratecast %s --help` explains every option)\n", cmd->name);
    return 2;
}

/* ---- parsing ------------------------------------------------------------- */

void cli_parser_init(struct cli_parser *p, const struct cli_command *cmd, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
}

/* Levenshtein distance of a[0..an) and b, capped: enough to say "did you mean". */
static size_t distance(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b), row[64];
    if (an >= 64 || bn >= 64)
        return 99;
    for (size_t j = 0; j <= bn; j++)
        row[j] = j;
    for (size_t i = 1; i <= an; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bn];
}

static int stop(struct cli_parser *p, int status)
{
    p->status = status;
    return CLI_STOP;
}

static int unknown_option(struct cli_parser *p, const char *arg, size_t len)
{
    const struct cli_option *near = NULL;
    size_t best = 3; /* at most 2 edits away */
    for (const struct cli_option *o = p->cmd->options; o->name; o++) {
        size_t d = is_option(o) ? distance(arg, len, o->name) : 99;
        if (d < best) {
            best = d;
            near = o;
        }
    }
    fprintf(stderr, "error: unknown option '%.*s'\n", (int)len, arg);
    if (near)
        fprintf(stderr, "help: a similar option exists: '%s'\n", near->name);
    fputs("help: ", stderr);
    cli_usage_line(p->cmd, stderr);
    fprintf(stderr, " (`cratecast %s --help` lists every option)\n", p->cmd->name);
    return stop(p, 2);
}

/* The table's argument rows: how many, and whether the last repeats. */
static void arg_rows(const struct cli_command *cmd, unsigned *n, unsigned *required, bool *repeat)
{
    *n = *required = 0;
    *repeat = false;
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        if (is_option(o))
            continue;
        (*n)++;
        if (o->flags & CLI_REQUIRED)
            (*required)++;
        *repeat = (o->flags & CLI_REPEAT) != 0;
    }
}

static const struct cli_option *nth_arg(const struct cli_command *cmd, unsigned k)
{
    const struct cli_option *last = NULL;
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        if (is_option(o))
            continue;
        last = o;
        if (k-- == 0)
            return o;
    }
    return last;
}

static int positional(struct cli_parser *p, const char *word, const char **value)
{
    unsigned n, required;
    bool repeat;
    arg_rows(p->cmd, &n, &required, &repeat);
    if (p->nargs >= n && !repeat) {
        fprintf(stderr, "error: unexpected argument '%s'\n", word);
        fputs("help: ", stderr);
        cli_usage_line(p->cmd, stderr);
        fputc('\n', stderr);
        return stop(p, 2);
    }
    p->opt = nth_arg(p->cmd, p->nargs);
    p->nargs++;
    *value = word;
    return CLI_ARG;
}

int cli_next(struct cli_parser *p, const char **value)
{
    *value = NULL;
    p->opt = NULL;
    if (p->i >= p->argc) {
        unsigned n, required;
        bool repeat;
        arg_rows(p->cmd, &n, &required, &repeat);
        if (p->nargs < required) {
            const struct cli_option *o = nth_arg(p->cmd, p->nargs);
            fprintf(stderr, "error: %s is required\n", o->name);
            fputs("help: ", stderr);
            cli_usage_line(p->cmd, stderr);
            fputc('\n', stderr);
            return stop(p, 2);
        }
        return CLI_END;
    }
    const char *arg = p->argv[p->i++];
    if (p->only_args || arg[0] != '-' || arg[1] == '\0') /* "-" is a word (stdin, by custom) */
        return positional(p, arg, value);
    if (strcmp(arg, "--") == 0) {
        p->only_args = true;
        return cli_next(p, value);
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        cli_help(p->cmd, stdout);
        return stop(p, 0);
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);
    for (const struct cli_option *o = p->cmd->options; o->name; o++) {
        if (!is_option(o) || strlen(o->name) != len || strncmp(o->name, arg, len) != 0)
            continue;
        p->opt = o;
        if (o->value == NULL) {
            if (arg[len] == '=') {
                fprintf(stderr, "error: %s takes no value\n", o->name);
                fprintf(stderr, "help: write %s alone\n", o->name);
                return stop(p, 2);
            }
            return o->id;
        }
        if (arg[len] == '=') {
            *value = arg + len + 1;
        } else if (p->i < p->argc) {
            *value = p->argv[p->i++];
        } else {
            fprintf(stderr, "error: %s needs a value\n", o->name);
            fprintf(stderr, "help: %s %s: %s\n", o->name, o->value, o->help);
            return stop(p, 2);
        }
        return o->id;
    }
    return unknown_option(p, arg, len);
}

/* ---- --help -------------------------------------------------------------- */

/* Words of text from column col, wrapped at HELP_COLS; continuation lines start at indent. */
static void wrap(FILE *f, const char *text, size_t col, size_t indent)
{
    const char *s = text;
    bool first = true;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t w = strcspn(s, " ");
        if (w == 0)
            break;
        if (!first && col + 1 + w > HELP_COLS) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            fputc(' ', f);
            col++;
        }
        for (size_t k = 0; k < w; k++)
            fputc(s[k] == NBSP ? ' ' : s[k], f);
        col += w;
        s += w;
        first = false;
    }
}

static size_t label_len(const struct cli_option *o)
{
    if (!is_option(o))
        return 2 + strlen(o->name);
    return 6 + strlen(o->name) + (o->value ? 1 + strlen(o->value) : 0);
}

static void row(FILE *f, const struct cli_option *o, size_t width)
{
    size_t n = label_len(o);
    if (!is_option(o))
        fprintf(f, "  %s", o->name);
    else if (o == &help_row)
        fprintf(f, "  -h, %s", o->name);
    else
        fprintf(f, "      %s%s%s", o->name, o->value ? " " : "", o->value ? o->value : "");
    if (n + 2 > width) {
        fprintf(f, "\n%*s", (int)width, "");
        n = width; /* already at the column */
    }
    fprintf(f, "%*s", (int)(width - n), "");
    char text[1024];
    snprintf(text, sizeof text, "%s%s%s%s%s", o->help,
             (o->flags & CLI_REPEAT) && is_option(o) ? " (repeatable)" : "",
             o->dflt ? " [default:\1" : "", o->dflt ? o->dflt : "", o->dflt ? "]" : "");
    wrap(f, text, width, width);
    fputc('\n', f);
}

void cli_usage_line(const struct cli_command *cmd, FILE *f)
{
    bool any = false;
    for (const struct cli_option *o = cmd->options; o->name; o++)
        any |= is_option(o);
    fprintf(f, "Usage: cratecast %s%s", cmd->name, any ? " [OPTIONS]" : "");
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        if (is_option(o))
            continue;
        bool req = (o->flags & CLI_REQUIRED) != 0;
        fprintf(f, " %s%s%s%s", req ? "" : "[", o->name, req ? "" : "]",
                (o->flags & CLI_REPEAT) ? "..." : "");
    }
}

void cli_help(const struct cli_command *cmd, FILE *f)
{
    size_t width = 0;
    bool args = false;
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        size_t n = label_len(o) + 2;
        if (n <= LABEL_MAX && n > width)
            width = n;
        args |= !is_option(o);
    }
    if (label_len(&help_row) + 2 > width)
        width = label_len(&help_row) + 2;
    fprintf(f, "%s\n\n", cmd->summary);
    cli_usage_line(cmd, f);
    fputs("\n\n", f);
    if (cmd->about)
        fprintf(f, "%s\n", cmd->about);
    if (args) {
        fputs("Arguments:\n", f);
        for (const struct cli_option *o = cmd->options; o->name; o++)
            if (!is_option(o))
                row(f, o, width);
        fputc('\n', f);
    }
    fputs("Options:\n", f);
    for (const struct cli_option *o = cmd->options; o->name; o++)
        if (is_option(o))
            row(f, o, width);
    row(f, &help_row, width);
}

/* ---- roff ---------------------------------------------------------------- */

/* Text for roff: backslashes escaped, '-' as \- (so options copy and paste),
 * a line never starting with a control character. */
static void roff_text(FILE *f, const char *s, bool bol)
{
    for (; *s; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-')
            fputs("\\-", f);
        else
            fputc(*s, f);
        bol = *s == '\n';
    }
}

/* An option's name in bold (an argument's in italics) and its value in italics. */
static void roff_option(FILE *f, const struct cli_option *o)
{
    fputs(is_option(o) ? "\\fB" : "\\fI", f);
    roff_text(f, o->name, false);
    fputs("\\fR", f);
    if (o->value) {
        fputs(" \\fI", f);
        roff_text(f, o->value, false);
        fputs("\\fR", f);
    }
}

/* Paragraphs: a blank line starts a new one (.PP); other line breaks are filled. */
static void roff_paragraphs(FILE *f, const char *s)
{
    const char *p = s;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0) {
            fputs(".PP\n", f);
        } else {
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            roff_text(f, line, true);
            fputc('\n', f);
        }
        p += n + (nl ? 1 : 0);
    }
}

void cli_help_roff(const struct cli_command *cmd, FILE *f)
{
    fputs(".SS \"", f);
    roff_text(f, cmd->name, false);
    fputs("\"\n", f);
    roff_text(f, cmd->summary, true);
    fputs(".\n.PP\n\\fBcratecast ", f);
    roff_text(f, cmd->name, false);
    fputs("\\fR", f);
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        bool req = !is_option(o) && (o->flags & CLI_REQUIRED);
        fputs(req ? " " : " [", f);
        roff_option(f, o);
        fputs(req ? "" : "]", f);
        if (o->flags & CLI_REPEAT)
            fputs("...", f);
    }
    fputc('\n', f);
    if (cmd->about) {
        fputs(".PP\n", f);
        roff_paragraphs(f, cmd->about);
    }
    for (const struct cli_option *o = cmd->options; o->name; o++) {
        fputs(".TP\n", f);
        roff_option(f, o);
        fputc('\n', f);
        roff_text(f, o->help, true);
        if ((o->flags & CLI_REPEAT) && is_option(o))
            fputs(" (repeatable)", f);
        fputs(".", f);
        if (o->dflt) {
            fputs(" Default: ", f);
            roff_text(f, o->dflt, false);
            fputs(".", f);
        }
        fputc('\n', f);
    }
}

/* ---- the store ----------------------------------------------------------- */

char *cli_store_dir(const char *given)
{
    char *d = given ? cc_strdup(given) : agent_default_store_dir();
    if (d == NULL && given == NULL) {
        cli_error("no --store given, and neither XDG_CACHE_HOME nor HOME is set");
        cli_hint("name the store's directory with --store DIR");
    } else if (d == NULL) {
        cli_error("out of memory");
    }
    return d;
}

int cli_open_store(const struct cli_command *cmd, int argc, char **argv, char **dir,
                   struct store **s)
{
    const char *store = NULL, *v;
    struct cli_parser p;
    int id;
    *dir = NULL;
    *s = NULL;
    cli_parser_init(&p, cmd, argc, argv);
    while ((id = cli_next(&p, &v)) != CLI_END) {
        if (id == CLI_STOP)
            return p.status;
        if (id == 1)
            store = v;
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

int cli_config_parse(const char *path, proto_options_cb cb, void *ud)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)PROTO_OPTIONS_MAX) {
        cli_error("--config %s: %s", path,
                  fd < 0 ? strerror(errno) : "not a regular file of at most 1 MiB");
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size, off = 0;
    uint8_t *buf = cc_malloc(len + 1);
    while (buf && off < len) {
        ssize_t n = read(fd, buf + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (buf == NULL || off != len) {
        cli_error("--config %s: cannot read", path);
        free(buf);
        return -EINVAL;
    }
    unsigned err_line = 0;
    int rc = proto_options_parse(buf, len, cb, ud, &err_line);
    free(buf);
    if (rc == -EBADMSG || rc == -EMSGSIZE) {
        cli_error("%s:%u: syntax error (expected key = value)", path, err_line);
        cli_hint("one setting per line: name = \"value\", name = true, or name = [\"a\", \"b\"]");
    } else if (rc == -ENOMEM) {
        cli_error("out of memory");
    }
    return rc < 0 ? -EINVAL : 0;
}
