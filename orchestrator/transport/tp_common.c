/* tp_common.c - what every transport backend (local.c, ssh.c) and the
 * front end (transport.c) share: closing a transport, freeing a command's
 * result.  A leaf: it calls none of them, so no two transport files call
 * each other in a circle (ctest unit.layout). */
#include "transport.h"

#include <stdlib.h>

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
