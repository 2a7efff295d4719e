/* fuzz_cluster_nodes.c - store_cluster_nodes_parse(), the questions asked
 * of a view, store_cluster_replica_conf() and store_cluster_info_parse()
 * (store/cluster.c) on any bytes.
 *
 * The parsers get exactly the fuzzer's buffer (no NUL after it), so a read
 * past LEN is an ASan report; the seeds are real Redis 7.0.15 captures
 * (tests/fixtures/cluster/).  A view that parses must keep what the header
 * promises: at least one node and at most STORE_CLUSTER_MAX_NODES,
 * exactly one myself, terminated strings, 40-hex ids, ports in range,
 * every owned slot owned by a listed master whose nslots counts it,
 * migrations naming listed nodes.
 *
 * Round trip: the nodes.conf of a restored replica of the view's first
 * healthy master, rendered once with a new id at a free address and once
 * with the id of one of that master's replicas, must parse back to a view
 * in which the new node is myself and a replica of that master, every
 * other node the peer listed (but those the new one replaces and the
 * handshake ones) has the same fields but for the peer's own suspicion
 * (fail?) and myself, and every slot has the same owner. */
#include "fuzz.h"

#include <stdbool.h>

#include "cluster.h"

static bool is_id(const char *s)
{
    return strlen(s) == STORE_CLUSTER_ID_LEN &&
           strspn(s, "0123456789abcdef") == STORE_CLUSTER_ID_LEN;
}

static void check_node(const store_cluster_node *n)
{
    FUZZ_CHECK(FUZZ_TERMINATED(n->id) && is_id(n->id));
    FUZZ_CHECK(FUZZ_TERMINATED(n->ip) && FUZZ_TERMINATED(n->hostname));
    FUZZ_CHECK(FUZZ_TERMINATED(n->master_id) && (n->master_id[0] == '\0' || is_id(n->master_id)));
    FUZZ_CHECK(n->port >= 0 && n->port <= 65535 && n->bus_port >= 0 && n->bus_port <= 65535);
    FUZZ_CHECK(n->ping_sent_ms >= 0 && n->pong_recv_ms >= 0);
    FUZZ_CHECK(n->nslots >= 0 && n->nslots <= STORE_CLUSTER_SLOTS);
}

static void check_slots(const store_cluster_view *v)
{
    int counted[STORE_CLUSTER_MAX_NODES] = {0};
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        FUZZ_CHECK(v->migrating_to[s] == STORE_CLUSTER_NONE || v->migrating_to[s] < v->nnodes);
        FUZZ_CHECK(v->importing_from[s] == STORE_CLUSTER_NONE ||
                   v->importing_from[s] < v->nnodes);
        const store_cluster_node *o = store_cluster_slot_owner(v, s);
        FUZZ_CHECK((o == NULL) == (v->owner[s] == STORE_CLUSTER_NONE));
        if (!o)
            continue;
        FUZZ_CHECK(o->flags & STORE_CLUSTER_MASTER);
        counted[o - v->nodes]++;
    }
    int total = 0;
    for (int i = 0; i < v->nnodes; i++) {
        FUZZ_CHECK(counted[i] == v->nodes[i].nslots);
        total += counted[i];
    }
    FUZZ_CHECK(store_cluster_slots_covered(v, 0) == total);
}

static void check_view(const store_cluster_view *v)
{
    FUZZ_CHECK(v->nnodes >= 1 && v->nnodes <= STORE_CLUSTER_MAX_NODES);
    const store_cluster_node *me = store_cluster_myself(v);
    FUZZ_CHECK(me != NULL && (me->flags & STORE_CLUSTER_MYSELF));
    for (int i = 0; i < v->nnodes; i++) {
        const store_cluster_node *n = &v->nodes[i];
        check_node(n);
        FUZZ_CHECK(((n->flags & STORE_CLUSTER_MYSELF) != 0) == (n == me));
        FUZZ_CHECK(store_cluster_find(v, n->id) == n); /* ids are unique */
        const store_cluster_node *m = store_cluster_master_of(v, n);
        FUZZ_CHECK(m == NULL || m == n || strcmp(m->id, n->master_id) == 0);
    }
    check_slots(v);
    FUZZ_CHECK(store_cluster_slots_agree(v, v, NULL));
}

/* A node of PEER that the restored replica SPEC leaves out. */
static bool left_out(const store_cluster_node *n, const store_cluster_replica_spec *spec)
{
    return (n->flags & STORE_CLUSTER_HANDSHAKE) || strcmp(n->id, spec->id) == 0 ||
           (n->port == spec->port && strcmp(n->ip, spec->ip) == 0);
}

/* A node the peer listed, as the rendered file lists it. */
static void check_copied(const store_cluster_node *a, const store_cluster_node *b)
{
    FUZZ_CHECK(strcmp(a->ip, b->ip) == 0 && strcmp(a->hostname, b->hostname) == 0);
    FUZZ_CHECK(a->port == b->port && a->bus_port == b->bus_port);
    FUZZ_CHECK(strcmp(a->master_id, b->master_id) == 0);
    FUZZ_CHECK(a->config_epoch == b->config_epoch && a->connected == b->connected);
    FUZZ_CHECK(b->flags == (a->flags & ~(unsigned)(STORE_CLUSTER_MYSELF | STORE_CLUSTER_PFAIL)));
    FUZZ_CHECK(b->ping_sent_ms == 0 && b->pong_recv_ms == 0);
}

