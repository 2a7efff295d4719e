/* api_request.h - the agent API's request parser and router: bytes in, a
 * verdict out, no I/O.
 *
 * Both halves of the HTTP server call it: the front door (api_gate.c) on
 * the raw bytes of a request head, before libmicrohttpd sees them, and the
 * access handler (api.c) on libmicrohttpd's view of the same request, then
 * on its body.  So every refusal is decided here, once, and answered as
 * JSON by the caller.
 *
 * Three entry points, from the lowest level up:
 *
 *   api_request_parse_head()  raw bytes -> request line and headers (split
 *                             only, every byte kept, duplicates kept);
 *   api_request_check_head()  method, raw target, headers, token -> route
 *                             or refusal;
 *   api_request_check_body()  the body of an accepted head -> refusal or not.
 *
 * api_request_parse_raw() chains the three over one buffer that holds a
 * whole request (head and body).  It is the function a fuzzer drives:
 *
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
 *       static const api_policy p = {.token = "t0ken", .metrics_open = false};
 *       api_verdict v;
 *       api_request_parse_raw(data, size, &p, &v);
 *       return 0;
 *   }
 *
 * Nothing here allocates except api_request_check_body(), which parses a
 * POST /v1/heal body with jansson.  Every function is thread-safe; every
 * message in a verdict is a static string. */
#ifndef MRD_API_REQUEST_H
#define MRD_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of a request.  Each one is a refusal with its own status. */
#define API_MAX_BODY 4096   /* bytes of a body (POST /v1/heal takes {}); over: 400 */
#define API_MAX_HEAD 8192   /* bytes of a request head, blank line included; over: 431 */
#define API_MAX_TARGET 1024 /* bytes of the request target, as sent; over: 414 */
#define API_MAX_HEADERS 32  /* header lines; over: 431 */
#define API_MAX_METHOD 16   /* bytes of a method name; over: 400 */

typedef enum api_route {
    API_ROUTE_NONE = 0, /* not routed: refused before routing, or no such path */
    API_ROUTE_HEALTH,   /* GET|HEAD /v1/health, open (load balancers call it) */
    API_ROUTE_NODES,    /* GET|HEAD /v1/nodes, token */
    API_ROUTE_HEAL,     /* POST /v1/heal, token */
    API_ROUTE_METRICS,  /* GET|HEAD /metrics, token unless metrics_open */
    API_ROUTE_FENCE,    /* GET|HEAD /v1/fence, token (fence.h) */
    API_ROUTE_HOLD,     /* POST /v1/hold?port=P&ttl_ms=N, token (hold.h) */
    API_ROUTE_RESTART,  /* POST /v1/restart?port=P | ?sentinel=1, token */
    API_ROUTE_SEED,     /* POST /v1/seed?port=P[&force=1], token (a restore) */
} api_route;

typedef enum api_req_rc {
    API_REQ_ACCEPT = 0, /* go on: v->route is the endpoint */
    API_REQ_REFUSE,     /* answer v->status with {"error": v->error} */
    API_REQ_INCOMPLETE, /* raw parsers: the bytes so far are a valid prefix */
} api_req_rc;

/* One header line as received.  NAME and VALUE are not NUL-terminated and
 * may contain any byte; VALUE has its surrounding spaces and tabs removed. */
typedef struct api_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} api_header;

/* A request head, every pointer borrowed. */
typedef struct api_request_in {
    const char *method; /* as sent, e.g. "GET" */
    size_t method_len;
    const char *target; /* the request target as sent: still %-encoded, query included */
    size_t target_len;
    const api_header *headers; /* in the order received, duplicates kept */
    size_t n_headers;
} api_request_in;

/* Who may call what. */
typedef struct api_policy {
    const char *token; /* the API token (NUL-terminated, not empty); borrowed */
    bool metrics_open; /* GET /metrics without a token */
} api_policy;

/* The decision on a request. */
typedef struct api_verdict {
    unsigned status;    /* 0 when accepted, else the HTTP status to answer */
    const char *error;  /* static text of the {"error": ...} body; NULL when accepted */
    const char *allow;  /* 405: the value of the Allow header; else NULL */
    bool challenge;     /* 401: answer with WWW-Authenticate: Bearer realm="meridian" */
    bool retry;         /* 503: answer with Retry-After: 1 */
    api_route route;    /* the endpoint, once known (also on 401 and 405) */
    bool head_method;   /* the method is HEAD: the answer has no body */
    bool authorized;    /* a valid token was presented */
    uint64_t body_len;  /* the declared Content-Length (0 without one) */
    size_t head_len;    /* raw parsers: bytes of the head, blank line included */
    int restart_port;   /* POST /v1/restart: the store node's port, 0 for
                           ?sentinel=1; POST /v1/seed: the store node's port */
    bool seed_force;    /* POST /v1/seed: &force=1 (the node may hold data) */
} api_verdict;

/* A head split by api_request_parse_head(): IN's pointers go into the
 * caller's buffer and into HEADERS. */
typedef struct api_head {
    api_request_in in;
    api_header headers[API_MAX_HEADERS];
    size_t head_len; /* bytes, blank line included */
} api_head;

