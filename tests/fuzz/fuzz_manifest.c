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
    FUZZ_CHECK(FUZZ_TERMINATED(m->topology) && FUZZ_TERMINATED(m->mode) &&
               FUZZ_TERMINATED(m->host) && FUZZ_TERMINATED(m->root) &&
               FUZZ_TERMINATED(m->secrets_dir));
    FUZZ_CHECK(m->nhosts >= 1 && m->nhosts <= MRD_MF_MAX_HOSTS);
    FUZZ_CHECK(m->self >= 0 && m->self < m->nhosts);
    FUZZ_CHECK(strcmp(manifest_self(m)->host, m->host) == 0);
    for (int i = 0; i < m->nhosts; i++) {
        const mrd_mf_host *h = &m->hosts[i];
        FUZZ_CHECK(FUZZ_TERMINATED(h->host) && FUZZ_TERMINATED(h->region) &&
                   FUZZ_TERMINATED(h->zone) && FUZZ_TERMINATED(h->address) &&
                   FUZZ_TERMINATED(h->sentinel_myid));
    }
    /* every shard has its nodes in one run, exactly one master among them */
    FUZZ_CHECK(m->nshards >= 1 && m->nshards <= MRD_MF_MAX_SHARDS);
    FUZZ_CHECK(m->nnodes >= m->nshards && m->nnodes <= MRD_MF_MAX_NODES);
    int next = 0;
    for (int s = 0; s < m->nshards; s++) {
        const mrd_mf_shard *sh = &m->shards[s];
        FUZZ_CHECK(FUZZ_TERMINATED(sh->name) && sh->first == next && sh->nnodes >= 1);
        FUZZ_CHECK(sh->master >= sh->first && sh->master < sh->first + sh->nnodes);
        for (int i = sh->first; i < sh->first + sh->nnodes; i++) {
            const mrd_mf_node *n = &m->nodes[i];
            FUZZ_CHECK(n->shard == s && n->host >= 0 && n->host < m->nhosts);
            FUZZ_CHECK(n->port >= 1 && n->port <= 65535);
            FUZZ_CHECK(n->master == (i == sh->master));
            FUZZ_CHECK(manifest_find_node(m, manifest_node_address(m, i), n->port) >= 0);
        }
        next += sh->nnodes;
    }
    FUZZ_CHECK(next == m->nnodes);
    FUZZ_CHECK(manifest_host_nodes(m, m->self, NULL, 0) <= MRD_MF_MAX_HOST_NODES);
    FUZZ_CHECK(m->nwebhooks >= 0 && (m->nwebhooks == 0 || m->webhooks));
    for (int i = 0; i < m->nwebhooks; i++)
        FUZZ_CHECK(m->webhooks[i] != NULL);
    char buf[MRD_MF_PATH + 64];
    FUZZ_CHECK(manifest_path(m, "sentinel.conf", buf, sizeof(buf)) == MRD_OK);
    FUZZ_CHECK(manifest_node_path(m, 0, "redis.conf", buf, sizeof(buf)) == MRD_OK);
    FUZZ_CHECK(manifest_path(m, "no-such-file", buf, sizeof(buf)) == MRD_ERR_NOT_FOUND);
}

static void check_same(const mrd_manifest *a, const mrd_manifest *b)
{
    FUZZ_CHECK(strcmp(a->topology, b->topology) == 0 && strcmp(a->mode, b->mode) == 0 &&
               strcmp(a->host, b->host) == 0 && strcmp(a->root, b->root) == 0 &&
               strcmp(a->secrets_dir, b->secrets_dir) == 0);
    size_t nrows;
    const mrd_setting *rows = mrd_settings_table(&nrows);
    for (size_t i = 0; i < nrows; i++)
        FUZZ_CHECK(!mrd_setting_differs(&rows[i], &a->settings, &b->settings));
    FUZZ_CHECK(a->self == b->self && a->nhosts == b->nhosts && a->nshards == b->nshards &&
               a->nnodes == b->nnodes && a->nwebhooks == b->nwebhooks);
    for (int i = 0; i < a->nhosts; i++) {
        const mrd_mf_host *p = &a->hosts[i], *q = &b->hosts[i];
        FUZZ_CHECK(strcmp(p->host, q->host) == 0 && strcmp(p->region, q->region) == 0 &&
                   strcmp(p->zone, q->zone) == 0 && strcmp(p->address, q->address) == 0 &&
                   p->sentinel_port == q->sentinel_port && p->agent_port == q->agent_port &&
                   strcmp(p->sentinel_myid, q->sentinel_myid) == 0);
    }
    for (int i = 0; i < a->nshards; i++)
        FUZZ_CHECK(strcmp(a->shards[i].name, b->shards[i].name) == 0 &&
                   a->shards[i].first == b->shards[i].first &&
                   a->shards[i].nnodes == b->shards[i].nnodes &&
                   a->shards[i].master == b->shards[i].master);
    for (int i = 0; i < a->nnodes; i++) {
        const mrd_mf_node *p = &a->nodes[i], *q = &b->nodes[i];
        FUZZ_CHECK(p->host == q->host && p->shard == q->shard && p->port == q->port &&
                   p->replica_priority == q->replica_priority && p->master == q->master);
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
