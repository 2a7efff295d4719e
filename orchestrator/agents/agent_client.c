#include "agent_client.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "certs.h"
#include "log.h"

/* ==== TLS, process-wide ====
 *
 * Set once at start-up (agent_client_set_tls()), read by every request
 * after: "" means plain http://. */
static char tls_ca[MRD_PATH_MAX];

mrd_rc agent_client_set_tls(const char *ca_file, mrd_error *err)
{
    if (!ca_file) {
        tls_ca[0] = '\0';
        return MRD_OK;
    }
    if (!ca_file[0] || strlen(ca_file) >= sizeof(tls_ca))
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "the agents' CA certificate path is empty or too long");
    memcpy(tls_ca, ca_file, strlen(ca_file) + 1);
    return MRD_OK;
}

mrd_rc agent_client_set_tls_for(const orch_ctx *c, mrd_error *err)
{
    if (!c->topo->settings.tls.enabled)
        return agent_client_set_tls(NULL, err);
    char ca[MRD_PATH_MAX];
    MRD_TRY(mrd_tls_ca_file(c->secrets_dir, ca, sizeof(ca), err));
    return agent_client_set_tls(ca, err);
}

const char *agent_client_scheme(void)
{
    return tls_ca[0] ? "https" : "http";
}

/* TLS on: the CA file can be read, else the client cannot work (a
 * sentence for ERR). */
static mrd_rc tls_ca_readable(mrd_error *err)
{
    if (!tls_ca[0] || access(tls_ca, R_OK) == 0)
        return MRD_OK;
    int e = errno;
    return mrd_error_set(err, e == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                         "cannot read the agents' CA certificate %s: %s (deploy writes it "
                         "when tls.enabled is true)",
                         tls_ca, strerror(e));
}

/* ==== libcurl, loaded on first use ====
 *
 * Debian's libcurl pulls in some 30 shared libraries (TLS, Kerberos, LDAP,
 * ssh, ...).  Linked into `meridian`, loading them cost every command,
 * even `--help`, about 4 ms and 6 MB of RSS before any request.  Only the
 * commands that talk to agents need it, so it is opened here, once. */
static struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *e);
    const char *(*easy_strerror)(CURLcode code);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd extra[], unsigned int n,
                            int timeout_ms, int *numfds);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_cleanup)(CURLM *m);
    const char *(*multi_strerror)(CURLMcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} lc;

static char curl_load_error[256];

/* Open libcurl and resolve what this file uses; false with
 * curl_load_error set when it cannot. */
static bool curl_load(void)
{
    void *so = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        snprintf(curl_load_error, sizeof(curl_load_error),
                 "cannot load libcurl.so.4 (install libcurl4): %s", dlerror());
        return false;
    }
    static const struct {
        const char *name;
        size_t offset;
    } syms[] = {
#define SYM(f) {"curl_" #f, offsetof(__typeof__(lc), f)}
        SYM(global_init),     SYM(easy_init),        SYM(easy_setopt),
        SYM(easy_getinfo),    SYM(easy_cleanup),     SYM(easy_strerror),
        SYM(multi_init),      SYM(multi_add_handle), SYM(multi_perform),
        SYM(multi_poll),      SYM(multi_info_read),  SYM(multi_remove_handle),
        SYM(multi_cleanup),   SYM(multi_strerror),   SYM(slist_append),
        SYM(slist_free_all),
#undef SYM
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *f = dlsym(so, syms[i].name);
        if (!f) {
            snprintf(curl_load_error, sizeof(curl_load_error),
                     "libcurl.so.4 lacks %s (need libcurl 7.66 or later)", syms[i].name);
            return false;
        }
        /* POSIX guarantees data and function pointers convert (dlsym). */
        memcpy((char *)&lc + syms[i].offset, &f, sizeof(f));
    }
    return true;
}

/* ==== one request ==== */

typedef struct call {
    CURL *easy;
    const agent_target *t;
    agent_result *res;
    mrd_buf body; /* received so far, at most AGENT_MAX_BODY */
    bool too_big;
    bool done;
    char why[CURL_ERROR_SIZE]; /* libcurl's words for a failure */
} call;

