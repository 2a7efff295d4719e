/* fuzz_rdb.c - store_rdb_inspect() and store_rdb_crc64() (store/snapshot.c)
 * on any bytes.
 *
 * The fetch inspects the first RDB_INSPECT_LEN (4096) bytes of a payload
 * that a peer sent, so this is where bytes from the network meet the RDB
 * reader (string encodings, LZF).  Checked:
 *   - an inspection that succeeds fills OUT as snapshot.h says: a version
 *     of 4 digits, repl-id empty or 40 characters, repl-offset -1 or >= 0;
 *   - "a field cut by the end of BUF is left absent, which is not an
 *     error": every prefix that still holds the header inspects
 *     successfully too, with the same version, and a field the prefix
 *     found is found in the whole;
 *   - the table-driven CRC64 equals a bit-at-a-time reference of the
 *     Jones polynomial, and feeding it in two chunks equals one call. */
#include "fuzz.h"

#include <stdbool.h>

#include "snapshot.h"

/* Reflected CRC64-Jones, one bit at a time (no table). */
static uint64_t crc64_reference(uint64_t crc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (crc >> 1) ^ UINT64_C(0x95AC9329AC4BC9B5) : crc >> 1;
    }
    return crc;
}

static void check_snapshot(const store_snapshot *s)
{
    FUZZ_CHECK(s->bytes == 0 && s->duration_ms == 0);
    FUZZ_CHECK(s->rdb_version >= 0 && s->rdb_version <= 9999);
    fuzz_check_repl(s->repl_id, s->repl_offset);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_snapshot whole;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_rdb_inspect(data, size, &whole, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(rc == MRD_ERR_PARSE);
    } else {
        check_snapshot(&whole);
        /* Two prefixes, each in its own exact-size copy so that a read
         * past the prefix is an ASan report, not a read of the rest. */
        size_t cuts[2] = {size - 1, 9 + (size > 9 ? data[size - 1] % (size - 9) : 0)};
        for (int i = 0; i < 2; i++) {
            size_t n = cuts[i];
            if (n < 9 || n >= size)
                continue;
            uint8_t *copy = malloc(n);
            FUZZ_CHECK(copy != NULL);
            memcpy(copy, data, n);
            store_snapshot part;
            rc = store_rdb_inspect(copy, n, &part, &err);
            free(copy);
            FUZZ_CHECK(rc == MRD_OK);
            check_snapshot(&part);
            FUZZ_CHECK(part.rdb_version == whole.rdb_version);
            if (part.repl_id[0])
                FUZZ_CHECK(whole.repl_id[0]);
            if (part.repl_offset >= 0)
                FUZZ_CHECK(whole.repl_offset >= 0);
        }
    }

    uint64_t want = crc64_reference(0, data, size);
    FUZZ_CHECK(store_rdb_crc64(0, data, size) == want);
    size_t half = size ? data[0] % (size + 1) : 0;
    FUZZ_CHECK(store_rdb_crc64(store_rdb_crc64(0, data, half), data + half, size - half) ==
               want);
    return 0;
}
