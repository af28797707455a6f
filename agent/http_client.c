/* agent/http_client.c — libcurl multi_socket on libuv.
 *
 * curl tells us which sockets to watch (socket_cb) and when to wake it
 * (timer_cb); we map that onto one uv_poll_t per socket and one uv_timer_t,
 * and hand readiness back with curl_multi_socket_action(). After each action,
 * finished transfers are collected and their callbacks run.
 *
 * A struct http_sock (the uv_poll_t for one curl socket) is freed only in its
 * close callback; curl may forget a socket while the poll handle is closing,
 * so the association is cleared first (curl_multi_assign(..., NULL)).
 */
#include "agent/http_client.h"
#include "proto/alloc.h"
#include "proto/mesh.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct agent_http *h;
};

struct http_xfer {
    struct http_xfer *next, *prev; /* the client's list of transfers in flight */
    CURL *easy;
    struct curl_slist *headers;
    agent_http_cb cb;
    void *ud;
    size_t max_body;   /* the body Cargo or the caller sees (plaintext) */
    uint64_t max_wire; /* the bytes on the wire: max_body, or its sealed size */
    uint64_t wire;
    struct proto_mesh_opener *opener; /* a mesh request: a 200 body is sealed */
    int discard_body;
    int (*sink)(void *sink_ud, const uint8_t *buf, size_t len);
    void *sink_ud;
    uint64_t *progress_ms;
    uv_loop_t *loop;
    struct agent_http_response res;
    size_t cap;
    bool unwatched; /* its socket could not be watched (out of memory): ended by check_done */
    char errbuf[CURL_ERROR_SIZE];
};

static void check_done(struct agent_http *h);

static void poll_closed(uv_handle_t *hd)
{
    free(hd->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct http_sock *s = p->data;
    struct agent_http *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct agent_http *h = userp;
    struct http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(h->multi, fd, NULL);
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, poll_closed);
        }
        return 0;
    }
    if (s == NULL) {
        s = cc_calloc(1, sizeof *s);
        if (s == NULL || uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            /* nobody would ever wake this transfer: end it (check_done) rather
             * than rely on what libcurl does with the error */
            free(s);
            struct http_xfer *x = NULL;
            if (easy != NULL &&
                curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) == CURLE_OK && x != NULL) {
                x->unwatched = true;
                h->unwatched = true;
            }
            return -1;
        }
        s->fd = fd;
        s->h = h;
        s->poll.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct agent_http *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct agent_http *h = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
        return 0;
    }
    /* curl asks for 0 to mean "call me soon": never act from inside its callback */
    uv_update_time(h->loop);
    uv_timer_start(&h->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

/* Plaintext body bytes: to the sink, counted only, or buffered. 0 or -errno. */
static int deliver(struct http_xfer *x, const uint8_t *ptr, size_t n)
{
    if (n > x->max_body || x->res.len > x->max_body - n)
        return -EFBIG;
    if (x->sink) {
        int rc = x->sink(x->sink_ud, ptr, n);
        if (rc < 0)
            return rc;
        x->res.len += n;
        return 0;
    }
    if (x->discard_body) {
        x->res.len += n;
        return 0;
    }
    if (x->res.len + n > x->cap) {
        size_t ncap = x->cap ? x->cap : 16384;
        while (ncap < x->res.len + n)
            ncap *= 2;
        if (ncap > x->max_body)
            ncap = x->max_body;
        uint8_t *nb = cc_realloc(x->res.body, ncap);
        if (nb == NULL)
            return -ENOMEM;
        x->res.body = nb;
        x->cap = ncap;
    }
    memcpy(x->res.body + x->res.len, ptr, n);
    x->res.len += n;
    return 0;
}

static int opened(void *ud, const uint8_t *buf, size_t len)
{
    return deliver(ud, buf, len);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_xfer *x = ud;
    size_t n = size * nmemb;
    if (x->progress_ms)
        *x->progress_ms = uv_now(x->loop);
    x->wire += n;
    if (x->wire > x->max_wire) {
        x->res.error = -EFBIG;
        return 0; /* aborts the transfer */
    }
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    int rc;
    if (code != 200 && x->sink) { /* an error page: not for the sink */
        x->res.len += n;
        return n;
    }
    if (code == 200 && x->opener)
        rc = proto_mesh_open_feed(x->opener, (const uint8_t *)ptr, n, opened, x);
    else
        rc = deliver(x, (const uint8_t *)ptr, n);
    if (rc < 0) {
        x->res.error = rc;
        return 0; /* aborts the transfer */
    }
    return n;
}

/* Copy one header value (trimmed) when its name matches. */
static void take_header(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= outsz)
        return; /* an oversized validator is not kept */
    memcpy(out, v, vl);
    out[vl] = '\0';
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct http_xfer *x = ud;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) { /* a new response (redirect): reset */
        x->res.etag[0] = '\0';
        x->res.last_modified[0] = '\0';
        x->res.source[0] = '\0';
    }
    take_header(buf, n, "x-cratecast-source", x->res.source, sizeof x->res.source);
    take_header(buf, n, "etag", x->res.etag, sizeof x->res.etag);
    take_header(buf, n, "last-modified", x->res.last_modified, sizeof x->res.last_modified);
    return n;
}

static int curl_to_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -EHOSTUNREACH;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

/* A transfer's memory, after its callback ran or without it (close). */
static void xfer_free(struct http_xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->res.body);
    if (x->opener)
        sodium_memzero(x->opener, sizeof *x->opener);
    free(x->opener);
    free(x);
}

