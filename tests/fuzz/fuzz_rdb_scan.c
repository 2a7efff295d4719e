/* fuzz_rdb_scan.c - store_rdb_scan() (store/rdb_scan.c) on any bytes,
 * through fmemopen() as a file.
 *
 * A backup verifies the RDB it fetched from a peer by walking it whole, so
 * every byte of a hostile or damaged file meets this walker: lengths that
 * announce gigabytes, counts of 2^64 elements, LZF headers, streams.
 * Checked:
 *   - an error is MRD_ERR_PARSE (fmemopen() memory cannot fail to read)
 *     with a sentence, and BYTES never exceeds the input;
 *   - a walk that succeeds fills OUT as rdb_scan.h says: a version of 1 to
 *     10, expires <= keys, the databases 0..15 hold at most KEYS, repl-id
 *     empty or 40 characters, repl-offset -1 or >= 0, BYTES the whole
 *     input;
 *   - "the EOF opcode comes last, followed by the CRC64 ... and nothing
 *     follows": no strict prefix of a file that walks is whole (two cuts,
 *     each in its own exact-size copy so that a read past it is an ASan
 *     report). */
#include "fuzz.h"

#include <stdbool.h>

#include "rdb_scan.h"

static mrd_rc scan(const uint8_t *data, size_t size, store_rdb_summary *s, mrd_error *e)
{
    mrd_error_clear(e);
    /* an exact-size copy: fmemopen() wants a writable pointer, and ASan
     * then sees any read past SIZE */
    uint8_t *copy = malloc(size ? size : 1);
    FUZZ_CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    FILE *f = size ? fmemopen(copy, size, "rb") : tmpfile();
    FUZZ_CHECK(f != NULL);
    mrd_rc rc = store_rdb_scan(f, s, e);
    fclose(f);
    free(copy);
    return rc;
}

static void check_summary(const store_rdb_summary *s, size_t size)
{
    FUZZ_CHECK(s->bytes >= 0 && (size_t)s->bytes <= size);
    FUZZ_CHECK(s->keys >= 0 && s->expires >= 0 && s->expires <= s->keys);
    long long sum = 0;
    for (int i = 0; i < STORE_RDB_SCAN_DBS; i++) {
        FUZZ_CHECK(s->db_keys[i] >= 0);
        sum += s->db_keys[i];
    }
    FUZZ_CHECK(sum <= s->keys);
    fuzz_check_repl(s->repl_id, s->repl_offset);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_rdb_summary whole;
    mrd_error err;
    mrd_rc rc = scan(data, size, &whole, &err);
    check_summary(&whole, size);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(rc == MRD_ERR_PARSE);
        return 0;
    }
    FUZZ_CHECK(whole.rdb_version >= 1 && whole.rdb_version <= 10);
    FUZZ_CHECK((size_t)whole.bytes == size);
    size_t cuts[2] = {size - 1, size > 1 ? data[size / 2] % (size - 1) : 0};
    for (int i = 0; i < 2; i++) {
        store_rdb_summary part;
        rc = scan(data, cuts[i], &part, &err);
        FUZZ_CHECK(rc == MRD_ERR_PARSE);
        FUZZ_CHECK_ERROR(&err, rc);
        check_summary(&part, cuts[i]);
        FUZZ_CHECK(part.keys <= whole.keys);
    }
    return 0;
}
