/* api.h - the agent's HTTP API (libmicrohttpd), on the host's address and
 * the topology's agent port: HTTPS only when the topology says
 * tls.enabled (api_start_tls()), plain HTTP otherwise.
 *
 *   GET  /v1/health  200 when every node of the host is ready, else 503;
 *                    no token (load balancers call it)
 *   GET  /v1/nodes   role, link, lag, pid, data dir state of each node
 *   POST /v1/heal    run one check-and-heal pass; its report
 *   GET  /metrics    Prometheus text exposition (token unless metrics_open)
 *   GET  /v1/fence   the deployment's generation and replacements as this
 *                    agent's manifest has them (fence.h)
 *   POST /v1/hold    ?port=P&ttl_ms=N: hold node P at replica-priority 0
 *                    for N ms, 0 lifts it (hold.h; a switchover's)
 *   POST /v1/restart?port=P | ?sentinel=1
 *                    restart one process with its manifest's settings,
 *                    keeping its data (heal.h: heal_restart())
 *   POST /v1/seed?port=P[&force=1]
 *                    a restore: node P starts as its shard's leader with
 *                    the RDB put at ROOT/restore/P.rdb (heal.h: heal_seed())
 *
 * Protected endpoints need "Authorization: Bearer <token>", compared in
 * constant time.  Every refusal is JSON {"error": "..."}; the statuses and
 * their causes are listed at api_request_check_head() and
 * api_request_parse_head() (400, 401, 404, 405, 411, 414, 431, 505), plus
 * 408 (the request head did not arrive within API_HEAD_DEADLINE_MS) and 503
 * (no room: see the limits below).  Every answer closes its connection.
 *
 * Two stages (api_gate.h, api.c):
 *   1. the front door accepts connections and waits, with a deadline,
 *      until a connection's whole request head has arrived, reading it
 *      without consuming it; it answers every refusal itself and keeps
 *      slow clients away from the server;
 *   2. libmicrohttpd gets the connections whose head was accepted, reads
 *      the head again and the body, one thread per connection, so a long
 *      POST /v1/heal never delays /v1/health.
 * The heal loop never waits for the API (handlers take the agent's own
 * locks).  The API knows nothing of healing: it calls the handlers below,
 * which the agent implements.
 *
 * With TLS the front door cannot read the encrypted head: it waits for the
 * client's ClientHello under the same deadline and rules, answers nothing
 * (a plain HTTP request is closed without a byte: never served, never
 * answered in plain text), and the classes below are applied once
 * libmicrohttpd has decrypted the head, with the same JSON refusals over
 * TLS.  A connection must then finish its handshake and send its head
 * within a second head_deadline_ms, counted from when libmicrohttpd took
 * it over (else it is closed, without an answer).  At most
 * connection_limit connections may be at that stage at once, besides the
 * requests being answered; past that, the oldest of them is closed to
 * make room for a new one (see api.c). */
#ifndef MRD_API_H
#define MRD_API_H

#include <stdbool.h>

#include <jansson.h>

#include "api_request.h"
#include "err.h"

/* ==== LIMITS ====
 * The defaults; api_start_limits() takes others (tests shrink them).
 *
 * Slow clients: a connection whose request head has not fully arrived is
 * "pending" and costs a socket only (no thread).  Its head must arrive
 * within API_HEAD_DEADLINE_MS of the accept, whatever it sends meanwhile,
 * else 408.  A new connection whose head is already there is read at
 * once.  Otherwise it takes a slot; to make room, a pending connection is
 * closed (503): when the new one's source address has
 * API_PENDING_PER_CLIENT pending, that address's oldest that has had its
 * chance (it sent part of its head, or is API_HEAD_GRACE_MS old); when
 * API_PENDING_MAX are pending, the one nearest its deadline, among those
 * that had their chance if any.  So a request whose head comes whole right
 * after the connect (as every client sends it) is read at once, however
 * many slow connections are open, from however many addresses, its own
 * included.
 *
 * Capacity: at most API_CONNECTION_LIMIT requests are being answered at
 * once (one thread each).  The last API_RESERVE_HEALTH of them are kept
 * for GET /v1/health, the API_RESERVE_TOKEN before those for requests
 * with the token (the orchestrator); a request that finds no room gets
 * 503 with Retry-After: 1. */
#define API_HEAD_DEADLINE_MS 3000 /* the whole request head, from accept */
#define API_PENDING_MAX 256       /* connections whose head is still arriving */
#define API_PENDING_PER_CLIENT 8  /* of those, from one source address */
#define API_HEAD_GRACE_MS 250     /* a new connection's time to start its head */
#define API_CONNECTION_LIMIT 64   /* requests being answered at once */
#define API_RESERVE_HEALTH 8      /* of those, kept for GET /v1/health */
#define API_RESERVE_TOKEN 8       /* and kept for requests with the token */
#define API_HEAD_MAX_PIECES 32    /* reads that brought new head bytes; over: 400 */
#define API_LINGER_MS 1000        /* after a refusal, input is drained this long */
#define API_IDLE_TIMEOUT_S 10     /* after the head: silence that closes a connection, seconds */

