/* s3_parse.h - the pure half of the S3 client (s3_parse.c): URI encoding
 * and the query string as SigV4 wants them, and the XML bodies S3 answers.
 * No I/O: bytes in, structs out, so that the unit tests (unit.s3) and the
 * fuzz harness (fuzz_s3_xml) drive them directly.  s3.c calls these; they
 * never call s3.c.
 *
 * Every parser takes LEN bytes of BODY that need not be NUL-terminated and
 * reads nothing past them. */
#ifndef MRD_S3_PARSE_H
#define MRD_S3_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "s3.h"

/* Append IN URI-encoded as SigV4 wants it: the unreserved characters
 * A-Z a-z 0-9 - . _ ~ as they are, '/' as it is when KEEP_SLASH (a path),
 * every other byte as %XX with uppercase hex.  Errors as mrd_buf_add(). */
mrd_rc s3_uri_encode(mrd_buf *out, const char *in, bool keep_slash);

/* One query parameter, raw (not encoded); VALUE "" for a parameter without
 * one ("uploads" is sent as "uploads="). */
typedef struct s3_param {
    const char *name;
    const char *value;
} s3_param;

/* Append the canonical query string of the N PARAMS (the array is not
 * changed): each name and value encoded with s3_uri_encode(), joined as
 * name=value with '&', sorted by encoded name, then by encoded value, as
 * SigV4's canonical request has it, so that the string sent is the string
 * libcurl signs.  MRD_ERR_INVALID when N > 16; errors as mrd_buf_add(). */
mrd_rc s3_query_build(mrd_buf *out, const s3_param *params, size_t n);

/* From an S3 error body (<Error><Code>..</Code><Message>..</Message>):
 * CODE and MSG (CN and MN bytes, entities decoded, truncated to fit,
 * control characters replaced by spaces).  False, with both "", when BODY
 * holds no <Error> element with a <Code>. */
bool s3_xml_error(const char *body, size_t len, char *code, size_t cn, char *msg, size_t mn);

/* One page of ListObjectsV2 (<ListBucketResult>). */
typedef struct s3_list_page {
    s3_object *items;     /* new array of n (caller frees), NULL when none */
    size_t n;
    bool truncated;       /* <IsTruncated>true</IsTruncated> */
    char next_token[1024]; /* <NextContinuationToken>, raw */
} s3_list_page;

/* Parse one ListObjectsV2 page into PAGE (overwritten).  Every <Contents>
 * needs a <Key> (1..1023 bytes) and a <Size>; <LastModified> is read when
 * it is ISO 8601 ("2024-05-01T10:00:00.000Z"), else 0.  MRD_ERR_PROTOCOL
 * when the body is not a <ListBucketResult>, an entry is incomplete or
 * too long, more than S3_PAGE_MAX entries, or a truncated page has no
 * continuation token; MRD_ERR_NOMEM.  On an error PAGE holds nothing. */
#define S3_PAGE_MAX 10000
mrd_rc s3_xml_list_objects(const char *body, size_t len, s3_list_page *page, mrd_error *err);

/* One page of ListMultipartUploads (<ListMultipartUploadsResult>). */
typedef struct s3_uploads_page {
    s3_upload *items; /* new array of n (caller frees), NULL when none */
    size_t n;
    bool truncated;
    char next_key_marker[1024];
    char next_upload_id_marker[512];
} s3_uploads_page;

/* Parse one ListMultipartUploads page; every <Upload> needs a <Key> and an
 * <UploadId>; <Initiated> as LastModified above.  MRD_ERR_PROTOCOL as for
 * s3_xml_list_objects() (a truncated page needs <NextKeyMarker>). */
mrd_rc s3_xml_list_uploads(const char *body, size_t len, s3_uploads_page *page,
                           mrd_error *err);

/* The <UploadId> of an <InitiateMultipartUploadResult> into ID (N bytes).
 * MRD_ERR_PROTOCOL when there is none, it is empty or it does not fit. */
mrd_rc s3_xml_upload_id(const char *body, size_t len, char *id, size_t n, mrd_error *err);

/* "2024-05-01T10:00:00.000Z" (fraction and 'Z' optional) as seconds since
 * the epoch; -1 when S (LEN bytes) is not such a time. */
long long s3_iso8601(const char *s, size_t len);

#endif
