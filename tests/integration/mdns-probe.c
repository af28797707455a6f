/* tests/integration/mdns-probe.c — drives agent/discovery.c alone, for the
 * network-namespace tests: announce one service, print what is found.
 *
 *   mdns-probe [--backend auto|client|core] [--instance NAME] [--port N]
 *              [--id HEX16] [--seq N] [--net HEX16] [--update-after SEC]
 *              [--update-seq N] [--timeout SEC]
 *
 * The TXT seq moves to --update-seq (default seq + 1) after --update-after
 * seconds, and on every SIGUSR1 (then by one more each time).
 *
 * Stdout, one line per event, flushed at once:
 *   BACKEND <avahi-daemon|avahi-core>
 *   FOUND <host> <port> <id> <seq>
 *   LOST <host> <port>
 *   UPDATED <seq>
 *   EXIT
 * Diagnostics go to stderr (agent/log.h; CRATECAST_LOG=debug for more).
 *
 * States: running --(--update-after elapses, or SIGUSR1)--> updated
 *         running|updated --(--timeout, SIGINT or SIGTERM)--> stopping:
 *         agent_discovery_stop, our handles closed, the loop drains, exit 0.
 * Exit 1 when discovery cannot start, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "agent/discovery.h"
#include "agent/log.h"

struct probe {
    uv_loop_t *loop;
    struct agent_discovery *disc;
    struct proto_txt txt;
    uv_timer_t update_timer;
    uv_timer_t exit_timer;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    uv_signal_t sigusr1;
    bool updated;
    uint64_t update_seq;
    bool stopping;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int copy_hex16(const char *s, char out[PROTO_KEYID_HEX_LEN + 1])
{
    if (strlen(s) != PROTO_KEYID_HEX_LEN || strspn(s, "0123456789abcdef") != PROTO_KEYID_HEX_LEN)
        return -EINVAL;
    memcpy(out, s, PROTO_KEYID_HEX_LEN + 1);
    return 0;
}

static void on_found(void *ud, const char *host, uint16_t port, const struct proto_txt *txt)
{
    printf("FOUND %s %u %s %llu\n", host, port, txt->id, (unsigned long long)txt->seq);
    fflush(stdout);
}

static void on_lost(void *ud, const char *host, uint16_t port)
{
    printf("LOST %s %u\n", host, port);
    fflush(stdout);
}

static void probe_stop(struct probe *p)
{
    if (p->stopping)
        return;
    p->stopping = true;
    agent_discovery_stop(p->disc);
    p->disc = NULL;
    uv_close((uv_handle_t *)&p->update_timer, NULL);
    uv_close((uv_handle_t *)&p->exit_timer, NULL);
    uv_close((uv_handle_t *)&p->sigint, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
    uv_close((uv_handle_t *)&p->sigusr1, NULL);
}

static void probe_update(struct probe *p)
{
    if (p->stopping)
        return;
    p->txt.seq = p->updated ? p->txt.seq + 1 : p->update_seq;
    p->updated = true;
    int rc = agent_discovery_update(p->disc, &p->txt);
    if (rc < 0) {
        log_error("update: %s", strerror(-rc));
        return;
    }
    printf("UPDATED %llu\n", (unsigned long long)p->txt.seq);
    fflush(stdout);
}

static void on_update(uv_timer_t *h)
{
    probe_update(h->data);
}

static void on_usr1(uv_signal_t *h, int signum)
{
    probe_update(h->data);
}

static void on_exit_timer(uv_timer_t *h)
{
    probe_stop(h->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    probe_stop(h->data);
}

static void usage(void)
{
    fprintf(stderr, "usage: mdns-probe [--backend auto|client|core] [--instance NAME] "
                    "[--port N] [--id HEX16] [--seq N] [--net HEX16] [--update-after SEC] "
                    "[--update-seq N] [--timeout SEC]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"backend", required_argument, NULL, 'b'},
        {"instance", required_argument, NULL, 'i'},
        {"port", required_argument, NULL, 'p'},
        {"id", required_argument, NULL, 'k'},
        {"seq", required_argument, NULL, 's'},
        {"net", required_argument, NULL, 'n'},
        {"update-after", required_argument, NULL, 'u'},
        {"update-seq", required_argument, NULL, 'U'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct probe p;
    struct agent_discovery_config cfg;
    uint64_t port = 7879, timeout_s = 30, update_after_s = 0, v;
    bool have_update_seq = false;
    int c, rc;

    memset(&p, 0, sizeof p);
    memset(&cfg, 0, sizeof cfg);
    p.txt.version = PROTO_PEER_VERSION;
    memcpy(p.txt.id, "0000000000000000", PROTO_KEYID_HEX_LEN + 1);
    p.txt.seq = 1;
    agent_log_init();

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "auto") == 0)
                cfg.force_backend = 0;
            else if (strcmp(optarg, "client") == 0)
                cfg.force_backend = 1;
            else if (strcmp(optarg, "core") == 0)
                cfg.force_backend = 2;
            else
                goto bad_usage;
            break;
        case 'i':
            cfg.instance = optarg;
            break;
        case 'p':
            if (parse_u64(optarg, UINT16_MAX, &port) < 0)
                goto bad_usage;
            break;
        case 'k':
            if (copy_hex16(optarg, p.txt.id) < 0)
                goto bad_usage;
            break;
        case 's':
            if (parse_u64(optarg, UINT64_MAX, &p.txt.seq) < 0)
                goto bad_usage;
            break;
        case 'n':
            if (copy_hex16(optarg, p.txt.net) < 0)
                goto bad_usage;
            break;
        case 'u':
            if (parse_u64(optarg, 86400, &update_after_s) < 0)
                goto bad_usage;
            break;
        case 'U':
            if (parse_u64(optarg, UINT64_MAX, &v) < 0)
                goto bad_usage;
            p.update_seq = v;
            have_update_seq = true;
            break;
        case 't':
            if (parse_u64(optarg, 86400, &timeout_s) < 0)
                goto bad_usage;
            break;
        default:
            goto bad_usage;
        }
    }
    if (optind != argc)
        goto bad_usage;
    if (!have_update_seq)
        p.update_seq = p.txt.seq + 1;

    p.loop = uv_default_loop();
    uv_timer_init(p.loop, &p.update_timer);
    uv_timer_init(p.loop, &p.exit_timer);
    uv_signal_init(p.loop, &p.sigint);
    uv_signal_init(p.loop, &p.sigterm);
    uv_signal_init(p.loop, &p.sigusr1);
    p.update_timer.data = p.exit_timer.data = &p;
    p.sigint.data = p.sigterm.data = p.sigusr1.data = &p;

    cfg.port = (uint16_t)port;
    cfg.txt = p.txt;
    cfg.found = on_found;
    cfg.lost = on_lost;
    cfg.ud = &p;
    rc = agent_discovery_start(p.loop, &cfg, &p.disc);
    if (rc < 0) {
        log_error("discovery: %s", strerror(-rc));
        p.stopping = true;
        uv_close((uv_handle_t *)&p.update_timer, NULL);
        uv_close((uv_handle_t *)&p.exit_timer, NULL);
        uv_close((uv_handle_t *)&p.sigint, NULL);
        uv_close((uv_handle_t *)&p.sigterm, NULL);
        uv_close((uv_handle_t *)&p.sigusr1, NULL);
        uv_run(p.loop, UV_RUN_DEFAULT);
        uv_loop_close(p.loop);
        return 1;
    }
    printf("BACKEND %s\n", agent_discovery_backend(p.disc));
    fflush(stdout);

    uv_signal_start(&p.sigint, on_signal, SIGINT);
    uv_signal_start(&p.sigterm, on_signal, SIGTERM);
    uv_signal_start(&p.sigusr1, on_usr1, SIGUSR1);
    uv_timer_start(&p.exit_timer, on_exit_timer, timeout_s * 1000, 0);
    if (update_after_s > 0)
        uv_timer_start(&p.update_timer, on_update, update_after_s * 1000, 0);

    uv_run(p.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(p.loop);
    if (rc < 0)
        log_error("loop not drained: %s", uv_strerror(rc));
    printf("EXIT\n");
    fflush(stdout);
    return rc < 0 ? 1 : 0;

bad_usage:
    usage();
    return 2;
}
