/* s3.h - a client for S3-compatible object storage, for meridian's backups.
 *
 * Path-style requests (ENDPOINT/BUCKET/KEY) through libcurl, signed with
 * AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4).  libcurl 7.88 signs the
 * path and the query string exactly as they are sent and every header we
 * add, so this client sends what SigV4 needs in its canonical form: the key
 * URI-encoded (unreserved characters and '/' kept), the query parameters
 * encoded and sorted by name (curl/curl#9717), the payload's SHA-256 in an
 * explicit x-amz-content-sha256 header (computed over the body, or over a
 * file part before it is sent), the session token as x-amz-security-token.
 * tests/integration/s3_sigcheck.py recomputes every signature with botocore.
 *
 * Errors are one sentence naming the object and the cause:
 *   "cannot upload s3://meridian/prod/x.rdb to http://127.0.0.1:4569: the
 *    bucket does not exist (NoSuchBucket)"
 * S3's XML error body (<Code>, <Message>) is quoted.  The secret key, the
 * session token and the Authorization header never appear in an error or a
 * log line.
 *
 * Error codes, for every call that talks to the server:
 *   MRD_ERR_CONNECT    the endpoint cannot be reached (refused, no route,
 *                      name not resolved, TLS handshake or verification)
 *   MRD_ERR_TIMEOUT    no connection, or no byte moved, within timeout_ms
 *   MRD_ERR_AUTH       HTTP 403 (InvalidAccessKeyId, SignatureDoesNotMatch,
 *                      AccessDenied...): the credentials
 *   MRD_ERR_NOT_FOUND  the bucket (NoSuchBucket), the object (NoSuchKey)
 *                      or the upload (NoSuchUpload) does not exist
 *   MRD_ERR_UNSUPPORTED  HTTP 501 (NotImplemented): the server does not
 *                      implement the request (s3rver: ListMultipartUploads)
 *   MRD_ERR_PROTOCOL   any other HTTP error, or an answer that is not what
 *                      S3 answers (an unreadable XML body)
 *   MRD_ERR_IO         a local file cannot be read or written (errno's
 *                      sentence), or the transfer broke off
 *   MRD_ERR_INVALID    a bad argument (key empty or too long, bad hash)
 *   MRD_ERR_NOMEM      out of memory
 *
 * A client is not thread-safe: one thread at a time per client; several
 * clients may be used in parallel. */
#ifndef MRD_S3_H
#define MRD_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define S3_DEFAULT_TIMEOUT_MS 30000
#define S3_DEFAULT_PART_SIZE (16LL * 1024 * 1024)
#define S3_MIN_PART_SIZE (5LL * 1024 * 1024)        /* S3's minimum */
#define S3_MAX_PART_SIZE (5LL * 1024 * 1024 * 1024) /* S3's maximum */
#define S3_MAX_PARTS 10000                          /* S3's maximum */

typedef struct s3_config {
    char endpoint[256];  /* "http://127.0.0.1:4569" or
                            "https://s3.eu-west-1.amazonaws.com" (no path);
                            requests go to ENDPOINT/BUCKET/KEY */
    char bucket[64];     /* s3_bucket_name_ok() */
    char region[64];     /* "us-east-1" */
    char access_key[128];
    char secret_key[128];
    char session_token[2048]; /* "" when none */
    int timeout_ms;       /* connect bound, and the longest time a transfer
                             may move no byte; 0: S3_DEFAULT_TIMEOUT_MS */
    long long part_size;  /* files larger than this go by multipart upload,
                             in parts of this size; 0: S3_DEFAULT_PART_SIZE;
                             S3_MIN_PART_SIZE..S3_MAX_PART_SIZE */
} s3_config;

/* Opaque; holds one curl easy handle, reused so that the connection is
 * kept alive between requests. */
typedef struct s3_client s3_client;

typedef struct s3_object {
    char key[1024];
    long long size;  /* bytes */
    long long mtime; /* Last-Modified, seconds since the epoch */
    char sha256[65]; /* x-amz-meta-sha256 (HEAD and GET); "" from LIST or
                        when the object has none */
} s3_object;

typedef struct s3_upload {
    char key[1024];
    char upload_id[512];
    long long initiated; /* seconds since the epoch, 0 when unknown */
} s3_upload;

/* Called with the bytes moved so far and the total (both >= 0). */
typedef void (*s3_progress_fn)(void *ctx, long long done, long long total);

/* ==== CREDENTIALS ====================================================== */

/* Fill CFG's access_key, secret_key and session_token (cleared when none).
 *
 * FILE non-empty: the AWS shared-credentials file at FILE ("~/" expanded
 * with mrd_expand_home()), which must be a regular file without group or
 * other permission bits (MRD_ERR_INVALID otherwise, a sentence naming the
 * file and `chmod 600`); its content as s3_credentials_parse() reads it.
 * MRD_ERR_IO when it cannot be opened or read.
 *
 * FILE NULL or "": the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
 * environment variables (and AWS_SESSION_TOKEN when set); MRD_ERR_INVALID
 * naming the variable that is missing or too long.
 *
 * Messages never hold a secret.  CFG's other fields are left as they are;
 * on an error the credential fields are cleared. */
mrd_rc s3_credentials_load(const char *file, s3_config *cfg, mrd_error *err);

