/* ssh.c - the ssh transport: reach hosts over ssh with libssh2.
 *
 * One connection per host, opened on first use and reused for every
 * operation of the command (exec channels and one SFTP session ride on
 * it), so a deploy costs one ssh connection per host.  Hosts are used
 * concurrently from the deploy's worker threads; each connection has its
 * own lock, so calls for one host are serialised.
 *
 * Security rules, all enforced here:
 *   - the host key is always checked against known_hosts.  An unknown host
 *     is refused unless the operator passed --accept-new-host-keys (then
 *     its key is appended to known_hosts); a changed key is always refused,
 *     naming the host, the expected and the offered fingerprints.
 *   - login is by public key only: keys held by a running ssh-agent, then
 *     transport.identity.  A passphrase-protected key file is never read
 *     without an agent (meridian never asks for a passphrase).
 *   - every remote command is an argv whose words are single-quoted, so
 *     nothing in a path is interpreted by the remote shell.
 *
 * libssh2 runs non-blocking for commands and transfers: every wait goes
 * through ssh_wait(), which enforces the operation's deadline and the idle
 * timeout and sends keepalives.  The handshake and login run in blocking
 * mode under the connect timeout.
 */
#define _GNU_SOURCE /* TCP_QUICKACK, fopen "e" */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <openssl/evp.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "transport.h"

#define SSH_MAX_KNOWN 16          /* known_hosts keys kept per host */
#define SSH_MAX_FILE (16 << 20)   /* get_file refuses larger files */
#define SSH_IO_CHUNK 32768
#define SSH_CLOSE_TIMEOUT_MS 1000 /* saying goodbye to a host at close */

/* ==== state ==== */

typedef struct ssh_tp ssh_tp;

typedef struct ssh_conn {
    pthread_mutex_t lock;     /* one operation at a time on this host */
    ssh_tp *tp;
    const mrd_host *host;
    int sock;                 /* -1 when not connected */
    LIBSSH2_SESSION *s;
    LIBSSH2_SFTP *sftp;       /* opened on first file operation */
    char home[MRD_PATH_MAX];  /* "" until asked */
    atomic_int connections;   /* TCP connections opened so far */
    char desc[400];           /* how it was reached (describe) */
} ssh_conn;

struct ssh_tp {
    const mrd_topology *t;
    transport_opts o;
    char identity[MRD_PATH_MAX];    /* transport.identity, "~/" expanded */
    char known_hosts[MRD_PATH_MAX]; /* transport.known_hosts, "~/" expanded */
    pthread_mutex_t kh_lock;        /* appending to known_hosts */
    atomic_uint tmp_seq;            /* temporary file names */
    ssh_conn *conns;                /* one per topology host */
    int n;
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc = -1;

static void ssh_init(void)
{
    ssh_init_rc = libssh2_init(0);
}

/* ==== small helpers ==== */

/* Standard base64 of LEN bytes, without '=' padding (as OpenSSH prints
 * fingerprints) when NOPAD. */
static void b64(const unsigned char *in, size_t len, bool nopad, char *out, size_t n)
{
    if (n < 4 * ((len + 2) / 3) + 1) {
        out[0] = '\0';
        return;
    }
    int w = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (nopad && w > 0 && out[w - 1] == '=')
        out[--w] = '\0';
}

/* Decode base64 TEXT into a new buffer; *len gets its size.  NULL when it
 * is not base64. */
static unsigned char *unb64(const char *text, size_t tlen, size_t *len)
{
    char *clean = calloc(1, tlen + 1);
    unsigned char *out = malloc(tlen + 3);
    size_t c = 0;
    if (!clean || !out) {
        free(clean);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < tlen; i++)
        if (text[i] != '\n' && text[i] != '\r' && text[i] != ' ' && text[i] != '\t')
            clean[c++] = text[i];
    int w = c % 4 == 0 ? EVP_DecodeBlock(out, (unsigned char *)clean, (int)c) : -1;
    if (w >= 0) {
        for (size_t i = c; i > 0 && clean[i - 1] == '='; i--)
            w--; /* EVP_DecodeBlock counts padding as zero bytes */
    }
    free(clean);
    if (w < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)w;
    return out;
}

/* "SHA256:..." of a key blob. */
static void fingerprint(const unsigned char *blob, size_t len, char *out, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char text[64];
    if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        snprintf(out, n, "SHA256:?");
        return;
    }
    b64(md, mdlen, true, text, sizeof(text));
    snprintf(out, n, "SHA256:%s", text);
}

/* Fingerprint of a base64 key blob as known_hosts holds it. */
static void fingerprint_b64(const char *key, char *out, size_t n)
{
    size_t len;
    unsigned char *blob = unb64(key, strlen(key), &len);
    if (!blob) {
        snprintf(out, n, "SHA256:? (not base64)");
        return;
    }
    fingerprint(blob, len, out, n);
    free(blob);
}

/* known_hosts key type bits and name of a libssh2 host key type. */
static int knownhost_bits(int type)
{
    switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
    }
}

/* The ssh name of known_hosts key type BITS, and the host key algorithms
 * that produce it (for libssh2_session_method_pref). */
static const char *knownhost_type_name(int bits, const char **algos)
{
    static const char *none = "";
    const char *dummy;
    if (!algos)
        algos = &dummy;
    switch (bits & LIBSSH2_KNOWNHOST_KEY_MASK) {
    case LIBSSH2_KNOWNHOST_KEY_ED25519: *algos = "ssh-ed25519"; return "ssh-ed25519";
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_256:
        *algos = "ecdsa-sha2-nistp256";
        return "ecdsa-sha2-nistp256";
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_384:
        *algos = "ecdsa-sha2-nistp384";
        return "ecdsa-sha2-nistp384";
    case LIBSSH2_KNOWNHOST_KEY_ECDSA_521:
        *algos = "ecdsa-sha2-nistp521";
        return "ecdsa-sha2-nistp521";
    case LIBSSH2_KNOWNHOST_KEY_SSHRSA:
        *algos = "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
        return "ssh-rsa";
    case LIBSSH2_KNOWNHOST_KEY_SSHDSS: *algos = "ssh-dss"; return "ssh-dss";
    default: *algos = none; return "unknown";
    }
}

/* The host's name in known_hosts: "ADDR" on port 22, else "[ADDR]:PORT"
 * (what OpenSSH writes and looks up). */
static void knownhost_name(const mrd_host *h, int port, char *buf, size_t n)
{
    if (port == 22)
        snprintf(buf, n, "%s", h->address);
    else
        snprintf(buf, n, "[%s]:%d", h->address, port);
}

/* Append W to OUT as one POSIX shell word, 'it'\''s', after a space
 * unless OUT is empty. */
static bool quote_word(const char *w, mrd_buf *out)
{
    bool ok = mrd_buf_adds(out, mrd_buf_len(out) ? " '" : "'") == MRD_OK;
    for (const char *q; ok && (q = strchr(w, '\'')) != NULL; w = q + 1)
        ok = mrd_buf_add(out, w, (size_t)(q - w)) == MRD_OK &&
             mrd_buf_adds(out, "'\\''") == MRD_OK;
    return ok && mrd_buf_adds(out, w) == MRD_OK && mrd_buf_adds(out, "'") == MRD_OK;
}

