/* snapshot_fetch - drive store_snapshot_fetch() for tests and by hand.
 *
 *   snapshot_fetch ADDRESS PORT USER PASSFILE DEST [TIMEOUT_MS]
 *
 * The password is read from PASSFILE (one line), never from argv.  USER
 * "-" skips AUTH.  Prints "bytes=N repl_id=ID repl_offset=N rdb_version=N
 * duration_ms=N" on success (exit 0); the error sentence on stderr (exit 1);
 * exit 64 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "snapshot.h"

static long number(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) ? -1 : v;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: snapshot_fetch ADDRESS PORT USER PASSFILE DEST "
                        "[TIMEOUT_MS]\n");
        return 64;
    }
    long port = number(argv[2], 1, 65535);
    long timeout = argc == 7 ? number(argv[6], 1, 3600000) : STORE_SNAPSHOT_TIMEOUT_MS;
    if (port < 0 || timeout < 0) {
        fprintf(stderr, "snapshot_fetch: PORT and TIMEOUT_MS must be numbers\n");
        return 64;
    }
    const char *user = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
    char *pass = NULL;
    size_t len = 0;
    mrd_error err;
    mrd_error_clear(&err);
    if (user && mrd_read_file(argv[4], 4096, &pass, &len, &err) != MRD_OK) {
        fprintf(stderr, "snapshot_fetch: %s\n", err.msg);
        return 1;
    }
    while (pass && len > 0 && (pass[len - 1] == '\n' || pass[len - 1] == '\r'))
        pass[--len] = '\0';
    store_snapshot s;
    mrd_rc rc = store_snapshot_fetch(argv[1], (int)port, user, pass, argv[5], (int)timeout,
                                     &s, &err);
    if (pass) {
        explicit_bzero(pass, len);
        free(pass);
    }
    if (rc != MRD_OK) {
        fprintf(stderr, "snapshot_fetch: %s (%s)\n", err.msg, mrd_strerror(rc));
        return 1;
    }
    printf("bytes=%lld repl_id=%s repl_offset=%lld rdb_version=%d duration_ms=%lld\n",
           s.bytes, s.repl_id[0] ? s.repl_id : "-", s.repl_offset, s.rdb_version,
           s.duration_ms);
    return 0;
}
