/* drill_load.h - the load a drill puts on the store, the sentinels'
 * timeline recorded meanwhile, and the read-back that counts lost writes.
 *
 *   writer    one thread that behaves like a Sentinel-aware application:
 *             it asks the sentinels for the leader, writes
 *             "SET <prefix>:<seq> <seq>" at a fixed rate, runs WAIT after
 *             each SET, follows +switch-master, and records a drill_write
 *             for every attempt.  With a source address it is instead the
 *             in-partition probe writer, pinned to one node.
 *   timeline  one listener thread per sentinel, PSUBSCRIBE "*", recording
 *             every message as a drill_event.
 *   verify    after the drill: every key the writer wrote, read back from
 *             the leader.
 *
 * Times (drill_write.t_ms, drill_event.t_ms) are milliseconds since the
 * T0_MS the caller passes, a reading of mrd_now_ms() (CLOCK_MONOTONIC)
 * taken at the drill's start, so writer, timeline and the drill's own
 * markers share one clock.
 *
 * Passwords are copied into the handles, never logged, and wiped on free.
 * Every string in the option structs is copied by *_start(): the caller
 * may free them as soon as it returns.
 *
 * Lifecycle of both handles:
 *
 *     drill_load *w;
 *     drill_load_start(&opts, &w, &err);   // threads run from here
 *     ...                                  // drill_load_progress(w, &p)
 *     drill_load_stop(w);                  // threads joined; record kept
 *     drill_load_writes(w, &writes, &n);   // a copy: free(writes)
 *     drill_load_free(&w);
 *
 * Threads are stopped within about 0.5 s (the longest blocking step is a
 * connect or a command timeout, see the opts). */
#ifndef MRD_DRILL_LOAD_H
#define MRD_DRILL_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drill.h"
#include "err.h"

/* A server the load talks to and the number the record keeps for it: the
 * plan's node index for a store node (drill_write.leader), its host index
 * for a sentinel (drill_event.sentinel). */
typedef struct drill_target {
    const char *address;
    int port;
    int index;
} drill_target;

/* Defaults used when the corresponding option is 0. */
#define DRILL_LOAD_CONNECT_TIMEOUT_MS 300  /* sentinel connect + command */
#define DRILL_LOAD_COMMAND_TIMEOUT_MS 1000 /* leader connect + SET/WAIT */
#define DRILL_LOAD_RETRY_MS 100            /* pause before a listener reconnects */
#define DRILL_LOAD_VERIFY_BATCH 500        /* keys read back per round trip */

/* ==== pure helpers (no I/O; unit-tested) ==== */

/* The index of the target at ADDRESS:PORT among T[0..N), -1 when none. */
int drill_load_index_of(const drill_target *t, int n, const char *address, int port);

/* Pacing without catch-up bursts: the write due at DUE_NS was just made
 * and the clock reads NOW_NS; the next one is due one PERIOD_NS later, or
 * at once (NOW_NS) when that slot has already passed.  A writer that fell
 * behind (a stalled command) therefore resumes at its rate instead of
 * firing the missed writes back to back. */
int64_t drill_load_pace_next(int64_t due_ns, int64_t now_ns, int64_t period_ns);

/* Parse a +switch-master payload "<master> <old-ip> <old-port> <new-ip>
 * <new-port>": true, with the new leader in IP (N bytes) and *PORT, when it
 * is about MASTER. */
bool drill_load_parse_switch(const char *payload, const char *master, char *ip, size_t n,
                             int *port);

/* ==== writer ==== */

typedef struct drill_load_opts {
    int64_t t0_ms;             /* the drill's start (mrd_now_ms()) */
    const char *master;        /* master name the sentinels monitor (the
                                  topology's name) */
    const drill_target *sentinels; /* where to ask for the leader and listen
                                      for +switch-master */
    int nsentinels;
    const drill_target *nodes; /* every store node: maps a leader's address
                                  to its host index */
    int nnodes;
    const char *user;          /* "app": on the nodes and on the sentinels */
    const char *pass;
    const char *prefix;        /* keys are "<prefix>:<seq>" */
    int64_t first_seq;         /* first sequence number (0: 1) */
    int rate;                  /* write attempts per second, >= 1 */
    int wait_replicas;         /* WAIT <wait_replicas> after each SET; 0: an
                                  OK from SET counts as acknowledged */
    int wait_timeout_ms;       /* WAIT's timeout (0: 1000) */
    int connect_timeout_ms;    /* sentinel connections (0: 300) */
    int command_timeout_ms;    /* leader connection, connect and every
                                  command (0: 1000; raised to
                                  wait_timeout_ms + 500 so WAIT fits) */
    /* The isolated probe writer: SOURCE_ADDRESS not NULL binds its
     * connection there (e.g. 127.0.R.250 inside a partitioned region) and
     * pins it to FIXED_ADDRESS:FIXED_PORT (the old leader): it never asks
     * the sentinels, reconnects to the same node after an error, and marks
     * its writes isolated=1.  Give it its own PREFIX (or FIRST_SEQ range)
     * so its keys never collide with the main writer's. */
    const char *source_address;
    const char *fixed_address;
    int fixed_port;
} drill_load_opts;

