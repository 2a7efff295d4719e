/* events.h - what the agent did, for the log and for webhooks.
 *
 * Every heal action emits an event with a stable name (in the style of
 * Sentinel's "+switch-master"):
 *   +replica-lost +snapshot-fetched +partial-resync +full-resync
 *   +replica-ready +sentinel-reset +sentinel-restarted +leader-lost
 *   +rejoined +heal-failed +backoff +datadir-recreated
 *   +retired (a node folder the manifest no longer lists, see retire.h)
 * An event goes to the agent's log at once and, when the topology lists
 * webhooks, is POSTed as JSON by a background thread with libcurl
 * (timeout EVENTS_TIMEOUT_MS, up to EVENTS_RETRIES attempts with backoff).
 * A webhook that fails never blocks or fails the heal: events_emit()
 * only queues; a full queue drops the oldest event and counts it. */
#ifndef MRD_EVENTS_H
#define MRD_EVENTS_H

#include "err.h"

#define EVENTS_TIMEOUT_MS 2000
#define EVENTS_RETRIES 3
#define EVENTS_QUEUE_MAX 256

typedef struct events events; /* opaque */

/* Start the sink.  TOPOLOGY and HOST name every event; WEBHOOKS (N URLs)
 * are copied.  *out is new; events_stop() it. */
mrd_rc events_start(const char *topology, const char *host, char *const *webhooks,
                    int n, events **out, mrd_error *err);

/* Log and queue one event.  NAME is a stable name ("+replica-ready"), NODE
 * what it is about ("euw-b1/redis"), DETAIL a sentence (never a secret).
 * The JSON posted: {"topology","host","node","event","detail","time_ms"}.
 * Thread-safe; never blocks on the network.  Accepts ev == NULL (log only). */
void events_emit(events *ev, const char *name, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Deliveries so far: sent, failed (after retries), dropped (queue full). */
void events_counts(const events *ev, long *sent, long *failed, long *dropped);

/* Try to deliver what is queued for at most FLUSH_MS, then stop the
 * thread, free, NULL *ev.  Accepts NULL. */
void events_stop(events **ev, int flush_ms);

#endif