/* The remote command line of ARGV (new string), NULL when out of memory. */
static char *command_line(const char *const argv[])
{
    mrd_buf out;
    mrd_buf_init(&out, SIZE_MAX);
    for (int i = 0; argv[i]; i++)
        if (!quote_word(argv[i], &out)) {
            mrd_buf_free(&out);
            return NULL;
        }
    return mrd_buf_take(&out);
}

/* ==== waiting on the socket ==== */

static long long op_deadline(const ssh_tp *st, int timeout_ms)
{
    return mrd_now_ms() + (timeout_ms > 0 ? timeout_ms : st->o.command_timeout_ms);
}

/* Wait until libssh2 can make progress on K's socket.  Sends keepalives
 * every keepalive_ms of silence; fails with MRD_ERR_TIMEOUT at DEADLINE,
 * or when the host sent nothing at all for idle_timeout_ms. */
static mrd_rc ssh_wait(ssh_conn *k, long long deadline, mrd_error *err)
{
    const ssh_tp *st = k->tp;
    long long start = mrd_now_ms();
    for (;;) {
        int dir = libssh2_session_block_directions(k->s);
        struct pollfd p = {.fd = k->sock, .events = 0};
        if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
            p.events |= POLLIN;
        if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
            p.events |= POLLOUT;
        if (!p.events)
            p.events = POLLIN;
        long long now = mrd_now_ms();
        if (now >= deadline)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "%s (%s) did not finish the operation in time",
                                 k->host->name, k->host->address);
        if (now - start >= st->o.idle_timeout_ms)
            return mrd_error_set(err, MRD_ERR_TIMEOUT,
                                 "%s (%s) sent nothing for %.0f s: the connection is dead",
                                 k->host->name, k->host->address,
                                 st->o.idle_timeout_ms / 1000.0);
        long long wait = deadline - now;
        if (wait > st->o.keepalive_ms)
            wait = st->o.keepalive_ms;
        /* sshd does not set TCP_NODELAY on a session without a terminal:
         * its second small packet waits for our ACK, which Linux delays
         * by 40 ms unless asked to acknowledge at once (not sticky). */
        int one = 1;
        setsockopt(k->sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
        int r = poll(&p, 1, (int)wait);
        if (r > 0)
            return MRD_OK;
        if (r < 0 && errno != EINTR)
            return mrd_error_set(err, MRD_ERR_IO, "poll: %s", strerror(errno));
        if (r == 0) {
            int next;
            libssh2_keepalive_send(k->s, &next);
        }
    }
}

/* Retry CALL (an int-returning libssh2 function) while it says EAGAIN. */
#define SSH_RETRY(k, deadline, err, rc, call)                                        \
    do {                                                                             \
        while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN)                               \
            if (ssh_wait((k), (deadline), (err)) != MRD_OK) {                         \
                (rc) = LIBSSH2_ERROR_TIMEOUT;                                        \
                break;                                                               \
            }                                                                        \
    } while (0)

/* Same for a pointer-returning libssh2 function (NULL + EAGAIN). */
#define SSH_RETRY_PTR(k, deadline, err, ptr, call)                                   \
    do {                                                                             \
        while (!((ptr) = (call)) &&                                                  \
               libssh2_session_last_errno((k)->s) == LIBSSH2_ERROR_EAGAIN)           \
            if (ssh_wait((k), (deadline), (err)) != MRD_OK)                           \
                break;                                                               \
    } while (0)

/* libssh2's last error on K, as text. */
static const char *session_error(ssh_conn *k)
{
    char *msg = NULL;
    if (!k->s)
        return "not connected";
    libssh2_session_last_error(k->s, &msg, NULL, 0);
    return msg && msg[0] ? msg : "unknown error";
}

/* ==== connecting ==== */

/* Forget K's connection: at close (say goodbye, within
 * SSH_CLOSE_TIMEOUT_MS) or after a failure (BROKEN: shut the socket
 * first, so that libssh2 frees everything without waiting on it). */
static void conn_drop(ssh_conn *k, bool broken)
{
    if (broken && k->sock >= 0)
        shutdown(k->sock, SHUT_RDWR);
    if (k->s) {
        /* blocking, or libssh2 may answer EAGAIN and free nothing */
        libssh2_session_set_timeout(k->s, SSH_CLOSE_TIMEOUT_MS);
        libssh2_session_set_blocking(k->s, 1);
        if (k->sftp)
            libssh2_sftp_shutdown(k->sftp);
        libssh2_session_disconnect(k->s, "meridian done");
        libssh2_session_free(k->s);
    }
    k->sftp = NULL;
    k->s = NULL;
    if (k->sock >= 0)
        close(k->sock);
    k->sock = -1;
    k->home[0] = '\0';
}

/* TCP connection to the host's address and ssh port, within the connect
 * timeout. */
static mrd_rc tcp_connect(ssh_conn *k, long long deadline, mrd_error *err)
{
    const mrd_host *h = k->host;
    int port = k->tp->t->transport.port;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, h->address, &sa.sin_addr) != 1)
        return mrd_error_set(err, MRD_ERR_INVALID, "%s: %s is not an IPv4 address", h->name,
                             h->address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mrd_error_set(err, MRD_ERR_IO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int soerr = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINPROGRESS) {
            soerr = errno;
        } else {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            long long left = deadline - mrd_now_ms();
            int r;
            do {
                r = poll(&p, 1, left > 0 ? (int)left : 0);
            } while (r < 0 && errno == EINTR);
            socklen_t sl = sizeof(soerr);
            if (r == 0)
                soerr = ETIMEDOUT;
            else if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
        }
    }
    if (soerr) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_CONNECT,
                             "cannot reach %s at %s port %d: %s: is sshd running there and "
                             "is the port open?",
                             h->name, h->address, port,
                             soerr == ETIMEDOUT ? "no answer in time" : strerror(soerr));
    }
    k->sock = fd;
    atomic_fetch_add(&k->connections, 1);
    return MRD_OK;
}

/* A key the known_hosts file holds for this host. */
typedef struct known_key {
    int bits;            /* LIBSSH2_KNOWNHOST_KEY_* */
    char b64[2048];      /* the key blob, base64 */
} known_key;

/* Read known_hosts line by line into KH (and "@revoked" lines into
 * REVOKED).  Lines libssh2 cannot parse (host certificate authorities,
 * key types it does not know) are skipped: they can only make a host
 * unknown, never trusted. */