/* libcurl's words WHY for failure CC, without its "SSL: " or "SSL
 * certificate problem: " (the message says TLS already). */
static const char *curl_tls_why(const char *why, CURLcode cc)
{
    static const char *const prefixes[] = {"SSL certificate problem: ", "SSL: "};
    if (!why[0])
        return lc.easy_strerror(cc);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(why, prefixes[i], strlen(prefixes[i])) == 0)
            return why + strlen(prefixes[i]);
    return why;
}

/* libcurl's codes for a failed TLS handshake or verification. */
static bool curl_tls_failed(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return true;
    default:
        return false;
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    call *k = ud;
    size_t n = size * nmemb;
    mrd_rc rc = mrd_buf_add(&k->body, data, n);
    if (rc == MRD_ERR_INVALID)
        k->too_big = true;
    return rc == MRD_OK ? n : 0; /* CURLE_WRITE_ERROR ends this transfer only */
}

/* "euw-b1 (127.0.2.2:17379)", the way every message names an agent. */
static void agent_name(const agent_target *t, char *buf, size_t n)
{
    bool v6 = strchr(t->address, ':') != NULL;
    snprintf(buf, n, "%s (%s%s%s:%d)", t->host, v6 ? "[" : "", t->address, v6 ? "]" : "",
             t->port);
}

/* Turn a finished transfer into K->res. */
static void finish(call *k, CURLcode cc, const agent_timeouts *to)
{
    agent_result *r = k->res;
    char who[192];
    agent_name(k->t, who, sizeof(who));
    k->done = true;
    if (cc != CURLE_OK) {
        long oserr = 0;
        curl_off_t connect_us = 0;
        lc.easy_getinfo(k->easy, CURLINFO_OS_ERRNO, &oserr);
        lc.easy_getinfo(k->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
        if (k->too_big)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s answered more than %d bytes: not an agent report", who,
                     AGENT_MAX_BODY);
        else if (curl_tls_failed(cc))
            snprintf(r->error, sizeof(r->error), "agent on %s: TLS: %s%s", who,
                     cc == CURLE_PEER_FAILED_VERIFICATION ? "certificate verify failed: " : "",
                     curl_tls_why(k->why, cc));
        else if (cc == CURLE_OPERATION_TIMEDOUT && connect_us > 0)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s accepted the connection but did not answer within %.1f s",
                     who, to->request_ms / 1000.0);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            snprintf(r->error, sizeof(r->error),
                     "agent on %s is not answering: no connection within %.1f s", who,
                     (to->connect_ms < to->request_ms ? to->connect_ms : to->request_ms) /
                         1000.0);
        else if (cc == CURLE_COULDNT_CONNECT && oserr > 0)
            snprintf(r->error, sizeof(r->error), "agent on %s is not answering: %s", who,
                     strerror((int)oserr));
        else
            snprintf(r->error, sizeof(r->error), "agent on %s is not answering: %s", who,
                     lc.easy_strerror(cc));
        return;
    }
    long status = 0;
    lc.easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    r->http_status = (int)status;
    if (mrd_buf_len(&k->body) == 0) {
        snprintf(r->error, sizeof(r->error), "agent on %s answered HTTP %ld with no body", who,
                 status);
        return;
    }
    json_error_t jerr;
    r->body = json_loadb(mrd_buf_str(&k->body), mrd_buf_len(&k->body), 0, &jerr);
    if (!r->body)
        snprintf(r->error, sizeof(r->error),
                 "agent on %s answered HTTP %ld with a body that is not JSON (%d:%d: %s)",
                 who, status, jerr.line, jerr.column, jerr.text);
}

/* ==== many requests, one thread ==== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    /* The TLS backend only when the agents speak TLS (set at start-up,
     * before any request). */
    long flags = tls_ca[0] ? CURL_GLOBAL_DEFAULT : CURL_GLOBAL_NOTHING;
    curl_init_rc = curl_load() ? lc.global_init(flags) : CURLE_FAILED_INIT;
}

