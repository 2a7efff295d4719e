/* test_buf.c - common/buf.c: the capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

static void test_empty_is_an_empty_string(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, 16);
    assert_string_equal(mrd_buf_str(&b), "");
    assert_int_equal(mrd_buf_len(&b), 0);
    char *s = mrd_buf_take(&b); /* a string even when nothing was added */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    mrd_buf_free(&b);
    mrd_buf_free(&b); /* twice is fine */
}

static void test_add_grows_and_terminates(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, 100000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(mrd_buf_add(&b, "0123456789", 10), MRD_OK);
    assert_int_equal(mrd_buf_len(&b), 10000);
    assert_int_equal(strlen(mrd_buf_str(&b)), 10000);
    assert_memory_equal(mrd_buf_str(&b) + 9990, "0123456789", 10);
    assert_int_equal(mrd_buf_add(&b, "a\0b", 3), MRD_OK); /* binary-safe */
    assert_int_equal(mrd_buf_len(&b), 10003);
    assert_memory_equal(mrd_buf_str(&b) + 10000, "a\0b", 4);
    mrd_buf_free(&b);
}

static void test_cap_refuses_and_keeps_content(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, 8);
    assert_int_equal(mrd_buf_adds(&b, "12345"), MRD_OK);
    assert_int_equal(mrd_buf_adds(&b, "6789"), MRD_ERR_INVALID);
    assert_string_equal(mrd_buf_str(&b), "12345");
    assert_int_equal(mrd_buf_adds(&b, "678"), MRD_OK); /* exactly the cap */
    assert_string_equal(mrd_buf_str(&b), "12345678");
    assert_int_equal(mrd_buf_add(&b, "9", 1), MRD_ERR_INVALID);
    assert_int_equal(mrd_buf_addf(&b, "%d", 9), MRD_ERR_INVALID);
    assert_true(b.cap <= 9); /* never allocates past the cap and the NUL */
    mrd_buf_free(&b);
}

static void test_addf_take_reset(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, 1024);
    assert_int_equal(mrd_buf_addf(&b, "%s=%d;", "a", 1), MRD_OK);
    assert_int_equal(mrd_buf_addf(&b, "%s=%05d", "b", 42), MRD_OK);
    assert_string_equal(mrd_buf_str(&b), "a=1;b=00042");
    mrd_buf_reset(&b);
    assert_string_equal(mrd_buf_str(&b), "");
    assert_int_equal(mrd_buf_adds(&b, "x"), MRD_OK);
    char *s = mrd_buf_take(&b);
    assert_string_equal(s, "x");
    assert_int_equal(mrd_buf_len(&b), 0);
    assert_int_equal(b.max, 1024); /* the cap survives take */
    free(s);
    mrd_buf_free(&b);
}

/* A printf-like wrapper, as the drill report's, through mrd_buf_vaddf. */
static mrd_rc wrapped(mrd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mrd_rc wrapped(mrd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mrd_rc rc = mrd_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_vaddf_and_cap(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, 8);
    assert_int_equal(wrapped(&b, "%d-%s", 12, "ab"), MRD_OK);
    assert_int_equal(wrapped(&b, "%s", "cdef"), MRD_ERR_INVALID); /* 9 > 8 */
    assert_string_equal(mrd_buf_str(&b), "12-ab"); /* kept as it was */
    assert_int_equal(wrapped(&b, "%s", "cd"), MRD_OK);
    assert_string_equal(mrd_buf_str(&b), "12-abcd");
    mrd_buf_free(&b);
}

static void test_unbounded_cap(void **state)
{
    (void)state;
    mrd_buf b;
    mrd_buf_init(&b, (size_t)-1);
    assert_int_equal(mrd_buf_adds(&b, "no cap"), MRD_OK);
    assert_string_equal(mrd_buf_str(&b), "no cap");
    mrd_buf_free(&b);
}

/* A temporary file holding N bytes of a repeating pattern, at its start. */
static FILE *file_of(size_t n)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fputc('a' + (int)(i % 26), f), 'a' + (int)(i % 26));
    rewind(f);
    return f;
}

static void test_add_file(void **state)
{
    (void)state;
    mrd_buf b;
    /* Several chunks, up to exactly the cap, after what the buffer held. */
    FILE *f = file_of(20000);
    mrd_buf_init(&b, 20002);
    assert_int_equal(mrd_buf_adds(&b, "> "), MRD_OK);
    assert_int_equal(mrd_buf_add_file(&b, f), MRD_OK);
    assert_int_equal(mrd_buf_len(&b), 20002);
    assert_int_equal(strlen(mrd_buf_str(&b)), 20002);
    assert_memory_equal(mrd_buf_str(&b), "> abc", 5);
    assert_int_equal(mrd_buf_str(&b)[2 + 19999], 'a' + 19999 % 26);
    assert_int_equal(mrd_buf_add_file(&b, f), MRD_OK); /* at the end: adds nothing */
    assert_int_equal(mrd_buf_len(&b), 20002);
    fclose(f);
    mrd_buf_free(&b);

    /* One byte more than the cap. */
    f = file_of(20001);
    mrd_buf_init(&b, 20000);
    assert_int_equal(mrd_buf_add_file(&b, f), MRD_ERR_INVALID);
    fclose(f);
    mrd_buf_free(&b);

    /* An empty file. */
    f = file_of(0);
    mrd_buf_init(&b, 0);
    assert_int_equal(mrd_buf_add_file(&b, f), MRD_OK);
    assert_string_equal(mrd_buf_str(&b), "");
    fclose(f);
    mrd_buf_free(&b);
}

static void test_add_file_read_error(void **state)
{
    (void)state;
    char path[] = "/tmp/meridian-test-buf.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    FILE *f = fopen(path, "w"); /* not open for reading: fread fails */
    assert_non_null(f);
    unlink(path);
    mrd_buf b;
    mrd_buf_init(&b, 1024);
    errno = 0;
    assert_int_equal(mrd_buf_add_file(&b, f), MRD_ERR_IO);
    assert_int_not_equal(errno, 0);
    fclose(f);
    mrd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_is_an_empty_string),
        cmocka_unit_test(test_add_grows_and_terminates),
        cmocka_unit_test(test_cap_refuses_and_keeps_content),
        cmocka_unit_test(test_addf_take_reset),
        cmocka_unit_test(test_vaddf_and_cap),
        cmocka_unit_test(test_unbounded_cap),
        cmocka_unit_test(test_add_file),
        cmocka_unit_test(test_add_file_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
