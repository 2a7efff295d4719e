/* test_s3.c - the S3 client's pure half (s3_parse.c) and its credentials.
 *
 * URI encoding and the sorted query string as SigV4 wants them, S3's XML
 * answers (ListObjectsV2, ListMultipartUploads, InitiateMultipartUpload,
 * Error) including cut and hostile bodies, the credentials file's text and
 * s3_credentials_load() on real files and the environment, bucket names,
 * and the configurations s3_open() refuses.  What the client sends is
 * checked against botocore by integration.s3_sigv4, what it does against a
 * real server by integration.s3. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3.h"
#include "s3_parse.h"

/* ==== HELPERS ========================================================== */

static char *encoded(const char *in, bool keep_slash)
{
    static char out[1024];
    mrd_buf b;
    mrd_buf_init(&b, sizeof(out) - 1);
    assert_int_equal(s3_uri_encode(&b, in, keep_slash), MRD_OK);
    snprintf(out, sizeof(out), "%s", mrd_buf_str(&b));
    mrd_buf_free(&b);
    return out;
}

static char *query(const s3_param *p, size_t n)
{
    static char out[1024];
    mrd_buf b;
    mrd_buf_init(&b, sizeof(out) - 1);
    assert_int_equal(s3_query_build(&b, p, n), MRD_OK);
    snprintf(out, sizeof(out), "%s", mrd_buf_str(&b));
    mrd_buf_free(&b);
    return out;
}

/* A copy of TEXT's first LEN bytes in a buffer of exactly LEN bytes, so
 * that a read past them is an ASan report. */
static char *exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_s3.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "%s/creds", tmpdir);
    unlink(cmd);
    rmdir(tmpdir);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* ==== URI ENCODING AND THE QUERY ======================================= */

static void test_uri_encode(void **state)
{
    (void)state;
    assert_string_equal(encoded("prod/a b+c/~x_y-z.rdb", true), "prod/a%20b%2Bc/~x_y-z.rdb");
    assert_string_equal(encoded("prod/a b+c/", false), "prod%2Fa%20b%2Bc%2F");
    assert_string_equal(encoded("\xc3\xa9=&?%*", false), "%C3%A9%3D%26%3F%25%2A");
    assert_string_equal(encoded("", true), "");
}

static void test_query_sorted_and_encoded(void **state)
{
    (void)state;
    s3_param part[] = {{"uploadId", "a/b+c="}, {"partNumber", "2"}};
    assert_string_equal(query(part, 2), "partNumber=2&uploadId=a%2Fb%2Bc%3D");
    s3_param uploads[] = {{"uploads", ""}, {"prefix", "prod/a b+c/"}};
    assert_string_equal(query(uploads, 2), "prefix=prod%2Fa%20b%2Bc%2F&uploads=");
    s3_param list[] = {{"prefix", "p"}, {"list-type", "2"}, {"continuation-token", "t/+ &"}};
    assert_string_equal(query(list, 3), "continuation-token=t%2F%2B%20%26&list-type=2&prefix=p");
    /* sorted by the encoded name: "a%20b" before "a-b" ('%' < '-') */
    s3_param names[] = {{"a-b", "1"}, {"a b", "2"}, {"a", NULL}};
    assert_string_equal(query(names, 3), "a=&a%20b=2&a-b=1");
    /* the same name: sorted by value */
    s3_param same[] = {{"k", "b"}, {"k", "a"}};
    assert_string_equal(query(same, 2), "k=a&k=b");
    assert_string_equal(query(NULL, 0), "");
    s3_param many[17];
    for (int i = 0; i < 17; i++)
        many[i] = (s3_param){"x", "y"};
    mrd_buf b;
    mrd_buf_init(&b, 4096);
    assert_int_equal(s3_query_build(&b, many, 17), MRD_ERR_INVALID);
    mrd_buf_free(&b);
}

/* ==== XML ============================================================== */

