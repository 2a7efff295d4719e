#include "heal_report.h"

#include <stdbool.h>
#include <string.h>

/* ==== judging one host's answer ==== */

/* The string member KEY of OBJ, or NULL. */
static const char *str_of(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Why an answer that is not a heal report tells us nothing. */
static void no_report(const agent_result *r, char *why, size_t n)
{
    const char *detail = str_of(r->body, "error");
    switch (r->http_status) {
    case 0:
        snprintf(why, n, "%s", r->error[0] ? r->error : "the agent did not answer");
        break;
    case 401:
        snprintf(why, n, "the agent refused the token: redeploy to refresh it");
        break;
    case 404:
    case 405:
        snprintf(why, n,
                 "the agent does not serve POST /v1/heal (HTTP %d): it is older than this "
                 "meridian; redeploy to update it",
                 r->http_status);
        break;
    case 409:
        snprintf(why, n,
                 "another heal pass is running on this host (the agent's own loop, cron or "
                 "another operator) and did not finish in time: try again");
        break;
    case 200:
        if (r->error[0])
            snprintf(why, n, "%s", r->error);
        else
            snprintf(why, n, "the agent answered HTTP 200 without a heal report (no code)");
        break;
    default:
        if (detail)
            snprintf(why, n, "the agent answered HTTP %d: %s", r->http_status, detail);
        else if (r->error[0])
            snprintf(why, n, "%s", r->error);
        else
            snprintf(why, n, "the agent answered HTTP %d", r->http_status);
        break;
    }
}

/* The report's code when BODY is a heal report, else -1. */
static int report_code(const json_t *body)
{
    const json_t *code = json_object_get(body, "code");
    if (!json_is_integer(code))
        return -1;
    json_int_t v = json_integer_value(code);
    return v >= 0 && v <= 3 ? (int)v : -1;
}

static json_t *judge_host(const char *host, const agent_result *r)
{
    int code = -1;
    /* A report counts when it came with 200, or with 409 when the agent
     * chose to include one (the pass that held the lock). */
    if ((r->http_status == 200 || r->http_status == 409) && json_is_object(r->body))
        code = report_code(r->body);
    json_t *http = r->http_status > 0 ? json_integer(r->http_status) : json_null();
    if (code < 0) {
        char why[512];
        no_report(r, why, sizeof(why));
        return json_pack("{s:s,s:o,s:i,s:s,s:n,s:[],s:s}", "host", host, "http_status", http,
                         "code", MRD_HEALTH_UNKNOWN, "status", mrd_health_name(MRD_HEALTH_UNKNOWN),
                         "summary", "actions", "error", why);
    }
    json_t *actions = json_object_get(r->body, "actions");
    actions = json_is_array(actions) ? json_deep_copy(actions) : json_array();
    const char *summary = str_of(r->body, "summary");
    return json_pack("{s:s,s:o,s:i,s:s,s:s,s:o,s:n}", "host", host, "http_status", http,
                     "code", code, "status", mrd_health_name(code), "summary",
                     summary ? summary : "", "actions", actions, "error");
}

json_t *heal_report_new(const char *topology, const char *const *hosts,
                        const agent_result *results, int n)
{
    json_t *arr = json_array();
    int worst = MRD_HEALTH_OK;
    for (int i = 0; arr && i < n; i++) {
        if (results[i].skipped) /* runs nothing: an idle or replaced host */
            continue;
        json_t *h = judge_host(hosts[i], &results[i]);
        if (!h || json_array_append_new(arr, h) != 0) {
            json_decref(arr);
            return NULL;
        }
        worst = mrd_health_worst(worst, (int)json_integer_value(json_object_get(h, "code")));
    }
    if (!arr)
        return NULL;
    return json_pack("{s:s,s:i,s:s,s:o}", "topology", topology, "code", worst, "status",
                     mrd_health_name(worst), "hosts", arr);
}

void heal_report_set_rebalance(json_t *report, json_t *rebalance)
{
    if (!report || !rebalance) {
        json_decref(rebalance);
        return;
    }
    const char *outcome = str_of(rebalance, "outcome");
    bool acted = json_array_size(json_object_get(rebalance, "moves")) > 0 ||
                 (outcome && (strcmp(outcome, "refused") == 0 || strcmp(outcome, "failed") == 0));
    json_object_set_new(report, "rebalance", rebalance);
    if (!acted)
        return;
    int code = mrd_health_worst(heal_report_code(report), MRD_HEALTH_WARNING);
    json_object_set_new(report, "code", json_integer(code));
    json_object_set_new(report, "status", json_string(mrd_health_name(code)));
}

void heal_report_set_hosts_lost(json_t *report, json_t *items)
{
    if (!report || !json_is_array(items)) {
        json_decref(items);
        return;
    }
    int code = heal_report_code(report);
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) code = mrd_health_worst(code, heal_report_code(it));
    json_object_set_new(report, "hosts_lost", items);
    json_object_set_new(report, "code", json_integer(code));
    json_object_set_new(report, "status", json_string(mrd_health_name(code)));
}

