/* health.h - one vocabulary for "how healthy", shared by the agent's heal
 * pass, `meridian heal` and `meridian status`: the health codes, "caught
 * up", and "a majority".
 *
 * The codes are the monitoring-plugin ones (Nagios, Icinga, Sensu); they
 * are also the exit codes of `meridian-agent check`, `meridian heal` and
 * `meridian status`. */
#ifndef MRD_HEALTH_H
#define MRD_HEALTH_H

typedef enum mrd_health {
    MRD_HEALTH_OK = 0,
    MRD_HEALTH_WARNING = 1,  /* degraded but serving, or something was healed */
    MRD_HEALTH_CRITICAL = 2, /* not serving, or could not heal */
    MRD_HEALTH_UNKNOWN = 3,  /* could not tell */
} mrd_health;

/* "ok", "warning", "critical", "unknown" (anything else: "unknown"). */
const char *mrd_health_name(int h);

/* The more severe of two codes: OK < WARNING < UNKNOWN < CRITICAL (a
 * known failure outranks not knowing; a code out of range is UNKNOWN). */
int mrd_health_worst(int a, int b);

/* A replica is caught up (ready, serving, counted as a live copy) when it
 * is at most this many bytes behind its master's replication offset. */
#define MRD_CAUGHT_UP_LAG_BYTES (1024 * 1024)

/* The majority of N voters: more than half.  Sentinels authorise a
 * failover with the majority of all sentinels; a master that reaches a
 * majority of neither the sentinels nor its shard's nodes fences itself. */
static inline int mrd_majority(int n)
{
    return n / 2 + 1;
}

/* The entry of NAMES[0..N) named most often, ignoring NULL entries (a
 * voter that did not answer): the index of its first occurrence, or -1
 * when every entry is NULL; *VOTES gets its count.  With mrd_majority():
 * "the master a majority of the sentinels name" (the agent's heal pass and
 * `meridian status` both ask it this way). */
int mrd_plurality(const char *const *names, int n, int *votes);

#endif