/* The pure parser under it: LEN bytes of TEXT (no NUL needed) in the AWS
 * shared-credentials format:
 *   # a comment (or ; a comment), blank lines
 *   [default]
 *   aws_access_key_id = AKIA...
 *   aws_secret_access_key = ...
 *   aws_session_token = ...          (optional)
 * Only the [default] section, or the lines before any section header, are
 * read; other sections and unknown keys are skipped.  NAME (borrowed) names
 * the source in errors (err->file, err->line).
 * MRD_ERR_PARSE: a line that is neither a comment, a section header nor
 *   "key = value" (the line's number, never its text);
 * MRD_ERR_INVALID: aws_access_key_id or aws_secret_access_key missing or
 *   empty, or a value too long for CFG.
 * On an error CFG's credential fields are cleared. */
mrd_rc s3_credentials_parse(const char *text, size_t len, const char *name, s3_config *cfg,
                            mrd_error *err);

/* ==== THE CLIENT ======================================================= */

/* A new client for CFG (copied).  MRD_ERR_INVALID: endpoint not http(s)://
 * or with a path, bucket name refused by s3_bucket_name_ok(), region or
 * credentials empty, part_size or timeout_ms out of range; MRD_ERR_NOMEM.
 * Connects to nothing yet.  *OUT is released with s3_close(). */
mrd_rc s3_open(const s3_config *cfg, s3_client **out, mrd_error *err);

/* Release *C (NULL accepted) and set it to NULL; secrets are wiped. */
void s3_close(s3_client **c);

/* Upload the file at PATH as KEY, with SHA256_HEX (64 hex digits, the
 * caller's checksum of the file) stored as x-amz-meta-sha256.  A file of at
 * most part_size bytes goes in one PUT; a larger one by multipart upload
 * (CreateMultipartUpload, UploadPart per part with its own payload hash,
 * CompleteMultipartUpload); when any step fails, AbortMultipartUpload is
 * attempted and the first error is returned.  The file is streamed from
 * disk (read twice per part: hash, then send), never held in memory.
 * PROGRESS (may be NULL) gets the bytes sent so far, at least every 4 MiB
 * and at the end of every part.  Errors as above; MRD_ERR_INVALID for a
 * bad SHA256_HEX or a file that needs more than S3_MAX_PARTS parts. */
mrd_rc s3_put_file(s3_client *c, const char *key, const char *path, const char *sha256_hex,
                   s3_progress_fn progress, void *ctx, mrd_error *err);

/* Upload LEN bytes of DATA as KEY with CONTENT_TYPE (NULL:
 * "application/octet-stream"), in one PUT. */
mrd_rc s3_put_bytes(s3_client *c, const char *key, const void *data, size_t len,
                    const char *content_type, mrd_error *err);

/* Download KEY into PATH atomically: into PATH.tmp.XXXXXX in PATH's folder
 * (mode 0600), fsync, rename over PATH, fsync the folder.  The SHA-256 is
 * computed while writing: SHA256_HEX_OUT (65 bytes, may be NULL) gets it in
 * hex, *BYTES (may be NULL) the size.  PROGRESS as for s3_put_file().  On
 * any failure the temporary file is removed and PATH is untouched; a write
 * that fails (a full disk: ENOSPC) is MRD_ERR_IO naming the object, the
 * file and the cause. */
mrd_rc s3_get_file(s3_client *c, const char *key, const char *path, s3_progress_fn progress,
                   void *ctx, char *sha256_hex_out, long long *bytes, mrd_error *err);

/* Download KEY into memory: *OUT a new NUL-terminated buffer (caller
 * frees), *LEN (may be NULL) its size without the NUL.  MRD_ERR_INVALID
 * when the object is larger than MAX bytes. */
mrd_rc s3_get_bytes(s3_client *c, const char *key, size_t max, char **out, size_t *len,
                    mrd_error *err);

/* KEY's size, mtime and x-amz-meta-sha256 (HEAD).  MRD_ERR_NOT_FOUND when
 * there is no such object (a HEAD answer has no body: a missing bucket
 * reads the same). */
mrd_rc s3_head(s3_client *c, const char *key, s3_object *out, mrd_error *err);

/* Every object whose key starts with PREFIX ("" or NULL: all), in S3's
 * order (ListObjectsV2, following continuation tokens).  *OUT a new array
 * of *N objects (caller frees; NULL when none); sha256 is "". */
mrd_rc s3_list(s3_client *c, const char *prefix, s3_object **out, size_t *n, mrd_error *err);

/* Delete KEY; an object that does not exist is not an error. */
mrd_rc s3_delete(s3_client *c, const char *key, mrd_error *err);

/* The multipart uploads in progress (never completed nor aborted) whose
 * key starts with PREFIX (ListMultipartUploads, following its markers).
 * *OUT a new array of *N (caller frees; NULL when none). */
mrd_rc s3_list_uploads(s3_client *c, const char *prefix, s3_upload **out, size_t *n,
                       mrd_error *err);

/* Abort the multipart upload UPLOAD_ID of KEY (AbortMultipartUpload): its
 * parts are deleted.  MRD_ERR_NOT_FOUND when there is no such upload. */
mrd_rc s3_abort_upload(s3_client *c, const char *key, const char *upload_id, mrd_error *err);

/* ==== PURE ============================================================= */

/* True when NAME follows S3's rules for (general purpose) bucket names:
 * 3 to 63 characters, lowercase letters, digits, '.' and '-', beginning
 * and ending with a letter or a digit, no "..", not an IPv4 address, not
 * beginning with "xn--" or "sthree-", not ending with "-s3alias" or
 * "--ol-s3".  Otherwise false, and WHY (N bytes, may be NULL) gets the
 * rule that is broken. */
bool s3_bucket_name_ok(const char *name, char *why, size_t n);

#endif
