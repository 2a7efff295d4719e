/* s3_driver.c - a driver for the S3 client (orchestrator/backup/s3.h), used
 * by integration.s3 (against s3rver) and integration.s3_sigv4 (against a
 * server that checks every signature with botocore), and handy by hand:
 *
 *   s3_driver ENDPOINT BUCKET COMMAND ARG...
 *     put KEY FILE          upload FILE (its SHA-256 as x-amz-meta-sha256);
 *                           prints "SHA256 SIZE PROGRESS_CALLS"
 *     putbytes KEY TEXT     upload TEXT (text/plain)
 *     get KEY FILE          download into FILE; prints "SHA256 SIZE"
 *     getbytes KEY MAX      download into memory; prints the content
 *     head KEY              prints "SIZE SHA256 MTIME"
 *     list PREFIX           prints "KEY<TAB>SIZE" per object
 *     delete KEY
 *     uploads PREFIX        prints "KEY<TAB>UPLOAD_ID" per upload
 *     abort KEY UPLOAD_ID
 *
 * Credentials: s3_credentials_load() of $S3_CREDENTIALS_FILE (unset or "":
 * the AWS_* environment variables).  $S3_REGION (default us-east-1),
 * $S3_PART_SIZE and $S3_TIMEOUT_MS set the rest of s3_config.  An error is
 * printed as "s3_driver: CODE: SENTENCE" on stderr, CODE being
 * mrd_strerror()'s, and the exit status is 1 (2 for bad usage). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "s3.h"

static void usage(void)
{
    fprintf(stderr, "usage: s3_driver ENDPOINT BUCKET put|putbytes|get|getbytes|head|list|"
                    "delete|uploads|abort ARG...\n");
    exit(2);
}

static int failed(const mrd_error *err)
{
    char buf[1024];
    mrd_error_format(err, buf, sizeof(buf));
    fprintf(stderr, "s3_driver: %s: %s\n", mrd_strerror(err->code), buf);
    return 1;
}

static int progress_calls;
static void on_progress(void *ctx, long long done, long long total)
{
    (void)ctx;
    progress_calls++;
    if (done < 0 || done > total)
        fprintf(stderr, "s3_driver: bad progress %lld of %lld\n", done, total);
}

/* The SHA-256 of the file at PATH in hex; false when it cannot be read. */
static int file_sha256(const char *path, char *hex, long long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char buf[65536], dig[32];
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        EVP_DigestUpdate(md, buf, n);
        *size += (long long)n;
    }
    fclose(f);
    unsigned int dl;
    EVP_DigestFinal_ex(md, dig, &dl);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        usage();
    s3_config cfg = {0};
    mrd_error err;
    mrd_error_clear(&err);
    snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", argv[1]);
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", argv[2]);
    const char *region = getenv("S3_REGION");
    snprintf(cfg.region, sizeof(cfg.region), "%s", region && region[0] ? region : "us-east-1");
    if (getenv("S3_PART_SIZE"))
        cfg.part_size = strtoll(getenv("S3_PART_SIZE"), NULL, 10);
    if (getenv("S3_TIMEOUT_MS"))
        cfg.timeout_ms = (int)strtol(getenv("S3_TIMEOUT_MS"), NULL, 10);
    if (s3_credentials_load(getenv("S3_CREDENTIALS_FILE"), &cfg, &err) != MRD_OK)
        return failed(&err);
    s3_client *c = NULL;
    if (s3_open(&cfg, &c, &err) != MRD_OK)
        return failed(&err);
    const char *cmd = argv[3];
    int status = 0;
    mrd_rc rc = MRD_OK;
    if (strcmp(cmd, "put") == 0 && argc == 6) {
        char sha[65];
        long long size;
        if (!file_sha256(argv[5], sha, &size)) {
            /* let the client report the file it cannot read */
            memset(sha, 'a', 64);
            sha[64] = '\0';
        }
        rc = s3_put_file(c, argv[4], argv[5], sha, on_progress, NULL, &err);
        if (rc == MRD_OK)
            printf("%s %lld %d\n", sha, size, progress_calls);
    } else if (strcmp(cmd, "putbytes") == 0 && argc == 6) {
        rc = s3_put_bytes(c, argv[4], argv[5], strlen(argv[5]), "text/plain", &err);
    } else if (strcmp(cmd, "get") == 0 && argc == 6) {
        char sha[65];
        long long bytes = 0;
        rc = s3_get_file(c, argv[4], argv[5], on_progress, NULL, sha, &bytes, &err);
        if (rc == MRD_OK)
            printf("%s %lld\n", sha, bytes);
    } else if (strcmp(cmd, "getbytes") == 0 && argc == 6) {
        char *data = NULL;
        size_t len = 0;
        rc = s3_get_bytes(c, argv[4], (size_t)strtoull(argv[5], NULL, 10), &data, &len, &err);
        if (rc == MRD_OK)
            fwrite(data, 1, len, stdout);
        free(data);
    } else if (strcmp(cmd, "head") == 0 && argc == 5) {
        s3_object o;
        rc = s3_head(c, argv[4], &o, &err);
        if (rc == MRD_OK)
            printf("%lld %s %lld\n", o.size, o.sha256[0] ? o.sha256 : "-", o.mtime);
    } else if (strcmp(cmd, "list") == 0 && argc == 5) {
        s3_object *objs = NULL;
        size_t n = 0;
        rc = s3_list(c, argv[4], &objs, &n, &err);
        for (size_t i = 0; rc == MRD_OK && i < n; i++)
            printf("%s\t%lld\n", objs[i].key, objs[i].size);
        free(objs);
    } else if (strcmp(cmd, "delete") == 0 && argc == 5) {
        rc = s3_delete(c, argv[4], &err);
    } else if (strcmp(cmd, "uploads") == 0 && argc == 5) {
        s3_upload *ups = NULL;
        size_t n = 0;
        rc = s3_list_uploads(c, argv[4], &ups, &n, &err);
        for (size_t i = 0; rc == MRD_OK && i < n; i++)
            printf("%s\t%s\n", ups[i].key, ups[i].upload_id);
        free(ups);
    } else if (strcmp(cmd, "abort") == 0 && argc == 6) {
        rc = s3_abort_upload(c, argv[4], argv[5], &err);
    } else {
        s3_close(&c);
        usage();
    }
    if (rc != MRD_OK)
        status = failed(&err);
    s3_close(&c);
    return status;
}