static void known_hosts_load(const char *path, LIBSSH2_KNOWNHOSTS *kh,
                             LIBSSH2_KNOWNHOSTS *revoked)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        LIBSSH2_KNOWNHOSTS *into = kh;
        if (*p == '@') {
            if (strncmp(p, "@revoked", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
                continue; /* @cert-authority: no host certificates here */
            into = revoked;
            p += 8;
            p += strspn(p, " \t");
        }
        libssh2_knownhost_readline(into, p, strlen(p), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    }
    free(line);
    fclose(f);
}

/* The keys KH holds for NAME (hashed entries included): each entry whose
 * own key matches NAME is one of them.  Returns how many (at most MAX). */
static int known_keys_for(LIBSSH2_KNOWNHOSTS *kh, const char *name, known_key *out, int max)
{
    struct libssh2_knownhost *e = NULL, *prev = NULL;
    int n = 0;
    while (n < max && libssh2_knownhost_get(kh, &e, prev) == 0) {
        prev = e;
        if (!e->key || strlen(e->key) >= sizeof(out[0].b64))
            continue;
        if (libssh2_knownhost_checkp(kh, name, -1, e->key, 0,
                                     LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                         LIBSSH2_KNOWNHOST_KEYENC_BASE64,
                                     NULL) != LIBSSH2_KNOWNHOST_CHECK_MATCH)
            continue;
        bool dup = false;
        for (int i = 0; i < n && !dup; i++)
            dup = strcmp(out[i].b64, e->key) == 0;
        if (!dup) {
            out[n].bits = e->typemask & LIBSSH2_KNOWNHOST_KEY_MASK;
            snprintf(out[n].b64, sizeof(out[n].b64), "%s", e->key);
            n++;
        }
    }
    return n;
}

/* True when libssh2 of SESSION knows host key algorithm NAME.  (libssh2
 * 1.10's method_pref() drops unknown names with an overlapping memcpy,
 * so only known ones are ever passed to it.) */
static bool hostkey_supported(LIBSSH2_SESSION *s, const char *name)
{
    const char **algs = NULL;
    int n = libssh2_session_supported_algs(s, LIBSSH2_METHOD_HOSTKEY, &algs);
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        found = strcmp(algs[i], name) == 0;
    if (algs)
        libssh2_free(s, (void *)algs);
    return found;
}

/* Host key algorithms in the order to offer them: the types known_hosts
 * already holds for the host first (so a host with several keys is asked
 * for one we can check), then OpenSSH's default order; only those this
 * libssh2 supports. */
static void hostkey_prefs(LIBSSH2_SESSION *s, const known_key *keys, int n, char *buf,
                          size_t cap)
{
    static const int order[] = {LIBSSH2_KNOWNHOST_KEY_ED25519, LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
                                LIBSSH2_KNOWNHOST_KEY_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_521,
                                LIBSSH2_KNOWNHOST_KEY_SSHRSA};
    size_t len = 0;
    buf[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
            bool known = false;
            for (int j = 0; j < n && !known; j++)
                known = keys[j].bits == order[i];
            if (known != (pass == 0))
                continue;
            const char *algos;
            knownhost_type_name(order[i], &algos);
            /* ALGOS is one name or several, comma-separated */
            for (const char *a = algos; *a;) {
                size_t alen = strcspn(a, ",");
                char name[64];
                snprintf(name, sizeof(name), "%.*s", (int)alen, a);
                if (hostkey_supported(s, name) && len + alen + 2 < cap)
                    len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
                                            name);
                a += alen + (a[alen] == ',');
            }
        }
}

