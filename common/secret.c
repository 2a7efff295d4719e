#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

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
    if (r > 0) {
        buf[r] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    /* mrd_secret_ensure never leaves one (it links a complete file into
     * place); older versions created the file and then wrote it, so a kill
     * in between left it empty.  Nothing can have used an empty secret,
     * so a new one is safe. */
    if (r <= 0 || !buf[0])
        return mrd_error_set(err, MRD_ERR_INVALID,
                             "secret %s is empty (a write of it was interrupted): remove "
                             "it and run meridian deploy again, which creates a new one",
                             path);
    return MRD_OK;
}

mrd_rc mrd_secret_ensure(const char *path, char *buf, size_t n, bool *created,
                         mrd_error *err)
{
    if (created)
        *created = false;
    mrd_rc rc = mrd_secret_read(path, buf, n, err);
    if (rc != MRD_ERR_NOT_FOUND)
        return rc;
    /* Absent: write a complete file under a temporary name and link it
     * into place, which never replaces a file.  A kill leaves at most
     * the temporary file; a concurrent writer that won leaves its secret,
     * which is then the one everybody reads. */
    char line[MRD_SECRET_LEN + 1];
    MRD_TRY(mrd_secret_generate(buf, n, err));
    int len = snprintf(line, sizeof(line), "%s\n", buf);
    bool made = false;
    rc = mrd_write_new(path, line, (size_t)len, 0600, &made, err);
    memset(line, 0, sizeof(line));
    if (rc != MRD_OK) {
        memset(buf, 0, n);
        if (err) {
            char why[sizeof(err->msg)];
            snprintf(why, sizeof(why), "%s", err->msg);
            mrd_error_set(err, rc, "cannot create secret %s: %s", path, why);
        }
        return rc;
    }
    if (!made)
        return mrd_secret_read(path, buf, n, err);
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