/* Split BUF (LEN bytes, the start of a connection's input) into a request
 * line and header lines.  Lines end in CRLF or LF; the head ends at the
 * first empty line.  Returns:
 *   API_REQ_ACCEPT      the head is complete and well-formed (*H filled; the
 *                       bytes after H->head_len belong to the body);
 *   API_REQ_INCOMPLETE  no error in the lines received so far, and the head
 *                       is still within API_MAX_HEAD bytes;
 *   API_REQ_REFUSE      *V says why: 400 (malformed request line or header
 *                       line, a CR not followed by LF, obsolete line
 *                       folding), 414 (target over API_MAX_TARGET, or a
 *                       request line that does not end in time), 431 (head
 *                       over API_MAX_HEAD, more than API_MAX_HEADERS
 *                       headers), 505 (an HTTP version other than 1.0 or
 *                       1.1).
 * A caller that reads API_MAX_HEAD + 1 bytes always gets ACCEPT or REFUSE. */
api_req_rc api_request_parse_head(const uint8_t *buf, size_t len, api_head *h,
                                  api_verdict *v);

/* Route IN under policy P.  The checks, in order, and their refusals:
 *   400  a method that is not an HTTP token; a target that is not a path
 *        ("/..."), holds a byte outside ! to ~, a '#', a malformed
 *        %-escape, or an escape of a control byte (%00-%1F, %7F); a header
 *        name that is not a token; a header value with a NUL or another
 *        control byte (tab excepted); two Content-Length,
 *        Transfer-Encoding, Authorization or Host headers; both
 *        Content-Length and Transfer-Encoding; a Content-Length that is not
 *        a decimal number;
 *   414  a target over API_MAX_TARGET bytes;
 *   431  more than API_MAX_HEADERS headers;
 *   404  a path (%-decoded, query ignored) that is no endpoint;
 *   405  a method the endpoint does not take (V->allow says which);
 *   401  a protected endpoint without "Authorization: Bearer <token>" with
 *        P->token (scheme case-insensitive, token compared in constant
 *        time);
 *   400  POST /v1/restart whose query is not exactly "port=P" (P from 1 to
 *        65535, no leading zero) or "sentinel=1";
 *   400  a GET or HEAD that declares a body; a body over API_MAX_BODY;
 *   411  a POST whose body is sent with Transfer-Encoding (chunked).
 * Returns API_REQ_ACCEPT or API_REQ_REFUSE; V->head_len is left 0. */
api_req_rc api_request_check_head(const api_request_in *in, const api_policy *p,
                                  api_verdict *v);

/* Check the body (LEN bytes) of a request whose head was accepted as HEAD.
 * Refusals, all 400: a body over API_MAX_BODY; a body on GET or HEAD; for
 * POST /v1/heal and /v1/restart, a body that holds a NUL byte or is not a JSON object
 * (duplicate keys refused).  An empty body is accepted.  On accept, *V is
 * *HEAD.  HEAD and V may be the same object. */
api_req_rc api_request_check_body(const api_verdict *head, const uint8_t *body, size_t len,
                                  api_verdict *v);

/* The three above over one buffer: BUF holds a head and at least
 * V->body_len bytes of body (bytes after them are ignored: the server
 * closes every connection after one answer).  INCOMPLETE while the head
 * or the declared body has not fully arrived. */
api_req_rc api_request_parse_raw(const uint8_t *buf, size_t len, const api_policy *p,
                                 api_verdict *v);

/* ==== TLS (api.h: tls on) ====
 * With TLS the request head is encrypted: the front door cannot read it.
 * It waits instead for the client's first TLS record (RFC 8446 5.1: a
 * 5-byte header - content type, legacy version, length - then at most
 * 2^14 bytes), which must be a handshake record that starts a ClientHello.
 * A client that sends anything else (a plain HTTP request to the HTTPS
 * port) is closed without an answer: never a plain HTTP one. */
#define API_TLS_RECORD_HEADER 5
#define API_TLS_RECORD_MAX (API_TLS_RECORD_HEADER + 16384) /* bytes of a whole record */

/* Look at BUF (LEN bytes, the start of a connection's input) as TLS:
 *   API_REQ_ACCEPT      BUF starts with one whole handshake record (type
 *                       22, version 3.0 to 3.4, 4 to 2^14 bytes) whose
 *                       first message is a ClientHello (type 1);
 *                       V->head_len is the record's length, header
 *                       included, V->route API_ROUTE_NONE;
 *   API_REQ_INCOMPLETE  the bytes so far are a valid prefix of that;
 *   API_REQ_REFUSE      V->status 400 and V->error say what it is instead
 *                       (no answer is sent: it is for logs and counters).
 * A ClientHello longer than one record is accepted on its first one: the
 * TLS library reads the rest. */
api_req_rc api_request_parse_hello(const uint8_t *buf, size_t len, api_verdict *v);

/* Set *V to a refusal with STATUS and the static text ERROR. */
void api_verdict_refuse(api_verdict *v, unsigned status, const char *error);

/* The path of a route ("/v1/health"), or "(no endpoint)". */
const char *api_route_name(api_route r);

/* The standard reason phrase of STATUS ("Bad Request"), or "Error". */
const char *api_status_reason(unsigned status);

/* Write into BUF (N bytes) a whole HTTP/1.1 answer to refusal V: status
 * line, Content-Type: application/json, Content-Length, Connection: close,
 * the Allow / WWW-Authenticate / Retry-After header V asks for, and, unless
 * V->head_method, the body {"error":"..."} and a newline (the same bytes
 * as the answers of api.c).  Returns the length, or 0 when N is too small
 * (1024 bytes always suffice). */
size_t api_request_render_refusal(const api_verdict *v, char *buf, size_t n);

#endif
