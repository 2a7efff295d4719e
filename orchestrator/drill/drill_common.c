/* drill_common.c - what drill.c and drill_scale.c (which drill.c runs)
 * both use: the scenarios' names and the progress line.  A leaf: it calls
 * neither, so the two never call each other in a circle (ctest
 * unit.layout). */
#include "drill.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *const scenario_names[DRILL__COUNT] = {
    [DRILL_KILL_LEADER] = "kill-leader",
    [DRILL_REPLICA_LOSS] = "replica-loss",
    [DRILL_REGION_OUTAGE] = "region-outage",
    [DRILL_PARTITION] = "partition",
    [DRILL_SENTINEL_LOSS] = "sentinel-loss",
    [DRILL_HOST_LOSS] = "host-loss",
    [DRILL_SCALE] = "scale",
    [DRILL_SWITCHOVER] = "switchover",
    [DRILL_SENTINEL_FAILOVER] = "sentinel-failover",
    [DRILL_ROLLOUT] = "rollout",
    [DRILL_TOTAL_LOSS] = "total-loss",
};

const char *drill_scenario_name(drill_scenario s)
{
    return (unsigned)s < DRILL__COUNT ? scenario_names[s] : "unknown";
}

int drill_scenario_parse(const char *name)
{
    for (int i = 0; i < DRILL__COUNT; i++)
        if (strcmp(name, scenario_names[i]) == 0)
            return i;
    return -1;
}

void drill_vsay(long long t0_ms, const char *fmt, va_list ap)
{
    fprintf(stderr, "drill %+8.3f s  ", (double)(mrd_now_ms() - t0_ms) / 1000.0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}