static mrd_rc setup(call *k, const char *method, const char *path, struct curl_slist *headers,
                    const agent_timeouts *to)
{
    bool v6 = strchr(k->t->address, ':') != NULL;
    char url[320];
    snprintf(url, sizeof(url), "%s://%s%s%s:%d%s", agent_client_scheme(), v6 ? "[" : "",
             k->t->address, v6 ? "]" : "", k->t->port, path);
    CURL *e = k->easy;
    bool post = strcmp(method, "POST") == 0;
    CURLcode cc = CURLE_OK;
#define SET(opt, val) (cc = cc != CURLE_OK ? cc : lc.easy_setopt(e, opt, val))
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, agent_client_scheme());
    SET(CURLOPT_ERRORBUFFER, k->why);
    if (tls_ca[0]) {
        /* the deployment's CA only (no system store), the host's address
         * in the certificate, TLS 1.2 or later; never plain http:// */
        SET(CURLOPT_CAINFO, tls_ca);
        SET(CURLOPT_CAPATH, (char *)NULL);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    }
    /* Only the host's own address: never a proxy from the environment,
     * never a redirect. */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)to->request_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)to->connect_ms);
    SET(CURLOPT_USERAGENT, "meridian");
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, k);
    SET(CURLOPT_PRIVATE, k);
    if (headers)
        SET(CURLOPT_HTTPHEADER, headers);
    if (post) {
        SET(CURLOPT_POSTFIELDS, "{}");
        SET(CURLOPT_POSTFIELDSIZE, 2L);
    }
#undef SET
    return cc == CURLE_OK ? MRD_OK : MRD_ERR_INVALID;
}

/* Load and initialise libcurl once; MRD_ERR_STATE when it cannot be. */
static mrd_rc curl_ready(mrd_error *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc == CURLE_OK)
        return MRD_OK;
    return mrd_error_set(err, MRD_ERR_STATE, "cannot initialise libcurl: %s",
                         curl_load_error[0] ? curl_load_error
                                            : lc.easy_strerror(curl_init_rc));
}

/* Send METHOD PATH to every target at once and wait for all of them. */
static mrd_rc call_all(const agent_target *targets, int n, const char *method,
                       const char *path, struct curl_slist *headers, const agent_timeouts *to,
                       agent_result *out, mrd_error *err)
{
    for (int i = 0; i < n; i++)
        out[i] = (agent_result){0};
    if (n <= 0)
        return MRD_OK;
    mrd_rc ready = tls_ca_readable(err);
    if (ready != MRD_OK)
        return ready;
    if (curl_ready(err) != MRD_OK)
        return err ? err->code : MRD_ERR_STATE;
    call *calls = calloc((size_t)n, sizeof(*calls));
    CURLM *m = lc.multi_init();
    mrd_rc rc = calls && m ? MRD_OK : MRD_ERR_NOMEM;
    for (int i = 0; rc == MRD_OK && i < n; i++) {
        calls[i].t = &targets[i];
        calls[i].res = &out[i];
        mrd_buf_init(&calls[i].body, AGENT_MAX_BODY);
        calls[i].easy = lc.easy_init();
        if (!calls[i].easy)
            rc = MRD_ERR_NOMEM;
        else if ((rc = setup(&calls[i], method, path, headers, to)) == MRD_OK &&
                 lc.multi_add_handle(m, calls[i].easy) != CURLM_OK)
            rc = MRD_ERR_NOMEM;
    }
    int running = rc == MRD_OK;
    while (running) {
        CURLMcode mc = lc.multi_perform(m, &running);
        if (mc == CURLM_OK && running)
            mc = lc.multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK) {
            rc = mrd_error_set(err, MRD_ERR_IO, "libcurl: %s", lc.multi_strerror(mc));
            break;
        }
    }
    CURLMsg *msg;
    int left;
    while (rc == MRD_OK && (msg = lc.multi_info_read(m, &left)) != NULL) {
        char *priv = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        lc.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            finish((call *)(void *)priv, msg->data.result, to);
    }
    for (int i = 0; calls && i < n; i++) {
        if (rc == MRD_OK && !calls[i].done)
            snprintf(out[i].error, sizeof(out[i].error), "agent on %s did not answer",
                     targets[i].host);
        if (calls[i].easy) {
            if (m)
                lc.multi_remove_handle(m, calls[i].easy);
            lc.easy_cleanup(calls[i].easy);
        }
        mrd_buf_free(&calls[i].body);
    }
    free(calls);
    if (m)
        lc.multi_cleanup(m);
    if (rc != MRD_OK) {
        for (int i = 0; i < n; i++) {
            json_decref(out[i].body);
            out[i] = (agent_result){0};
        }
        if (err && err->code == MRD_OK)
            mrd_error_set(err, rc, rc == MRD_ERR_NOMEM ? "out of memory"
                                                       : "cannot set up an HTTP request");
    }
    return rc;
}