/* Append HOST's key (as the handshake offered it) to known_hosts. */
static mrd_rc known_hosts_append(ssh_tp *st, LIBSSH2_KNOWNHOSTS *kh, const char *name,
                                 const char *key, size_t len, int bits, mrd_error *err)
{
    struct libssh2_knownhost *entry = NULL;
    char line[4096];
    size_t outlen = 0;
    if (libssh2_knownhost_addc(kh, name, NULL, key, len, NULL, 0,
                               LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                   bits,
                               &entry) != 0 ||
        libssh2_knownhost_writeline(kh, entry, line, sizeof(line), &outlen,
                                    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot format a known_hosts line for %s", name);
    pthread_mutex_lock(&st->kh_lock);
    char dir[MRD_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", st->known_hosts);
    char *slash = strrchr(dir, '/');
    mrd_rc rc = MRD_OK;
    if (slash && slash != dir) {
        *slash = '\0';
        if (!mrd_path_exists(dir))
            rc = mrd_mkdir_p(dir, 0700, err);
    }
    int fd = rc == MRD_OK ? open(st->known_hosts, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                                 0600)
                          : -1;
    if (rc == MRD_OK && fd < 0)
        rc = mrd_error_set(err, MRD_ERR_IO, "cannot write %s: %s", st->known_hosts,
                           strerror(errno));
    if (fd >= 0) {
        flock(fd, LOCK_EX); /* another meridian may append at the same time */
        if (write(fd, line, outlen) != (ssize_t)outlen || fsync(fd) != 0)
            rc = mrd_error_set(err, MRD_ERR_IO, "cannot write %s: %s", st->known_hosts,
                               strerror(errno));
        close(fd);
    }
    pthread_mutex_unlock(&st->kh_lock);
    return rc;
}

/* Check the key the host offered against known_hosts; see the rules at
 * the top of this file.  KEYS/NKEYS are what known_hosts holds for it. */
static mrd_rc verify_host_key(ssh_conn *k, LIBSSH2_KNOWNHOSTS *kh, LIBSSH2_KNOWNHOSTS *revoked,
                              const char *name, const known_key *keys, int nkeys,
                              char *how, size_t hown, mrd_error *err)
{
    ssh_tp *st = k->tp;
    const mrd_host *h = k->host;
    size_t len = 0;
    int type = 0;
    const char *key = libssh2_session_hostkey(k->s, &len, &type);
    if (!key || len == 0)
        return mrd_error_set(err, MRD_ERR_PROTOCOL, "%s (%s) offered no host key", h->name,
                             name);
    int bits = knownhost_bits(type);
    const char *tname = knownhost_type_name(bits, NULL);
    char offered[80], offered64[4096];
    fingerprint((const unsigned char *)key, len, offered, sizeof(offered));
    b64((const unsigned char *)key, len, false, offered64, sizeof(offered64));

    if (libssh2_knownhost_checkp(revoked, name, -1, key, len,
                                 LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW,
                                 NULL) == LIBSSH2_KNOWNHOST_CHECK_MATCH)
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "the host key of %s (%s), %s %s, is marked @revoked in %s: "
                             "refusing to connect",
                             h->name, name, tname, offered, st->known_hosts);
    for (int i = 0; i < nkeys; i++)
        if (strcmp(keys[i].b64, offered64) == 0) {
            snprintf(how, hown, "host key %s %s (known_hosts)", tname, offered);
            return MRD_OK;
        }
    for (int i = 0; i < nkeys; i++) {
        if (keys[i].bits != bits)
            continue;
        char expected[80];
        fingerprint_b64(keys[i].b64, expected, sizeof(expected));
        return mrd_error_set(
            err, MRD_ERR_AUTH,
            "the host key of %s (%s) has CHANGED: %s expects %s %s, the host offered %s %s. "
            "Refusing: this may be a man in the middle, and no option overrides it. If the "
            "host was reinstalled, check its new key there, then: ssh-keygen -f %s -R '%s'",
            h->name, name, st->known_hosts, tname, expected, tname, offered, st->known_hosts,
            name);
    }
    if (nkeys > 0) {
        char expected[80];
        fingerprint_b64(keys[0].b64, expected, sizeof(expected));
        return mrd_error_set(
            err, MRD_ERR_AUTH,
            "%s (%s) offered a %s host key (%s) but %s knows it only by a %s key (%s): "
            "refusing to connect. Check the host's keys and fix %s",
            h->name, name, tname, offered, st->known_hosts,
            knownhost_type_name(keys[0].bits, NULL), expected, st->known_hosts);
    }
    if (!st->o.accept_new_host_keys)
        return mrd_error_set(
            err, MRD_ERR_AUTH,
            "%s (%s) is not in %s: its %s host key is %s. Check that fingerprint on the host "
            "(ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then add the key (ssh-keyscan -p "
            "%d %s >> %s) or pass --accept-new-host-keys to trust it on first use",
            h->name, name, st->known_hosts, tname, offered,
            bits == LIBSSH2_KNOWNHOST_KEY_SSHRSA ? "rsa"
            : bits == LIBSSH2_KNOWNHOST_KEY_ED25519 ? "ed25519"
                                                     : "ecdsa",
            st->t->transport.port, h->address, st->known_hosts);
    MRD_TRY(known_hosts_append(st, kh, name, key, len, bits, err));
    snprintf(how, hown, "host key %s %s (new: recorded in %s)", tname, offered,
             st->known_hosts);
    return MRD_OK;
}

/* True when the private key file at PATH is protected by a passphrase. */
static bool key_encrypted(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (mrd_read_file(path, 1 << 16, &text, &len, NULL) != MRD_OK)
        return false;
    bool enc = strstr(text, "ENCRYPTED") != NULL; /* PEM and PKCS#8 */
    const char *begin = strstr(text, "-----BEGIN OPENSSH PRIVATE KEY-----");
    const char *end = begin ? strstr(begin, "-----END OPENSSH PRIVATE KEY-----") : NULL;
    if (begin && end) {
        begin += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
        size_t blen = 0;
        unsigned char *blob = unb64(begin, (size_t)(end - begin), &blen);
        /* "openssh-key-v1\0", then string ciphername */
        if (blob && blen > 19 && memcmp(blob, "openssh-key-v1", 15) == 0) {
            unsigned int n = (unsigned)blob[15] << 24 | (unsigned)blob[16] << 16 |
                             (unsigned)blob[17] << 8 | blob[18];
            enc = !(n == 4 && blen >= 23 && memcmp(blob + 19, "none", 4) == 0);
        }
        free(blob);
    }
    memset(text, 0, len);
    free(text);
    return enc;
}

/* "ssh-ed25519 SHA256:..." of PATH.pub, or "". */
static void public_key_desc(const char *path, char *buf, size_t n)
{
    char pub[MRD_PATH_MAX + 8], *text = NULL;
    buf[0] = '\0';
    snprintf(pub, sizeof(pub), "%s.pub", path);
    if (mrd_read_file(pub, 1 << 16, &text, NULL, NULL) != MRD_OK)
        return;
    char *sp = strchr(text, ' ');
    if (sp) {
        char *key = sp + 1, *end = key + strcspn(key, " \n");
        size_t blen;
        unsigned char *blob = unb64(key, (size_t)(end - key), &blen);
        if (blob) {
            char fp[80];
            fingerprint(blob, blen, fp, sizeof(fp));
            snprintf(buf, n, "%.*s %s", (int)(sp - text), text, fp);
            free(blob);
        }
    }
    free(text);
}

/* Try every identity of the running ssh-agent.  MRD_OK when one was
 * accepted (HOW says which); else *tried gets how many were refused. */
static mrd_rc auth_agent(ssh_conn *k, const char *user, int *tried, char *how, size_t hown,
                         char *why, size_t whyn)
{
    LIBSSH2_AGENT *agent = libssh2_agent_init(k->s);
    mrd_rc rc = MRD_ERR_AUTH;
    *tried = 0;
    if (!agent) {
        snprintf(why, whyn, "cannot use the ssh-agent");
        return rc;
    }
    if (libssh2_agent_connect(agent) != 0) {
        snprintf(why, whyn, "cannot connect to the ssh-agent at SSH_AUTH_SOCK (%s)",
                 session_error(k));
    } else if (libssh2_agent_list_identities(agent) != 0) {
        snprintf(why, whyn, "the ssh-agent did not list its keys (%s)", session_error(k));
    } else {
        struct libssh2_agent_publickey *id = NULL, *prev = NULL;
        while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
            prev = id;
            (*tried)++;
            if (libssh2_agent_userauth(agent, user, id) == 0) {
                char fp[80];
                fingerprint(id->blob, id->blob_len, fp, sizeof(fp));
                snprintf(how, hown, "ssh-agent key %s%s%s%s", fp,
                         id->comment && id->comment[0] ? " (" : "",
                         id->comment ? id->comment : "",
                         id->comment && id->comment[0] ? ")" : "");
                rc = MRD_OK;
                break;
            }
        }
        if (rc != MRD_OK && *tried == 0)
            snprintf(why, whyn, "the ssh-agent holds no keys");
        else if (rc != MRD_OK)
            snprintf(why, whyn, "it refused the ssh-agent's %d key%s", *tried,
                     *tried == 1 ? "" : "s");
        libssh2_agent_disconnect(agent);
    }
    libssh2_agent_free(agent);
    return rc;
}

/* Log in as transport.user with a key: the ssh-agent's first, then the
 * identity file.  Runs in blocking mode under the connect timeout. */
static mrd_rc authenticate(ssh_conn *k, char *how, size_t hown, mrd_error *err)
{
    ssh_tp *st = k->tp;
    const mrd_host *h = k->host;
    const char *user = st->t->transport.user;
    char who[200];
    snprintf(who, sizeof(who), "%s (%s@%s:%d)", h->name, user, h->address,
             st->t->transport.port);
    char *methods = libssh2_userauth_list(k->s, user, (unsigned)strlen(user));
    if (!methods) {
        if (libssh2_userauth_authenticated(k->s)) {
            snprintf(how, hown, "no authentication required");
            return MRD_OK;
        }
        return mrd_error_set(err, MRD_ERR_CONNECT, "%s: login failed: %s", who,
                             session_error(k));
    }
    if (!strstr(methods, "publickey"))
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "%s accepts only %s logins; meridian logs in with a key: enable "
                             "PubkeyAuthentication in the host's sshd_config",
                             who, methods);
    char agent_why[200] = "";
    int agent_tried = 0;
    const char *sock = getenv("SSH_AUTH_SOCK");
    bool agent = sock && sock[0];
    if (agent && auth_agent(k, user, &agent_tried, how, hown, agent_why, sizeof(agent_why)) ==
                     MRD_OK)
        return MRD_OK;
    if (!agent)
        snprintf(agent_why, sizeof(agent_why), "no ssh-agent is running (SSH_AUTH_SOCK is not "
                                               "set)");
    const char *id = st->identity;
    const char *shown = st->t->transport.identity;
    if (!mrd_path_exists(id))
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "no key to log in to %s with: %s does not exist and %s. Create a "
                             "key (ssh-keygen -t ed25519 -f %s), add %s.pub to ~%s/.ssh/"
                             "authorized_keys on every host, or set transport.identity",
                             who, shown, agent_why, shown, shown, user);
    if (key_encrypted(id))
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "cannot log in to %s: the key %s is protected by a passphrase "
                             "and %s; meridian never asks for a passphrase. Start an agent "
                             "and add the key (eval \"$(ssh-agent)\"; ssh-add %s), then run "
                             "meridian from that shell",
                             who, shown, agent_why, shown);
    int rc = libssh2_userauth_publickey_fromfile_ex(k->s, user, (unsigned)strlen(user), NULL,
                                                    id, NULL);
    if (rc == 0) {
        char pub[160];
        public_key_desc(id, pub, sizeof(pub));
        snprintf(how, hown, "key %s%s%s%s", shown, pub[0] ? " (" : "", pub, pub[0] ? ")" : "");
        return MRD_OK;
    }
    if (rc == LIBSSH2_ERROR_FILE)
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "cannot use the key %s to log in to %s: %s (meridian reads "
                             "OpenSSH and PEM ed25519, ECDSA and RSA private keys)",
                             shown, who, session_error(k));
    if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
        char pub[160];
        public_key_desc(id, pub, sizeof(pub));
        bool rsa = strncmp(pub, "ssh-rsa ", 8) == 0;
        return mrd_error_set(err, MRD_ERR_AUTH,
                             "%s refused the key %s%s%s%s%s%s: add %s.pub to ~%s/.ssh/"
                             "authorized_keys on that host, or set transport.identity and "
                             "transport.user%s",
                             who, shown, pub[0] ? " (" : "", pub, pub[0] ? ")" : "",
                             agent_tried ? " and " : "", agent_tried ? agent_why : "", shown,
                             user,
                             rsa ? ". If it is there: libssh2 1.10 signs with RSA keys as "
                                   "ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse; use "
                                   "an ed25519 key, or allow it on the host "
                                   "(PubkeyAcceptedAlgorithms +ssh-rsa)"
                                 : "");
    }
    return mrd_error_set(err, MRD_ERR_CONNECT, "%s: login failed: %s", who, session_error(k));
}