static void test_xml_error(void **state)
{
    (void)state;
    char code[64], msg[64];
    const char *body = "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code><Message>The "
                       "bucket &lt;b&gt; &amp; &#65;&#x42; does\nnot exist</Message>"
                       "<BucketName>b</BucketName></Error>";
    assert_true(s3_xml_error(body, strlen(body), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "NoSuchBucket");
    assert_string_equal(msg, "The bucket <b> & AB does not exist"); /* \n as a space */
    /* no message */
    const char *bare = "<Error><Code>InternalError</Code></Error>";
    assert_true(s3_xml_error(bare, strlen(bare), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "InternalError");
    assert_string_equal(msg, "");
    /* a message too long is cut, marked */
    char longer[512];
    snprintf(longer, sizeof(longer), "<Error><Code>X</Code><Message>%0200d</Message></Error>", 7);
    assert_true(s3_xml_error(longer, strlen(longer), code, sizeof(code), msg, sizeof(msg)));
    assert_int_equal(strlen(msg), sizeof(msg) - 1);
    assert_string_equal(msg + sizeof(msg) - 4, "...");
    /* not errors */
    const char *bad[] = {"", "<Error>", "<Error><Code>NoSuchKey", "<Error><Code></Code></Error>",
                         "<ListBucketResult/>", "<Error><Code>&bogus;</Code></Error>",
                         "<Error><Code>&#0;</Code></Error>", "<Error><Code>"
                         "&#99999999999999999999;</Code></Error>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *p = exact(bad[i], strlen(bad[i]));
        assert_false(s3_xml_error(p, strlen(bad[i]), code, sizeof(code), msg, sizeof(msg)));
        assert_string_equal(code, "");
        free(p);
    }
    assert_false(s3_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg)));
}

static const char LIST_PAGE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>meridian</Name><Prefix>prod/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>prod/a &amp; b.rdb</Key><LastModified>2024-05-01T10:00:00.000Z"
    "</LastModified><ETag>&quot;x&quot;</ETag><Size>1234</Size><StorageClass>STANDARD"
    "</StorageClass></Contents>"
    "<Contents><Key>prod/b.rdb</Key><Size>0</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";

static void test_xml_list_objects(void **state)
{
    (void)state;
    s3_list_page page;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(s3_xml_list_objects(LIST_PAGE, strlen(LIST_PAGE), &page, &err), MRD_OK);
    assert_int_equal(page.n, 2);
    assert_true(page.truncated);
    assert_string_equal(page.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    assert_string_equal(page.items[0].key, "prod/a & b.rdb");
    assert_int_equal(page.items[0].size, 1234);
    assert_int_equal(page.items[0].mtime, 1714557600);
    assert_string_equal(page.items[0].sha256, "");
    assert_string_equal(page.items[1].key, "prod/b.rdb");
    assert_int_equal(page.items[1].size, 0);
    assert_int_equal(page.items[1].mtime, 0);
    free(page.items);

    /* the last page; an empty listing */
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                       "<Contents><Key>k</Key><Size>5</Size></Contents></ListBucketResult>";
    assert_int_equal(s3_xml_list_objects(last, strlen(last), &page, &err), MRD_OK);
    assert_int_equal(page.n, 1);
    assert_false(page.truncated);
    free(page.items);
    const char *empty = "<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false"
                        "</IsTruncated></ListBucketResult>";
    assert_int_equal(s3_xml_list_objects(empty, strlen(empty), &page, &err), MRD_OK);
    assert_int_equal(page.n, 0);
    assert_null(page.items);

    /* refused */
    const char *bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", /* no token */
        "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken/>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Size>5</Size></Contents></ListBucketResult>", /* no key */
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",   /* no size */
        "<ListBucketResult><Contents><Key>k</Key><Size>-5</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>5x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents/></ListBucketResult>",
        "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResultX></ListBucketResultX>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mrd_error_clear(&err);
        assert_int_equal(s3_xml_list_objects(bad[i], strlen(bad[i]), &page, &err),
                         MRD_ERR_PROTOCOL);
        assert_int_equal(page.n, 0);
        assert_null(page.items);
        assert_true(err.msg[0] != '\0');
    }
    /* a key longer than 1023 bytes */
    char *huge = malloc(4096);
    int hl = snprintf(huge, 4096, "<ListBucketResult><Contents><Key>%01100d</Key><Size>1</Size>"
                      "</Contents></ListBucketResult>", 1);
    assert_int_equal(s3_xml_list_objects(huge, (size_t)hl, &page, &err), MRD_ERR_PROTOCOL);
    free(huge);
}