typedef struct api_limits {
    int head_deadline_ms;   /* API_HEAD_DEADLINE_MS */
    int pending_max;        /* API_PENDING_MAX */
    int pending_per_client; /* API_PENDING_PER_CLIENT */
    int head_grace_ms;      /* API_HEAD_GRACE_MS */
    int connection_limit;   /* API_CONNECTION_LIMIT */
    int reserve_health;     /* API_RESERVE_HEALTH */
    int reserve_token;      /* API_RESERVE_TOKEN */
    int head_max_pieces;    /* API_HEAD_MAX_PIECES */
    int linger_ms;          /* API_LINGER_MS */
} api_limits;

/* Fill *L with the defaults above. */
void api_limits_default(api_limits *l);

/* What the front door did since the server started.  With TLS, admitted
 * counts the connections handed over after their ClientHello, and what
 * is decided after that (refusals of a decrypted head, connections closed
 * past their deadline or to make room) counts in refused, busy, timed_out
 * and evicted too. */
typedef struct api_stats {
    long admitted;  /* requests handed to the HTTP server */
    long refused;   /* answered with an error by the front door, all causes */
    long timed_out; /* of those, 408: the head missed its deadline (with TLS,
                       the ClientHello or the head; closed unanswered) */
    long evicted;   /* of those, 503: pending connections closed for lack of room */
    long busy;      /* of those, 503: no capacity left for its class */
} api_stats;

typedef struct api_handlers {
    void *ctx;
    /* GET /v1/health: new object; *ready decides 200 or 503. */
    json_t *(*health)(void *ctx, bool *ready);
    /* GET /v1/nodes: new object. */
    json_t *(*nodes)(void *ctx);
    /* POST /v1/heal: run a pass; new object; *http_status is 200, or 409
     * when another pass holds the lock and did not finish in time. */
    json_t *(*heal)(void *ctx, int *http_status);
    /* GET /metrics: new NUL-terminated text (malloc). */
    char *(*metrics)(void *ctx);
    /* GET /v1/fence: new object.  Optional: NULL answers 404. */
    json_t *(*fence)(void *ctx);
    /* POST /v1/hold with its query values PORT and TTL_MS (NULL when
     * absent): new object, its status in *http_status.  Optional: NULL
     * answers 404. */
    json_t *(*hold)(void *ctx, const char *port, const char *ttl_ms, int *http_status);
    /* POST /v1/restart: restart the store node on PORT, or the sentinel
     * (PORT 0); new object and *http_status (200, or the refusal's: 404,
     * 409, 500, 503).  Optional: NULL answers 404. */
    json_t *(*restart)(void *ctx, int port, int *http_status);
    /* POST /v1/seed: node PORT starts as its shard's leader with the RDB
     * the orchestrator put for it; FORCE: even if it holds keys.  New
     * object and *http_status (200, or the refusal's: 404, 409, 500, 503).
     * Optional: NULL answers 404. */
    json_t *(*seed)(void *ctx, int port, bool force, int *http_status);
} api_handlers;

typedef struct api_server api_server; /* opaque */

/* Listen on ADDRESS:PORT with the default limits.  TOKEN is copied.  H is
 * copied; H->ctx must outlive the server.  *out is new; api_stop() it.
 * MRD_ERR_INVALID for a bad argument, MRD_ERR_IO when the port cannot be
 * listened on (the message says why), MRD_ERR_NOMEM. */
mrd_rc api_start(const char *address, int port, const char *token, bool metrics_open,
                 const api_handlers *h, api_server **out, mrd_error *err);

/* The same with limits LIM (copied; NULL: the defaults).  MRD_ERR_INVALID
 * when a limit is not positive or the reserves leave no room. */
mrd_rc api_start_limits(const char *address, int port, const char *token, bool metrics_open,
                        const api_handlers *h, const api_limits *lim, api_server **out,
                        mrd_error *err);

/* TLS: the host's certificate and its key, PEM files (certs.h: the
 * secrets folder's MRD_TLS_HOST_CERT and MRD_TLS_HOST_KEY).  Borrowed. */
typedef struct api_tls {
    const char *cert_file; /* the certificate (a chain may follow it) */
    const char *key_file;  /* its private key; not readable by group or others */
} api_tls;

/* api_start_limits(), serving HTTPS only when TLS is not NULL (NULL:
 * plain HTTP).  The files are read before anything listens; the key's
 * bytes are wiped from this process's memory once libmicrohttpd handed
 * them to GnuTLS, and never logged.  Also fails with:
 *   MRD_ERR_STATE      libmicrohttpd was built without TLS; the key is
 *                      readable by group or others (chmod 600);
 *   MRD_ERR_NOT_FOUND  a file is missing (deploy puts them there);
 *   MRD_ERR_INVALID    a file is empty or over 64 KiB;
 *   MRD_ERR_IO         a file cannot be read, or GnuTLS refused the pair
 *                      (the message gives GnuTLS' reason, e.g. a key that
 *                      is not the certificate's).
 * Every message names the file. */
mrd_rc api_start_tls(const char *address, int port, const char *token, bool metrics_open,
                     const api_handlers *h, const api_limits *lim, const api_tls *tls,
                     api_server **out, mrd_error *err);

/* Copy the counters into *OUT (thread-safe). */
void api_get_stats(const api_server *s, api_stats *out);

/* Stop listening, wait for running requests, free, NULL *s.  Accepts NULL. */
void api_stop(api_server **s);

#endif
