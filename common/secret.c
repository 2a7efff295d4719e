#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

mrd_rc mrd_secret_generate(char *buf, size_t n, mrd_error *err)
{
    unsigned char raw[32];
    if (n < MRD_SECRET_LEN)
        return mrd_error_set(err, MRD_ERR_INVALID, "secret buffer too small");
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mrd_error_set(err, MRD_ERR_IO, "getrandom: %s", strerror(errno));
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(raw); i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[2 * sizeof(raw)] = '\0';
    return MRD_OK;
}

mrd_rc mrd_secret_read(const char *path, char *buf, size_t n, mrd_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mrd_error_set(err, errno == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot read secret %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_STATE,
                             "secret %s is readable by others: run chmod 600 %s", path,
                             path);
    }
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r <= 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "secret %s is empty", path);
    buf[r] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0])
        return mrd_error_set(err, MRD_ERR_INVALID, "secret %s is empty", path);
    return MRD_OK;
}

mrd_rc mrd_secret_ensure(const char *path, char *buf, size_t n, bool *created,
                         mrd_error *err)
{
    if (created)
        *created = false;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return mrd_secret_read(path, buf, n, err);
        return mrd_error_set(err, MRD_ERR_IO, "cannot create secret %s: %s", path,
                             strerror(errno));
    }
    mrd_rc rc = mrd_secret_generate(buf, n, err);
    if (rc == MRD_OK) {
        size_t len = strlen(buf);
        if (write(fd, buf, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
            fsync(fd) != 0)
            rc = mrd_error_set(err, MRD_ERR_IO, "cannot write secret %s: %s", path,
                               strerror(errno));
    }
    close(fd);
    if (rc != MRD_OK) {
        unlink(path);
        return rc;
    }
    if (created)
        *created = true;
    return MRD_OK;
}

bool mrd_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)(i < lb ? b[i] : 0);
    return diff == 0;
}
