#include "health.h"

#include <string.h>

const char *mrd_health_name(int h)
{
    static const char *const names[] = {"ok", "warning", "critical", "unknown"};
    return h >= MRD_HEALTH_OK && h <= MRD_HEALTH_UNKNOWN ? names[h] : "unknown";
}

/* Severity rank: OK 0, WARNING 1, UNKNOWN 2, CRITICAL 3. */
static int rank(int h)
{
    static const int ranks[] = {0, 1, 3, 2};
    return h >= MRD_HEALTH_OK && h <= MRD_HEALTH_UNKNOWN ? ranks[h] : ranks[MRD_HEALTH_UNKNOWN];
}

int mrd_health_worst(int a, int b)
{
    if (a < MRD_HEALTH_OK || a > MRD_HEALTH_UNKNOWN)
        a = MRD_HEALTH_UNKNOWN;
    if (b < MRD_HEALTH_OK || b > MRD_HEALTH_UNKNOWN)
        b = MRD_HEALTH_UNKNOWN;
    return rank(a) >= rank(b) ? a : b;
}

int mrd_plurality(const char *const *names, int n, int *votes)
{
    int best = -1;
    *votes = 0;
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int v = 0;
        for (int j = 0; j < n; j++)
            v += names[j] && strcmp(names[i], names[j]) == 0;
        if (v > *votes) {
            *votes = v;
            best = i;
        }
    }
    return best;
}