/* Connect K: TCP, handshake, host key, login.  On failure K is left
 * unconnected and ERR says what to fix. */
static mrd_rc conn_open(ssh_conn *k, mrd_error *err)
{
    ssh_tp *st = k->tp;
    const mrd_host *h = k->host;
    long long deadline = mrd_now_ms() + st->o.connect_timeout_ms;
    char name[MRD_ADDR_MAX + 16], keyhow[600] = "", authhow[300] = "";
    knownhost_name(h, st->t->transport.port, name, sizeof(name));

    MRD_TRY(tcp_connect(k, deadline, err));
    mrd_rc rc = MRD_OK;
    LIBSSH2_KNOWNHOSTS *kh = NULL, *revoked = NULL;
    known_key *keys = calloc(SSH_MAX_KNOWN, sizeof(*keys));
    k->s = libssh2_session_init_ex(NULL, NULL, NULL, k);
    if (!k->s || !keys) {
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        goto out;
    }
    kh = libssh2_knownhost_init(k->s);
    revoked = libssh2_knownhost_init(k->s);
    if (!kh || !revoked) {
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        goto out;
    }
    known_hosts_load(st->known_hosts, kh, revoked);
    int nkeys = known_keys_for(kh, name, keys, SSH_MAX_KNOWN);
    char prefs[256];
    hostkey_prefs(k->s, keys, nkeys, prefs, sizeof(prefs));
    if (prefs[0])
        libssh2_session_method_pref(k->s, LIBSSH2_METHOD_HOSTKEY, prefs);

    /* handshake and login: blocking, bounded by the connect deadline */
    libssh2_session_set_blocking(k->s, 1);
    long long left = deadline - mrd_now_ms();
    libssh2_session_set_timeout(k->s, left > 1 ? (long)left : 1);
    if (libssh2_session_handshake(k->s, k->sock) != 0) {
        rc = mrd_error_set(err, MRD_ERR_CONNECT, "ssh handshake with %s (%s) failed: %s",
                           h->name, name, session_error(k));
        goto out;
    }
    if ((rc = verify_host_key(k, kh, revoked, name, keys, nkeys, keyhow, sizeof(keyhow),
                              err)) != MRD_OK)
        goto out;
    left = deadline - mrd_now_ms();
    libssh2_session_set_timeout(k->s, left > 1 ? (long)left : 1);
    if ((rc = authenticate(k, authhow, sizeof(authhow), err)) != MRD_OK)
        goto out;
    libssh2_session_set_timeout(k->s, 0);
    libssh2_session_set_blocking(k->s, 0);
    libssh2_keepalive_config(k->s, 1, (unsigned)((st->o.keepalive_ms + 999) / 1000));
    snprintf(k->desc, sizeof(k->desc), "%s@%s:%d, %s, login with %s", st->t->transport.user,
             h->address, st->t->transport.port, keyhow, authhow);
out:
    if (kh)
        libssh2_knownhost_free(kh);
    if (revoked)
        libssh2_knownhost_free(revoked);
    free(keys);
    if (rc != MRD_OK)
        conn_drop(k, false);
    return rc;
}

/* K for HOST, locked and connected; conn_release() it. */
static ssh_conn *conn_get(mrd_tp *tp, const mrd_host *host, mrd_error *err)
{
    ssh_tp *st = tp->impl;
    int i = (int)(host - st->t->hosts);
    if (i < 0 || i >= st->n) {
        i = topology_find_host(st->t, host->name);
        if (i < 0) {
            mrd_error_set(err, MRD_ERR_INVALID, "%s is not a host of %s", host->name,
                          st->t->name);
            return NULL;
        }
    }
    ssh_conn *k = &st->conns[i];
    pthread_mutex_lock(&k->lock);
    if (!k->s && conn_open(k, err) != MRD_OK) {
        pthread_mutex_unlock(&k->lock);
        return NULL;
    }
    return k;
}

static void conn_release(ssh_conn *k)
{
    pthread_mutex_unlock(&k->lock);
}

/* After a failed libssh2 call: a session-level error (not an SFTP status
 * or a failed command) leaves the connection unusable: drop it, so the
 * next operation reconnects. */
static void conn_check(ssh_conn *k, int rc)
{
    if (rc < 0 && rc != LIBSSH2_ERROR_SFTP_PROTOCOL)
        conn_drop(k, true);
}

/* ==== exec ==== */

/* 128 + the number of the signal named SIG ("TERM", "KILL", ...). */
static int signal_status(const char *sig)
{
    static const struct {
        const char *name;
        int num;
    } sigs[] = {{"HUP", 1},  {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"ABRT", 6},
                {"FPE", 8},  {"KILL", 9},  {"SEGV", 11}, {"PIPE", 13}, {"ALRM", 14},
                {"TERM", 15}, {"USR1", 10}, {"USR2", 12}};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (strcmp(sig, sigs[i].name) == 0)
            return 128 + sigs[i].num;
    return 128 + 64;
}

