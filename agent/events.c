/* events.c - the agent's event sink: one log line per event, and, when the
 * topology lists webhooks, a JSON POST to each of them from a background
 * thread.
 *
 * events_emit() never touches the network: it logs, builds the JSON object
 * and appends it to a bounded ring (EVENTS_QUEUE_MAX; when full the oldest
 * event is dropped and counted).  The delivery thread takes events in order
 * and POSTs each one to every webhook with libcurl's multi interface, which
 * lets it notice a stop request within DELIVERY_POLL_MS even in the middle
 * of a transfer.  A failed attempt (transport error or non-2xx status) is
 * retried up to EVENTS_RETRIES attempts in all, after a backoff of
 * BACKOFF_FIRST_MS, then 4 times longer each time.
 *
 * Counters are per delivery: one event posted to two webhooks counts two. */
#include "events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "log.h"

#define BACKOFF_FIRST_MS 100 /* before the 2nd attempt; x4 before each next */
#define DELIVERY_POLL_MS 50  /* how often a transfer checks for a stop */
#define DETAIL_MAX 1024      /* bytes of an event's detail sentence */

/* The part of the sink that changes after start.  It lives behind a
 * pointer so that events_counts(), which takes a const handle, can still
 * lock the mutex. */
typedef struct ev_state {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* queue not empty, or stop requested (monotonic clock) */
    json_t *ring[EVENTS_QUEUE_MAX];
    int head;  /* index of the oldest event */
    int count; /* events in the ring */
    bool stopping;
    long long deadline_ms; /* mrd_now_ms() after which a stop abandons work */
    long sent, failed, dropped;
    CURLM *multi; /* used by the thread; curl_multi_wakeup() from stop */
} ev_state;

struct events {
    char *topology;
    char *host;
    char **hooks;
    int nhooks;
    bool have_thread;
    pthread_t thread;
    ev_state *st;
};

/* ==== CURL GLOBAL STATE ==== */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ==== HELPERS ==== */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

/* A JSON string for S; bytes that are not valid UTF-8 become '?', so an
 * odd byte in a detail never loses the event. */
