/* cluster_conf - drive store_cluster_replica_conf() for tests and by hand.
 *
 *   cluster_conf PEER_NODES ID|new IP PORT BUS_PORT MASTER_ID CURRENT_EPOCH
 *
 * PEER_NODES is a file holding what CLUSTER NODES printed on a healthy
 * node of the cluster.  ID "new" asks store_cluster_new_id() for one.
 * Prints the nodes.conf of the restored replica on stdout (exit 0); the
 * error sentence on stderr (exit 1); exit 64 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cluster.h"
#include "fsutil.h"

static long long number(const char *s, long long lo, long long hi)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) ? -1 : v;
}

static int fail(const mrd_error *err)
{
    fprintf(stderr, "cluster_conf: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: cluster_conf PEER_NODES ID|new IP PORT BUS_PORT MASTER_ID "
                        "CURRENT_EPOCH\n");
        return 64;
    }
    long long port = number(argv[4], 1, 65535), bus = number(argv[5], 1, 65535);
    long long epoch = number(argv[7], 0, (long long)(~0ULL >> 1));
    if (port < 0 || bus < 0 || epoch < 0) {
        fprintf(stderr, "cluster_conf: PORT, BUS_PORT and CURRENT_EPOCH must be numbers\n");
        return 64;
    }
    mrd_error err;
    mrd_error_clear(&err);
    char *text = NULL;
    size_t len = 0;
    if (mrd_read_file(argv[1], 16 << 20, &text, &len, &err) != MRD_OK)
        return fail(&err);
    store_cluster_view *peer = store_cluster_view_new();
    char id[STORE_CLUSTER_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", argv[2]);
    mrd_buf out;
    mrd_buf_init(&out, 1 << 20);
    mrd_rc rc = peer ? MRD_OK : mrd_error_set(&err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK)
        rc = store_cluster_nodes_parse(text, len, peer, &err);
    if (rc == MRD_OK && strcmp(argv[2], "new") == 0)
        rc = store_cluster_new_id(id, &err);
    store_cluster_replica_spec spec = {.id = id, .ip = argv[3], .port = (int)port,
                                       .bus_port = (int)bus, .master_id = argv[6],
                                       .current_epoch = (unsigned long long)epoch};
    if (rc == MRD_OK)
        rc = store_cluster_replica_conf(peer, &spec, &out, &err);
    if (rc == MRD_OK)
        fputs(mrd_buf_str(&out), stdout);
    mrd_buf_free(&out);
    store_cluster_view_free(&peer);
    free(text);
    return rc == MRD_OK ? 0 : fail(&err);
}