/* Run ARGV on K (locked and connected). */
static mrd_rc exec_locked(ssh_conn *k, const char *const argv[], const void *input, size_t len,
                          int timeout_ms, tp_result *res, mrd_error *err)
{
    const mrd_host *h = k->host;
    long long deadline = op_deadline(k->tp, timeout_ms);
    mrd_error e; /* ours: its code says whether a reason was recorded */
    mrd_error_clear(&e);
    *res = (tp_result){0};
    char *cmd = command_line(argv);
    if (!cmd)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    LIBSSH2_CHANNEL *ch;
    int rc = 0;
    mrd_buf out, errs; /* the command's stdout and stderr */
    mrd_buf_init(&out, TP_MAX_OUTPUT);
    mrd_buf_init(&errs, TP_MAX_OUTPUT);
    SSH_RETRY_PTR(k, deadline, &e, ch, libssh2_channel_open_session(k->s));
    if (!ch) {
        if (e.code == MRD_OK)
            mrd_error_set(&e, MRD_ERR_CONNECT, "%s: cannot open an ssh channel: %s", h->name,
                          session_error(k));
        free(cmd);
        conn_drop(k, true);
        if (err)
            *err = e;
        return e.code;
    }
    SSH_RETRY(k, deadline, &e, rc, libssh2_channel_exec(ch, cmd));
    if (rc != 0) {
        if (e.code == MRD_OK)
            mrd_error_set(&e, MRD_ERR_PROCESS, "%s: cannot run %s: %s", h->name, argv[0],
                          session_error(k));
        goto broken;
    }
    for (size_t sent = 0; input && sent < len;) {
        ssize_t w;
        SSH_RETRY(k, deadline, &e, w, libssh2_channel_write(ch, (const char *)input + sent,
                                                            len - sent));
        if (w < 0) {
            if (e.code == MRD_OK)
                mrd_error_set(&e, MRD_ERR_IO, "%s: sending input to %s: %s", h->name, argv[0],
                              session_error(k));
            goto broken;
        }
        sent += (size_t)w;
    }
    /* the command may have exited already: only a timeout matters here */
    SSH_RETRY(k, deadline, &e, rc, libssh2_channel_send_eof(ch));
    if (rc == LIBSSH2_ERROR_TIMEOUT)
        goto broken;
    for (;;) {
        char buf[SSH_IO_CHUNK];
        bool progress = false;
        for (int stream = 0; stream < 2; stream++) {
            ssize_t n = libssh2_channel_read_ex(ch, stream, buf, sizeof(buf));
            if (n > 0) {
                progress = true;
                if (mrd_buf_add(stream == 0 ? &out : &errs, buf, (size_t)n) != MRD_OK) {
                    mrd_error_set(&e, MRD_ERR_NOMEM, "%s: %s printed more than %d bytes",
                                  h->name, argv[0], TP_MAX_OUTPUT);
                    goto broken;
                }
            } else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
                mrd_error_set(&e, MRD_ERR_IO, "%s: reading the output of %s: %s", h->name,
                              argv[0], session_error(k));
                goto broken;
            }
        }
        if (libssh2_channel_eof(ch))
            break;
        if (!progress && ssh_wait(k, deadline, &e) != MRD_OK)
            goto broken;
    }
    SSH_RETRY(k, deadline, &e, rc, libssh2_channel_close(ch));
    if (rc == 0)
        SSH_RETRY(k, deadline, &e, rc, libssh2_channel_wait_closed(ch));
    if (rc != 0) {
        if (e.code == MRD_OK)
            mrd_error_set(&e, MRD_ERR_IO, "%s: closing the channel of %s: %s", h->name,
                          argv[0], session_error(k));
        goto broken;
    }
    char *sig = NULL;
    size_t siglen = 0;
    libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL);
    res->status = sig ? signal_status(sig) : libssh2_channel_get_exit_status(ch);
    if (sig)
        libssh2_free(k->s, sig);
    SSH_RETRY(k, deadline, &e, rc, libssh2_channel_free(ch));
    res->out_len = mrd_buf_len(&out);
    res->out = mrd_buf_take(&out); /* NULL only when out of memory */
    res->err_len = mrd_buf_len(&errs);
    res->err = mrd_buf_take(&errs);
    free(cmd);
    if (!res->out || !res->err) {
        tp_result_free(res);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    return MRD_OK;
broken:
    /* A timed-out or broken channel: the connection's state is unknown. */
    if (e.code == MRD_ERR_TIMEOUT) {
        char why[sizeof(e.msg)];
        snprintf(why, sizeof(why), "%s", e.msg);
        mrd_error_set(&e, MRD_ERR_TIMEOUT, "%s: %s did not finish in time: %s", h->name,
                      argv[0], why);
    } else if (e.code == MRD_OK) {
        mrd_error_set(&e, MRD_ERR_IO, "%s: running %s: %s", h->name, argv[0],
                      session_error(k));
    }
    free(cmd);
    mrd_buf_free(&out);
    mrd_buf_free(&errs);
    libssh2_channel_free(ch); /* best effort before the session goes */
    conn_drop(k, true);
    if (err)
        *err = e;
    return e.code;
}

/* ==== SFTP ==== */

static LIBSSH2_SFTP *sftp_get(ssh_conn *k, long long deadline, mrd_error *err)
{
    if (k->sftp)
        return k->sftp;
    SSH_RETRY_PTR(k, deadline, err, k->sftp, libssh2_sftp_init(k->s));
    if (!k->sftp) {
        mrd_error_set(err, MRD_ERR_CONNECT, "%s: cannot start SFTP: %s (is the sftp "
                                            "subsystem enabled in sshd_config?)",
                      k->host->name, session_error(k));
        conn_drop(k, true);
    }
    return k->sftp;
}

static const char *fx_text(unsigned long fx)
{
    switch (fx) {
    case LIBSSH2_FX_NO_SUCH_FILE: return "no such file";
    case LIBSSH2_FX_NO_SUCH_PATH: return "no such folder";
    case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "it already exists";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left on the device";
    case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
    case LIBSSH2_FX_WRITE_PROTECT: return "read-only file system";
    case LIBSSH2_FX_NOT_A_DIRECTORY: return "not a folder";
    case LIBSSH2_FX_FAILURE: return "failure";
    default: return "SFTP error";
    }
}

/* Record why an SFTP call returned RC; MRD_ERR_NOT_FOUND for a missing
 * file.  Drops the connection on session-level errors. */
static mrd_rc sftp_fail(ssh_conn *k, int rc, const char *what, const char *path, mrd_error *err)
{
    if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && k->sftp) {
        unsigned long fx = libssh2_sftp_last_error(k->sftp);
        bool missing = fx == LIBSSH2_FX_NO_SUCH_FILE || fx == LIBSSH2_FX_NO_SUCH_PATH;
        return mrd_error_set(err, missing ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "%s: cannot %s %s: %s", k->host->name, what, path, fx_text(fx));
    }
    mrd_rc code = rc == LIBSSH2_ERROR_TIMEOUT ? MRD_ERR_TIMEOUT : MRD_ERR_IO;
    char why[sizeof(err->msg)];
    snprintf(why, sizeof(why), "%s", rc == LIBSSH2_ERROR_TIMEOUT && err ? err->msg
                                                                       : session_error(k));
    conn_check(k, rc == LIBSSH2_ERROR_TIMEOUT ? -1 : rc);
    return mrd_error_set(err, code, "%s: cannot %s %s: %s", k->host->name, what, path, why);
}

static mrd_rc sftp_stat_locked(ssh_conn *k, const char *path, tp_filestat *st, long long deadline,
                               mrd_error *err)
{
    LIBSSH2_SFTP *sftp = sftp_get(k, deadline, err);
    if (!sftp)
        return err ? err->code : MRD_ERR_CONNECT;
    LIBSSH2_SFTP_ATTRIBUTES a;
    int rc;
    SSH_RETRY(k, deadline, err, rc,
              libssh2_sftp_stat_ex(sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_STAT, &a));
    if (rc != 0)
        return sftp_fail(k, rc, "stat", path, err);
    *st = (tp_filestat){.is_dir = LIBSSH2_SFTP_S_ISDIR(a.permissions),
                    .size = (long long)a.filesize,
                    .mode = (mode_t)(a.permissions & 07777)};
    return MRD_OK;
}