typedef struct drill_load drill_load; /* opaque */

/* What each drill_write holds: t_ms when its SET went out (when the
 * attempt began, for one that failed before), done_ms when the attempt
 * ended (WAIT's answer for an acknowledged one), seq, state, isolated, and
 * leader = the host it was sent to, or meant for when the connection
 * failed (-1 when no sentinel named a leader).
 *
 * How the main writer moves: every attempt first takes a +switch-master
 * heard by a listener (the new leader, at once); without a connection it
 * asks the sentinels (SENTINEL GET-MASTER-ADDR-BY-NAME, starting with the
 * last one that answered) and connects; any error (refused, READONLY,
 * NOREPLICAS, a timeout) drops the connection and the address, so the
 * next attempt asks again.  Attempts are never retried: each tick is one
 * sequence number.  A leader that stops answering without closing (a
 * partition) stalls one attempt for up to command_timeout_ms.
 *
 * The isolated writer waits up to wait_timeout_ms in each WAIT once its
 * node's replicas are cut off, so its rate falls to about
 * 1000 / wait_timeout_ms writes per second then; give it wait_replicas 0
 * if its rate matters more than its acknowledgements.
 *
 * Start the writer (and, unless isolated, one +switch-master listener
 * thread per sentinel).  Returns once every listener has made its first
 * subscription attempt (at most about connect_timeout_ms), so a fault
 * applied afterwards is followed.  The first write is attempted at once.
 * Errors: MRD_ERR_INVALID (missing master/sentinels/prefix, rate < 1,
 * isolated without a fixed node), MRD_ERR_NOMEM, MRD_ERR_PROCESS (thread
 * creation).  Unreachable servers are not errors: they become ERROR
 * writes.  *out is new; drill_load_free() it. */
mrd_rc drill_load_start(const drill_load_opts *o, drill_load **out, mrd_error *err);

/* Stop and join the threads; the record stays readable.  Idempotent. */
void drill_load_stop(drill_load *l);

/* Stop if needed, free, NULL *l.  Accepts NULL. */
void drill_load_free(drill_load **l);

/* A copy of every write attempted so far, in order (t_ms and seq
 * increasing).  Safe while the writer runs.  *out is new (caller free()s;
 * NULL when *n is 0). */
mrd_rc drill_load_writes(drill_load *l, drill_write **out, int64_t *n, mrd_error *err);

/* Counters, for progress lines and for waiting until the load is flowing. */
typedef struct drill_load_progress {
    int64_t attempted;
    int64_t acked;       /* DRILL_W_ACKED */
    int64_t written;     /* DRILL_W_WRITTEN */
    int64_t errors;      /* DRILL_W_ERROR */
    int64_t last_acked_ms; /* t_ms of the latest acknowledged write, -1 none */
    int leader;          /* host of the latest acknowledged write, -1 none */
} drill_load_progress;

void drill_load_get_progress(drill_load *l, drill_load_progress *p);

/* ==== timeline ==== */

typedef struct drill_timeline_opts {
    int64_t t0_ms;                 /* the drill's start (mrd_now_ms()) */
    const drill_target *sentinels; /* host = drill_event.sentinel */
    int nsentinels;
    const char *user;              /* "admin" on the sentinels */
    const char *pass;
    const char *pattern;           /* NULL: "*" (every event channel) */
    int connect_timeout_ms;        /* 0: 300 */
    int retry_ms;                  /* pause before reconnecting (0: 100) */
} drill_timeline_opts;

typedef struct drill_timeline drill_timeline; /* opaque */

