/* test_netfault.c - the nftables scripts of a partition drill. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netfault.h"

static const int PORTS[] = {6379, 26379, 7379};

/* How many times NEEDLE occurs in HAY. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_partition_script(void **state)
{
    (void)state;
    const char *inside[] = {"127.0.1.1", "127.0.1.2", "127.0.1.250"};
    char buf[4096];
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("my-app.prod", inside, 3, PORTS, 3, buf,
                                               sizeof(buf), &err),
                     MRD_OK);
    /* the topology name becomes an nft identifier */
    assert_non_null(strstr(buf, "table inet meridian_my_app_prod {\n"));
    assert_non_null(strstr(buf, "elements = { 127.0.1.1, 127.0.1.2, 127.0.1.250 }"));
    assert_non_null(strstr(buf, "elements = { 6379, 26379, 7379 }"));
    /* both hooks, four drop rules in each, nothing else dropped */
    assert_int_equal(count(buf, "type filter hook output priority 0; policy accept;"), 1);
    assert_int_equal(count(buf, "type filter hook input priority 0; policy accept;"), 1);
    assert_int_equal(count(buf, " drop\n"), 8);
    assert_int_equal(count(buf, "ip saddr @inside ip daddr != @inside tcp dport @ports drop"), 2);
    assert_int_equal(count(buf, "ip saddr @inside ip daddr != @inside tcp sport @ports drop"), 2);
    assert_int_equal(count(buf, "ip daddr @inside ip saddr != @inside tcp dport @ports drop"), 2);
    assert_int_equal(count(buf, "ip daddr @inside ip saddr != @inside tcp sport @ports drop"), 2);
    /* balanced braces: nft would refuse the script otherwise */
    assert_int_equal(count(buf, "{"), count(buf, "}"));
}

static void test_partition_refusals(void **state)
{
    (void)state;
    char buf[4096];
    mrd_error err;
    const char *good[] = {"10.0.0.1"};
    const char *v6[] = {"10.0.0.1", "fd00::1"};
    const char *junk[] = {"10.0.0.256"};

    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("t", good, 0, PORTS, 3, buf, sizeof(buf), &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "addresses"));
    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("t", good, 1, PORTS, 0, buf, sizeof(buf), &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "ports"));
    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("t", v6, 2, PORTS, 3, buf, sizeof(buf), &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "fd00::1 is not an IPv4 address"));
    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("t", junk, 1, PORTS, 3, buf, sizeof(buf), &err),
                     MRD_ERR_INVALID);
    mrd_error_clear(&err);
    assert_int_equal(netfault_partition_script("t", good, 1, PORTS, 3, buf, 100, &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "too long"));
}

static void test_heal_script(void **state)
{
    (void)state;
    char buf[256];
    netfault_heal_script("itdrill", buf, sizeof(buf));
    /* add first: deleting a table that is gone is then no error */
    assert_string_equal(buf, "add table inet meridian_itdrill\ndelete table inet meridian_itdrill\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_script),
        cmocka_unit_test(test_partition_refusals),
        cmocka_unit_test(test_heal_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