/* Wipe every header (the token is in one of them), then free the list. */
static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        if (p->data)
            memset(p->data, 0, strlen(p->data));
    lc.slist_free_all(h);
}

/* The headers of a call with the token (*out new; headers_free() it). */
static mrd_rc token_headers(const char *token, struct curl_slist **out, mrd_error *err)
{
    char auth[32 + MRD_SECRET_LEN];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *h = NULL, *tmp;
    const char *const lines[] = {auth, "Content-Type: application/json",
                                 "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        tmp = lc.slist_append(h, lines[i]);
        if (!tmp) {
            headers_free(h);
            memset(auth, 0, sizeof(auth));
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        }
        h = tmp;
    }
    memset(auth, 0, sizeof(auth));
    *out = h;
    return MRD_OK;
}

/* POST PATH with the token on the N targets. */
static mrd_rc curl_post_all(const agent_target *targets, int n, const char *path,
                            const char *token, const agent_timeouts *to, agent_result *out,
                            mrd_error *err)
{
    struct curl_slist *h = NULL;
    if (curl_ready(err) != MRD_OK || token_headers(token, &h, err) != MRD_OK) {
        for (int j = 0; j < n; j++)
            out[j] = (agent_result){0};
        return err ? err->code : MRD_ERR_STATE;
    }
    mrd_rc rc = call_all(targets, n, "POST", path, h, to, out, err);
    headers_free(h);
    return rc;
}

static mrd_rc curl_heal_all(const agent_target *targets, int n, const char *token,
                            const agent_timeouts *to, agent_result *out, mrd_error *err)
{
    return curl_post_all(targets, n, "/v1/heal", token, to, out, err);
}

static mrd_rc curl_restart(const agent_target *t, const char *path, const char *token,
                           const agent_timeouts *to, agent_result *out, mrd_error *err)
{
    return curl_post_all(t, 1, path, token, to, out, err);
}

static mrd_rc curl_health_all(const agent_target *targets, int n, const agent_timeouts *to,
                              agent_result *out, mrd_error *err)
{
    return call_all(targets, n, "GET", "/v1/health", NULL, to, out, err);
}

const agent_client_ops *agent_client_curl(void)
{
    static const agent_client_ops ops = {
        .name = "curl",
        .heal_all = curl_heal_all,
        .health_all = curl_health_all,
        .restart = curl_restart,
    };
    return &ops;
}

/* ==== GET /v1/health without libcurl ====
 *
 * The one exception to "libcurl is the agent client", measured, not
 * assumed.  `meridian status` asks every agent for readiness on each run
 * and must stay light (bench/status.sh: peak RSS <= 10 MB, no regression
 * over 10 %).  With health_all = curl_health_all, in one run
 * (BASELINE_BUILD=<this plain path's build> bench/status.sh 30, 6 hosts,
 * 2-core machine): 10.1 ms and 10.9 MB peak RSS, against 6.1 ms and
 * 4.2 MB here: 1.65x the time, 2.57x the memory, over the RSS target.
 * Loading libcurl's ~30 shared libraries (TLS, Kerberos, LDAP, ssh) is
 * the cost, not the requests.
 *
 * So GET /v1/health alone stays an HTTP/1.0 GET over non-blocking
 * sockets, all agents at once in one poll() loop: the endpoint needs no
 * token.  With TLS on, each socket carries an OpenSSL client session
 * (libssl only: libcrypto is loaded anyway, for ssh) that trusts the
 * deployment's CA alone and checks that the certificate names the host's
 * address (X509_VERIFY_PARAM_set1_ip_asc), driven by the same loop: a
 * call waits for what OpenSSL wants next (WANT_READ: POLLIN, WANT_WRITE:
 * POLLOUT).  Its limits: IPv4 addresses only.  Heal requests (token, long
 * timeouts) and everything else go through libcurl. */

