/* agent_client.h - talk to every host's meridian-agent over its HTTP API
 * (agent/api.h), all hosts at once.
 *
 * A small function table, like the transport's: the libcurl backend sends
 * every request from one thread through the curl multi interface, so asking
 * six agents costs about one round trip, not six; tests swap the table for
 * canned answers.  Requests go only to the hosts' addresses from the
 * topology (never through a proxy, never following a redirect).
 *
 * The agent token ("Authorization: Bearer ...") is read from the state dir,
 * handed to libcurl in a header and wiped afterwards; it is never printed,
 * logged or put in an error message.
 *
 * When the topology has tls.enabled, every request of every backend goes
 * to https:// and verifies the agent's certificate against the
 * deployment's CA alone (not the system's) and the host's address from the
 * topology (the certificate's IP subjectAltName); a failure is that
 * agent's error ("agent on euw-b1 (127.0.2.2:17379): TLS: certificate
 * verify failed: unable to get local issuer certificate"), never a retry
 * over http://. */
#ifndef MRD_AGENT_CLIENT_H
#define MRD_AGENT_CLIENT_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"
#include "orch.h"

/* Per-request deadlines (whole request, connection included). */
#define AGENT_HEAL_TIMEOUT_MS 120000  /* a heal pass may fetch a snapshot */
#define AGENT_HEALTH_TIMEOUT_MS 1000  /* health must keep `status` fast */
/* A restart fetches a snapshot and waits for the node to catch up (the
 * agent's HEAL_SYNC_TIMEOUT_MS, 120 s), after waiting for the heal lock. */
#define AGENT_RESTART_TIMEOUT_MS 150000
#define AGENT_CONNECT_TIMEOUT_MS 1000 /* TCP connect, both calls */
/* A larger answer is refused: no agent report comes near it. */
#define AGENT_MAX_BODY (4 * 1024 * 1024)

/* Where one agent listens (all borrowed). */
typedef struct agent_target {
    const char *host;    /* "euw-b1", for messages */
    const char *address; /* "127.0.2.2", the host's address from the topology */
    int port;            /* topology agent.port */
} agent_target;

/* What one agent answered. */
typedef struct agent_result {
    bool skipped;    /* not asked: the host runs nothing in the plan (an
                        idle spare, or a host a spare replaced) */
    int http_status; /* 0 when no HTTP answer came */
    json_t *body;    /* the parsed body (new reference), NULL when none or
                        not JSON */
    char error[320]; /* "" when the agent answered with a JSON body; else a
                        sentence: "agent on euw-b1 (127.0.2.2:17379) is not
                        answering: Connection refused" */
} agent_result;

/* Deadlines of one batch of calls; tests shrink them. */
typedef struct agent_timeouts {
    int request_ms;
    int connect_ms;
} agent_timeouts;

typedef struct agent_client_ops {
    const char *name;
    /* POST /v1/heal with body {} and TOKEN on each of the N targets,
     * concurrently; out[i] answers targets[i].  Every out[i] is filled
     * (an unreachable agent is a finding, not a failure); fails only when
     * the client itself cannot work (OOM, libcurl init). */
    mrd_rc (*heal_all)(const agent_target *targets, int n, const char *token,
                       const agent_timeouts *to, agent_result *out, mrd_error *err);
    /* GET /v1/health (no token) on each target, concurrently; as above. */
    mrd_rc (*health_all)(const agent_target *targets, int n, const agent_timeouts *to,
                         agent_result *out, mrd_error *err);
    /* POST PATH (a /v1/restart path with its query) with body {} and TOKEN
     * on one target; *out as heal_all fills it.  Optional: NULL in a table
     * that cannot restart (agent_restart_proc() says so). */
    mrd_rc (*restart)(const agent_target *t, const char *path, const char *token,
                      const agent_timeouts *to, agent_result *out, mrd_error *err);
} agent_client_ops;

