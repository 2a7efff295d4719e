/* fuzz.h - what every libFuzzer harness in tests/fuzz/ shares.
 *
 * A harness feeds the bytes to the real parser and, when the parser
 * returns a structure, checks what the parser's header promises about it
 * (bounds, NUL-terminated strings, round trips).  A broken promise is a
 * finding: FUZZ_CHECK prints which one and aborts, so libFuzzer keeps the
 * input as crash-<sha1> like any ASan or UBSan report. */
#ifndef MRD_FUZZ_H
#define MRD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point (no header declares it). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                          \
            abort();                                                                 \
        }                                                                            \
    } while (0)

/* True when the char array A holds a NUL (a string that fits). */
#define FUZZ_TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

/* An error the parser reported: a known code and a NUL-terminated,
 * non-empty message. */
#define FUZZ_CHECK_ERROR(e, rc)                                                      \
    do {                                                                             \
        FUZZ_CHECK((rc) > 0 && (rc) < MRD_ERR__COUNT);                               \
        FUZZ_CHECK((e)->code == (rc));                                               \
        FUZZ_CHECK(FUZZ_TERMINATED((e)->msg) && (e)->msg[0] != '\0');                \
        FUZZ_CHECK(FUZZ_TERMINATED((e)->file));                                      \
    } while (0)

/* The replication fields an RDB reader returns (store_rdb_inspect,
 * store_rdb_scan): repl-id "" or 40 characters, repl-offset -1 or >= 0. */
static inline void fuzz_check_repl(const char repl_id[41], long long repl_offset)
{
    FUZZ_CHECK(memchr(repl_id, '\0', 41) != NULL);
    size_t idlen = strlen(repl_id);
    FUZZ_CHECK(idlen == 0 || idlen == 40);
    FUZZ_CHECK(repl_offset >= -1);
}

#endif