typedef struct plain_call {
    const agent_target *t;
    agent_result *res;
    int fd;
    SSL *ssl; /* TLS on: the session over fd; NULL for plain HTTP */
    bool connected, secured, sent, done;
    short want; /* the poll() events the next step waits for */
    char req[256];
    size_t req_len, req_off;
    mrd_buf in; /* the answer so far, headers included; at most AGENT_MAX_BODY */
} plain_call;

/* "agent on WHO WHAT DETAIL" ("agent on WHO: TLS: DETAIL" when WHAT is
 * ": TLS: "): WHAT ends the sentence's first half. */
static void plain_fail(plain_call *k, const char *what, const char *detail)
{
    char who[192];
    agent_name(k->t, who, sizeof(who));
    snprintf(k->res->error, sizeof(k->res->error), "agent on %s%s%s%s", who,
             what[0] == ':' ? "" : " ", what, detail);
    k->done = true;
}

/* Parse "HTTP/1.x NNN ...\r\n...\r\n\r\nBODY" into K->res. */
static void plain_parse(plain_call *k)
{
    char who[192];
    agent_name(k->t, who, sizeof(who));
    k->done = true;
    int status = 0;
    const char *in = mrd_buf_str(&k->in);
    size_t len = mrd_buf_len(&k->in);
    const char *body = strstr(in, "\r\n\r\n");
    if (strncmp(in, "HTTP/1.", 7) != 0 || len < 12 || sscanf(in + 9, "%3d", &status) != 1 ||
        !body) {
        snprintf(k->res->error, sizeof(k->res->error),
                 "agent on %s answered something that is not HTTP", who);
        return;
    }
    k->res->http_status = status;
    body += 4;
    json_error_t jerr;
    k->res->body = json_loadb(body, (size_t)(in + len - body), 0, &jerr);
    if (!k->res->body)
        snprintf(k->res->error, sizeof(k->res->error),
                 "agent on %s answered HTTP %d with a body that is not JSON (%d:%d: %s)", who,
                 status, jerr.line, jerr.column, jerr.text);
}

/* A client context that trusts the CA file CA alone, for TLS 1.2 and
 * later (*out new; SSL_CTX_free() it).  The client cannot work without
 * it: as tls_ca_readable(), or MRD_ERR_IO naming the file. */
static mrd_rc tls_client_ctx(const char *ca, SSL_CTX **out, mrd_error *err)
{
    MRD_TRY(tls_ca_readable(err));
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
        SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        *out = ctx;
        return MRD_OK;
    }
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    SSL_CTX_free(ctx);
    return mrd_error_set(err, MRD_ERR_IO,
                         "cannot use the agents' CA certificate %s: %s (deploy writes it when "
                         "tls.enabled is true)",
                         ca, !ctx ? "out of memory" : why ? why : "not a PEM certificate");
}

/* The OpenSSL call on K that returned RET failed: wait for what it wants
 * (true), or end K with why (false).  WHAT: "handshake", "request" or
 * "answer". */