/* Every prefix of a good page (a body cut anywhere) is parsed without
 * reading past it: OK with at most the entries it holds, or refused. */
static void test_xml_cut_bodies(void **state)
{
    (void)state;
    size_t len = strlen(LIST_PAGE);
    for (size_t cut = 0; cut <= len; cut++) {
        char *p = exact(LIST_PAGE, cut);
        s3_list_page page;
        mrd_error err;
        mrd_error_clear(&err);
        mrd_rc rc = s3_xml_list_objects(p, cut, &page, &err);
        assert_true(rc == MRD_OK || rc == MRD_ERR_PROTOCOL);
        if (rc == MRD_OK) {
            assert_true(page.n <= 2);
        }
        free(page.items);
        s3_uploads_page up;
        rc = s3_xml_list_uploads(p, cut, &up, &err);
        assert_true(rc == MRD_ERR_PROTOCOL);
        char code[32], msg[32], id[32];
        s3_xml_error(p, cut, code, sizeof(code), msg, sizeof(msg));
        assert_int_equal(s3_xml_upload_id(p, cut, id, sizeof(id), &err), MRD_ERR_PROTOCOL);
        free(p);
    }
}

static void test_xml_list_uploads(void **state)
{
    (void)state;
    const char *body =
        "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Bucket>meridian</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
        "<NextKeyMarker>prod/b.rdb</NextKeyMarker><NextUploadIdMarker>id/2+=</NextUploadIdMarker>"
        "<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>"
        "<Upload><Key>prod/a.rdb</Key><UploadId>id1</UploadId><Initiator><ID>x</ID></Initiator>"
        "<Initiated>2024-05-01T10:00:00.000Z</Initiated></Upload>"
        "<Upload><Key>prod/b.rdb</Key><UploadId>id/2+=</UploadId></Upload>"
        "</ListMultipartUploadsResult>";
    s3_uploads_page page;
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(s3_xml_list_uploads(body, strlen(body), &page, &err), MRD_OK);
    assert_int_equal(page.n, 2);
    assert_true(page.truncated);
    assert_string_equal(page.next_key_marker, "prod/b.rdb");
    assert_string_equal(page.next_upload_id_marker, "id/2+=");
    assert_string_equal(page.items[0].key, "prod/a.rdb");
    assert_string_equal(page.items[0].upload_id, "id1");
    assert_int_equal(page.items[0].initiated, 1714557600);
    assert_string_equal(page.items[1].upload_id, "id/2+=");
    assert_int_equal(page.items[1].initiated, 0);
    free(page.items);
    const char *bad[] = {
        "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
        "</ListMultipartUploadsResult>",
        "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>",
        "<ListMultipartUploadsResult><Upload><UploadId>i</UploadId></Upload>"
        "</ListMultipartUploadsResult>",
        "<Error><Code>NotImplemented</Code></Error>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(s3_xml_list_uploads(bad[i], strlen(bad[i]), &page, &err),
                         MRD_ERR_PROTOCOL);
        assert_null(page.items);
    }
}

