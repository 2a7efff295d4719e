/* fence.h - a host replaced by a spare never starts its nodes again.
 *
 * When a host is lost for good, the orchestrator makes a spare stand in for
 * it and records the replacement in every manifest it writes: the
 * deployment's "generation" goes up by one and "replaced" names the lost
 * host and its spare (manifest.h).  The lost host's own manifest is the
 * old one, so when that host comes back its agent must learn the news from
 * elsewhere before it starts anything: with an old role, its nodes would
 * rejoin as a second copy of the spare's.
 *
 * The agent's fence check, at start (before any process is started) and
 * before every heal pass, gathers views of the deployment's generation:
 *   - its own manifest;
 *   - ROOT/fenced.json, the marker a fenced agent leaves behind, so that a
 *     restart stays fenced with every peer unreachable;
 *   - GET /v1/fence of every other host of the manifest that runs
 *     something (a node or a sentinel), all asked at once, each within
 *     FENCE_PEER_TIMEOUT_MS.  A peer that does not answer is skipped:
 *     no answer never fences anyone (fail open).
 * It decides with fence_decide() (pure) and, when the host is fenced,
 * stops every process of the host by pid (SIGTERM, SIGKILL after
 * FENCE_STOP_GRACE_MS; data folders stay where they are), writes the
 * marker, emits +replaced once, and from then on starts and heals nothing.
 * The agent keeps serving its API: /v1/health answers 503 with
 * {"status": "retired", "replaced_by", "generation", ...}.  The marker is
 * dropped only when a manifest of a higher generation that does not list
 * the host as replaced is installed (the host is used again).
 *
 * GET /v1/fence answers fence_view_json() of the agent's manifest:
 *   {"topology": T, "host": H, "generation": N, "replaced": [{"host",
 *    "by", "generation"}]}. */
#ifndef MRD_FENCE_H
#define MRD_FENCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "events.h"
#include "manifest.h"
#include "supervise.h"

/* Each peer's GET /v1/fence, connect and answer (all asked at once). */
#define FENCE_PEER_TIMEOUT_MS 300
/* A fenced host's processes: SIGTERM, then SIGKILL after this. */
#define FENCE_STOP_GRACE_MS 5000
/* How long fencing waits for a running heal pass (ROOT/heal.lock). */
#define FENCE_LOCK_WAIT_MS 10000
/* The marker, in the host root. */
#define FENCE_MARKER "fenced.json"
/* The largest /v1/fence answer read. */
#define FENCE_MAX_ANSWER 65536

/* ==== pure ==== */

/* One view of the deployment's replacements: the own manifest's, or a
 * peer's /v1/fence answer. */
typedef struct fence_view {
    char host[MRD_MF_NAME]; /* who says so (the manifest's host) */
    int generation;
    mrd_mf_replaced replaced[MRD_MF_MAX_HOSTS];
    int nreplaced;
} fence_view;

/* What ROOT/fenced.json says. */
typedef struct fence_marker {
    int generation; /* of the replacement that fenced the host */
    char by[MRD_MF_NAME];
} fence_marker;

/* The verdict of fence_decide(). */
typedef struct fence_verdict {
    bool fenced;
    char by[MRD_MF_NAME];   /* the spare standing in for this host */
    int generation;         /* the replacement's generation */
    char source[MRD_MF_NAME + 8]; /* who said so: "manifest", "marker", or
                                     the peer's host name */
    bool drop_marker;       /* a marker exists that the own manifest
                               supersedes (higher generation, this host
                               not replaced in it): remove it */
} fence_verdict;

/* Pure: is host SELF fenced?  OWN is its own manifest's view, MARKER the
 * marker (NULL: none), PEERS the N views of the peers that answered.
 *   - OWN lists SELF as replaced: fenced ("manifest");
 *   - a marker whose generation is at least OWN's: fenced ("marker"); a
 *     marker below OWN's generation, with OWN not listing SELF, is
 *     superseded: drop_marker, and not fenced by it;
 *   - a peer whose generation is above OWN's and that lists SELF as
 *     replaced: fenced (the peer's host).  A peer at OWN's generation or
 *     below is ignored, whatever it lists.
 * Among several sources, the replacement of the highest generation wins
 * (by and generation are its).  Returns OUT->fenced. */
