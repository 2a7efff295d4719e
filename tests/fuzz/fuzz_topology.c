/* fuzz_topology.c - topology_parse() (regions/topology.c) on any bytes.
 *
 * A topology that parses must hold what topology.h and the validator
 * promise: at least one region, zone and host; indexes that agree with
 * each other; valid, unique names; unique IPv4 addresses (loopback with
 * the local transport); ports in range and distinct; settings within
 * their bounds; a leader region that exists.  A topology that does not
 * parse must come with an error whose position lies inside the text. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <strings.h>

#include "topology.h"

static bool name_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n >= cap || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void check_topology(const mrd_topology *t)
{
    FUZZ_CHECK(FUZZ_TERMINATED(t->path) && FUZZ_TERMINATED(t->name));
    FUZZ_CHECK(name_ok(t->name, sizeof(t->name)));
    FUZZ_CHECK(t->nregions >= 1 && t->nzones >= t->nregions && t->nhosts >= t->nzones);

    for (int r = 0; r < t->nregions; r++) {
        const mrd_region *reg = &t->regions[r];
        FUZZ_CHECK(name_ok(reg->name, sizeof(reg->name)));
        FUZZ_CHECK(topology_find_region(t, reg->name) == r); /* unique */
        FUZZ_CHECK(reg->nzones >= 1 && reg->first_zone >= 0 &&
                   reg->first_zone + reg->nzones <= t->nzones);
        for (int z = reg->first_zone; z < reg->first_zone + reg->nzones; z++)
            FUZZ_CHECK(t->zones[z].region == r);
    }
    for (int z = 0; z < t->nzones; z++) {
        const mrd_zone *zone = &t->zones[z];
        FUZZ_CHECK(name_ok(zone->name, sizeof(zone->name)));
        for (int y = 0; y < z; y++)
            FUZZ_CHECK(strcmp(t->zones[y].name, zone->name) != 0);
        FUZZ_CHECK(zone->region >= 0 && zone->region < t->nregions);
        FUZZ_CHECK(zone->nhosts >= 1 && zone->first_host >= 0 &&
                   zone->first_host + zone->nhosts <= t->nhosts);
        for (int h = zone->first_host; h < zone->first_host + zone->nhosts; h++)
            FUZZ_CHECK(t->hosts[h].zone == z && t->hosts[h].region == zone->region);
    }
    for (int h = 0; h < t->nhosts; h++) {
        const mrd_host *host = &t->hosts[h];
        FUZZ_CHECK(name_ok(host->name, sizeof(host->name)));
        FUZZ_CHECK(topology_find_host(t, host->name) == h); /* unique */
        FUZZ_CHECK(FUZZ_TERMINATED(host->address));
        struct in_addr a;
        FUZZ_CHECK(inet_pton(AF_INET, host->address, &a) == 1);
        unsigned char first = ((const unsigned char *)&a.s_addr)[0];
        FUZZ_CHECK(first != 0);
        if (t->transport.kind == MRD_TRANSPORT_LOCAL)
            FUZZ_CHECK(first == 127);
        for (int g = 0; g < h; g++) {
            struct in_addr b;
            FUZZ_CHECK(inet_pton(AF_INET, t->hosts[g].address, &b) == 1);
            FUZZ_CHECK(a.s_addr != b.s_addr);
        }
    }

    FUZZ_CHECK(t->mode == MRD_MODE_SENTINEL || t->mode == MRD_MODE_CLUSTER);
    FUZZ_CHECK(t->survive >= MRD_SURVIVE_NONE && t->survive <= MRD_SURVIVE_REGION);
    FUZZ_CHECK(t->transport.kind == MRD_TRANSPORT_LOCAL ||
               t->transport.kind == MRD_TRANSPORT_SSH);
    FUZZ_CHECK(FUZZ_TERMINATED(t->transport.user) && FUZZ_TERMINATED(t->transport.identity) &&
               FUZZ_TERMINATED(t->transport.known_hosts) && FUZZ_TERMINATED(t->transport.root));
    FUZZ_CHECK(t->transport.port >= 1 && t->transport.port <= 65535);

    FUZZ_CHECK(t->settings.store.port >= 1 && t->settings.store.port <= 65535);
    FUZZ_CHECK(t->settings.sentinel.port >= 1 && t->settings.sentinel.port <= 65535);
    FUZZ_CHECK(t->settings.agent.port >= 1 && t->settings.agent.port <= 65535);
    FUZZ_CHECK(t->settings.store.port != t->settings.sentinel.port && t->settings.store.port != t->settings.agent.port &&
               t->settings.sentinel.port != t->settings.agent.port);
    /* sentinel mode places its leader there; cluster mode needs none, but a
     * leader_region it is given must be a region too */
    FUZZ_CHECK(topology_find_region(t, t->settings.store.leader_region) >= 0 ||
               (t->mode != MRD_MODE_SENTINEL && !t->settings.store.leader_region[0]));
    FUZZ_CHECK(FUZZ_TERMINATED(t->settings.store.maxmemory) && FUZZ_TERMINATED(t->settings.store.repl_backlog));
    FUZZ_CHECK(topology_parse_size(t->settings.store.maxmemory) >= 0);
    FUZZ_CHECK(topology_parse_size(t->settings.store.repl_backlog) >= 16 * 1024);

    FUZZ_CHECK(t->settings.sentinel.count >= 1 && t->settings.sentinel.count <= MRD_MAX_SENTINELS &&
               t->settings.sentinel.count <= t->nhosts);
    FUZZ_CHECK(t->settings.sentinel.quorum >= 0 && t->settings.sentinel.quorum <= t->settings.sentinel.count);
    FUZZ_CHECK(t->settings.sentinel.down_after_ms >= 100);
    FUZZ_CHECK(t->settings.sentinel.failover_timeout_ms >= 1000);
    FUZZ_CHECK(t->settings.agent.interval_ms >= 100);
    FUZZ_CHECK(t->settings.consistency.min_replicas_to_write >= 0 &&
               t->settings.consistency.min_replicas_to_write <= t->nhosts - 1);
    FUZZ_CHECK(t->settings.consistency.wait_replicas >= 0 &&
               t->settings.consistency.wait_replicas <= t->nhosts - 1);
    FUZZ_CHECK(t->settings.consistency.min_replicas_max_lag_s >= 0);

    FUZZ_CHECK(t->nwebhooks >= 0 && (t->nwebhooks == 0 || t->webhooks));
    for (int i = 0; i < t->nwebhooks; i++)
        FUZZ_CHECK(strncasecmp(t->webhooks[i], "http://", 7) == 0 ||
                   strncasecmp(t->webhooks[i], "https://", 8) == 0);
}

/* The error points inside the text: its line exists, its column is on it. */
static void check_error(const mrd_error *e, mrd_rc rc, const uint8_t *data, size_t size)
{
    FUZZ_CHECK_ERROR(e, rc);
    FUZZ_CHECK(rc == MRD_ERR_PARSE || rc == MRD_ERR_INVALID);
    if (e->line > 0)
        FUZZ_CHECK(strcmp(e->file, "fuzz.json") == 0);
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FUZZ_CHECK(e->line >= 0 && (size_t)e->line <= lines);
    FUZZ_CHECK(e->column >= 0 && (size_t)e->column <= size + 1);
    FUZZ_CHECK((e->line == 0) == (e->column == 0));
    char buf[1024];
    FUZZ_CHECK(mrd_error_format(e, buf, sizeof(buf)) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrd_topology *t = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = topology_parse((const char *)data, size, "fuzz.json", &t, &err);
    if (rc == MRD_OK) {
        FUZZ_CHECK(t != NULL);
        check_topology(t);
    } else {
        FUZZ_CHECK(t == NULL);
        check_error(&err, rc, data, size);
    }
    topology_free(&t);
    return 0;
}
