/* fuzz_info.c - store_info_parse() and store_info_field() (store/info.c)
 * on any bytes.
 *
 * The parser gets exactly the fuzzer's buffer (no NUL after it), so a read
 * past LEN is an ASan report.  A parse that succeeds must leave every
 * string terminated, at most STORE_MAX_REPLICAS replicas, and agree with
 * store_info_field() about the role and the numbers it read.  The field
 * lookup is also asked, with a buffer of a size taken from the input, for
 * the key of the input's first line; whatever it returns must fit the
 * buffer and be that line's value. */
#include "fuzz.h"

#include <stdbool.h>

#include "info.h"

/* store_info_field() for a number, as the parser reads it. */
static bool field_ll(const char *text, size_t len, const char *key, long long *v)
{
    char buf[64], *end;
    if (!store_info_field(text, len, key, buf, sizeof(buf)))
        return false;
    *v = strtoll(buf, &end, 10);
    return end != buf && *end == '\0';
}

static void check_info(const char *text, size_t len, const store_info *in)
{
    FUZZ_CHECK(FUZZ_TERMINATED(in->redis_version) && FUZZ_TERMINATED(in->master_host) &&
               FUZZ_TERMINATED(in->master_replid));
    FUZZ_CHECK(in->nslaves >= 0 && in->nslaves <= STORE_MAX_REPLICAS);
    for (int i = 0; i < in->nslaves; i++)
        FUZZ_CHECK(FUZZ_TERMINATED(in->slaves[i].ip) && FUZZ_TERMINATED(in->slaves[i].state));

    char role[256];
    if (store_info_field(text, len, "role", role, sizeof(role)))
        FUZZ_CHECK(in->is_master == (strcmp(role, "master") == 0));
    else
        FUZZ_CHECK(!in->is_master);

    long long v;
    if (field_ll(text, len, "master_repl_offset", &v))
        FUZZ_CHECK(in->master_repl_offset == v);
    if (field_ll(text, len, "sync_full", &v))
        FUZZ_CHECK(in->sync_full == v);
    if (field_ll(text, len, "process_id", &v))
        FUZZ_CHECK(in->process_id == v);
}

/* Looking up the first line's key returns that line's value (the first
 * line with that key is the first line itself). */
static void check_field(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    size_t line = nl ? (size_t)(nl - text) : len;
    const char *colon = memchr(text, ':', line);
    if (!colon || colon == text || (size_t)(colon - text) >= 64)
        return;
    char key[64];
    size_t klen = (size_t)(colon - text);
    memcpy(key, text, klen);
    key[klen] = '\0';
    if (strlen(key) != klen) /* a NUL inside: not a key the parser can ask for */
        return;
    size_t vlen = line - klen - 1;
    if (vlen > 0 && text[klen + 1 + vlen - 1] == '\r')
        vlen--;
    size_t cap = (unsigned char)text[len - 1] % 80 + 1; /* 1..80 */
    char *buf = malloc(cap);
    FUZZ_CHECK(buf != NULL);
    bool found = store_info_field(text, len, key, buf, cap);
    FUZZ_CHECK(found == (vlen < cap));
    if (found)
        FUZZ_CHECK(memcmp(buf, text + klen + 1, vlen) == 0 && buf[vlen] == '\0');
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    store_info in;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_info_parse(text, size, &in, &err);
    if (rc == MRD_OK)
        check_info(text, size, &in);
    else
        FUZZ_CHECK_ERROR(&err, rc);
    if (size > 0)
        check_field(text, size);
    return 0;
}