static mrd_rc sftp_mkdir_locked(ssh_conn *k, const char *path, mode_t mode, long long deadline,
                                int depth, mrd_error *err)
{
    LIBSSH2_SFTP *sftp = sftp_get(k, deadline, err);
    if (!sftp)
        return err ? err->code : MRD_ERR_CONNECT;
    int rc;
    SSH_RETRY(k, deadline, err, rc,
              libssh2_sftp_mkdir_ex(sftp, path, (unsigned)strlen(path), (long)mode));
    if (rc == 0)
        return MRD_OK;
    if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL)
        return sftp_fail(k, rc, "create", path, err);
    unsigned long fx = libssh2_sftp_last_error(sftp);
    if ((fx == LIBSSH2_FX_NO_SUCH_FILE || fx == LIBSSH2_FX_NO_SUCH_PATH) && depth < 64) {
        /* the parent is missing: create it, then try again */
        char parent[MRD_PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        if (!slash || slash == parent)
            return sftp_fail(k, rc, "create", path, err);
        *slash = '\0';
        MRD_TRY(sftp_mkdir_locked(k, parent, mode, deadline, depth + 1, err));
        return sftp_mkdir_locked(k, path, mode, deadline, depth + 1, err);
    }
    /* OpenSSH says FAILURE for "exists": fine when it is a folder */
    tp_filestat st;
    if (sftp_stat_locked(k, path, &st, deadline, NULL) == MRD_OK && st.is_dir)
        return MRD_OK;
    return mrd_error_set(err, MRD_ERR_IO, "%s: cannot create the folder %s: %s", k->host->name,
                         path, fx == LIBSSH2_FX_FAILURE ? "it exists and is not a folder"
                                                         : fx_text(fx));
}

/* Write DATA to TMP with permissions MODE, fsync, close. */
static mrd_rc sftp_write_file(ssh_conn *k, const char *tmp, const void *data, size_t len,
                              mode_t mode, long long deadline, mrd_error *err)
{
    LIBSSH2_SFTP *sftp = sftp_get(k, deadline, err);
    if (!sftp)
        return err ? err->code : MRD_ERR_CONNECT;
    LIBSSH2_SFTP_HANDLE *fh;
    SSH_RETRY_PTR(k, deadline, err, fh,
                  libssh2_sftp_open_ex(sftp, tmp, (unsigned)strlen(tmp),
                                       LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT |
                                           LIBSSH2_FXF_TRUNC | LIBSSH2_FXF_EXCL,
                                       (long)mode, LIBSSH2_SFTP_OPENFILE));
    if (!fh)
        return sftp_fail(k, libssh2_session_last_errno(k->s), "create", tmp, err);
    int rc = 0;
    for (size_t off = 0; off < len;) {
        ssize_t w;
        SSH_RETRY(k, deadline, err, w,
                  libssh2_sftp_write(fh, (const char *)data + off, len - off));
        if (w < 0) {
            rc = (int)w;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0) {
        SSH_RETRY(k, deadline, err, rc, libssh2_sftp_fsync(fh));
        if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
            libssh2_sftp_last_error(sftp) == LIBSSH2_FX_OP_UNSUPPORTED)
            rc = 0; /* a server without fsync@openssh.com */
    }
    if (rc == 0) {
        /* the exact mode, whatever the server's umask */
        LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
                                     .permissions = mode};
        SSH_RETRY(k, deadline, err, rc, libssh2_sftp_fsetstat(fh, &a));
    }
    int crc;
    if (k->s)
        SSH_RETRY(k, deadline, err, crc, libssh2_sftp_close_handle(fh));
    else
        crc = 0;
    if (rc == 0)
        rc = crc;
    return rc == 0 ? MRD_OK : sftp_fail(k, rc, "write", tmp, err);
}

/* ==== operations ==== */

static mrd_rc ssh_connect(mrd_tp *tp, const mrd_host *host, mrd_error *err)
{
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    conn_release(k);
    return MRD_OK;
}

static mrd_rc ssh_home(mrd_tp *tp, const mrd_host *host, char *buf, size_t n, mrd_error *err)
{
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    mrd_rc rc = MRD_OK;
    if (!k->home[0]) {
        long long deadline = op_deadline(k->tp, 0);
        LIBSSH2_SFTP *sftp = sftp_get(k, deadline, err);
        int r = 0;
        char path[MRD_PATH_MAX];
        if (!sftp)
            rc = err ? err->code : MRD_ERR_CONNECT;
        else {
            /* SFTP starts in the user's home folder */
            SSH_RETRY(k, deadline, err, r,
                      libssh2_sftp_symlink_ex(sftp, ".", 1, path, sizeof(path) - 1,
                                              LIBSSH2_SFTP_REALPATH));
            if (r <= 0)
                rc = sftp_fail(k, r, "resolve the home folder", "~", err);
            else {
                path[r] = '\0';
                snprintf(k->home, sizeof(k->home), "%s", path);
            }
        }
    }
    if (rc == MRD_OK && mrd_path_fmt(buf, n, "%s", k->home) != MRD_OK)
        rc = mrd_error_set(err, MRD_ERR_INVALID, "home folder too long");
    conn_release(k);
    return rc;
}

static mrd_rc ssh_mkdir_p(mrd_tp *tp, const mrd_host *host, const char *path, mode_t mode,
                          mrd_error *err)
{
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    long long deadline = op_deadline(k->tp, 0);
    tp_filestat st;
    mrd_rc rc = sftp_stat_locked(k, path, &st, deadline, NULL);
    if (rc != MRD_OK || !st.is_dir)
        rc = k->s ? sftp_mkdir_locked(k, path, mode, deadline, 0, err)
                  : mrd_error_set(err, MRD_ERR_CONNECT, "%s: connection lost", host->name);
    conn_release(k);
    return rc;
}

static mrd_rc ssh_put_file(mrd_tp *tp, const mrd_host *host, const char *path, const void *data,
                           size_t len, mode_t mode, mrd_error *err)
{
    ssh_tp *st = tp->impl;
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    long long deadline = op_deadline(st, 0);
    char tmp[MRD_PATH_MAX];
    unsigned seq = atomic_fetch_add(&st->tmp_seq, 1);
    mrd_rc rc = mrd_path_fmt(tmp, sizeof(tmp), "%s.tmp-%d-%u", path, (int)getpid(), seq);
    if (rc != MRD_OK)
        rc = mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", path);
    if (rc == MRD_OK)
        rc = sftp_write_file(k, tmp, data, len, mode, deadline, err);
    if (rc == MRD_OK && k->s) {
        int r;
        SSH_RETRY(k, deadline, err, r,
                  libssh2_sftp_rename_ex(k->sftp, tmp, (unsigned)strlen(tmp), path,
                                         (unsigned)strlen(path),
                                         LIBSSH2_SFTP_RENAME_OVERWRITE |
                                             LIBSSH2_SFTP_RENAME_ATOMIC |
                                             LIBSSH2_SFTP_RENAME_NATIVE));
        if (r == LIBSSH2_ERROR_SFTP_PROTOCOL) {
            /* SFTP version 3 renames only onto a free name (OpenSSH: link,
             * then unlink): replace an existing file with rename(2). */
            const char *argv[] = {"mv", "-f", "--", tmp, path, NULL};
            tp_result res;
            rc = exec_locked(k, argv, NULL, 0, 0, &res, err);
            if (rc == MRD_OK && res.status != 0)
                rc = mrd_error_set(err, MRD_ERR_IO, "%s: cannot replace %s: %s", host->name,
                                   path, res.err[0] ? res.err : "mv failed");
            tp_result_free(&res);
        } else if (r != 0) {
            rc = sftp_fail(k, r, "rename onto", path, err);
        }
    }
    if (rc != MRD_OK && k->s && k->sftp) {
        int r;
        SSH_RETRY(k, deadline, NULL, r,
                  libssh2_sftp_unlink_ex(k->sftp, tmp, (unsigned)strlen(tmp)));
        (void)r;
    }
    conn_release(k);
    return rc;
}

