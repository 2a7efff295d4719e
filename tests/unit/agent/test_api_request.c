/* test_api_request.c - the agent API's request parser and router
 * (agent/api_request.c): raw requests in, verdicts out, no sockets.
 *
 * The cases are a table of raw requests (embedded NULs kept: RAW() takes
 * the literal's size) with the expected outcome; then the properties the
 * front door relies on: a valid request cut anywhere is never refused, and
 * mutated requests give a documented status and never crash (the build
 * with sanitizers watches). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"

#define TOKEN "t0ken-0123456789abcdef"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"
#define RAW(s) (s), sizeof(s) - 1
#define RAWU(s) (const uint8_t *)(s), sizeof(s) - 1

static const api_policy closed_policy = {.token = TOKEN, .metrics_open = false};
static const api_policy open_policy = {.token = TOKEN, .metrics_open = true};

typedef struct rcase {
    const char *name;
    const char *raw;
    size_t len;
    api_req_rc rc;
    unsigned status;  /* when refused */
    api_route route;  /* when accepted (and on 401/405) */
    const char *says; /* a piece of the error text, or NULL */
} rcase;

static const rcase cases[] = {
    /* ---- accepted ---- */
    {"health", RAW("GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"health, HTTP/1.0 without Host", RAW("GET /v1/health HTTP/1.0\r\n\r\n"), API_REQ_ACCEPT,
     0, API_ROUTE_HEALTH, NULL},
    {"health, bare LF", RAW("GET /v1/health HTTP/1.1\nHost: a\n\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"health, HEAD", RAW("HEAD /v1/health HTTP/1.1\r\n\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"health, query ignored", RAW("GET /v1/health?verbose=1&x=%41 HTTP/1.1\r\n\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEALTH, NULL},
    {"health, %-encoded letter", RAW("GET /v1/h%65alth HTTP/1.1\r\n\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"health, Content-Length 0", RAW("GET /v1/health HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEALTH, NULL},
    {"health, tab and obs-text in a value",
     RAW("GET /v1/health HTTP/1.1\r\nUser-Agent: a\tb \xc3\xa9\r\n\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"nodes with the token", RAW("GET /v1/nodes HTTP/1.1\r\nHost: a\r\n" AUTH "\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_NODES, NULL},
    {"nodes, scheme lowercase, spaces and tab",
     RAW("GET /v1/nodes HTTP/1.1\r\nauthorization: bearer \t  " TOKEN "  \r\n\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_NODES, NULL},
    {"metrics with the token", RAW("GET /metrics HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_ACCEPT,
     0, API_ROUTE_METRICS, NULL},
    {"fence with the token", RAW("GET /v1/fence HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_ACCEPT,
     0, API_ROUTE_FENCE, NULL},
    {"fence, no token", RAW("GET /v1/fence HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 401,
     API_ROUTE_FENCE, "Authorization: Bearer"},
    {"POST fence", RAW("POST /v1/fence HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}"),
     API_REQ_REFUSE, 405, API_ROUTE_FENCE, "method not allowed"},
    {"hold with the token and a query",
     RAW("POST /v1/hold?port=16379&ttl_ms=5000 HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HOLD, NULL},
    {"hold, no token", RAW("POST /v1/hold?port=1&ttl_ms=0 HTTP/1.1\r\n\r\n"), API_REQ_REFUSE,
     401, API_ROUTE_HOLD, "Authorization: Bearer"},
    {"GET hold", RAW("GET /v1/hold HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE, 405,
     API_ROUTE_HOLD, "method not allowed"},
    {"restart a node", RAW("POST /v1/restart?port=16379 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_RESTART, NULL},
    {"restart the sentinel, {}",
     RAW("POST /v1/restart?sentinel=1 HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}"),
     API_REQ_ACCEPT, 0, API_ROUTE_RESTART, NULL},
    {"restart, no token", RAW("POST /v1/restart?port=1 HTTP/1.1\r\n\r\n"), API_REQ_REFUSE,
     401, API_ROUTE_RESTART, "Authorization: Bearer"},
    {"GET restart", RAW("GET /v1/restart?port=1 HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE,
     405, API_ROUTE_RESTART, "method not allowed"},
    {"restart, no query", RAW("POST /v1/restart HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE,
     400, API_ROUTE_RESTART, "?port=P"},
    {"restart, port 0", RAW("POST /v1/restart?port=0 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_RESTART, "?port=P"},
    {"restart, port 65536", RAW("POST /v1/restart?port=65536 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_RESTART, "?port=P"},
    {"restart, port and more", RAW("POST /v1/restart?port=1&x=2 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_RESTART, "?sentinel=1"},
    {"restart, sentinel=0", RAW("POST /v1/restart?sentinel=0 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_RESTART, "?sentinel=1"},
    {"restart, a body that is not an object",
     RAW("POST /v1/restart?port=1 HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n[]"),
     API_REQ_REFUSE, 400, API_ROUTE_RESTART, "JSON object"},
    {"seed a node", RAW("POST /v1/seed?port=16379 HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_ACCEPT,
     0, API_ROUTE_SEED, NULL},
    {"seed a node, forced", RAW("POST /v1/seed?port=16379&force=1 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_SEED, NULL},
    {"seed, no token", RAW("POST /v1/seed?port=1 HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 401,
     API_ROUTE_SEED, "Authorization: Bearer"},
    {"GET seed", RAW("GET /v1/seed?port=1 HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE, 405,
     API_ROUTE_SEED, "method not allowed"},
    {"seed, no query", RAW("POST /v1/seed HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE, 400,
     API_ROUTE_SEED, "?port=P"},
    {"seed, force=0", RAW("POST /v1/seed?port=1&force=0 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_SEED, "&force=1"},
    {"seed, only force", RAW("POST /v1/seed?&force=1 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_SEED, "?port=P"},
    {"seed, the sentinel", RAW("POST /v1/seed?sentinel=1 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_SEED, "?port=P"},
    {"heal {}", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEAL, NULL},
    {"heal, no body", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEAL, NULL},
    {"heal, Content-Length 0", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 0\r\n\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEAL, NULL},
    {"heal, Expect and a JSON object",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Expect: 100-continue\r\nContent-Length: 10\r\n"
         "\r\n{\"a\": [1]}"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEAL, NULL},
    {"heal, bytes after the body are not read",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n"),
     API_REQ_ACCEPT, 0, API_ROUTE_HEAL, NULL},

    /* ---- not complete yet ---- */
    {"nothing", RAW(""), API_REQ_INCOMPLETE, 0, 0, NULL},
    {"half a request line", RAW("GET /v1/he"), API_REQ_INCOMPLETE, 0, 0, NULL},
    {"no blank line", RAW("GET /v1/health HTTP/1.1\r\nHost: a\r\n"), API_REQ_INCOMPLETE, 0, 0,
     NULL},
    {"CR of the blank line only", RAW("GET /v1/health HTTP/1.1\r\n\r"), API_REQ_INCOMPLETE, 0,
     0, NULL},
    {"body still arriving", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 5\r\n\r\n{}"),
     API_REQ_INCOMPLETE, 0, 0, NULL},

    /* ---- issue part 6: what libmicrohttpd answered in HTML or let through ---- */
    {"huge Content-Length",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 99999999999999999999999\r\n\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "larger than 4096 bytes"},
    {"Content-Length -1", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: -1\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "Content-Length header is not a decimal"},
    {"HTTP/2.0", RAW("GET /v1/health HTTP/2.0\r\n\r\n"), API_REQ_REFUSE, 505, 0,
     "HTTP version"},
    {"HTTP/0.9", RAW("GET /v1/health HTTP/0.9\r\n\r\n"), API_REQ_REFUSE, 505, 0,
     "HTTP version"},
    {"HTTP/1.2", RAW("GET /v1/health HTTP/1.2\r\n\r\n"), API_REQ_REFUSE, 505, 0,
     "HTTP version"},
    {"NUL in the path, encoded", RAW("GET /v1/nodes%00 HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, 0, "NUL or a control byte"},
    {"NUL in the path, raw", RAW("GET /v1/nodes\0 HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE,
     400, 0, "not allowed"},
    {"body {} NUL junk",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 7\r\n\r\n{}\0junk"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "NUL byte"},
    {"token NUL junk",
     RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\0junk\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "NUL or a control byte"},
    {"two Content-Length, differing",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}"),
     API_REQ_REFUSE, 400, 0, "more than one Content-Length"},
    {"two Content-Length, equal",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "content-length: 2\r\nContent-Length: 2\r\n\r\n{}"),
     API_REQ_REFUSE, 400, 0, "more than one Content-Length"},
    {"two Authorization, good one first",
     RAW("GET /v1/nodes HTTP/1.1\r\n" AUTH "Authorization: Bearer wrong\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "more than one Authorization"},
    {"two Authorization, good one second",
     RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer wrong\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, 0, "more than one Authorization"},

    /* ---- request line ---- */
    {"no version", RAW("GET /v1/health\r\n\r\n"), API_REQ_REFUSE, 400, 0, "request line"},
    {"bad version", RAW("GET /v1/health HTTX/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"lowercase version", RAW("GET /v1/health http/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"two spaces", RAW("GET  /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"trailing space", RAW("GET /v1/health HTTP/1.1 \r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"space in the target", RAW("GET /v1/he alth HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"empty line first", RAW("\r\nGET /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "request line"},
    {"method with a bad byte", RAW("G(T /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "method"},
    {"method too long", RAW("GETGETGETGETGETGE /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE,
     400, 0, "method"},
    {"absolute-form target", RAW("GET http://a/v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE,
     400, 0, "starts with /"},
    {"asterisk target", RAW("OPTIONS * HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "starts with /"},
    {"fragment", RAW("GET /v1/health#x HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "not allowed"},
    {"non-ASCII byte in the target", RAW("GET /v1/h\xc3\xa9 HTTP/1.1\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "not allowed"},
    {"malformed escape", RAW("GET /v1/health%zz HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "malformed %-escape"},
    {"escape cut short", RAW("GET /v1/health%4 HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "malformed %-escape"},
    {"encoded LF in the path", RAW("GET /v1/nodes%0a HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, 0, "control byte"},
    {"encoded DEL in the path", RAW("GET /v1/nodes%7F HTTP/1.1\r\n" AUTH "\r\n"),
     API_REQ_REFUSE, 400, 0, "control byte"},
    {"encoded NUL in the query", RAW("GET /v1/health?x=%00 HTTP/1.1\r\n\r\n"), API_REQ_REFUSE,
     400, 0, "control byte"},

    /* ---- header lines ---- */
    {"no colon", RAW("GET /v1/health HTTP/1.1\r\nnocolon\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "no colon"},
    {"space before the colon", RAW("GET /v1/health HTTP/1.1\r\nHost : a\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "header name"},
    {"empty name", RAW("GET /v1/health HTTP/1.1\r\n: a\r\n\r\n"), API_REQ_REFUSE, 400, 0,
     "header name"},
    {"obsolete line folding", RAW("GET /v1/health HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "folding"},
    {"bare CR in a value", RAW("GET /v1/health HTTP/1.1\r\nX-A: a\rb\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "CR"},
    {"control byte in a value", RAW("GET /v1/health HTTP/1.1\r\nX-A: a\x01z\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "control byte"},
    {"DEL in a value", RAW("GET /v1/health HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n"), API_REQ_REFUSE,
     400, 0, "control byte"},
    {"NUL in a header name", RAW("GET /v1/health HTTP/1.1\r\nX\0A: a\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "header name"},
    {"two Host", RAW("GET /v1/health HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n"), API_REQ_REFUSE,
     400, 0, "more than one Host"},
    {"two Transfer-Encoding",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "more than one Transfer-Encoding"},

    /* ---- framing ---- */
    {"Content-Length and Transfer-Encoding",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH
         "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "both Content-Length and Transfer-Encoding"},
    {"Content-Length empty", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length:\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "not a decimal"},
    {"Content-Length +2", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: +2\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "not a decimal"},
    {"Content-Length list", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2, 2\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "not a decimal"},
    {"Content-Length hex", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 0x2\r\n\r\n"),
     API_REQ_REFUSE, 400, 0, "not a decimal"},
    {"chunked heal", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Transfer-Encoding: chunked\r\n\r\n"),
     API_REQ_REFUSE, 411, API_ROUTE_HEAL, "Content-Length"},
    {"GET with a body", RAW("GET /v1/nodes HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}"),
     API_REQ_REFUSE, 400, API_ROUTE_NODES, "must not carry a body"},
    {"GET chunked", RAW("GET /v1/health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_HEALTH, "must not carry a body"},
    {"heal body too large", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 4097\r\n\r\n"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "larger than 4096 bytes"},

    /* ---- routes, methods, token ---- */
    {"unknown path", RAW("GET /nope HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 404, 0,
     "no such endpoint"},
    {"trailing slash", RAW("GET /v1/health/ HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 404, 0,
     "no such endpoint"},
    {"encoded slash", RAW("GET /v1%2Fhealth HTTP/1.1\r\n\r\n"), API_REQ_ACCEPT, 0,
     API_ROUTE_HEALTH, NULL},
    {"DELETE health", RAW("DELETE /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 405,
     API_ROUTE_HEALTH, "method not allowed"},
    {"lowercase get", RAW("get /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 405,
     API_ROUTE_HEALTH, "method not allowed"},
    {"GET heal", RAW("GET /v1/heal HTTP/1.1\r\n" AUTH "\r\n"), API_REQ_REFUSE, 405,
     API_ROUTE_HEAL, "method not allowed"},
    {"POST nodes", RAW("POST /v1/nodes HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}"),
     API_REQ_REFUSE, 405, API_ROUTE_NODES, "method not allowed"},
    {"no token", RAW("GET /v1/nodes HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 401, API_ROUTE_NODES,
     "Authorization: Bearer"},
    {"wrong token", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"token plus one", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer " TOKEN "x\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"a prefix of the token", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer t0ken\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"empty token", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer \r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"scheme only", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"no space after the scheme",
     RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Bearer" TOKEN "\r\n\r\n"), API_REQ_REFUSE,
     401, API_ROUTE_NODES, NULL},
    {"Basic scheme", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: Basic " TOKEN "\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"no scheme", RAW("GET /v1/nodes HTTP/1.1\r\nAuthorization: " TOKEN "\r\n\r\n"),
     API_REQ_REFUSE, 401, API_ROUTE_NODES, NULL},
    {"metrics without the token", RAW("GET /metrics HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, 401,
     API_ROUTE_METRICS, NULL},
    {"the token is checked before the body's size",
     RAW("POST /v1/heal HTTP/1.1\r\nContent-Length: 99999\r\n\r\n"), API_REQ_REFUSE, 401,
     API_ROUTE_HEAL, NULL},
    {"framing is checked before the token",
     RAW("POST /v1/heal HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n{"),
     API_REQ_REFUSE, 400, 0, "more than one Content-Length"},

    /* ---- bodies ---- */
    {"heal, array", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n[]"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "empty or a JSON object"},
    {"heal, not JSON", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 8\r\n\r\nnot json"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "empty or a JSON object"},
    {"heal, trailing junk", RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 4\r\n\r\n{} x"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "empty or a JSON object"},
    {"heal, duplicate keys",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 13\r\n\r\n{\"a\":1,\"a\":2}"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "empty or a JSON object"},
    {"heal, invalid UTF-8",
     RAW("POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 8\r\n\r\n{\"a\":\"\xff\"}"),
     API_REQ_REFUSE, 400, API_ROUTE_HEAL, "empty or a JSON object"},
};

static const unsigned documented[] = {400, 401, 404, 405, 411, 414, 431, 505};

static bool is_documented(unsigned status)
{
    for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
        if (documented[i] == status)
            return true;
    return false;
}

/* RC and V agree with each other and with the header's promises. */
static void check_consistent(api_req_rc rc, const api_verdict *v, const char *name)
{
    if (rc == API_REQ_REFUSE) {
        if (!is_documented(v->status) || !v->error || !v->error[0])
            fail_msg("%s: refused with status %u, error %s", name, v->status,
                     v->error ? v->error : "(null)");
        if ((v->status == 405) != (v->allow != NULL) || (v->status == 401) != v->challenge)
            fail_msg("%s: %u with allow=%s challenge=%d", name, v->status,
                     v->allow ? v->allow : "(null)", v->challenge);
    } else if (rc == API_REQ_ACCEPT) {
        if (v->status != 0 || v->error || v->route == API_ROUTE_NONE)
            fail_msg("%s: accepted with status %u, route %d", name, v->status, v->route);
        if (v->body_len > API_MAX_BODY)
            fail_msg("%s: accepted a body of %llu bytes", name,
                     (unsigned long long)v->body_len);
    } else if (rc != API_REQ_INCOMPLETE) {
        fail_msg("%s: rc %d", name, rc);
    }
}

static void run_case(const rcase *c, const api_policy *p)
{
    api_verdict v;
    api_req_rc rc = api_request_parse_raw((const uint8_t *)c->raw, c->len, p, &v);
    check_consistent(rc, &v, c->name);
    if (rc != c->rc)
        fail_msg("%s: rc %d, want %d (status %u: %s)", c->name, rc, c->rc, v.status,
                 v.error ? v.error : "-");
    if (rc == API_REQ_REFUSE && v.status != c->status)
        fail_msg("%s: status %u, want %u (%s)", c->name, v.status, c->status, v.error);
    if (c->route && v.route != c->route)
        fail_msg("%s: route %s, want %s", c->name, api_route_name(v.route),
                 api_route_name(c->route));
    if (c->says && (!v.error || !strstr(v.error, c->says)))
        fail_msg("%s: error \"%s\" does not say \"%s\"", c->name, v.error ? v.error : "",
                 c->says);
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], &closed_policy);
}

static void test_verdict_details(void **state)
{
    (void)state;
    api_verdict v;
    assert_int_equal(api_request_parse_raw(RAWU("HEAD /v1/health HTTP/1.1\r\n\r\n"),
                                           &closed_policy, &v),
                     API_REQ_ACCEPT);
    assert_true(v.head_method);
    assert_false(v.authorized);
    assert_int_equal(v.head_len, strlen("HEAD /v1/health HTTP/1.1\r\n\r\n"));

    static const char heal[] = "POST /v1/heal HTTP/1.1\r\n" AUTH "Content-Length: 2\r\n\r\n{}";
    assert_int_equal(api_request_parse_raw((const uint8_t *)heal, sizeof(heal) - 1,
                                           &closed_policy, &v),
                     API_REQ_ACCEPT);
    assert_true(v.authorized);
    assert_int_equal(v.body_len, 2);
    assert_int_equal(v.head_len, sizeof(heal) - 1 - 2);

    /* The token is not needed for health, but is recognized there. */
    assert_int_equal(api_request_parse_raw(RAWU("GET /v1/health HTTP/1.1\r\n" AUTH "\r\n"),
                                           &closed_policy, &v),
                     API_REQ_ACCEPT);
    assert_true(v.authorized);

    assert_int_equal(api_request_parse_raw(RAWU("DELETE /v1/heal HTTP/1.1\r\n\r\n"),
                                           &closed_policy, &v),
                     API_REQ_REFUSE);
    assert_string_equal(v.allow, "POST");
    assert_int_equal(api_request_parse_raw(RAWU("PUT /metrics HTTP/1.1\r\n\r\n"),
                                           &closed_policy, &v),
                     API_REQ_REFUSE);
    assert_string_equal(v.allow, "GET, HEAD");
}

static void test_metrics_open(void **state)
{
    (void)state;
    api_verdict v;
    assert_int_equal(api_request_parse_raw(RAWU("GET /metrics HTTP/1.1\r\n\r\n"), &open_policy,
                                           &v),
                     API_REQ_ACCEPT);
    assert_int_equal(v.route, API_ROUTE_METRICS);
    assert_false(v.authorized);
    /* Only /metrics is opened. */
    assert_int_equal(api_request_parse_raw(RAWU("GET /v1/nodes HTTP/1.1\r\n\r\n"), &open_policy,
                                           &v),
                     API_REQ_REFUSE);
    assert_int_equal(v.status, 401);
}

/* Requests built at run time: sizes at and past each limit. */
static char big[3 * API_MAX_HEAD];

static api_req_rc parse_big(size_t len, api_verdict *v)
{
    return api_request_parse_raw((const uint8_t *)big, len, &closed_policy, v);
}

static void test_limits(void **state)
{
    (void)state;
    api_verdict v;
    int n;

    /* Target: exactly API_MAX_TARGET bytes routes (404), one more is 414. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t t = API_MAX_TARGET + (size_t)extra;
        memset(big, 'a', sizeof(big));
        memcpy(big, "GET /", 5);
        n = snprintf(big + 4 + t, sizeof(big) - 4 - t, " HTTP/1.1\r\n\r\n");
        assert_int_equal(parse_big(4 + t + (size_t)n, &v), API_REQ_REFUSE);
        assert_int_equal(v.status, extra ? 414 : 404);
    }
    /* A request line that does not end is 414 as soon as it cannot be valid. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    assert_int_equal(parse_big(1000, &v), API_REQ_INCOMPLETE);
    assert_int_equal(parse_big(API_MAX_TARGET + 100, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 414);
    check_consistent(API_REQ_REFUSE, &v, "long request line");

    /* Head: exactly API_MAX_HEAD bytes passes, one more is 431. */
    for (int extra = 0; extra <= 1; extra++) {
        static const char start[] = "GET /v1/health HTTP/1.1\r\nX-Big: ";
        size_t head = API_MAX_HEAD + (size_t)extra;
        memcpy(big, start, sizeof(start) - 1);
        memset(big + sizeof(start) - 1, 'b', head - (sizeof(start) - 1) - 4);
        memcpy(big + head - 4, "\r\n\r\n", 4);
        assert_int_equal(parse_big(head, &v), extra ? API_REQ_REFUSE : API_REQ_ACCEPT);
        if (extra)
            assert_int_equal(v.status, 431);
    }
    /* A head that has not ended within API_MAX_HEAD bytes is refused as
     * soon as one more byte is there. */
    memset(big + 40, 'b', sizeof(big) - 40);
    assert_int_equal(parse_big(API_MAX_HEAD, &v), API_REQ_INCOMPLETE);
    assert_int_equal(parse_big(API_MAX_HEAD + 1, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 431);
    /* Headers: API_MAX_HEADERS pass, one more is 431. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t off = (size_t)snprintf(big, sizeof(big), "GET /v1/health HTTP/1.1\r\n");
        for (int i = 0; i < API_MAX_HEADERS + extra; i++)
            off += (size_t)snprintf(big + off, sizeof(big) - off, "X-%d: v\r\n", i);
        off += (size_t)snprintf(big + off, sizeof(big) - off, "\r\n");
        assert_int_equal(parse_big(off, &v), extra ? API_REQ_REFUSE : API_REQ_ACCEPT);
        if (extra)
            assert_int_equal(v.status, 431);
    }
    /* Body: exactly API_MAX_BODY bytes is accepted, one more is 400. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t body = API_MAX_BODY + (size_t)extra;
        size_t off = (size_t)snprintf(big, sizeof(big),
                                      "POST /v1/heal HTTP/1.1\r\n" AUTH
                                      "Content-Length: %zu\r\n\r\n{",
                                      body);
        memset(big + off, ' ', body - 2);
        big[off + body - 2] = '}';
        assert_int_equal(parse_big(off - 1 + body, &v),
                         extra ? API_REQ_REFUSE : API_REQ_ACCEPT);
        if (extra)
            assert_int_equal(v.status, 400);
    }
}

/* libmicrohttpd's view of a head (api.c) goes through check_head alone:
 * values with their lengths, so a NUL that MHD kept is still seen. */
static void test_check_head_direct(void **state)
{
    (void)state;
    api_header hs[API_MAX_HEADERS + 1];
    api_request_in in = {.method = "GET",
                         .method_len = 3,
                         .target = "/v1/nodes",
                         .target_len = 9,
                         .headers = hs,
                         .n_headers = 1};
    static const char bearer[] = "Bearer " TOKEN "\0junk";
    hs[0] = (api_header){"Authorization", 13, bearer, sizeof(bearer) - 1};
    api_verdict v;
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 400);
    hs[0].value_len = strlen(bearer);
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_ACCEPT);
    assert_int_equal(v.route, API_ROUTE_NODES);

    /* A target with a NUL, as its length says. */
    in.target = "/v1/nodes\0";
    in.target_len = 10;
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 400);
    in.target_len = API_MAX_TARGET + 1; /* not read past the limit */
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 414);
    in.target = "/v1/nodes";
    in.target_len = 9;

    for (size_t i = 0; i <= API_MAX_HEADERS; i++)
        hs[i] = (api_header){"X-A", 3, "v", 1};
    in.n_headers = API_MAX_HEADERS + 1;
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 431);

    in.method = "GET\0";
    in.method_len = 4;
    in.n_headers = 0;
    assert_int_equal(api_request_check_head(&in, &closed_policy, &v), API_REQ_REFUSE);
    assert_int_equal(v.status, 400);
}

static void test_check_body_direct(void **state)
{
    (void)state;
    api_verdict head, v;
    memset(&head, 0, sizeof(head));
    head.route = API_ROUTE_HEAL;
    assert_int_equal(api_request_check_body(&head, NULL, 0, &v), API_REQ_ACCEPT);
    assert_int_equal(api_request_check_body(&head, (const uint8_t *)"{}", 2, &v),
                     API_REQ_ACCEPT);
    assert_int_equal(api_request_check_body(&head, (const uint8_t *)"{}\0junk", 7, &v),
                     API_REQ_REFUSE);
    assert_int_equal(v.status, 400);
    assert_int_equal(api_request_check_body(&head, (const uint8_t *)"{}", API_MAX_BODY + 1, &v),
                     API_REQ_REFUSE);
    head.route = API_ROUTE_HEALTH;
    assert_int_equal(api_request_check_body(&head, (const uint8_t *)"x", 1, &v),
                     API_REQ_REFUSE);
    assert_int_equal(v.status, 400);
    /* In place. */
    v = head;
    assert_int_equal(api_request_check_body(&v, NULL, 0, &v), API_REQ_ACCEPT);
    assert_int_equal(v.route, API_ROUTE_HEALTH);
}

/* The front door parses partial heads: a valid request cut anywhere must
 * be INCOMPLETE, never refused. */
static void test_prefixes_never_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const rcase *c = &cases[i];
        if (c->rc != API_REQ_ACCEPT)
            continue;
        for (size_t cut = 0; cut < c->len; cut++) {
            api_verdict v;
            api_req_rc rc =
                api_request_parse_raw((const uint8_t *)c->raw, cut, &closed_policy, &v);
            if (rc == API_REQ_REFUSE)
                fail_msg("%s cut at %zu: refused %u %s", c->name, cut, v.status, v.error);
        }
    }
}

/* Mutated requests: every outcome consistent, nothing read out of bounds
 * (the sanitizer build checks). */
static void test_mutations(void **state)
{
    (void)state;
    uint32_t x = 2463534242u; /* xorshift32: the same run every time */
    char buf[512];
    static const char alphabet[] = "\0\r\n :%/?#\t\x7f\xff" "0aA";
    long counts[4] = {0};
    for (int round = 0; round < 200000; round++) {
        const rcase *c = &cases[round % (sizeof(cases) / sizeof(cases[0]))];
        size_t len = c->len < sizeof(buf) ? c->len : sizeof(buf);
        memcpy(buf, c->raw, len);
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        int edits = 1 + (int)(x % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            size_t at = x % len;
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            switch (x % 3) {
            case 0: /* replace */
                buf[at] = alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
                break;
            case 1: /* cut */
                len = at;
                break;
            default: /* duplicate a line's worth */
                if (len + 16 < sizeof(buf)) {
                    memmove(buf + at + 16, buf + at, len - at);
                    len += 16;
                }
                break;
            }
        }
        api_verdict v;
        api_req_rc rc = api_request_parse_raw((const uint8_t *)buf, len, &closed_policy, &v);
        check_consistent(rc, &v, c->name);
        counts[rc]++;
    }
    print_message("mutations: %ld accepted, %ld refused, %ld incomplete\n",
                  counts[API_REQ_ACCEPT], counts[API_REQ_REFUSE], counts[API_REQ_INCOMPLETE]);
    assert_true(counts[API_REQ_ACCEPT] > 0 && counts[API_REQ_REFUSE] > 0 &&
                counts[API_REQ_INCOMPLETE] > 0);
}

static void test_render(void **state)
{
    (void)state;
    char buf[1024];
    api_verdict v;
    assert_int_equal(api_request_parse_raw(RAWU("DELETE /v1/health HTTP/1.1\r\n\r\n"),
                                           &closed_policy, &v),
                     API_REQ_REFUSE);
    size_t n = api_request_render_refusal(&v, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(strlen(buf), n);
    static const char body[] = "{\"error\":\"method not allowed on this endpoint\"}\n";
    char want[512];
    snprintf(want, sizeof(want),
             "HTTP/1.1 405 Method Not Allowed\r\n"
             "Content-Type: application/json\r\n"
             "Cache-Control: no-store\r\n"
             "Content-Length: %zu\r\n"
             "Connection: close\r\n"
             "Allow: GET, HEAD\r\n"
             "\r\n%s",
             sizeof(body) - 1, body);
    assert_string_equal(buf, want);

    /* Quotes are escaped as jansson does; the challenge header. */
    assert_int_equal(api_request_parse_raw(RAWU("GET /v1/nodes HTTP/1.1\r\n\r\n"),
                                           &closed_policy, &v),
                     API_REQ_REFUSE);
    n = api_request_render_refusal(&v, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\r\nWWW-Authenticate: Bearer realm=\"meridian\"\r\n"));
    assert_non_null(strstr(buf, "{\"error\":\"this endpoint needs \\\"Authorization: Bearer "
                                "<token>\\\" with the agent's API token\"}\n"));

    /* HEAD: the same headers, no body. */
    assert_int_equal(api_request_parse_raw(RAWU("HEAD /nope HTTP/1.1\r\n\r\n"), &closed_policy,
                                           &v),
                     API_REQ_REFUSE);
    n = api_request_render_refusal(&v, buf, sizeof(buf));
    assert_true(n > 4 && strcmp(buf + n - 4, "\r\n\r\n") == 0);
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n",
             strlen("{\"error\":\"no such endpoint\"}\n"));
    assert_non_null(strstr(buf, want));

    /* 503 asks to retry; a buffer too small gives 0. */
    memset(&v, 0, sizeof(v));
    api_verdict_refuse(&v, 503, "busy");
    v.retry = true;
    n = api_request_render_refusal(&v, buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 503 Service Unavailable\r\n"));
    assert_non_null(strstr(buf, "\r\nRetry-After: 1\r\n"));
    assert_int_equal(api_request_render_refusal(&v, buf, 40), 0);
}

/* POST /v1/restart's query gives the process: a node's port, or 0 for
 * the sentinel. */
static void test_restart_target(void **state)
{
    (void)state;
    api_verdict v;
    static const char node[] = "POST /v1/restart?port=16381 HTTP/1.1\r\n" AUTH "\r\n";
    assert_int_equal(api_request_parse_raw(RAWU(node), &closed_policy, &v), API_REQ_ACCEPT);
    assert_int_equal(v.restart_port, 16381);
    static const char snt[] = "POST /v1/restart?sentinel=1 HTTP/1.1\r\n" AUTH "\r\n";
    assert_int_equal(api_request_parse_raw(RAWU(snt), &closed_policy, &v), API_REQ_ACCEPT);
    assert_int_equal(v.restart_port, 0);
    assert_string_equal(api_route_name(v.route), "/v1/restart");
}

/* POST /v1/seed's query gives the node's port and whether it is forced. */
static void test_seed_target(void **state)
{
    (void)state;
    api_verdict v;
    static const char plain[] = "POST /v1/seed?port=16381 HTTP/1.1\r\n" AUTH "\r\n";
    assert_int_equal(api_request_parse_raw(RAWU(plain), &closed_policy, &v), API_REQ_ACCEPT);
    assert_int_equal(v.restart_port, 16381);
    assert_false(v.seed_force);
    static const char forced[] = "POST /v1/seed?port=7&force=1 HTTP/1.1\r\n" AUTH "\r\n";
    assert_int_equal(api_request_parse_raw(RAWU(forced), &closed_policy, &v), API_REQ_ACCEPT);
    assert_int_equal(v.restart_port, 7);
    assert_true(v.seed_force);
    assert_string_equal(api_route_name(v.route), "/v1/seed");
}

/* ==== TLS ==== */

/* The start of a real ClientHello (curl 7.88 over OpenSSL 3.0): record
 * header, then the handshake header and the legacy version; the record
 * says 512 bytes follow. */
#define HELLO_START "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"

typedef struct hcase {
    const char *name;
    const char *raw;
    size_t len;
    api_req_rc rc;
    const char *says; /* when refused: a piece of the error text */
} hcase;

static const hcase hello_cases[] = {
    {"the shortest handshake record", RAW("\x16\x03\x01\x00\x04\x01\x00\x00\x00"),
     API_REQ_ACCEPT, NULL},
    {"record version 3.3", RAW("\x16\x03\x03\x00\x04\x01\x00\x00\x00"), API_REQ_ACCEPT,
     NULL},
    {"a real ClientHello, its start", RAW(HELLO_START), API_REQ_INCOMPLETE, NULL},
    {"nothing yet", "", 0, API_REQ_INCOMPLETE, NULL},
    {"plain HTTP", RAW("GET /v1/health HTTP/1.1\r\n\r\n"), API_REQ_REFUSE, "plain HTTP"},
    {"plain HTTP, one byte", RAW("P"), API_REQ_REFUSE, "plain HTTP"},
    {"SSL 2 hello", RAW("\x80\x2e\x01\x03\x01"), API_REQ_REFUSE, "not a TLS handshake"},
    {"an alert record", RAW("\x15\x03\x03\x00\x02\x02\x28"), API_REQ_REFUSE,
     "not a TLS handshake"},
    {"application data first", RAW("\x17\x03\x03\x00\x10"), API_REQ_REFUSE,
     "not a TLS handshake"},
    {"record version 2", RAW("\x16\x02\x00"), API_REQ_REFUSE, "record version"},
    {"record version 3.5", RAW("\x16\x03\x05"), API_REQ_REFUSE, "record version"},
    {"empty record", RAW("\x16\x03\x01\x00\x00"), API_REQ_REFUSE, "record length"},
    {"record shorter than a message header", RAW("\x16\x03\x01\x00\x03"), API_REQ_REFUSE,
     "record length"},
    {"record over 2^14 bytes", RAW("\x16\x03\x01\x40\x01"), API_REQ_REFUSE,
     "record length"},
    {"a ServerHello", RAW("\x16\x03\x03\x00\x04\x02\x00\x00\x00"), API_REQ_REFUSE,
     "ClientHello"},
};

static void test_hello_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hello_cases) / sizeof(hello_cases[0]); i++) {
        const hcase *c = &hello_cases[i];
        api_verdict v;
        api_req_rc rc = api_request_parse_hello((const uint8_t *)c->raw, c->len, &v);
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, v.error ? v.error : "");
        if (rc == API_REQ_REFUSE) {
            assert_int_equal(v.status, 400);
            if (!strstr(v.error, c->says))
                fail_msg("%s: \"%s\" does not say \"%s\"", c->name, v.error, c->says);
        } else {
            assert_int_equal(v.status, 0);
            assert_int_equal(v.route, API_ROUTE_NONE);
            assert_int_equal(v.head_len, rc == API_REQ_ACCEPT ? c->len : 0);
        }
    }
}

/* A whole record of the largest size, cut anywhere, is incomplete until
 * its last byte; what follows it is not looked at. */
static void test_hello_prefixes(void **state)
{
    (void)state;
    static uint8_t rec[API_TLS_RECORD_MAX + 10];
    memset(rec, 0xee, sizeof(rec));
    memcpy(rec, "\x16\x03\x01\x40\x00\x01", 6);
    api_verdict v;
    for (size_t n = 0; n < API_TLS_RECORD_MAX; n++)
        if (api_request_parse_hello(rec, n, &v) != API_REQ_INCOMPLETE)
            fail_msg("a prefix of %zu bytes: not incomplete (%s)", n, v.error ? v.error : "");
    assert_int_equal(api_request_parse_hello(rec, API_TLS_RECORD_MAX, &v), API_REQ_ACCEPT);
    assert_int_equal(v.head_len, API_TLS_RECORD_MAX);
    assert_int_equal(api_request_parse_hello(rec, sizeof(rec), &v), API_REQ_ACCEPT);
    assert_int_equal(v.head_len, API_TLS_RECORD_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_verdict_details),
        cmocka_unit_test(test_metrics_open),
        cmocka_unit_test(test_restart_target),
        cmocka_unit_test(test_seed_target),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_check_head_direct),
        cmocka_unit_test(test_check_body_direct),
        cmocka_unit_test(test_prefixes_never_refused),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_hello_cases),
        cmocka_unit_test(test_hello_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
