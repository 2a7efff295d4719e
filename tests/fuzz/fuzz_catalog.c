/* fuzz_catalog.c - a backup's manifest as object storage returns it
 * (orchestrator/backup/catalog.c): catalog_manifest_parse() on any bytes,
 * and catalog_id_parse() / catalog_group() on the same bytes read as an
 * id and as object keys, one per line.
 *
 * A manifest comes from a bucket meridian does not own alone: whatever it
 * holds must be refused with a sentence or give a manifest that keeps the
 * header's promises (shards numbered in order, keys summed, valid ids and
 * checksums, slot ranges inside 0..16383), and serialise back to a
 * manifest that parses to the same values. */
#include "fuzz.h"

#include "catalog.h"

static void check_manifest(const char *text, size_t len)
{
    catalog_manifest m;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = catalog_manifest_parse(text, len, "m.json", &m, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(m.shards == NULL && m.nshards == 0);
        return;
    }
    FUZZ_CHECK(catalog_id_parse(m.id, NULL));
    FUZZ_CHECK(m.nshards >= 1 && m.nshards <= CATALOG_MAX_SHARDS);
    long long keys = 0;
    for (int i = 0; i < m.nshards; i++) {
        const catalog_shard *s = &m.shards[i];
        FUZZ_CHECK(s->shard == i && strlen(s->sha256) == 64 && s->keys >= 0 && s->bytes >= 0);
        FUZZ_CHECK(s->nranges >= 0 && s->nranges <= CATALOG_MAX_RANGES);
        for (int r = 0; r < s->nranges; r++)
            FUZZ_CHECK(s->ranges[r][0] >= 0 && s->ranges[r][0] <= s->ranges[r][1] &&
                       s->ranges[r][1] <= 16383);
        keys += s->keys;
    }
    FUZZ_CHECK(keys == m.keys);
    /* what it writes parses back to the same manifest */
    json_t *j = catalog_manifest_to_json(&m);
    char *again = j ? json_dumps(j, 0) : NULL;
    FUZZ_CHECK(again != NULL);
    catalog_manifest back;
    FUZZ_CHECK(catalog_manifest_parse(again, strlen(again), "again", &back, &err) == MRD_OK);
    FUZZ_CHECK(back.nshards == m.nshards && back.keys == m.keys &&
               strcmp(back.id, m.id) == 0 &&
               memcmp(back.shards, m.shards, sizeof(*m.shards) * (size_t)m.nshards) == 0);
    catalog_manifest_free(&back);
    free(again);
    json_decref(j);
    catalog_manifest_free(&m);
}

/* The bytes as object keys (one per line) under "p/t/". */
static void check_group(const char *text, size_t len)
{
    enum { MAX_KEYS = 64 };
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *keys[MAX_KEYS];
    size_t n = 0;
    for (char *line = strtok(copy, "\n"); line && n < MAX_KEYS; line = strtok(NULL, "\n"))
        keys[n++] = line;
    catalog_entry *e = NULL;
    size_t ne = 0;
    mrd_error err;
    FUZZ_CHECK(catalog_group("p/t/", keys, NULL, n, &e, &ne, &err) == MRD_OK);
    FUZZ_CHECK(ne <= n);
    bool del[MAX_KEYS];
    int gone = catalog_retention(e, ne, ne ? e[0].id : "", 1, 0, 0, del);
    FUZZ_CHECK(gone >= 0 && (size_t)gone <= ne);
    for (size_t i = 0; i < ne; i++) {
        FUZZ_CHECK(catalog_id_parse(e[i].id, NULL) && e[i].objects >= 1);
        FUZZ_CHECK(i == 0 || strcmp(e[i - 1].id, e[i].id) > 0); /* newest first, unique */
    }
    FUZZ_CHECK(ne == 0 || !del[0]); /* the current backup is never deleted */
    free(e);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_manifest((const char *)data, size);
    check_group((const char *)data, size);
    char id[CATALOG_ID_LEN + 1];
    size_t n = size < CATALOG_ID_LEN ? size : CATALOG_ID_LEN;
    memcpy(id, data, n);
    id[n] = '\0';
    time_t t;
    if (catalog_id_parse(id, &t)) {
        char back[CATALOG_ID_LEN];
        catalog_id(t, back);
        FUZZ_CHECK(strcmp(back, id) == 0);
    }
    return 0;
}