int heal_report_code(const json_t *report)
{
    int code = report_code(report);
    return code < 0 ? MRD_HEALTH_UNKNOWN : code;
}

/* ==== text ==== */

/* Copy S into BUF with control characters replaced: agents' strings go to
 * a terminal. */
static const char *clean(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

/* One aligned line: "NODE  EVENT  DETAIL", without trailing blanks. */
static void line(FILE *out, const char *a, const char *b, const char *c)
{
    char buf[1400];
    int n = snprintf(buf, sizeof(buf), "%-17s %-18s %s", a, b, c);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    while (len > 0 && buf[len - 1] == ' ')
        len--;
    buf[len] = '\0';
    fprintf(out, "%s\n", buf);
}

static void print_host(FILE *out, const json_t *h, int counts[4])
{
    char a[128], b[128], c[1024];
    const char *host = str_of(h, "host");
    int code = heal_report_code(h);
    counts[code]++;
    size_t i;
    const json_t *act;
    json_array_foreach(json_object_get(h, "actions"), i, act) {
        if (!json_is_object(act))
            continue;
        const char *node = str_of(act, "node");
        const char *event = str_of(act, "event");
        line(out, clean(node ? node : host, a, sizeof(a)),
             clean(event ? event : "?", b, sizeof(b)), clean(str_of(act, "detail"), c, sizeof(c)));
    }
    const char *text = str_of(h, "error");
    if (!text)
        text = str_of(h, "summary");
    line(out, clean(host, a, sizeof(a)), mrd_health_name(code), clean(text, c, sizeof(c)));
}

/* The orchestrator's rebalance after the passes: each step, or why none. */
static void print_rebalance(FILE *out, const json_t *rb)
{
    if (!json_is_object(rb))
        return;
    char b[1024];
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(rb, "moves"), i, m) {
        const char *action = str_of(m, "action");
        line(out, "rebalance",
             action && strcmp(action, "repoint") == 0 ? "+replica-repointed" : "+master-moved",
             clean(str_of(m, "text"), b, sizeof(b)));
    }
    const char *outcome = str_of(rb, "outcome");
    const char *reason = str_of(rb, "reason");
    if (outcome && reason && strcmp(outcome, "balanced") != 0)
        line(out, "rebalance", outcome, clean(reason, b, sizeof(b)));
}

void heal_report_print(FILE *out, const json_t *report)
{
    int counts[4] = {0};
    size_t i;
    const json_t *h;
    const json_t *hosts = json_object_get(report, "hosts");
    json_array_foreach(hosts, i, h) print_host(out, h, counts);
    /* "+host-replaced", "host-waiting", "host-blocked", ... */
    char ev[64], a[128], b[1024];
    json_array_foreach(json_object_get(report, "hosts_lost"), i, h) {
        const char *outcome = str_of(h, "outcome");
        snprintf(ev, sizeof(ev), "%shost-%s",
                 outcome && strcmp(outcome, "replaced") == 0 ? "+" : "",
                 outcome ? outcome : "?");
        line(out, clean(str_of(h, "host"), a, sizeof(a)), ev,
             clean(str_of(h, "text"), b, sizeof(b)));
    }
    print_rebalance(out, json_object_get(report, "rebalance"));

    char tally[160] = "";
    size_t len = 0;
    static const int order[] = {MRD_HEALTH_OK, MRD_HEALTH_WARNING, MRD_HEALTH_CRITICAL, MRD_HEALTH_UNKNOWN};
    for (int k = 0; k < 4; k++) {
        int code = order[k];
        if (!counts[code] || len >= sizeof(tally))
            continue;
        int w = snprintf(tally + len, sizeof(tally) - len, "%s%d %s", len ? ", " : "",
                         counts[code], mrd_health_name(code));
        len += w > 0 ? (size_t)w : 0;
    }
    char name[128];
    size_t n = json_array_size(hosts);
    int code = heal_report_code(report);
    fprintf(out, "\n%s: %s - %zu host%s: %s\n",
            clean(str_of(report, "topology"), name, sizeof(name)), mrd_health_name(code), n,
            n == 1 ? "" : "s", len ? tally : "none");
}
