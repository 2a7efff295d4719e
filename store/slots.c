/* slots.c - moving hash slots (see slots.h). */
#include "slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"

/* Keys and their lengths in one allocation: N pointers, then N lengths. */
void store_slot_keys_free(char **keys, int n)
{
    for (int i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
}

mrd_rc store_slot_keys(store_conn *c, int slot, int max, char ***keys, size_t **lens, int *n,
                       mrd_error *err)
{
    *keys = NULL;
    *lens = NULL;
    *n = 0;
    char s[16], m[16];
    snprintf(s, sizeof(s), "%d", slot);
    snprintf(m, sizeof(m), "%d", max);
    const char *argv[] = {"CLUSTER", "GETKEYSINSLOT", s, m};
    redisReply *r = NULL;
    MRD_TRY(store__command(c, &r, err, 4, argv));
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: CLUSTER GETKEYSINSLOT: not a list",
                             store_conn_name(c));
    }
    size_t count = r->elements ? r->elements : 1;
    char **out = calloc(1, count * (sizeof(char *) + sizeof(size_t)));
    size_t *len = out ? (size_t *)(out + count) : NULL;
    mrd_rc rc = out ? MRD_OK : mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == MRD_OK && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            rc = mrd_error_set(err, MRD_ERR_PROTOCOL, "%s: CLUSTER GETKEYSINSLOT: not a key",
                               store_conn_name(c));
        else if (!(out[i] = malloc(e->len + 1)))
            rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        else {
            memcpy(out[i], e->str, e->len);
            out[i][e->len] = '\0';
            len[i] = e->len;
        }
    }
    if (rc != MRD_OK) {
        store_slot_keys_free(out, (int)r->elements);
        freeReplyObject(r);
        return rc;
    }
    *keys = out;
    *lens = len;
    *n = (int)r->elements;
    freeReplyObject(r);
    return MRD_OK;
}

mrd_rc store_slot_count_keys(store_conn *c, const int *slots, int n, long long *out,
                             mrd_error *err)
{
    enum { WINDOW = 256 }; /* commands in flight */
    int sent = 0, got = 0;
    while (got < n) {
        while (sent < n && sent - got < WINDOW) {
            char s[16];
            snprintf(s, sizeof(s), "%d", slots[sent]);
            const char *argv[] = {"CLUSTER", "COUNTKEYSINSLOT", s};
            MRD_TRY(store__append(c, err, 3, argv));
            sent++;
        }
        redisReply *r = NULL;
        MRD_TRY(store__reply(c, &r, err)); /* the rest of the pipeline is lost */
        out[got++] = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
    }
    return MRD_OK;
}

mrd_rc store_migrate_keys(store_conn *c, const char *ip, int port, const char *user,
                          const char *pass, int timeout_ms, bool replace,
                          char *const *keys, const size_t *klens, int n, mrd_error *err)
{
    if (c->lost)
        return mrd_error_set(err, MRD_ERR_CONNECT, "%s: connection lost", store_conn_name(c));
    int fixed = 10 + (replace ? 1 : 0), argc = fixed + n;
    const char **argv = calloc((size_t)argc, sizeof(*argv));
    size_t *lens = calloc((size_t)argc, sizeof(*lens));
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    char p[16], t[16];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(t, sizeof(t), "%d", timeout_ms);
    int k = 0;
    const char *head[] = {"MIGRATE", ip, p, "", "0", t};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        argv[k++] = head[i];
    if (replace)
        argv[k++] = "REPLACE";
    argv[k++] = "AUTH2";
    argv[k++] = user;
    argv[k++] = pass;
    argv[k++] = "KEYS";
    for (int i = 0; i < n; i++)
        argv[k++] = keys[i];
    for (int i = 0; i < fixed; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < n; i++)
        lens[fixed + i] = klens[i];
    /* the source waits up to TIMEOUT_MS per step of the transfer: give it
     * that and a second more before this side calls it lost */
    c->io_timeout_ms = timeout_ms + 1000;
    redisReply *r = NULL;
    mrd_rc rc = store__append_argv(c, err, argc, argv, lens);
    if (rc == MRD_OK)
        rc = store__reply(c, &r, err);
    c->io_timeout_ms = c->timeout_ms;
    free(argv);
    free(lens);
    if (r)
        freeReplyObject(r);
    return rc;
}