static json_t *json_str(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Log-safe name of a webhook: scheme and host only, since webhook URLs
 * often carry a secret in their path or query. */
static void hook_label(const char *url, char *buf, size_t n)
{
    snprintf(buf, n, "(unparsable URL)");
    CURLU *u = curl_url();
    if (!u)
        return;
    char *scheme = NULL, *host = NULL, *port = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            snprintf(buf, n, "%s://%s:%s", scheme, host, port);
        else
            snprintf(buf, n, "%s://%s", scheme, host);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* Absolute CLOCK_MONOTONIC time MS from now, for the condition variable. */
static struct timespec mono_in(long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Caller holds st->mu. */
static bool must_abandon(const ev_state *st)
{
    return st->stopping && mrd_now_ms() >= st->deadline_ms;
}

static bool abandon_now(ev_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool r = must_abandon(st);
    pthread_mutex_unlock(&st->mu);
    return r;
}

/* ==== DELIVERY ==== */

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

/* One POST of BODY to URL.  True on a 2xx answer.  *why gets a short
 * static description of a failure. */
static bool post_once(ev_state *st, const char *url, const char *body,
                      const struct curl_slist *headers, const char **why, long *code)
{
    *code = 0;
    CURL *e = curl_easy_init();
    if (!e) {
        *why = "could not create a curl handle";
        return false;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* libcurl's defaults, said aloud: an https:// webhook's certificate is
     * verified against the system's CAs and must name the URL's host */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)EVENTS_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "meridian-agent");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);

    if (curl_multi_add_handle(st->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        *why = "could not start a transfer";
        return false;
    }
    int running = 1;
    bool abandoned = false;
    while (running) {
        if (curl_multi_perform(st->multi, &running) != CURLM_OK)
            break;
        if (!running)
            break;
        if (abandon_now(st)) {
            abandoned = true;
            break;
        }
        curl_multi_poll(st->multi, NULL, 0, DELIVERY_POLL_MS, NULL);
    }

    CURLcode rc = CURLE_FAILED_INIT;
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(st->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == e)
            rc = m->data.result;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
    curl_multi_remove_handle(st->multi, e);
    curl_easy_cleanup(e);

    if (abandoned) {
        *why = "abandoned at shutdown";
        return false;
    }
    if (rc != CURLE_OK) {
        *why = curl_easy_strerror(rc);
        return false;
    }
    if (*code < 200 || *code > 299) {
        *why = "the webhook answered a non-2xx status";
        return false;
    }
    return true;
}

/* Deliver BODY to URL with retries.  True when one attempt succeeded. */
static bool deliver(ev_state *st, const char *url, const char *body,
                    const struct curl_slist *headers)
{
    const char *why = "not attempted";
    long code = 0;
    long long backoff = BACKOFF_FIRST_MS;
    int tried = 0;
    for (int attempt = 1; attempt <= EVENTS_RETRIES; attempt++) {
        if (attempt > 1) {
            /* Back off, but wake up for a stop whose deadline has passed. */
            pthread_mutex_lock(&st->mu);
            long long until = mrd_now_ms() + backoff;
            while (!must_abandon(st) && mrd_now_ms() < until) {
                long long wait = until - mrd_now_ms();
                if (st->stopping && st->deadline_ms - mrd_now_ms() < wait)
                    wait = st->deadline_ms - mrd_now_ms();
                struct timespec ts = mono_in(wait > 0 ? wait : 0);
                pthread_cond_timedwait(&st->cv, &st->mu, &ts);
            }
            bool give_up = must_abandon(st);
            pthread_mutex_unlock(&st->mu);
            if (give_up) {
                why = "abandoned at shutdown";
                break;
            }
            backoff *= 4;
        }
        tried++;
        if (post_once(st, url, body, headers, &why, &code))
            return true;
        if (abandon_now(st))
            break;
    }
    char label[160];
    hook_label(url, label, sizeof(label));
    if (code)
        mrd_warn("events: webhook %s failed after %d attempt(s): %s (HTTP %ld)", label,
                 tried, why, code);
    else
        mrd_warn("events: webhook %s failed after %d attempt(s): %s", label, tried, why);
    return false;
}

static void *delivery_thread(void *arg)
{
    events *ev = arg;
    ev_state *st = ev->st;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for an event-sized body. */
    struct curl_slist *h2 = headers ? curl_slist_append(headers, "Expect:") : NULL;
    if (h2)
        headers = h2;

    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (st->count == 0 && !st->stopping)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->count == 0 || must_abandon(st))
            break;
        json_t *obj = st->ring[st->head];
        st->ring[st->head] = NULL;
        st->head = (st->head + 1) % EVENTS_QUEUE_MAX;
        st->count--;
        pthread_mutex_unlock(&st->mu);

        char *body = json_dumps(obj, JSON_COMPACT);
        json_decref(obj);
        long ok = 0, bad = 0;
        for (int i = 0; i < ev->nhooks; i++) {
            if (body && headers && deliver(st, ev->hooks[i], body, headers))
                ok++;
            else
                bad++;
        }
        free(body);

        pthread_mutex_lock(&st->mu);
        st->sent += ok;
        st->failed += bad;
    }
    pthread_mutex_unlock(&st->mu);
    curl_slist_free_all(headers);
    return NULL;
}

/* ==== PUBLIC API ==== */

static void ev_free(events *ev)
{
    if (!ev)
        return;
    if (ev->st) {
        for (int i = 0; i < ev->st->count; i++)
            json_decref(ev->st->ring[(ev->st->head + i) % EVENTS_QUEUE_MAX]);
        if (ev->st->multi)
            curl_multi_cleanup(ev->st->multi);
        pthread_cond_destroy(&ev->st->cv);
        pthread_mutex_destroy(&ev->st->mu);
        free(ev->st);
    }
    for (int i = 0; i < ev->nhooks; i++)
        free(ev->hooks[i]);
    free(ev->hooks);
    free(ev->topology);
    free(ev->host);
    free(ev);
}