bool fence_decide(const char *self, const fence_view *own, const fence_marker *marker,
                  const fence_view *peers, int n, fence_verdict *out);

/* Pure: the view in the manifest M. */
void fence_view_of(const mrd_manifest *m, fence_view *out);

/* Pure: parse a /v1/fence answer (LEN bytes) into OUT.  MRD_ERR_PARSE
 * (not JSON), MRD_ERR_INVALID (a field missing or of the wrong type, a
 * generation below 1, more than MRD_MF_MAX_HOSTS replacements, or the
 * answer of another deployment: "topology" is not TOPOLOGY). */
mrd_rc fence_view_parse(const char *text, size_t len, const char *topology,
                        fence_view *out, mrd_error *err);

/* The /v1/fence answer for manifest M (new). */
json_t *fence_view_json(const mrd_manifest *m);

/* Pure: parse the marker's text.  MRD_ERR_PARSE, MRD_ERR_INVALID. */
mrd_rc fence_marker_parse(const char *text, size_t len, fence_marker *out, mrd_error *err);

/* The sentence for a fenced host: "this host was replaced by use-b9 at
 * generation 2: its nodes stay stopped" (into BUF, N bytes). */
void fence_sentence(const fence_verdict *v, char *buf, size_t n);

/* ==== with I/O ==== */

/* Ask GET /v1/fence of every host of M that runs something, except M's
 * own host and the hosts M lists as replaced, all at once, each within
 * TIMEOUT_MS, with TOKEN, leaving from M's own address.  With M's
 * tls.enabled, over https:// only, each peer's certificate verified
 * against M's secrets folder's CA (certs.h: mrd_tls_ca_file()) and the
 * peer's address; a peer that fails it counts as one that did not answer.
 * The views of those that answered 200 with a valid answer go to OUT (at
 * most MAX); returns how many. */
int fence_ask_peers(const mrd_manifest *m, const char *token, int timeout_ms,
                    fence_view *out, int max);

/* The agent's fence state: thread-safe (the API threads read it). */
typedef struct fence fence;

/* New fence state for host H (borrowed; must outlive it), reading the API
 * token from H's secrets.  NULL when out of memory (ERR says so). */
fence *fence_new(sv_host *h, mrd_error *err);

/* Free and NULL *f.  Accepts NULL. */
void fence_free(fence **f);

/* Run the fence check: the manifest, the marker and (ASK_PEERS) the peers.
 * When the host is found fenced and ACT: stop every process of the host
 * (under ROOT/heal.lock), write the marker, emit +replaced (now if an
 * events sink is attached, else when one is).  A fenced state is final
 * for the process.  Drops a superseded marker.  Returns whether the host
 * is fenced.  Serialised: concurrent calls wait for each other. */
bool fence_check(fence *f, bool ask_peers, bool act);

/* Attach the events sink EV (borrowed; may be NULL) and emit a pending
 * +replaced.  Accepts F NULL (nothing). */
void fence_attach_events(fence *f, events *ev);

/* Is the host fenced (as of the last check)?  *OUT (may be NULL) gets the
 * verdict. */
bool fence_is(fence *f, fence_verdict *out);

/* /v1/health for a fenced host: HEALTH (heal_health()'s object, stolen)
 * with "status": "retired", "replaced_by", "generation" and "detail"
 * added and every "ready" false; *READY false.  When the host is not
 * fenced, HEALTH is returned as it is. */
json_t *fence_health(fence *f, json_t *health, bool *ready);

/* The report of a pass on a fenced host (new): {"host","code":0,
 * "status":"retired","summary","replaced_by","generation","actions":[],
 * "nodes":[],"leftovers":[]}; NULL when the host is not fenced. */
json_t *fence_report(fence *f);

#endif
