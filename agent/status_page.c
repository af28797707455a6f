/* agent/status_page.c — see status_page.h. */
#include "agent/status_page.h"

#include <stdio.h>
#include <string.h>

#include "proto/textbuf.h"

static const char style[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f4}"
    "header,main,footer{max-width:1100px;margin:0 auto;padding:12px 20px}"
    "header{display:flex;align-items:baseline;gap:14px;flex-wrap:wrap}"
    "h1{font-size:22px;margin:0}h2{font-size:17px;margin:22px 0 8px}"
    ".badge{padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}"
    ".online{background:#2e7d32}.offline{background:#b26a00}.unknown{background:#777}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px}"
    ".card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px 12px}"
    ".card .v{font-size:21px;font-weight:600}.card .l{color:#555;font-size:13px}"
    "table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e4e4}"
    "th{background:#eee;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.live td:first-child{border-left:4px solid #2e7d32}"
    "tr.gone td:first-child{border-left:4px solid #aaa}.dim{color:#777}"
    "footer{color:#555;font-size:13px}code{font-size:13px}";

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void card(struct textbuf *b, const char *id, const char *value, const char *label)
{
    textbuf_printf(b, "<div class=\"card\"><div class=\"v\" id=\"%s\">", id);
    textbuf_html(b, value);
    textbuf_puts(b, "</div><div class=\"l\">");
    textbuf_html(b, label);
    textbuf_puts(b, "</div></div>");
}

static void bytes_card(struct textbuf *b, const char *id, uint64_t n, const char *label)
{
    char v[32];
    text_bytes(n, v, sizeof v);
    textbuf_printf(b, "<div class=\"card\"><div class=\"v\" id=\"%s\" data-bytes=\"%llu\">", id,
                   (unsigned long long)n);
    textbuf_html(b, v);
    textbuf_puts(b, "</div><div class=\"l\">");
    textbuf_html(b, label);
    textbuf_puts(b, "</div></div>");
}

static void peer_row(struct textbuf *b, const json_t *p, int64_t now)
{
    const char *state = str(p, "state");
    bool live = strcmp(state, "live") == 0;
    const json_t *rx = json_object_get(p, "received"), *tx = json_object_get(p, "sent");
    char rxb[32], txb[32], seen[32], id[16];
    text_bytes((uint64_t)num(rx, "bytes"), rxb, sizeof rxb);
    text_bytes((uint64_t)num(tx, "bytes"), txb, sizeof txb);
    text_ago(now, num(p, "last_seen"), seen, sizeof seen);
    snprintf(id, sizeof id, "%.8s", str(p, "id"));
    textbuf_printf(b, "<tr class=\"peer %s\" data-addr=\"", live ? "live" : "gone");
    textbuf_html(b, str(p, "addr"));
    textbuf_puts(b, "\" data-state=\"");
    textbuf_html(b, state);
    textbuf_puts(b, "\"><td><code>");
    textbuf_html(b, str(p, "addr"));
    textbuf_puts(b, "</code> <span class=\"dim\">");
    textbuf_html(b, id[0] ? id : "(no key yet)");
    textbuf_puts(b, "</span></td><td>");
    textbuf_html(b, str(p, "via"));
    textbuf_puts(b, "</td><td>");
    textbuf_html(b, state);
    textbuf_printf(b,
                   "</td><td class=\"n\">%lld</td><td class=\"n peer-rx\" data-bytes=\"%lld\">"
                   "%lld crates, ",
                   (long long)num(p, "crates"), (long long)num(rx, "bytes"),
                   (long long)num(rx, "crates"));
    textbuf_html(b, rxb);
    textbuf_printf(b, "</td><td class=\"n peer-tx\" data-bytes=\"%lld\">%lld crates, ",
                   (long long)num(tx, "bytes"), (long long)num(tx, "crates"));
    textbuf_html(b, txb);
    textbuf_puts(b, "</td><td>");
    textbuf_html(b, seen);
    textbuf_puts(b, "</td></tr>");
}

