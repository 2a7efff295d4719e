#include "netfault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "proc.h"

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

/* Run `nft -f SCRIPT`; MRD_OK on exit 0, else the first line nft said. */
static mrd_rc nft_script(const char *script, mrd_error *err)
{
    char dir[] = "/tmp/meridian-nft.XXXXXX", path[64], log[64];
    if (!mkdtemp(dir))
        return mrd_error_set(err, MRD_ERR_IO, "cannot create a temporary folder: %s",
                             strerror(errno));
    snprintf(path, sizeof(path), "%s/rules.nft", dir);
    snprintf(log, sizeof(log), "%s/nft.log", dir);
    mrd_rc rc = mrd_write_atomic(path, script, strlen(script), 0600, err);
    pid_t pid;
    if (rc == MRD_OK) {
        const char *argv[] = {"nft", "-f", path, NULL};
        rc = mrd_spawn(argv, log, MRD_SPAWN_CHILD, &pid, err);
        if (rc != MRD_OK)
            mrd_error_set(err, MRD_ERR_STATE,
                          "cannot run nft (install the nftables package): %s",
                          err ? err->msg : "");
    }
    if (rc == MRD_OK) {
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char *out = NULL;
            mrd_read_file(log, 4096, &out, NULL, NULL);
            if (out)
                out[strcspn(out, "\n")] = '\0';
            rc = mrd_error_set(err, MRD_ERR_STATE, "nft refused the rules (root is needed): %s",
                               out && out[0] ? out : "no message");
            free(out);
        }
    }
    unlink(path);
    unlink(log);
    rmdir(dir);
    return rc;
}

mrd_rc netfault_partition(const char *topology, const char *cidr, const int *ports, int n,
                          mrd_error *err)
{
    char table[96], set[128] = "", script[2048];
    table_name(topology, table, sizeof(table));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(set);
        snprintf(set + len, sizeof(set) - len, "%s%d", i ? ", " : "", ports[i]);
    }
    if (n == 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "a partition needs the topology's ports");
    /* Loopback traffic passes the output hook once per packet.  Requests
     * go to one of our ports and replies come from one, in each direction:
     * four rules cut the region off both ways. */
    snprintf(script, sizeof(script),
             "table inet %s {\n"
             "  chain partition {\n"
             "    type filter hook output priority 0; policy accept;\n"
             "    ip saddr %s ip daddr != %s tcp dport { %s } drop\n"
             "    ip saddr %s ip daddr != %s tcp sport { %s } drop\n"
             "    ip daddr %s ip saddr != %s tcp dport { %s } drop\n"
             "    ip daddr %s ip saddr != %s tcp sport { %s } drop\n"
             "  }\n"
             "}\n",
             table, cidr, cidr, set, cidr, cidr, set, cidr, cidr, set, cidr, cidr, set);
    return nft_script(script, err);
}

mrd_rc netfault_heal(const char *topology, mrd_error *err)
{
    char table[96], script[256];
    table_name(topology, table, sizeof(table));
    /* "add" then "delete": no error when the table is already gone. */
    snprintf(script, sizeof(script), "add table inet %s\ndelete table inet %s\n", table,
             table);
    return nft_script(script, err);
}

mrd_rc netfault_region_cidr(const char *const *addresses, int n, char *buf, size_t len,
                            mrd_error *err)
{
    unsigned a0 = 0, b0 = 0, c0 = 0;
    for (int i = 0; i < n; i++) {
        unsigned a, b, c, d;
        char tail;
        if (sscanf(addresses[i], "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) != 4 ||
            a > 255 || b > 255 || c > 255 || d > 255)
            return mrd_error_set(err, MRD_ERR_INVALID, "%s is not an IPv4 address",
                                 addresses[i]);
        if (i == 0) {
            a0 = a;
            b0 = b;
            c0 = c;
        } else if (a != a0 || b != b0 || c != c0) {
            return mrd_error_set(err, MRD_ERR_INVALID,
                                 "the region's hosts do not share one /24 (%s and %s): a "
                                 "local partition needs 127.0.R.H addresses",
                                 addresses[0], addresses[i]);
        }
    }
    if (n == 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "the region has no host");
    snprintf(buf, len, "%u.%u.%u.0/24", a0, b0, c0);
    return MRD_OK;
}