static void finish(struct agent_http *h, CURL *easy, CURLcode rc)
{
    struct http_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(h->multi, easy);
    h->in_flight--;
    if (x->prev)
        x->prev->next = x->next;
    else
        h->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->res.status);
        if (x->res.status == 200 && x->opener && proto_mesh_open_end(x->opener) < 0) {
            x->res.error = -EBADMSG; /* cut short, or not sealed for us at all */
            x->res.error_text = "the answer is not sealed with this mesh's key";
        }
    } else {
        if (x->res.error == 0)
            x->res.error = curl_to_errno(rc);
        x->res.error_text = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    }
    x->cb(x->ud, &x->res);
    xfer_free(x);
}

static void check_done(struct agent_http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE)
            finish(h, m->easy_handle, m->data.result);
    }
    while (h->unwatched) {
        h->unwatched = false;
        for (struct http_xfer *x = h->xfers; x; x = x->next) {
            if (x->unwatched) {
                x->res.error = -ENOMEM;
                finish(h, x->easy, CURLE_OUT_OF_MEMORY);
                h->unwatched = true; /* the list changed: look again */
                break;
            }
        }
    }
}

int agent_http_init(struct agent_http *h, uv_loop_t *loop)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    h->multi = curl_multi_init();
    if (h->multi == NULL)
        return -ENOMEM;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    return 0;
}

static void setup_easy(CURL *e, const char *url, long connect_ms, long timeout_ms, bool follow)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "cratecast/0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 5000L);
    if (timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
}

int agent_http_get(struct agent_http *h, const struct agent_http_request *req, agent_http_cb cb,
                   void *ud)
{
    if (req->url == NULL || cb == NULL)
        return -EINVAL;
    struct http_xfer *x = cc_calloc(1, sizeof *x);
    if (x == NULL)
        return -ENOMEM;
    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return -ENOMEM;
    }
    x->cb = cb;
    x->ud = ud;
    x->max_body = req->max_body ? req->max_body : (16u << 20);
    x->max_wire = x->max_body;
    if (req->mesh_key != NULL) {
        x->opener = cc_malloc(sizeof *x->opener);
        if (x->opener == NULL) {
            curl_easy_cleanup(x->easy);
            free(x);
            return -ENOMEM;
        }
        proto_mesh_open_init(x->opener, req->mesh_key);
        x->max_wire = proto_mesh_sealed_size(x->max_body);
    }
    x->discard_body = req->discard_body;
    x->sink = req->sink;
    x->sink_ud = req->sink_ud;
    x->progress_ms = req->progress_ms;
    x->loop = h->loop;
    CURL *e = x->easy;
    setup_easy(e, req->url, req->connect_timeout_ms, req->timeout_ms, req->follow_redirects != 0);
    if (req->low_speed_secs > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
                         req->low_speed_bytes > 0 ? req->low_speed_bytes : 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, req->low_speed_secs);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    char hdr[400];
    if (req->if_none_match && req->if_none_match[0]) {
        snprintf(hdr, sizeof hdr, "If-None-Match: %s", req->if_none_match);
        x->headers = curl_slist_append(x->headers, hdr);
    }
    if (req->if_modified_since && req->if_modified_since[0]) {
        snprintf(hdr, sizeof hdr, "If-Modified-Since: %s", req->if_modified_since);
        x->headers = curl_slist_append(x->headers, hdr);
    }
    if (req->mesh_header && req->mesh_header[0]) {
        snprintf(hdr, sizeof hdr, "X-Cratecast-Mesh: %s", req->mesh_header);
        struct curl_slist *l = curl_slist_append(x->headers, hdr);
        if (l == NULL) { /* never send a mesh request without its proof */
            curl_easy_cleanup(e);
            curl_slist_free_all(x->headers);
            free(x->opener);
            free(x);
            return -ENOMEM;
        }
        x->headers = l;
    }
    if (x->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        curl_slist_free_all(x->headers);
        free(x->opener);
        free(x);
        return -ENOMEM;
    }
    h->in_flight++;
    x->next = h->xfers;
    if (x->next)
        x->next->prev = x;
    h->xfers = x;
    return 0;
}

static void timer_closed(uv_handle_t *hd)
{
    (void)hd;
}

void agent_http_close(struct agent_http *h)
{
    if (h->multi == NULL)
        return;
    while (h->xfers) {
        struct http_xfer *x = h->xfers;
        h->xfers = x->next;
        curl_multi_remove_handle(h->multi, x->easy);
        xfer_free(x);
    }
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    uv_close((uv_handle_t *)&h->timer, timer_closed);
}

int agent_http_get_sync(const char *url, long timeout_ms, struct agent_http_response *res)
{
    memset(res, 0, sizeof *res);
    struct http_xfer x;
    memset(&x, 0, sizeof x);
    x.max_body = 64u << 20;
    x.max_wire = x.max_body;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return -ENOMEM;
    setup_easy(e, url, timeout_ms, timeout_ms, false);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x.errbuf);
    CURLcode rc = curl_easy_perform(e);
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x.res.status);
    else if (x.res.error == 0)
        x.res.error = curl_to_errno(rc);
    curl_easy_cleanup(e);
    *res = x.res;
    res->error_text = NULL;
    return res->error;
}

void agent_http_response_free(struct agent_http_response *res)
{
    free(res->body);
    res->body = NULL;
    res->len = 0;
}

const char *agent_http_failure(const struct agent_http_response *res, char *out, size_t outsz)
{
    if (res->error)
        snprintf(out, outsz, "%s", res->error_text ? res->error_text : strerror(-res->error));
    else
        snprintf(out, outsz, "HTTP %ld", res->status);
    return out;
}
