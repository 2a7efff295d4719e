/* switchover_int.h - the parts of a switchover its mode files share. */
#ifndef MRD_SWITCHOVER_INT_H
#define MRD_SWITCHOVER_INT_H

#include "switchover.h"

/* Cluster mode's switchover (switchover_cluster.c): as switchover_run(),
 * R zeroed and its times -1 already. */
int switchover_cluster(orch_ctx *c, const switchover_opts *o, switchover_report *r);

/* One progress line, "switchover  +1.234 s  TEXT", on OUT (NULL: none),
 * stamped from T0 (mrd_now_ms()). */
void switchover_say(FILE *out, long long t0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