static bool tls_wait_or_fail(plain_call *k, int ret, const char *what)
{
    int e = SSL_get_error(k->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        k->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return true;
    }
    long verify = SSL_get_verify_result(k->ssl);
    unsigned long lib = ERR_get_error();
    char why[160];
    if (!k->secured && verify != X509_V_OK)
        snprintf(why, sizeof(why), "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (lib)
        snprintf(why, sizeof(why), "%s failed: %s", what, ERR_reason_error_string(lib));
    else if (e == SSL_ERROR_SYSCALL && errno)
        snprintf(why, sizeof(why), "%s failed: %s", what, strerror(errno));
    else
        snprintf(why, sizeof(why), "%s failed: the connection was closed", what);
    plain_fail(k, ": TLS: ", why);
    return false;
}

static void plain_start(plain_call *k, SSL_CTX *tls)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)k->t->port)};
    k->fd = -1;
    k->want = POLLOUT;
    if (inet_pton(AF_INET, k->t->address, &sa.sin_addr) != 1) {
        plain_fail(k, "has an address that is not IPv4", "");
        return;
    }
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) {
        plain_fail(k, "cannot be reached: no socket: ", strerror(errno));
        return;
    }
    if (tls) {
        /* the certificate must name the address asked, as libcurl's
         * VERIFYHOST checks */
        k->ssl = SSL_new(tls);
        if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1 ||
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), k->t->address) != 1) {
            plain_fail(k, "cannot be reached: TLS set-up failed", "");
            return;
        }
        SSL_set_connect_state(k->ssl);
    }
    int w = snprintf(k->req, sizeof(k->req),
                     "GET /v1/health HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: meridian\r\n"
                     "Accept: application/json\r\n\r\n",
                     k->t->address, k->t->port);
    k->req_len = (size_t)w;
    if (connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        k->connected = true;
    else if (errno != EINPROGRESS)
        plain_fail(k, "is not answering: ", strerror(errno));
}

/* Send what is left of the request.  False while K must wait (K->want
 * says for what) or failed. */
static bool plain_send(plain_call *k)
{
    while (k->req_off < k->req_len) {
        const char *p = k->req + k->req_off;
        size_t left = k->req_len - k->req_off;
        if (k->ssl) {
            ERR_clear_error();
            int n = SSL_write(k->ssl, p, (int)left);
            if (n <= 0) {
                tls_wait_or_fail(k, n, "request");
                return false;
            }
            k->req_off += (size_t)n;
            continue;
        }
        ssize_t n = send(k->fd, p, left, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            k->want = POLLOUT;
            return false;
        }
        if (n < 0) {
            plain_fail(k, "is not answering: ", strerror(errno));
            return false;
        }
        k->req_off += (size_t)n;
    }
    k->sent = true;
    k->want = POLLIN;
    return true;
}

/* Read what has arrived; at the end of the answer (HTTP/1.0: the agent
 * closes after it, with TLS's close_notify), parse it. */
static void plain_recv(plain_call *k)
{
    char chunk[4096];
    for (;;) {
        ssize_t n;
        if (k->ssl) {
            ERR_clear_error();
            int r = SSL_read(k->ssl, chunk, (int)sizeof(chunk));
            if (r <= 0 && SSL_get_error(k->ssl, r) == SSL_ERROR_ZERO_RETURN)
                n = 0;
            else if (r <= 0) {
                tls_wait_or_fail(k, r, "answer");
                return;
            } else
                n = r;
        } else {
            n = recv(k->fd, chunk, sizeof(chunk), 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                k->want = POLLIN;
                return;
            }
            if (n < 0) {
                plain_fail(k, "stopped answering: ", strerror(errno));
                return;
            }
        }
        if (n == 0) {
            plain_parse(k);
            return;
        }
        if (mrd_buf_add(&k->in, chunk, (size_t)n) != MRD_OK) {
            plain_fail(k, "answered more than the size limit: not an agent report", "");
            return;
        }
    }
}

/* Advance K after poll() reported activity on its socket. */
static void plain_step(plain_call *k)
{
    if (!k->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            plain_fail(k, "is not answering: ", strerror(soerr ? soerr : errno));
            return;
        }
        k->connected = true;
    }
    if (k->ssl && !k->secured) {
        ERR_clear_error();
        int r = SSL_connect(k->ssl);
        if (r != 1) {
            tls_wait_or_fail(k, r, "handshake");
            return;
        }
        k->secured = true;
    }
    if (!k->sent && !plain_send(k))
        return;
    plain_recv(k);
}

/* TLS writes go through write(2), which raises SIGPIPE on a connection
 * the agent reset: while the calls run, SIGPIPE is blocked in this thread,
 * and one raised meanwhile is taken off before it is unblocked. */