/* Start one listener thread per sentinel.  Each connects, PSUBSCRIBEs and
 * records every message as a drill_event {t_ms on arrival, the sentinel's
 * host, name = channel ("+sdown", "+switch-master", ...), detail =
 * payload, both truncated to fit}.  A listener whose sentinel goes away
 * reconnects every retry_ms, so events after a restore are recorded too.
 * A sentinel that falls silent (1 s without traffic) is sent a PING; no
 * answer within 1 s more (a partition dropping its packets, a stopped
 * process) counts as gone, so it is reconnected as soon as its traffic
 * passes again: what it published meanwhile is not recorded.  Returns
 * once every listener has made its first attempt;
 * drill_timeline_subscribed() says how many are subscribed at any time.
 * The writer's +switch-master listeners behave the same way.
 * Errors: MRD_ERR_INVALID, MRD_ERR_NOMEM, MRD_ERR_PROCESS.  *out is new;
 * drill_timeline_free() it. */
mrd_rc drill_timeline_start(const drill_timeline_opts *o, drill_timeline **out,
                            mrd_error *err);

/* A timeline with no listener: events come from drill_timeline_add()
 * (cluster mode's watcher, drill_cluster.h) and drill_timeline_mark().
 * Errors: MRD_ERR_NOMEM.  *out is new; drill_timeline_free() it. */
mrd_rc drill_timeline_new(int64_t t0_ms, drill_timeline **out, mrd_error *err);

/* Record {AT_MS (a reading of mrd_now_ms()) made relative to the
 * timeline's t0, HOST, NODE, SHARD, NAME, DETAIL (may be NULL)}, keeping
 * t_ms non-decreasing as every event of the list.  Thread-safe. */
void drill_timeline_add(drill_timeline *t, int64_t at_ms, int host, int node, int shard,
                        const char *name, const char *detail);

/* How many sentinels are subscribed right now. */
int drill_timeline_subscribed(drill_timeline *t);

/* Record a drill marker {now, sentinel -1, NAME, DETAIL (may be NULL)} in
 * the same list, e.g. "fault", "restore", "ready". */
void drill_timeline_mark(drill_timeline *t, const char *name, const char *detail);

/* The first event named NAME with t_ms >= SINCE_MS, copied to *OUT (may be
 * NULL): true when there is one. */
bool drill_timeline_first(drill_timeline *t, const char *name, int64_t since_ms,
                          drill_event *out);

void drill_timeline_stop(drill_timeline *t); /* idempotent; record kept */
void drill_timeline_free(drill_timeline **t); /* stops if needed; accepts NULL */

/* A copy of every event so far, in arrival order (t_ms non-decreasing).
 * *out is new (caller free()s; NULL when *n is 0). */
mrd_rc drill_timeline_events(drill_timeline *t, drill_event **out, int64_t *n,
                             mrd_error *err);

/* ==== verification ==== */

typedef struct drill_verify_result {
    int64_t checked;             /* keys read back */
    int64_t acked_writes_lost;   /* ACKED, missing or with another value */
    int64_t unacked_writes_lost; /* WRITTEN (SET OK, WAIT short), missing */
    int64_t errors_present;      /* ERROR, yet the key is there: the write
                                    landed, its reply was lost */
} drill_verify_result;

/* Read back the keys "<PREFIX>:<seq>" of W[0..N) (the writes of ONE writer)
 * from ADDRESS:PORT as USER ("admin"), DRILL_LOAD_VERIFY_BATCH per round
 * trip, and count what is lost.  A key counts as present only with the
 * value "<seq>".  TIMEOUT_MS bounds the connect and each batch.  The
 * batches run as a read-only script (EVAL), since a key list does not fit
 * store_cmd's scalar replies; USER needs +eval (admin has it).  Errors:
 * those of store_conn_open / store_cmd. */
mrd_rc drill_load_verify(const char *address, int port, const char *user, const char *pass,
                         const char *prefix, const drill_write *w, int64_t n, int timeout_ms,
                         drill_verify_result *out, mrd_error *err);

/* Read back the keys of W[0..N) as drill_load_verify() does, into
 * PRESENT[i] (N bytes, caller's): 1 when "<PREFIX>:<seq>" holds "<seq>",
 * else 0.  The same errors; PRESENT is partly filled on an error. */
mrd_rc drill_load_present(const char *address, int port, const char *user, const char *pass,
                          const char *prefix, const drill_write *w, int64_t n, int timeout_ms,
                          uint8_t *present, mrd_error *err);

#endif
