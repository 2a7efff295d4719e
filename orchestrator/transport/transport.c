/* transport.c - the front of the transports: transport_open() chooses the
 * backend the topology names (local.c, ssh.c).  What every backend shares
 * lives in tp_common.c, a leaf, so the backends never call each other nor
 * back into this file. */
#include "transport.h"

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