static void sigpipe_block(sigset_t *old, bool *was_pending)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, old);
    *was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_restore(const sigset_t *old, bool was_pending)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec now = {0, 0};
        (void)sigtimedwait(&pipe, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static mrd_rc plain_health_all(const agent_target *targets, int n, const agent_timeouts *to,
                               agent_result *out, mrd_error *err)
{
    for (int i = 0; i < n; i++)
        out[i] = (agent_result){0};
    SSL_CTX *tls = NULL;
    if (tls_ca[0] && n > 0)
        MRD_TRY(tls_client_ctx(tls_ca, &tls, err));
    plain_call *calls = calloc((size_t)(n ? n : 1), sizeof(*calls));
    struct pollfd *pfds = calloc((size_t)(n ? n : 1), sizeof(*pfds));
    if (!calls || !pfds) {
        free(calls);
        free(pfds);
        SSL_CTX_free(tls);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    sigset_t mask;
    bool was_pending = false;
    if (tls)
        sigpipe_block(&mask, &was_pending);
    for (int i = 0; i < n; i++) {
        calls[i] = (plain_call){.t = &targets[i], .res = &out[i]};
        mrd_buf_init(&calls[i].in, AGENT_MAX_BODY);
        plain_start(&calls[i], tls);
    }
    long long deadline = mrd_now_ms() + to->request_ms;
    for (;;) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            pfds[i] = (struct pollfd){.fd = calls[i].done ? -1 : calls[i].fd,
                                      .events = calls[i].want};
            active += !calls[i].done;
        }
        long long left = deadline - mrd_now_ms();
        if (!active || left <= 0)
            break;
        if (poll(pfds, (nfds_t)n, (int)left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++)
            if (!calls[i].done && pfds[i].revents)
                plain_step(&calls[i]);
    }
    for (int i = 0; i < n; i++) {
        if (!calls[i].done)
            plain_fail(&calls[i],
                       calls[i].connected
                           ? "accepted the connection but did not answer in time"
                           : "is not answering: no connection in time",
                       "");
        SSL_free(calls[i].ssl);
        if (calls[i].fd >= 0)
            close(calls[i].fd);
        mrd_buf_free(&calls[i].in);
    }
    if (tls)
        sigpipe_restore(&mask, was_pending);
    SSL_CTX_free(tls);
    free(calls);
    free(pfds);
    return MRD_OK;
}

const agent_client_ops *agent_client_default(void)
{
    static const agent_client_ops ops = {
        .name = "default",
        .heal_all = curl_heal_all,
        .health_all = plain_health_all,
        .restart = curl_restart,
    };
    return &ops;
}

/* ==== every host of a topology ==== */

/* The hosts of C's plan that run something, as targets (*N of them;
 * IDX[k] is target k's topology host), and a result per topology host,
 * the others marked skipped. */
static mrd_rc new_batch(const orch_ctx *c, agent_target **targets, int **idx, int *n,
                        agent_result **results, mrd_error *err)
{
    const mrd_topology *t = c->topo;
    int nh = t->nhosts ? t->nhosts : 1;
    *targets = calloc((size_t)nh, sizeof(**targets));
    *results = calloc((size_t)nh, sizeof(**results));
    *idx = calloc((size_t)nh, sizeof(**idx));
    if (!*targets || !*results || !*idx) {
        free(*targets);
        free(*results);
        free(*idx);
        *targets = NULL;
        *results = NULL;
        *idx = NULL;
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    *n = 0;
    for (int i = 0; i < t->nhosts; i++) {
        if (!orch_host_used(c, i)) {
            (*results)[i].skipped = true;
            continue;
        }
        (*idx)[*n] = i;
        (*targets)[(*n)++] = (agent_target){.host = t->hosts[i].name,
                                            .address = t->hosts[i].address,
                                            .port = t->settings.agent.port};
    }
    return MRD_OK;
}

/* Call OPS' HEAL (TOKEN set) or HEALTH (TOKEN NULL) on every host C's
 * plan uses; *OUT as agent_heal_all() says. */
static mrd_rc call_batch(const orch_ctx *c, const agent_client_ops *ops, const char *token,
                         const agent_timeouts *to, agent_result **out, mrd_error *err)
{
    agent_target *targets;
    agent_result *results, *some;
    int *idx, n = 0;
    MRD_TRY(new_batch(c, &targets, &idx, &n, &results, err));
    mrd_rc rc = MRD_OK;
    some = calloc((size_t)(n ? n : 1), sizeof(*some));
    if (!some)
        rc = mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    if (rc == MRD_OK && n > 0)
        rc = token ? ops->heal_all(targets, n, token, to, some, err)
                   : ops->health_all(targets, n, to, some, err);
    if (rc == MRD_OK)
        for (int k = 0; k < n; k++)
            results[idx[k]] = some[k];
    else
        agent_results_free(&results, c->topo->nhosts);
    free(some);
    free(targets);
    free(idx);
    *out = results;
    return rc;
}

mrd_rc agent_heal_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                      mrd_error *err)
{
    *out = NULL;
    if (!ops)
        ops = agent_client_default();
    char token[MRD_SECRET_LEN];
    mrd_rc rc = orch_secret(c, "agent.token", token, sizeof(token), err);
    if (rc != MRD_OK)
        return rc;
    agent_timeouts to = {.request_ms = AGENT_HEAL_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    rc = call_batch(c, ops, token, &to, out, err);
    memset(token, 0, sizeof(token));
    return rc;
}

mrd_rc agent_health_all(const orch_ctx *c, const agent_client_ops *ops, agent_result **out,
                        mrd_error *err)
{
    *out = NULL;
    if (!ops)
        ops = agent_client_default();
    agent_timeouts to = {.request_ms = AGENT_HEALTH_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    return call_batch(c, ops, NULL, &to, out, err);
}

mrd_rc agent_restart_proc(const orch_ctx *c, const agent_client_ops *ops, int host, int port,
                          agent_result *out, mrd_error *err)
{
    *out = (agent_result){0};
    if (!ops)
        ops = agent_client_default();
    if (host < 0 || host >= c->topo->nhosts || port < 0 || port > 65535)
        return mrd_error_set(err, MRD_ERR_INVALID, "restart: no host %d or port %d", host,
                             port);
    if (!ops->restart)
        return mrd_error_set(err, MRD_ERR_INVALID, "the %s agent client cannot restart",
                             ops->name);
    char path[64], token[MRD_SECRET_LEN];
    if (port > 0)
        snprintf(path, sizeof(path), "/v1/restart?port=%d", port);
    else
        snprintf(path, sizeof(path), "/v1/restart?sentinel=1");
    MRD_TRY(orch_secret(c, "agent.token", token, sizeof(token), err));
    const mrd_host *h = &c->topo->hosts[host];
    agent_target t = {.host = h->name, .address = h->address,
                      .port = c->topo->settings.agent.port};
    agent_timeouts to = {.request_ms = AGENT_RESTART_TIMEOUT_MS,
                         .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    mrd_rc rc = ops->restart(&t, path, token, &to, out, err);
    memset(token, 0, sizeof(token));
    return rc;
}

void agent_result_clear(agent_result *out)
{
    if (!out)
        return;
    json_decref(out->body);
    *out = (agent_result){0};
}

void agent_results_free(agent_result **r, int n)
{
    if (!r || !*r)
        return;
    for (int i = 0; i < n; i++)
        json_decref((*r)[i].body);
    free(*r);
    *r = NULL;
}

mrd_rc agent_post(const orch_ctx *c, int host, const char *path, int timeout_ms,
                  agent_result *out, mrd_error *err)
{
    *out = (agent_result){0};
    if (host < 0 || host >= c->topo->nhosts)
        return mrd_error_set(err, MRD_ERR_INVALID, "no host %d in the topology", host);
    char token[MRD_SECRET_LEN];
    MRD_TRY(orch_secret(c, "agent.token", token, sizeof(token), err));
    const mrd_host *h = &c->topo->hosts[host];
    agent_target t = {.host = h->name, .address = h->address,
                      .port = c->topo->settings.agent.port};
    agent_timeouts to = {.request_ms = timeout_ms, .connect_ms = AGENT_CONNECT_TIMEOUT_MS};
    mrd_rc rc = curl_post_all(&t, 1, path, token, &to, out, err);
    memset(token, 0, sizeof(token));
    return rc;
}
