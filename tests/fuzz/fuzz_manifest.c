/* fuzz_manifest.c - manifest_parse() (common/manifest.c) on any bytes, and
 * the round trip parse -> manifest_to_json -> dump -> parse.
 *
 * The agent reads its manifest from a file that the orchestrator wrote;
 * a manifest that parses must serialise to JSON that parses again to the
 * same manifest (equal canonical JSON, equal fields), and its self entry
 * must be its own host. */
#include "fuzz.h"

#include <jansson.h>

#include "manifest.h"

static void check_manifest(const mrd_manifest *m)
{
    FUZZ_CHECK(m->version == MRD_MANIFEST_VERSION);
    FUZZ_CHECK(FUZZ_TERMINATED(m->topology) && FUZZ_TERMINATED(m->master_name) &&
               FUZZ_TERMINATED(m->host) && FUZZ_TERMINATED(m->root) &&
               FUZZ_TERMINATED(m->secrets_dir));
    FUZZ_CHECK(m->npeers >= 1 && m->npeers <= MRD_MF_MAX_PEERS);
    FUZZ_CHECK(m->self >= 0 && m->self < m->npeers);
    FUZZ_CHECK(strcmp(manifest_self(m)->host, m->host) == 0);
    for (int i = 0; i < m->npeers; i++) {
        const mrd_peer *p = &m->peers[i];
        FUZZ_CHECK(FUZZ_TERMINATED(p->host) && FUZZ_TERMINATED(p->region) &&
                   FUZZ_TERMINATED(p->zone) && FUZZ_TERMINATED(p->address) &&
                   FUZZ_TERMINATED(p->sentinel_myid));
    }
    FUZZ_CHECK(m->nwebhooks >= 0 && (m->nwebhooks == 0 || m->webhooks));
    for (int i = 0; i < m->nwebhooks; i++)
        FUZZ_CHECK(m->webhooks[i] != NULL);
    char buf[MRD_MF_PATH + 64];
    FUZZ_CHECK(manifest_path(m, "redis.conf", buf, sizeof(buf)) == MRD_OK);
    FUZZ_CHECK(manifest_path(m, "no-such-file", buf, sizeof(buf)) == MRD_ERR_NOT_FOUND);
}

static void check_same(const mrd_manifest *a, const mrd_manifest *b)
{
    FUZZ_CHECK(strcmp(a->topology, b->topology) == 0 &&
               strcmp(a->master_name, b->master_name) == 0 && strcmp(a->host, b->host) == 0 &&
               strcmp(a->root, b->root) == 0 && strcmp(a->secrets_dir, b->secrets_dir) == 0);
    size_t nrows;
    const mrd_setting *rows = mrd_settings_table(&nrows);
    for (size_t i = 0; i < nrows; i++)
        FUZZ_CHECK(!mrd_setting_differs(&rows[i], &a->settings, &b->settings));
    FUZZ_CHECK(a->self == b->self && a->npeers == b->npeers && a->nwebhooks == b->nwebhooks);
    for (int i = 0; i < a->npeers; i++) {
        const mrd_peer *p = &a->peers[i], *q = &b->peers[i];
        FUZZ_CHECK(strcmp(p->host, q->host) == 0 && strcmp(p->region, q->region) == 0 &&
                   strcmp(p->zone, q->zone) == 0 && strcmp(p->address, q->address) == 0 &&
                   p->replica_priority == q->replica_priority &&
                   p->store_port == q->store_port && p->sentinel_port == q->sentinel_port &&
                   p->agent_port == q->agent_port && p->leader == q->leader &&
                   strcmp(p->sentinel_myid, q->sentinel_myid) == 0);
    }
    for (int i = 0; i < a->nwebhooks; i++)
        FUZZ_CHECK(strcmp(a->webhooks[i], b->webhooks[i]) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrd_manifest *m = NULL, *again = NULL;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = manifest_parse((const char *)data, size, &m, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK_ERROR(&err, rc);
        return 0;
    }
    FUZZ_CHECK(m != NULL);
    check_manifest(m);

    json_t *j = manifest_to_json(m);
    FUZZ_CHECK(j != NULL);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    rc = manifest_parse(text, strlen(text), &again, &err);
    if (rc != MRD_OK)
        fprintf(stderr, "the serialised manifest does not parse: %s\n%s\n", err.msg, text);
    FUZZ_CHECK(rc == MRD_OK);
    check_manifest(again);
    check_same(m, again);
    json_t *j2 = manifest_to_json(again);
    FUZZ_CHECK(j2 != NULL && json_equal(j, j2));
    char *text2 = json_dumps(j2, JSON_SORT_KEYS | JSON_COMPACT);
    FUZZ_CHECK(text2 != NULL && strcmp(text, text2) == 0);

    free(text2);
    json_decref(j2);
    free(text);
    json_decref(j);
    manifest_free(&again);
    manifest_free(&m);
    return 0;
}