static void test_xml_upload_id(void **state)
{
    (void)state;
    const char *body = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult xmlns=\"x\">"
                       "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE+/=</UploadId>"
                       "</InitiateMultipartUploadResult>";
    char id[64];
    mrd_error err;
    mrd_error_clear(&err);
    assert_int_equal(s3_xml_upload_id(body, strlen(body), id, sizeof(id), &err), MRD_OK);
    assert_string_equal(id, "VXBsb2FkIElE+/=");
    char small[8];
    assert_int_equal(s3_xml_upload_id(body, strlen(body), small, sizeof(small), &err),
                     MRD_ERR_PROTOCOL);
    assert_string_equal(small, "");
    const char *none = "<InitiateMultipartUploadResult><UploadId></UploadId>"
                       "</InitiateMultipartUploadResult>";
    assert_int_equal(s3_xml_upload_id(none, strlen(none), id, sizeof(id), &err),
                     MRD_ERR_PROTOCOL);
    const char *other = "<Error><Code>AccessDenied</Code><UploadId>x</UploadId></Error>";
    assert_int_equal(s3_xml_upload_id(other, strlen(other), id, sizeof(id), &err),
                     MRD_ERR_PROTOCOL);
}

static void test_iso8601(void **state)
{
    (void)state;
    assert_int_equal(s3_iso8601("2024-05-01T10:00:00.000Z", 24), 1714557600);
    assert_int_equal(s3_iso8601("2024-05-01T10:00:00Z", 20), 1714557600);
    assert_int_equal(s3_iso8601("1970-01-01T00:00:00", 19), 0);
    assert_int_equal(s3_iso8601("2024-05-01 10:00:00", 19), -1);
    assert_int_equal(s3_iso8601("2024-05-01T10:00:00+01", 22), -1);
    assert_int_equal(s3_iso8601("yesterday", 9), -1);
}

/* ==== CREDENTIALS ====================================================== */

static mrd_rc parse(const char *text, s3_config *cfg, mrd_error *err)
{
    memset(cfg, 'z', sizeof(*cfg)); /* parse must clear what it does not set */
    mrd_error_clear(err);
    char *p = exact(text, strlen(text));
    mrd_rc rc = s3_credentials_parse(p, strlen(text), "creds", cfg, err);
    free(p);
    return rc;
}

static void test_credentials_parse(void **state)
{
    (void)state;
    s3_config cfg;
    mrd_error err;
    assert_int_equal(parse("aws_access_key_id=AK\naws_secret_access_key=SK", &cfg, &err), MRD_OK);
    assert_string_equal(cfg.access_key, "AK");
    assert_string_equal(cfg.secret_key, "SK");
    assert_string_equal(cfg.session_token, "");

    assert_int_equal(parse("# comment\n; another\n\n[other]\naws_access_key_id = NO\n"
                           "aws_secret_access_key = NO\n[ default ]\r\n"
                           "  aws_access_key_id =  AKIA1 \r\n"
                           "aws_secret_access_key\t=\twJal/r+X=\r\n"
                           "region = us-east-1\naws_session_token = FwoG/+==\n[later]\n"
                           "aws_access_key_id = NO\n",
                           &cfg, &err),
                     MRD_OK);
    assert_string_equal(cfg.access_key, "AKIA1");
    assert_string_equal(cfg.secret_key, "wJal/r+X=");
    assert_string_equal(cfg.session_token, "FwoG/+==");

    /* missing keys name what is missing */
    assert_int_equal(parse("[default]\naws_access_key_id = AK\n", &cfg, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "aws_secret_access_key"));
    assert_string_equal(err.file, "creds");
    assert_string_equal(cfg.access_key, "");
    assert_int_equal(parse("[other]\naws_access_key_id = AK\naws_secret_access_key = SK\n", &cfg,
                           &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "aws_access_key_id"));
    assert_int_equal(parse("aws_access_key_id =\naws_secret_access_key = SK\n", &cfg, &err),
                     MRD_ERR_INVALID);
    assert_int_equal(parse("", &cfg, &err), MRD_ERR_INVALID);

    /* a bad line: its number, never its text (it may hold a secret) */
    assert_int_equal(parse("[default]\naws_access_key_id = AK\nSECRETSECRET\n", &cfg, &err),
                     MRD_ERR_PARSE);
    assert_int_equal(err.line, 3);
    assert_null(strstr(err.msg, "SECRETSECRET"));
    assert_string_equal(cfg.access_key, "");
    assert_int_equal(parse("[default\n", &cfg, &err), MRD_ERR_PARSE);
    assert_int_equal(err.line, 1);

    /* too long for the config */
    char *longer = malloc(4096);
    snprintf(longer, 4096, "aws_access_key_id = AK\naws_secret_access_key = %0200d\n", 1);
    assert_int_equal(parse(longer, &cfg, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "aws_secret_access_key is longer than 127"));
    assert_null(strstr(err.msg, "0000000001"));
    free(longer);
}

