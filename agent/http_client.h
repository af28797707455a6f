/* agent/http_client.h — asynchronous HTTP GETs on the agent's libuv loop.
 *
 * libcurl's multi_socket API driven by uv_poll_t (one per socket curl opens)
 * and one uv_timer_t. Bodies are buffered in memory up to a per-request cap.
 *
 * Redirects are not followed unless a request asks (the upstream may use them;
 * a peer or an agent never may: a redirect could point anywhere).
 *
 * Ownership: the client is embedded by its owner and used on the loop thread
 * only. A request's callback is called exactly once (also on failure), after
 * which the response memory is freed: copy what you keep. Requests cannot be
 * cancelled; they end by completion, error or timeout.
 */
#ifndef CRATECAST_AGENT_HTTP_CLIENT_H
#define CRATECAST_AGENT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct agent_http {
    uv_loop_t *loop;
    void *multi; /* CURLM* */
    uv_timer_t timer;
    size_t in_flight;
    struct http_xfer *xfers;
    bool unwatched; /* a transfer's socket could not be watched: check_done ends it */
};

struct agent_http_response {
    int error; /* 0, or -errno-like: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EFBIG, -EIO */
    const char *error_text;
    long status; /* HTTP status when error == 0 */
    uint8_t *body;
    size_t len;
    char etag[256];
    char last_modified[64];
    char source[96]; /* X-Cratecast-Source of an agent's answer, "" when absent */
};

struct agent_http_request {
    const char *url;
    const char *if_none_match;     /* NULL or "" = none */
    const char *if_modified_since; /* NULL or "" = none */
    size_t max_body;               /* larger bodies fail with -EFBIG */
    long connect_timeout_ms;
    long timeout_ms;       /* whole transfer; 0 = none */
    long low_speed_secs;   /* abort when below low_speed_bytes/s for this long; 0 = off */
    long low_speed_bytes;  /* the minimum rate in bytes/s (0 = 1) */
    int follow_redirects;  /* only for the upstream: a peer's redirect is never followed */
    uint64_t *progress_ms; /* when set, the loop time of each body byte's arrival is stored */
    int discard_body;      /* count the body's bytes in res->len but keep none */
    /* When set, the body goes to sink as it arrives (nothing is buffered; res->len
     * counts it, max_body still caps it). A negative return aborts the transfer
     * and becomes res->error. Only for a 200 answer: other bodies are dropped. */
    int (*sink)(void *sink_ud, const uint8_t *buf, size_t len);
    void *sink_ud;
    /* A private mesh's request (proto/mesh.h): mesh_header is sent as
     * X-Cratecast-Mesh, and a 200 body is a stream sealed with mesh_key (32
     * bytes): it is opened as it arrives, the caller and the sink see only the
     * plaintext (max_body caps it), and a body that does not open, or ends
     * before its final chunk, fails the request with -EBADMSG. Both copied. */
    const char *mesh_header;
    const uint8_t *mesh_key;
};

/* The callback may take ownership of res->body by setting it to NULL. */
typedef void (*agent_http_cb)(void *ud, struct agent_http_response *res);

int agent_http_init(struct agent_http *h, uv_loop_t *loop);
/* Starts the request. 0, or -ENOMEM/-EINVAL (then cb is never called). */
int agent_http_get(struct agent_http *h, const struct agent_http_request *req, agent_http_cb cb,
                   void *ud);
void agent_http_close(struct agent_http *h); /* aborts requests in flight without callbacks */

/* Why a transfer did not give a 200, in words: the transport error's text
 * ("Connection refused", "Timeout was reached", ...) or "HTTP <status>".
 * Written to out (always NUL-terminated); returns out. */
const char *agent_http_failure(const struct agent_http_response *res, char *out, size_t outsz);

/* Blocking one-shot GET for the command-line tools (status). Body malloc'd. */
int agent_http_get_sync(const char *url, long timeout_ms, struct agent_http_response *res);
void agent_http_response_free(struct agent_http_response *res);

#endif