static void check_back(const store_cluster_view *peer, const store_cluster_view *back,
                       const store_cluster_replica_spec *spec)
{
    const store_cluster_node *me = store_cluster_myself(back);
    FUZZ_CHECK(strcmp(me->id, spec->id) == 0 && strcmp(me->ip, spec->ip) == 0);
    FUZZ_CHECK(me->flags == (STORE_CLUSTER_MYSELF | STORE_CLUSTER_SLAVE));
    FUZZ_CHECK(strcmp(store_cluster_master_of(back, me)->id, spec->master_id) == 0);
    FUZZ_CHECK(back->has_vars && back->current_epoch == spec->current_epoch);
    int kept = 0;
    for (int i = 0; i < peer->nnodes; i++) {
        const store_cluster_node *a = &peer->nodes[i];
        const store_cluster_node *b = store_cluster_find(back, a->id);
        if (left_out(a, spec)) {
            FUZZ_CHECK(b == NULL || b == me);
            continue;
        }
        FUZZ_CHECK(b != NULL);
        check_copied(a, b);
        kept++;
    }
    FUZZ_CHECK(back->nnodes == kept + 1);
    for (int s = 0; s < STORE_CLUSTER_SLOTS; s++) {
        const store_cluster_node *a = store_cluster_slot_owner(peer, s);
        const store_cluster_node *b = store_cluster_slot_owner(back, s);
        if (a && left_out(a, spec))
            a = NULL; /* a handshake node's slots go with it */
        FUZZ_CHECK((a == NULL) == (b == NULL) && (!a || strcmp(a->id, b->id) == 0));
    }
}

/* MUST: no refusal rule of store_cluster_replica_conf() applies. */
static void round_trip(const store_cluster_view *peer, const store_cluster_replica_spec *spec,
                       bool must)
{
    mrd_buf b;
    mrd_buf_init(&b, 1 << 20);
    mrd_error err;
    mrd_rc rc = store_cluster_replica_conf(peer, spec, &b, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK(!must);
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(mrd_buf_len(&b) == 0);
        mrd_buf_free(&b);
        return;
    }
    store_cluster_view *back = store_cluster_view_new();
    FUZZ_CHECK(back != NULL);
    rc = store_cluster_nodes_parse(mrd_buf_str(&b), mrd_buf_len(&b), back, &err);
    if (rc != MRD_OK)
        fprintf(stderr, "rendered file does not parse: %s\n%s", err.msg, mrd_buf_str(&b));
    FUZZ_CHECK(rc == MRD_OK);
    check_view(back);
    check_back(peer, back, spec);
    store_cluster_view_free(&back);
    mrd_buf_free(&b);
}

/* The first master a replica may follow (store_cluster_replica_conf()). */
static const store_cluster_node *healthy_master(const store_cluster_view *v)
{
    unsigned unusable = STORE_CLUSTER_FAIL | STORE_CLUSTER_HANDSHAKE | STORE_CLUSTER_NOADDR;
    for (int i = 0; i < v->nnodes; i++)
        if ((v->nodes[i].flags & STORE_CLUSTER_MASTER) && !(v->nodes[i].flags & unusable))
            return &v->nodes[i];
    return NULL;
}

static void round_trips(const store_cluster_view *peer)
{
    const store_cluster_node *m = healthy_master(peer);
    if (!m)
        return;
    static const char fresh[] = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
    store_cluster_replica_spec spec = {.id = fresh, .ip = "192.0.2.1", .port = 7000,
                                       .bus_port = 17000, .master_id = m->id,
                                       .current_epoch = 42};
    while (store_cluster_find_addr(peer, spec.ip, spec.port))
        spec.port++; /* at most 512 tries */
    if (!store_cluster_find(peer, fresh))
        round_trip(peer, &spec, true);
    const store_cluster_node *r = NULL;
    if (store_cluster_replicas(peer, m, &r, 1) > 0 && r != store_cluster_myself(peer)) {
        spec.id = r->id; /* the lost replica's own id, at a new address */
        round_trip(peer, &spec, false); /* refused when the replica owns slots */
    }
}

static void check_info(const char *text, size_t len)
{
    store_cluster_info in;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_cluster_info_parse(text, len, &in, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        return;
    }
    FUZZ_CHECK(in.ok == (strcmp(in.state, "ok") == 0));
    FUZZ_CHECK(in.ok || strcmp(in.state, "fail") == 0);
    FUZZ_CHECK(in.slots_assigned >= 0 && in.slots_ok >= 0 && in.slots_pfail >= 0 &&
               in.slots_fail >= 0 && in.known_nodes >= 0 && in.size >= 0 &&
               in.current_epoch >= 0 && in.my_epoch >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    static store_cluster_view *v;
    if (!v)
        v = store_cluster_view_new(); /* once: 300 KB per input is slow */
    FUZZ_CHECK(v != NULL);
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = store_cluster_nodes_parse(text, size, v, &err);
    if (rc == MRD_OK) {
        check_view(v);
        round_trips(v);
    } else {
        FUZZ_CHECK_ERROR(&err, rc);
    }
    check_info(text, size);
    return 0;
}