mrd_rc events_start(const char *topology, const char *host, char *const *webhooks,
                    int n, events **out, mrd_error *err)
{
    *out = NULL;
    if (n < 0 || (n > 0 && !webhooks))
        return mrd_error_set(err, MRD_ERR_INVALID, "events_start: bad webhook list");
    for (int i = 0; i < n; i++)
        if (!webhooks[i] || !webhooks[i][0])
            return mrd_error_set(err, MRD_ERR_INVALID, "webhook %d is empty", i + 1);

    events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    ev->topology = dup_or_empty(topology);
    ev->host = dup_or_empty(host);
    ev->st = calloc(1, sizeof(*ev->st));
    ev->hooks = n > 0 ? calloc((size_t)n, sizeof(char *)) : NULL;
    if (!ev->topology || !ev->host || !ev->st || (n > 0 && !ev->hooks)) {
        free(ev->st);
        ev->st = NULL;
        ev_free(ev);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        if (!(ev->hooks[i] = strdup(webhooks[i]))) {
            free(ev->st);
            ev->st = NULL;
            ev_free(ev);
            return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
        }
        ev->nhooks++;
    }

    ev_state *st = ev->st;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);

    if (n == 0) { /* log only */
        *out = ev;
        return MRD_OK;
    }

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        ev_free(ev);
        return mrd_error_set(err, MRD_ERR_IO, "cannot initialise libcurl: %s",
                             curl_easy_strerror(curl_init_rc));
    }
    if (!(st->multi = curl_multi_init())) {
        ev_free(ev);
        return mrd_error_set(err, MRD_ERR_NOMEM, "cannot create a libcurl multi handle");
    }
    int prc = pthread_create(&ev->thread, NULL, delivery_thread, ev);
    if (prc != 0) {
        ev_free(ev);
        return mrd_error_set(err, MRD_ERR_IO, "cannot start the webhook thread: %s",
                             strerror(prc));
    }
    ev->have_thread = true;
    *out = ev;
    return MRD_OK;
}

void events_emit(events *ev, const char *name, const char *node, const char *fmt, ...)
{
    char detail[DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (!name)
        name = "-";
    if (!node)
        node = "-";
    mrd_info("EVENT %s %s %s", name, node, detail);
    if (!ev || ev->nhooks == 0)
        return;

    json_t *obj = json_object();
    if (!obj || json_object_set_new(obj, "topology", json_str(ev->topology)) ||
        json_object_set_new(obj, "host", json_str(ev->host)) ||
        json_object_set_new(obj, "node", json_str(node)) ||
        json_object_set_new(obj, "event", json_str(name)) ||
        json_object_set_new(obj, "detail", json_str(detail)) ||
        json_object_set_new(obj, "time_ms", json_integer(mrd_wall_ms()))) {
        json_decref(obj);
        mrd_warn("events: out of memory, %s for %s not queued for webhooks", name, node);
        return;
    }

    ev_state *st = ev->st;
    bool dropped = false;
    pthread_mutex_lock(&st->mu);
    if (st->stopping) {
        pthread_mutex_unlock(&st->mu);
        json_decref(obj);
        return;
    }
    if (st->count == EVENTS_QUEUE_MAX) {
        json_decref(st->ring[st->head]);
        st->ring[st->head] = NULL;
        st->head = (st->head + 1) % EVENTS_QUEUE_MAX;
        st->count--;
        st->dropped++;
        dropped = true;
    }
    st->ring[(st->head + st->count) % EVENTS_QUEUE_MAX] = obj;
    st->count++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (dropped)
        mrd_warn("events: webhook queue full (%d), dropped the oldest event",
                 EVENTS_QUEUE_MAX);
}

void events_counts(const events *ev, long *sent, long *failed, long *dropped)
{
    long s = 0, f = 0, d = 0;
    if (ev && ev->st) {
        pthread_mutex_lock(&ev->st->mu);
        s = ev->st->sent;
        f = ev->st->failed;
        d = ev->st->dropped;
        pthread_mutex_unlock(&ev->st->mu);
    }
    if (sent)
        *sent = s;
    if (failed)
        *failed = f;
    if (dropped)
        *dropped = d;
}

void events_stop(events **evp, int flush_ms)
{
    if (!evp || !*evp)
        return;
    events *ev = *evp;
    ev_state *st = ev->st;
    if (ev->have_thread) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        st->deadline_ms = mrd_now_ms() + (flush_ms > 0 ? flush_ms : 0);
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        /* Wake a transfer's poll early when there is nothing to flush. */
        if (flush_ms <= 0)
            curl_multi_wakeup(st->multi);
        pthread_join(ev->thread, NULL);
        if (st->count > 0) {
            mrd_warn("events: %d event(s) not delivered to webhooks before shutdown",
                     st->count);
            st->dropped += st->count;
        }
    }
    ev_free(ev);
    *evp = NULL;
}