static void test_credentials_load_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/creds", tmpdir);
    s3_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    mrd_error err;
    mrd_error_clear(&err);
    write_file(path, "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n", 0600);
    assert_int_equal(s3_credentials_load(path, &cfg, &err), MRD_OK);
    assert_string_equal(cfg.access_key, "AK");
    assert_string_equal(cfg.secret_key, "SK");

    /* group or other bits: refused, naming the file and the fix */
    mode_t modes[] = {0640, 0604, 0660, 0644};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        mrd_error_clear(&err);
        assert_int_equal(s3_credentials_load(path, &cfg, &err), MRD_ERR_INVALID);
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, "chmod 600"));
        assert_null(strstr(err.msg, "SK"));
    }
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(s3_credentials_load(path, &cfg, &err), MRD_OK);

    /* "~/" is the HOME folder */
    const char *home = getenv("HOME");
    char *saved = home ? strdup(home) : NULL;
    setenv("HOME", tmpdir, 1);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(s3_credentials_load("~/creds", &cfg, &err), MRD_OK);
    assert_string_equal(cfg.access_key, "AK");
    if (saved)
        setenv("HOME", saved, 1);
    free(saved);

    /* missing */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none", tmpdir);
    assert_int_equal(s3_credentials_load(missing, &cfg, &err), MRD_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
}