char *status_page_html(const json_t *doc, int64_t now, size_t *len)
{
    struct textbuf b;
    textbuf_init(&b);
    const json_t *c = json_object_get(doc, "counters"), *st = json_object_get(doc, "store");
    const json_t *up = json_object_get(doc, "upstream"), *peers = json_object_get(doc, "peers");
    bool online = json_is_true(json_object_get(doc, "online"));
    const char *state = str(up, "state");
    const char *cls = online ? "online" : strcmp(state, "unknown") == 0 ? "unknown" : "offline";
    size_t i, nlive = 0;
    const json_t *p;
    json_array_foreach(peers, i, p) nlive += strcmp(str(p, "state"), "live") == 0;

    textbuf_printf(&b,
                   "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"refresh\" content=\"%d\">"
                   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                   "<title>cratecast: %s, %zu peer%s</title><style>%s</style></head><body>\n",
                   STATUS_PAGE_REFRESH_S, online ? "online" : "offline", nlive,
                   nlive == 1 ? "" : "s", style);
    char since[32];
    text_ago(now, num(up, "since"), since, sizeof since);
    textbuf_printf(&b, "<header><h1>cratecast</h1><span id=\"state\" class=\"badge %s\">%s</span>",
                   cls, online ? "online" : "offline");
    textbuf_puts(&b, "<span class=\"dim\">");
    if (json_is_null(json_object_get(up, "url")) || json_object_get(up, "url") == NULL) {
        textbuf_puts(&b, "no upstream: serving what this machine and the room hold");
    } else {
        textbuf_puts(&b, "upstream <code>");
        textbuf_html(&b, str(up, "url"));
        textbuf_puts(&b, "</code>, since ");
        textbuf_html(&b, since);
        if (str(up, "last_error")[0] && !online) {
            textbuf_puts(&b, " (");
            textbuf_html(&b, str(up, "last_error"));
            textbuf_puts(&b, ")");
        }
    }
    textbuf_puts(&b, "</span></header>\n<main>\n<div class=\"cards\" id=\"summary\">");

    char v[64];
    snprintf(v, sizeof v, "%lld", (long long)num(st, "crates"));
    card(&b, "store-crates", v, "crates in the store");
    bytes_card(&b, "store-bytes", (uint64_t)num(st, "bytes"), "store size");
    snprintf(v, sizeof v, "%lld", (long long)num(c, "served"));
    card(&b, "served-requests", v, "answers to Cargo");
    bytes_card(&b, "served-bytes", (uint64_t)num(c, "bytes_served"), "sent to Cargo");
    bytes_card(&b, "from-peers-bytes", (uint64_t)num(c, "bytes_from_peers"), "fetched from peers");
    bytes_card(&b, "from-upstream-bytes", (uint64_t)num(c, "bytes_from_upstream"),
               "fetched from the upstream");
    bytes_card(&b, "to-peers-bytes", (uint64_t)num(c, "bytes_to_peers"), "sent to peers");
    bytes_card(&b, "saved-bytes",
               (uint64_t)num(c, "bytes_from_peers") + (uint64_t)num(c, "bytes_to_peers"),
               "the room saved the uplink (from peers + to peers)");
    const json_t *tr = json_object_get(doc, "transfers"), *ul = json_object_get(doc, "uploads");
    snprintf(v, sizeof v, "%lld", (long long)num(tr, "in_flight"));
    card(&b, "in-flight", v, "fetches in flight");
    snprintf(v, sizeof v, "%lld of %lld", (long long)num(ul, "active"),
             (long long)num(ul, "slots"));
    card(&b, "uploads", v, "upload slots in use");
    textbuf_puts(&b, "</div>\n");

    textbuf_printf(&b, "<h2>Peers <span class=\"dim\">(%zu live of %zu)</span></h2>", nlive,
                   json_array_size(peers));
    if (json_array_size(peers) == 0) {
        textbuf_puts(&b, "<p id=\"peers\" class=\"dim\">No peers yet: other agents on this "
                         "network appear here when found by mDNS or given with --peer.</p>");
    } else {
        textbuf_puts(&b, "<table id=\"peers\"><tr><th>peer</th><th>found via</th><th>state</th>"
                         "<th>crates held</th><th>received from it</th><th>sent to it</th>"
                         "<th>last seen</th></tr>");
        json_array_foreach(peers, i, p) peer_row(&b, p, now);
        textbuf_puts(&b, "</table>");
    }
    textbuf_puts(&b, "\n");

    const json_t *misses = json_object_get(doc, "misses");
    textbuf_printf(&b, "<h2>Recent misses <span class=\"dim\">(%lld in all)</span></h2>",
                   (long long)num(doc, "misses_total"));
    if (json_array_size(misses) == 0) {
        textbuf_puts(&b, "<p id=\"misses\" class=\"dim\">Nothing Cargo asked for was missing.</p>");
    } else {
        textbuf_puts(&b, "<table id=\"misses\"><tr><th>crate</th><th>version</th><th>why</th>"
                         "<th>when</th></tr>");
        size_t shown = 0;
        json_array_foreach(misses, i, p)
        {
            if (++shown > 20)
                break;
            char when[32];
            text_ago(now, num(p, "at"), when, sizeof when);
            textbuf_puts(&b, "<tr class=\"miss\"><td><code>");
            textbuf_html(&b, str(p, "crate"));
            textbuf_puts(&b, "</code></td><td>");
            textbuf_html(&b, str(p, "version"));
            textbuf_puts(&b, "</td><td>");
            textbuf_html(&b, str(p, "reason"));
            textbuf_puts(&b, "</td><td>");
            textbuf_html(&b, when);
            textbuf_puts(&b, "</td></tr>");
        }
        textbuf_puts(&b, "</table>");
    }

    char up_s[32];
    text_ago(now, now - num(doc, "uptime_s"), up_s, sizeof up_s);
    textbuf_puts(&b, "\n</main><footer>Cargo side <code id=\"listen\">");
    textbuf_html(&b, str(doc, "listen"));
    textbuf_puts(&b, "</code> · peer side <code id=\"peer-listen\">");
    textbuf_html(&b, str(doc, "peer_listen"));
    textbuf_puts(&b, "</code> · discovery <span id=\"mdns\">");
    textbuf_html(&b, str(doc, "mdns"));
    textbuf_puts(&b, "</span> · key id <code>");
    textbuf_html(&b, str(doc, "key_id"));
    textbuf_puts(&b, "</code> · store <code>");
    textbuf_html(&b, str(st, "dir"));
    textbuf_puts(&b, "</code> · started ");
    textbuf_html(&b, up_s);
    textbuf_puts(&b, " · cratecast ");
    textbuf_html(&b, str(doc, "version"));
    textbuf_puts(&b, " · <a href=\"/-/status\">JSON</a> · <a href=\"/metrics\">metrics</a>"
                     "</footer>\n</body></html>\n");
    return textbuf_take(&b, len);
}
