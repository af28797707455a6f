/* agent/news.h — news: the signed long poll that tells peers at once what
 * changed here (a new store sequence, crates being fetched, peers known,
 * upload load), and the poll this agent keeps at each live peer (news.c).
 *
 * Ownership: the part's state is allocated zeroed by agent_news_new and owned
 * by news.c; parked polls (requests waiting for a change) live in news.c and
 * are answered at the latest at their deadline; agent_news_close answers none
 * of them (their connections die with the process) and stops the timers (safe
 * when init never ran). Loop thread only.
 */
#ifndef CRATECAST_AGENT_NEWS_H
#define CRATECAST_AGENT_NEWS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/sha256.h"

struct agent;
struct agent_news;
struct agent_peer;
struct proto_route;
struct st_h2o_req_t;

struct agent_news *agent_news_new(void);
void agent_news_init(struct agent *a);
void agent_news_close(struct agent *a);
/* Something peers act on changed: parked polls are answered (coalesced). */
void agent_news_changed(struct agent *a);
/* The store's sequence is seq now: when peers have not been told of it (by
 * this agent's own change, or an earlier call), the news moves. For changes
 * this agent made and for those another process made (`bundle import`,
 * `import-cargo` beside it), which the 1-second tick notices. */
void agent_news_store_moved(struct agent *a, uint64_t seq);
/* GET /peer/1/news on the peer side. */
void agent_news_serve(struct agent *a, struct st_h2o_req_t *req, const struct proto_route *r);
/* A crate transfer to this store started (on) or ended (off). */
void agent_news_fetching(struct agent *a, const uint8_t sha[PROTO_SHA256_LEN], bool on);
/* Keep one news poll in flight to a live peer that offers it. */
void agent_news_poll(struct agent_peer *p);
/* The peer said it is fetching this crate now. */
bool agent_peer_fetching(const struct agent_peer *p, const uint8_t sha[PROTO_SHA256_LEN]);

#endif
