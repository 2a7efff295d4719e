/* test_hold.c - replica-priority holds (agent/hold.c) in a temporary host
 * root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "hold.h"
#include "log.h"

static int make_root(void **state)
{
    char *root = strdup("/tmp/meridian-hold.XXXXXX");
    assert_non_null(mkdtemp(root));
    *state = root;
    return 0;
}

static int remove_root(void **state)
{
    mrd_rm_rf(*state, NULL);
    free(*state);
    return 0;
}

static void held_until_expiry_and_only_its_port(void **state)
{
    const char *root = *state;
    long long now = mrd_wall_ms();
    assert_false(hold_active(root, 16379, now));
    assert_int_equal(hold_put(root, 16379, now + 5000, NULL), MRD_OK);
    assert_true(hold_active(root, 16379, now));
    assert_true(hold_active(root, 16379, now + 4999));
    assert_false(hold_active(root, 16379, now + 5000));
    assert_false(hold_active(root, 16380, now));
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", root, HOLD_FILE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void lifting_one_keeps_the_others(void **state)
{
    const char *root = *state;
    long long now = mrd_wall_ms();
    assert_int_equal(hold_put(root, 16379, now + 60000, NULL), MRD_OK);
    assert_int_equal(hold_put(root, 16380, now + 60000, NULL), MRD_OK);
    assert_int_equal(hold_put(root, 16379, 0, NULL), MRD_OK);
    assert_false(hold_active(root, 16379, now));
    assert_true(hold_active(root, 16380, now));
}

static void expired_holds_are_dropped(void **state)
{
    const char *root = *state;
    long long now = mrd_wall_ms();
    char path[512], *text = NULL, old[128];
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s", root, HOLD_FILE);
    /* a hold recorded earlier that has run out since */
    int n = snprintf(old, sizeof(old), "{\"16381\": %lld}", now - 1);
    assert_int_equal(mrd_write_atomic(path, old, (size_t)n, 0600, NULL), MRD_OK);
    assert_false(hold_active(root, 16381, now));
    assert_int_equal(hold_put(root, 16382, now + 60000, NULL), MRD_OK);
    assert_int_equal(mrd_read_file(path, 4096, &text, &len, NULL), MRD_OK);
    assert_null(strstr(text, "16381"));
    assert_non_null(strstr(text, "16382"));
    free(text);
}

static void a_corrupt_file_holds_nothing(void **state)
{
    const char *root = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, HOLD_FILE);
    assert_int_equal(mrd_write_atomic(path, "{\"16379\": \"soon\"", 16, 0600, NULL), MRD_OK);
    assert_false(hold_active(root, 16379, 0));
    /* and the next hold replaces it */
    assert_int_equal(hold_put(root, 16379, mrd_wall_ms() + 60000, NULL), MRD_OK);
    assert_true(hold_active(root, 16379, mrd_wall_ms()));
}

static void request_refusals(void **state)
{
    const char *root = *state;
    mrd_manifest *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    snprintf(m->root, sizeof(m->root), "%s", root);
    m->nhosts = 1;
    m->self = 0;
    m->nnodes = 1;
    m->nodes[0].host = 0;
    m->nodes[0].port = 16379;
    sv_host h = {.m = m};
    int status = 0;
    const struct {
        const char *port, *ttl;
        int status;
        const char *says;
    } cases[] = {
        {NULL, "1000", 400, "port must be"},
        {"0", "1000", 400, "port must be"},
        {"70000", "1000", 400, "port must be"},
        {"16379x", "1000", 400, "port must be"},
        {"16379", NULL, 400, "ttl_ms must be"},
        {"16379", "-1", 400, "ttl_ms must be"},
        {"16379", "300001", 400, "ttl_ms must be"},
        {"16400", "1000", 404, "no node of this host listens on port 16400"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *a = hold_request(&h, cases[i].port, cases[i].ttl, &status);
        assert_int_equal(status, cases[i].status);
        const char *e = json_string_value(json_object_get(a, "error"));
        assert_non_null(e);
        if (!strstr(e, cases[i].says))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, e, cases[i].says);
        json_decref(a);
    }
    /* nothing was recorded by a refusal */
    assert_false(hold_active(root, 16379, mrd_wall_ms()));
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(held_until_expiry_and_only_its_port, make_root,
                                        remove_root),
        cmocka_unit_test_setup_teardown(lifting_one_keeps_the_others, make_root, remove_root),
        cmocka_unit_test_setup_teardown(expired_holds_are_dropped, make_root, remove_root),
        cmocka_unit_test_setup_teardown(a_corrupt_file_holds_nothing, make_root, remove_root),
        cmocka_unit_test_setup_teardown(request_refusals, make_root, remove_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
