/* fuzz_s3_xml.c - the S3 client's parsers (orchestrator/backup/s3_parse.c)
 * on any bytes: s3_xml_list_objects(), s3_xml_list_uploads(),
 * s3_xml_upload_id(), s3_xml_error() and s3_credentials_parse().
 *
 * Each gets exactly the fuzzer's buffer (no NUL after it), so a read past
 * LEN is an ASan report.  What succeeds must keep the header's promises:
 * every string terminated, keys and upload ids non-empty, sizes not
 * negative, at most S3_PAGE_MAX entries, a truncated page with its
 * continuation token or key marker; a failure is a known code with a
 * message and leaves no array behind; the credentials are both set or
 * both cleared. */
#include "fuzz.h"

#include "s3.h"
#include "s3_parse.h"

static void check_objects(const char *text, size_t len)
{
    s3_list_page page;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = s3_xml_list_objects(text, len, &page, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(page.items == NULL && page.n == 0);
        return;
    }
    FUZZ_CHECK(page.n <= S3_PAGE_MAX && (page.n == 0) == (page.items == NULL));
    FUZZ_CHECK(FUZZ_TERMINATED(page.next_token));
    FUZZ_CHECK(!page.truncated || page.next_token[0]);
    for (size_t i = 0; i < page.n; i++) {
        FUZZ_CHECK(FUZZ_TERMINATED(page.items[i].key) && page.items[i].key[0]);
        FUZZ_CHECK(page.items[i].size >= 0 && page.items[i].sha256[0] == '\0');
    }
    free(page.items);
}

static void check_uploads(const char *text, size_t len)
{
    s3_uploads_page page;
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = s3_xml_list_uploads(text, len, &page, &err);
    if (rc != MRD_OK) {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(page.items == NULL && page.n == 0);
        return;
    }
    FUZZ_CHECK(page.n <= S3_PAGE_MAX && (page.n == 0) == (page.items == NULL));
    FUZZ_CHECK(FUZZ_TERMINATED(page.next_key_marker) &&
               FUZZ_TERMINATED(page.next_upload_id_marker));
    FUZZ_CHECK(!page.truncated || page.next_key_marker[0]);
    for (size_t i = 0; i < page.n; i++)
        FUZZ_CHECK(FUZZ_TERMINATED(page.items[i].key) && page.items[i].key[0] &&
                   FUZZ_TERMINATED(page.items[i].upload_id) && page.items[i].upload_id[0]);
    free(page.items);
}

static void check_small(const char *text, size_t len)
{
    char id[64], code[32], msg[48];
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = s3_xml_upload_id(text, len, id, sizeof(id), &err);
    if (rc == MRD_OK)
        FUZZ_CHECK(FUZZ_TERMINATED(id) && id[0]);
    else
        FUZZ_CHECK_ERROR(&err, rc);
    bool is_error = s3_xml_error(text, len, code, sizeof(code), msg, sizeof(msg));
    FUZZ_CHECK(FUZZ_TERMINATED(code) && FUZZ_TERMINATED(msg));
    FUZZ_CHECK(is_error == (code[0] != '\0'));
    for (const char *p = msg; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f); /* control bytes replaced */
}

static void check_credentials(const char *text, size_t len)
{
    s3_config cfg;
    memset(&cfg, 'z', sizeof(cfg));
    mrd_error err;
    mrd_error_clear(&err);
    mrd_rc rc = s3_credentials_parse(text, len, "fuzz", &cfg, &err);
    FUZZ_CHECK(FUZZ_TERMINATED(cfg.access_key) && FUZZ_TERMINATED(cfg.secret_key) &&
               FUZZ_TERMINATED(cfg.session_token));
    if (rc == MRD_OK) {
        FUZZ_CHECK(cfg.access_key[0] && cfg.secret_key[0]);
    } else {
        FUZZ_CHECK_ERROR(&err, rc);
        FUZZ_CHECK(!cfg.access_key[0] && !cfg.secret_key[0] && !cfg.session_token[0]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    check_objects(text, size);
    check_uploads(text, size);
    check_small(text, size);
    check_credentials(text, size);
    return 0;
}
