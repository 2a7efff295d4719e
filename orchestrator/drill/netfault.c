#include "netfault.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* "meridian_<topology>" with only [A-Za-z0-9_] (nft identifiers). */
static void table_name(const char *topology, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "meridian_");
    for (const char *p = topology; *p && k + 1 < n; p++)
        buf[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                  (*p >= '0' && *p <= '9')
                              ? *p
                              : '_');
    buf[k] = '\0';
}

static bool is_ipv4(const char *s)
{
    unsigned a, b, c, d;
    char tail;
    return sscanf(s, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256 &&
           c < 256 && d < 256;
}

/* Append to BUF (LEN bytes, *at used); false once it does not fit. */
static bool put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return false;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= len - *at) {
        *at = len;
        return false;
    }
    *at += (size_t)w;
    return true;
}

mrd_rc netfault_partition_script(const char *topology, const char *const *inside, int n,
                                 const int *ports, int nports, char *buf, size_t len,
                                 mrd_error *err)
{
    if (n <= 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "a partition needs the region's addresses");
    if (nports <= 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "a partition needs the topology's ports");
    for (int i = 0; i < n; i++)
        if (!is_ipv4(inside[i]))
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "%s is not an IPv4 address: partitions cut IPv4 only",
                                 inside[i]);
    char table[96];
    table_name(topology, table, sizeof(table));
    size_t at = 0;
    bool ok = put(buf, len, &at,
                  "table inet %s {\n"
                  "  set inside {\n"
                  "    type ipv4_addr\n"
                  "    elements = { ",
                  table);
    for (int i = 0; i < n; i++)
        ok = ok && put(buf, len, &at, "%s%s", i ? ", " : "", inside[i]);
    ok = ok && put(buf, len, &at, " }\n  }\n  set ports {\n    type inet_service\n"
                                  "    elements = { ");
    for (int i = 0; i < nports; i++)
        ok = ok && put(buf, len, &at, "%s%d", i ? ", " : "", ports[i]);
    ok = ok && put(buf, len, &at, " }\n  }\n");
    /* A request goes to one of the ports and its reply comes from one, in
     * either direction: four rules per hook cut both ways.  On a real host
     * its own traffic passes output (leaving) and input (arriving); on
     * loopback every packet passes both. */
    static const char *const hooks[] = {"output", "input"};
    for (int k = 0; k < 2; k++)
        ok = ok && put(buf, len, &at,
                       "  chain %s {\n"
                       "    type filter hook %s priority 0; policy accept;\n"
                       "    ip saddr @inside ip daddr != @inside tcp dport @ports drop\n"
                       "    ip saddr @inside ip daddr != @inside tcp sport @ports drop\n"
                       "    ip daddr @inside ip saddr != @inside tcp dport @ports drop\n"
                       "    ip daddr @inside ip saddr != @inside tcp sport @ports drop\n"
                       "  }\n",
                       hooks[k], hooks[k]);
    ok = ok && put(buf, len, &at, "}\n");
    return ok ? MRD_OK : mrd_error_set(err, MRD_ERR_INVALID, "partition rules too long");
}

void netfault_heal_script(const char *topology, char *buf, size_t len)
{
    char table[96];
    table_name(topology, table, sizeof(table));
    /* "add" then "delete": no error when the table is already gone. */
    snprintf(buf, len, "add table inet %s\ndelete table inet %s\n", table, table);
}

mrd_rc netfault_apply(mrd_tp *tp, const mrd_host *host, const char *user, const char *script,
                      mrd_error *err)
{
    const char *argv[] = {"sudo", "-n", "nft", "-f", "-", NULL};
    bool root = strcmp(user, "root") == 0;
    tp_result res;
    MRD_TRY(tp->ops->exec(tp, host, argv + (root ? 2 : 0), script, strlen(script), 0, &res,
                          err));
    mrd_rc rc = MRD_OK;
    if (res.status != 0) {
        const char *said = res.err && res.err[0] ? res.err : res.out ? res.out : "";
        int line = (int)strcspn(said, "\n");
        if (res.status == 127)
            rc = mrd_error_set(err, MRD_ERR_STATE,
                               "nft is not installed on %s (apt-get install nftables)",
                               host->name);
        else
            rc = mrd_error_set(err, MRD_ERR_STATE,
                               "nft on %s refused the rules (%s is needed): %.*s", host->name,
                               root ? "root" : "root or passwordless sudo", line,
                               line ? said : "no message");
    }
    tp_result_free(&res);
    return rc;
}
