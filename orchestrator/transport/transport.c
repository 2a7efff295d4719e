/* transport.c - the front of the transports: transport_open() chooses the
 * backend the topology names (local.c, ssh.c), and what every backend
 * shares lives here, so the backends never call each other. */
#include "transport.h"

#include <stdlib.h>

mrd_rc transport_open(const mrd_topology *t, const transport_opts *o, mrd_tp **out,
                      mrd_error *err)
{
    *out = NULL;
    switch (t->transport.kind) {
    case MRD_TRANSPORT_LOCAL:
        return transport_local_open(out, err);
    case MRD_TRANSPORT_SSH:
        return transport_ssh_open(t, o, out, err);
    }
    return mrd_error_set(err, MRD_ERR_INVALID, "unknown transport kind %d",
                         (int)t->transport.kind);
}

void transport_close(mrd_tp **tp)
{
    if (!tp || !*tp)
        return;
    if ((*tp)->ops && (*tp)->ops->close)
        (*tp)->ops->close(*tp);
    free(*tp);
    *tp = NULL;
}

void tp_result_free(tp_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    *r = (tp_result){0};
}