static void test_credentials_load_env(void **state)
{
    (void)state;
    s3_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    mrd_error err;
    mrd_error_clear(&err);
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(s3_credentials_load(NULL, &cfg, &err), MRD_OK);
    assert_string_equal(cfg.access_key, "AKENV");
    assert_string_equal(cfg.secret_key, "SKENV");
    assert_string_equal(cfg.session_token, "");
    setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
    assert_int_equal(s3_credentials_load("", &cfg, &err), MRD_OK);
    assert_string_equal(cfg.session_token, "TOKENV");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(s3_credentials_load(NULL, &cfg, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY is not set"));
    assert_string_equal(cfg.access_key, "");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SESSION_TOKEN");
    assert_int_equal(s3_credentials_load(NULL, &cfg, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID is not set"));
}

/* ==== BUCKETS AND THE CONFIGURATION ==================================== */

static void test_bucket_names(void **state)
{
    (void)state;
    char why[128];
    const char *good[] = {"meridian", "my.bucket-1", "abc", "0ab",
                          "a23456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(s3_bucket_name_ok(good[i], why, sizeof(why)));
        assert_string_equal(why, "");
    }
    struct {
        const char *name, *rule;
    } bad[] = {
        {"ab", "3 to 63"},
        {"a234567890123456789012345678901234567890123456789012345678901234", "3 to 63"},
        {"Meridian", "lowercase"},
        {"my_bucket", "lowercase"},
        {"-abc", "begins and ends"},
        {"abc.", "begins and ends"},
        {"a..b", "adjacent periods"},
        {"192.168.1.1", "IP address"},
        {"xn--abc", "xn--"},
        {"sthree-abc", "sthree-"},
        {"abc-s3alias", "-s3alias"},
        {"abc--ol-s3", "--ol-s3"},
        {"", "3 to 63"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(s3_bucket_name_ok(bad[i].name, why, sizeof(why)));
        if (!strstr(why, bad[i].rule))
            fail_msg("%s: \"%s\" does not say %s", bad[i].name, why, bad[i].rule);
    }
    assert_false(s3_bucket_name_ok(NULL, NULL, 0));
    assert_true(s3_bucket_name_ok("192.168.1.1a", NULL, 0)); /* not an address */
}

static s3_config good_config(void)
{
    s3_config cfg = {0};
    snprintf(cfg.endpoint, sizeof(cfg.endpoint), "http://127.0.0.1:4569");
    snprintf(cfg.bucket, sizeof(cfg.bucket), "meridian");
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    snprintf(cfg.access_key, sizeof(cfg.access_key), "AK");
    snprintf(cfg.secret_key, sizeof(cfg.secret_key), "SK");
    return cfg;
}

static void test_open_refuses(void **state)
{
    (void)state;
    s3_client *c = NULL;
    mrd_error err;
    s3_config cfg = good_config();
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_OK);
    assert_non_null(c);
    s3_close(&c);
    assert_null(c);
    s3_close(&c);
    s3_close(NULL);

    const char *endpoints[] = {"ftp://h", "http://", "http://h/path", "127.0.0.1:4569",
                               "https://user@h"};
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        cfg = good_config();
        snprintf(cfg.endpoint, sizeof(cfg.endpoint), "%s", endpoints[i]);
        assert_int_equal(s3_open(&cfg, &c, &err), MRD_ERR_INVALID);
        assert_null(c);
        assert_non_null(strstr(err.msg, "endpoint"));
    }
    cfg = good_config();
    snprintf(cfg.bucket, sizeof(cfg.bucket), "Bad_Bucket");
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "Bad_Bucket"));
    cfg = good_config();
    cfg.region[0] = '\0';
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_ERR_INVALID);
    cfg = good_config();
    cfg.secret_key[0] = '\0';
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "credentials"));
    cfg = good_config();
    cfg.part_size = 1024 * 1024;
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_ERR_INVALID);
    cfg.part_size = S3_MIN_PART_SIZE;
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_OK);
    s3_close(&c);
}

/* Arguments refused before anything is sent (port 9 on loopback: nothing
 * is asked). */
static void test_bad_arguments(void **state)
{
    (void)state;
    s3_client *c = NULL;
    mrd_error err;
    s3_config cfg = good_config();
    snprintf(cfg.endpoint, sizeof(cfg.endpoint), "http://127.0.0.1:9");
    assert_int_equal(s3_open(&cfg, &c, &err), MRD_OK);
    assert_int_equal(s3_put_bytes(c, "", "x", 1, NULL, &err), MRD_ERR_INVALID);
    assert_int_equal(s3_delete(c, NULL, &err), MRD_ERR_INVALID);
    assert_int_equal(s3_put_file(c, "k", "/etc/hostname", "abc", NULL, NULL, &err),
                     MRD_ERR_INVALID);
    assert_non_null(strstr(err.msg, "64 hex digits"));
    assert_int_equal(s3_abort_upload(c, "k", "", &err), MRD_ERR_INVALID);
    s3_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_query_sorted_and_encoded),
        cmocka_unit_test(test_xml_error),
        cmocka_unit_test(test_xml_list_objects),
        cmocka_unit_test(test_xml_cut_bodies),
        cmocka_unit_test(test_xml_list_uploads),
        cmocka_unit_test(test_xml_upload_id),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_credentials_parse),
        cmocka_unit_test(test_credentials_load_file),
        cmocka_unit_test(test_credentials_load_env),
        cmocka_unit_test(test_bucket_names),
        cmocka_unit_test(test_open_refuses),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