/* TLS to the agents, for the whole process: CA_FILE (copied) is the CA
 * every agent's certificate must chain to; NULL goes back to plain
 * http://.  Not thread-safe: set it before the first request (the
 * orchestrator does at start-up, agent_client_set_tls_for()) and not
 * while requests run.  The file is read by each batch of requests: a
 * batch fails (MRD_ERR_NOT_FOUND or MRD_ERR_IO naming it) when it cannot
 * be read.  MRD_ERR_INVALID for an empty path or one of MRD_PATH_MAX
 * bytes or more. */
mrd_rc agent_client_set_tls(const char *ca_file, mrd_error *err);

/* agent_client_set_tls() as C's topology says: C->secrets_dir's
 * CA (certs.h: mrd_tls_ca_file()) when tls.enabled is true, else NULL. */
mrd_rc agent_client_set_tls_for(const orch_ctx *c, mrd_error *err);

/* "https" once agent_client_set_tls() has set a CA, else "http" (static):
 * for messages that name an agent's URL. */
const char *agent_client_scheme(void);

/* The libcurl backend (static, borrowed): libcurl is opened on first use. */
const agent_client_ops *agent_client_curl(void);

/* What commands use: heal through libcurl, health through an HTTP/1.0 GET
 * in one poll() loop (IPv4; over OpenSSL when TLS is on), so `meridian
 * status` never loads libcurl: with libcurl it measured 1.65x the time and
 * 2.57x the peak RSS (10.9 MB; see "GET /v1/health without libcurl" in
 * agent_client.c). */
const agent_client_ops *agent_client_default(void);

/* Call every host of C's topology that runs something in its plan:
 * results[i] answers topology host i (skipped for a host that runs
 * nothing, as orch_host_used() says).  OPS NULL means
 * agent_client_default().  *out is a new array of c->topo->nhosts
 * results; agent_results_free() it.  agent_heal_all()
 * reads the token with orch_secret(c, "agent.token") and fails (UNKNOWN to
 * the caller) when it cannot. */
mrd_rc agent_heal_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                      mrd_error *err);
mrd_rc agent_health_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                        mrd_error *err);

/* POST PATH (with its query, e.g. "/v1/hold?port=16379&ttl_ms=0") and the
 * agent token to host HOST's agent through libcurl, within TIMEOUT_MS:
 * what an operation asks of one agent.  *OUT as one agent_result (release
 * its body with json_decref()); fails only when the token cannot be read
 * or the client cannot work, an unreachable agent is OUT->error. */
mrd_rc agent_post(const orch_ctx *c, int host, const char *path, int timeout_ms,
                  agent_result *out, mrd_error *err);
/* One step of a rolling restart: POST /v1/restart?port=PORT (PORT > 0: the
 * store node on that port) or ?sentinel=1 (PORT 0) on the agent of
 * topology host HOST, with the token from the state dir.  *out gets the
 * agent's answer (out->body new: agent_result_clear() it):
 *   200 {"process","restarted":true,"ms","partial_resync":true|false|null,
 *        "detail","events":[...]}
 *   409 the node is its shard's leader ("... switch it over first"), or
 *       the host is fenced; 503 not now (no agreed master, a failover,
 *       another pass holds the heal lock past 10 s); 404 no such process;
 *   500 {"restarted": false, "detail": why} (the heal pass restores a
 *       node left down);
 * or, with no JSON answer, out->error says why.  Fails (MRD_ERR_INVALID)
 * for a host out of range or a port out of 0..65535, when the token
 * cannot be read, or when the client itself cannot work.  OPS NULL means
 * agent_client_default(). */
mrd_rc agent_restart_proc(const orch_ctx *c, const agent_client_ops *ops, int host, int port,
                          agent_result *out, mrd_error *err);

/* Release OUT's body and clear it.  Accepts NULL. */
void agent_result_clear(agent_result *out);

/* Release each result's body, free the array, NULL *r.  Accepts NULL. */
void agent_results_free(agent_result **r, int n);

#endif