static mrd_rc ssh_get_file(mrd_tp *tp, const mrd_host *host, const char *path, char **out,
                           mrd_error *err)
{
    *out = NULL;
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    long long deadline = op_deadline(k->tp, 0);
    LIBSSH2_SFTP *sftp = sftp_get(k, deadline, err);
    mrd_rc rc = MRD_OK;
    LIBSSH2_SFTP_HANDLE *fh = NULL;
    mrd_buf buf;
    mrd_buf_init(&buf, SSH_MAX_FILE);
    if (!sftp) {
        rc = err ? err->code : MRD_ERR_CONNECT;
        goto out;
    }
    SSH_RETRY_PTR(k, deadline, err, fh,
                  libssh2_sftp_open_ex(sftp, path, (unsigned)strlen(path), LIBSSH2_FXF_READ, 0,
                                       LIBSSH2_SFTP_OPENFILE));
    if (!fh) {
        rc = sftp_fail(k, libssh2_session_last_errno(k->s), "read", path, err);
        goto out;
    }
    for (;;) {
        char chunk[SSH_IO_CHUNK];
        ssize_t r;
        SSH_RETRY(k, deadline, err, r, libssh2_sftp_read(fh, chunk, sizeof(chunk)));
        if (r < 0) {
            rc = sftp_fail(k, (int)r, "read", path, err);
            break;
        }
        if (r == 0)
            break;
        if (mrd_buf_add(&buf, chunk, (size_t)r) != MRD_OK) {
            rc = mrd_error_set(err, MRD_ERR_INVALID, "%s: %s is larger than %d bytes",
                               host->name, path, SSH_MAX_FILE);
            break;
        }
    }
    if (k->s) {
        int r;
        SSH_RETRY(k, deadline, NULL, r, libssh2_sftp_close_handle(fh));
        (void)r;
    }
    if (rc == MRD_OK && (*out = mrd_buf_take(&buf)) == NULL)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
out:
    mrd_buf_free(&buf);
    conn_release(k);
    return rc;
}

static mrd_rc ssh_stat(mrd_tp *tp, const mrd_host *host, const char *path, tp_filestat *st,
                       mrd_error *err)
{
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    mrd_rc rc = sftp_stat_locked(k, path, st, op_deadline(k->tp, 0), err);
    conn_release(k);
    return rc;
}

static mrd_rc ssh_exec(mrd_tp *tp, const mrd_host *host, const char *const argv[],
                       const void *input, size_t len, int timeout_ms, tp_result *res,
                       mrd_error *err)
{
    *res = (tp_result){0};
    ssh_conn *k = conn_get(tp, host, err);
    if (!k)
        return err ? err->code : MRD_ERR_CONNECT;
    mrd_rc rc = exec_locked(k, argv, input, len, timeout_ms, res, err);
    conn_release(k);
    return rc;
}

static mrd_rc ssh_remove_tree(mrd_tp *tp, const mrd_host *host, const char *path,
                              mrd_error *err)
{
    /* the same guard as mrd_rm_rf(), on an absolute path */
    if (path[0] != '/' || strlen(path) < 8 || strstr(path, "/../"))
        return mrd_error_set(err, MRD_ERR_INVALID, "refusing to remove %s on %s", path,
                             host->name);
    const char *argv[] = {"rm", "-rf", "--", path, NULL};
    tp_result res;
    MRD_TRY(ssh_exec(tp, host, argv, NULL, 0, 0, &res, err));
    mrd_rc rc = res.status == 0 ? MRD_OK
                                : mrd_error_set(err, MRD_ERR_IO, "%s: cannot remove %s: %s",
                                                host->name, path,
                                                res.err[0] ? res.err : "rm failed");
    tp_result_free(&res);
    return rc;
}

static void ssh_describe(mrd_tp *tp, const mrd_host *host, char *buf, size_t n)
{
    ssh_tp *st = tp->impl;
    int i = topology_find_host(st->t, host->name);
    if (i < 0) {
        snprintf(buf, n, "%s", host->address);
        return;
    }
    pthread_mutex_lock(&st->conns[i].lock);
    snprintf(buf, n, "%s", st->conns[i].desc[0] ? st->conns[i].desc : "not connected");
    pthread_mutex_unlock(&st->conns[i].lock);
}

static int ssh_connections(mrd_tp *tp, const mrd_host *host)
{
    ssh_tp *st = tp->impl;
    int i = topology_find_host(st->t, host->name);
    return i < 0 ? 0 : atomic_load(&st->conns[i].connections);
}

static void ssh_close(mrd_tp *tp)
{
    ssh_tp *st = tp->impl;
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        conn_drop(&st->conns[i], false);
        pthread_mutex_destroy(&st->conns[i].lock);
    }
    pthread_mutex_destroy(&st->kh_lock);
    free(st->conns);
    free(st);
    tp->impl = NULL;
}

static const mrd_transport_ops ssh_ops = {
    .name = "ssh",
    .remote = true,
    .connect = ssh_connect,
    .home = ssh_home,
    .mkdir_p = ssh_mkdir_p,
    .put_file = ssh_put_file,
    .get_file = ssh_get_file,
    .stat = ssh_stat,
    .exec = ssh_exec,
    .spawn_daemon = NULL,
    .remove_tree = ssh_remove_tree,
    .describe = ssh_describe,
    .connections = ssh_connections,
    .close = ssh_close,
};

mrd_rc transport_ssh_open(const mrd_topology *t, const transport_opts *o, mrd_tp **out,
                          mrd_error *err)
{
    *out = NULL;
    pthread_once(&ssh_once, ssh_init);
    if (ssh_init_rc != 0)
        return mrd_error_set(err, MRD_ERR_STATE, "cannot initialise libssh2");
    /* A host that closes its connection must fail a write, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    ssh_tp *st = calloc(1, sizeof(*st));
    mrd_tp *tp = calloc(1, sizeof(*tp));
    if (!st || !tp || !(st->conns = calloc((size_t)(t->nhosts ? t->nhosts : 1),
                                           sizeof(*st->conns)))) {
        if (st)
            free(st->conns);
        free(st);
        free(tp);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    st->t = t;
    st->n = t->nhosts;
    if (o)
        st->o = *o;
    if (st->o.connect_timeout_ms <= 0)
        st->o.connect_timeout_ms = TP_CONNECT_TIMEOUT_MS;
    if (st->o.command_timeout_ms <= 0)
        st->o.command_timeout_ms = TP_COMMAND_TIMEOUT_MS;
    if (st->o.idle_timeout_ms <= 0)
        st->o.idle_timeout_ms = TP_IDLE_TIMEOUT_MS;
    if (st->o.keepalive_ms <= 0)
        st->o.keepalive_ms = TP_KEEPALIVE_MS;
    pthread_mutex_init(&st->kh_lock, NULL);
    for (int i = 0; i < st->n; i++) {
        ssh_conn *k = &st->conns[i];
        pthread_mutex_init(&k->lock, NULL);
        k->tp = st;
        k->host = &t->hosts[i];
        k->sock = -1;
        atomic_init(&k->connections, 0);
    }
    atomic_init(&st->tmp_seq, 0);
    tp->ops = &ssh_ops;
    tp->impl = st;
    mrd_rc rc = mrd_expand_home(t->transport.identity, st->identity, sizeof(st->identity), err);
    if (rc == MRD_OK)
        rc = mrd_expand_home(t->transport.known_hosts, st->known_hosts, sizeof(st->known_hosts),
                          err);
    if (rc != MRD_OK) {
        transport_close(&tp);
        return rc;
    }
    *out = tp;
    return MRD_OK;
}
