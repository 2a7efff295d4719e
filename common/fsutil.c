#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE; nftw */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

mrd_rc mrd_path_fmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return (w < 0 || (size_t)w >= n) ? MRD_ERR_INVALID : MRD_OK;
}

mrd_rc mrd_mkdir_p(const char *path, mode_t mode, mrd_error *err)
{
    char buf[4096];
    if (mrd_path_fmt(buf, sizeof(buf), "%s", path) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return mrd_error_set(err, MRD_ERR_IO, "cannot create %s: %s", buf,
                                 strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return mrd_error_set(err, MRD_ERR_IO, "cannot create %s: %s", buf,
                             strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return mrd_error_set(err, MRD_ERR_IO, "cannot create %s: it exists and is not a "
                             "folder", buf);
    return MRD_OK;
}

int mrd_fsync_dir_of(const char *path)
{
    char buf[4096];
    if (mrd_path_fmt(buf, sizeof(buf), "%s", path) != MRD_OK)
        return ENAMETOOLONG;
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/* Write LEN bytes of DATA, mode MODE, to a new temporary file next to
 * PATH and fsync it; its name goes to TMP.  On failure nothing is left. */
static mrd_rc write_temp(const char *path, const void *data, size_t len, mode_t mode,
                         char *tmp, size_t ntmp, mrd_error *err)
{
    if (mrd_path_fmt(tmp, ntmp, "%s.tmp.XXXXXX", path) != MRD_OK)
        return mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot create %s: %s", tmp,
                             strerror(errno));
    const char *p = data;
    size_t left = len;
    mrd_rc rc = MRD_OK;
    if (fchmod(fd, mode) != 0)
        rc = mrd_error_set(err, MRD_ERR_IO, "cannot chmod %s: %s", tmp, strerror(errno));
    while (rc == MRD_OK && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = mrd_error_set(err, MRD_ERR_IO, "cannot write %s: %s", tmp,
                               strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (rc == MRD_OK && fsync(fd) != 0)
        rc = mrd_error_set(err, MRD_ERR_IO, "cannot fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc != MRD_OK)
        unlink(tmp);
    return rc;
}

mrd_rc mrd_write_atomic(const char *path, const void *data, size_t len,
                        mode_t mode, mrd_error *err)
{
    char tmp[4096];
    MRD_TRY(write_temp(path, data, len, mode, tmp, sizeof(tmp), err));
    if (rename(tmp, path) != 0) {
        mrd_rc rc = mrd_error_set(err, MRD_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                                  strerror(errno));
        unlink(tmp);
        return rc;
    }
    mrd_fsync_dir_of(path);
    return MRD_OK;
}

mrd_rc mrd_write_new(const char *path, const void *data, size_t len, mode_t mode,
                     bool *created, mrd_error *err)
{
    char tmp[4096];
    if (created)
        *created = false;
    MRD_TRY(write_temp(path, data, len, mode, tmp, sizeof(tmp), err));
    /* link(2) never replaces PATH; a file system without hard links gets
     * renameat2(RENAME_NOREPLACE), which has the same guarantee. */
    int r = link(tmp, path);
    if (r != 0 && (errno == EPERM || errno == EOPNOTSUPP || errno == EMLINK)) {
        r = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
        if (r == 0)
            tmp[0] = '\0'; /* renamed: nothing left to unlink */
    }
    int e = errno;
    if (tmp[0])
        unlink(tmp);
    if (r != 0 && e != EEXIST)
        return mrd_error_set(err, MRD_ERR_IO, "cannot create %s: %s", path, strerror(e));
    if (r == 0) {
        mrd_fsync_dir_of(path);
        if (created)
            *created = true;
    }
    return MRD_OK;
}

mrd_rc mrd_read_file(const char *path, size_t max, char **out, size_t *len,
                     mrd_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mrd_error_set(err, errno == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot read %s: %s", path, strerror(errno));
    mrd_buf b;
    mrd_buf_init(&b, max);
    mrd_rc rc = mrd_buf_add_file(&b, f);
    fclose(f);
    size_t n = mrd_buf_len(&b);
    char *buf = rc == MRD_OK ? mrd_buf_take(&b) : NULL;
    mrd_buf_free(&b);
    if (rc == MRD_OK && !buf)
        rc = MRD_ERR_NOMEM;
    switch (rc) {
    case MRD_OK:
        break;
    case MRD_ERR_INVALID:
        return mrd_error_set(err, rc, "%s is larger than %zu bytes", path, max);
    case MRD_ERR_IO:
        return mrd_error_set(err, rc, "cannot read %s", path);
    default:
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory reading %s", path);
    }
    *out = buf;
    if (len)
        *len = n;
    return MRD_OK;
}

bool mrd_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* What mrd_rm_rf could not remove.  nftw(3) passes no context to its
 * callback, so this is per thread. */
typedef struct rm_state {
    int failed;        /* entries that could not be removed */
    int listed;        /* how many of them are in LIST */
    char list[400];    /* "PATH: reason; PATH: reason" */
} rm_state;

static _Thread_local rm_state *rm_cur;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (remove(path) == 0 || errno == ENOENT)
        return 0;
    int e = errno;
    /* A folder that still holds what could not be removed: its contents
     * are the cause, and they are already listed. */
    if ((flag == FTW_DP || flag == FTW_D) && (e == ENOTEMPTY || e == EEXIST) &&
        rm_cur->failed > 0)
        return 0;
    rm_cur->failed++;
    size_t used = strlen(rm_cur->list);
    int w = snprintf(rm_cur->list + used, sizeof(rm_cur->list) - used, "%s%s: %s",
                     used ? "; " : "", path,
                     flag == FTW_DNR ? "cannot read the folder" : strerror(e));
    if (w > 0 && (size_t)w < sizeof(rm_cur->list) - used)
        rm_cur->listed++;
    else
        rm_cur->list[used] = '\0'; /* did not fit: counted, not listed */
    return 0; /* go on: remove everything that can be removed */
}

mrd_rc mrd_rm_rf(const char *path, mrd_error *err)
{
    if (strlen(path) < 8 || strcmp(path, "/") == 0)
        return mrd_error_set(err, MRD_ERR_INVALID, "refusing to remove %s", path);
    if (!mrd_path_exists(path))
        return MRD_OK;
    rm_state st = {0};
    rm_cur = &st;
    int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    int e = errno;
    rm_cur = NULL;
    if (r != 0)
        return mrd_error_set(err, MRD_ERR_IO, "cannot remove %s: %s", path, strerror(e));
    if (st.failed > 0) {
        int more = st.failed - st.listed;
        char tail[48] = "";
        if (more > 0)
            snprintf(tail, sizeof(tail), "; and %d more", more);
        return mrd_error_set(err, MRD_ERR_IO, "could not remove %d entr%s under %s: %s%s",
                             st.failed, st.failed == 1 ? "y" : "ies", path, st.list, tail);
    }
    if (mrd_path_exists(path))
        return mrd_error_set(err, MRD_ERR_IO, "%s is still there after removing it", path);
    return MRD_OK;
}

mrd_rc mrd_write_json_atomic(const char *path, json_t *j, size_t flags, mode_t mode,
                             mrd_error *err)
{
    char *text = j ? json_dumps(j, flags) : NULL;
    json_decref(j);
    if (!text)
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    mrd_rc rc = mrd_write_atomic(path, text, strlen(text), mode, err);
    free(text);
    return rc;
}

mrd_rc mrd_expand_home(const char *in, char *buf, size_t n, mrd_error *err)
{
    if (strncmp(in, "~/", 2) != 0)
        return mrd_path_fmt(buf, n, "%s", in) == MRD_OK
                   ? MRD_OK
                   : mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", in);
    const char *home = getenv("HOME");
    if (!home || home[0] != '/')
        return mrd_error_set(err, MRD_ERR_STATE,
                             "HOME is not set, so %s cannot be found: use an absolute path",
                             in);
    return mrd_path_fmt(buf, n, "%s/%s", home, in + 2) == MRD_OK
               ? MRD_OK
               : mrd_error_set(err, MRD_ERR_INVALID, "path too long: %s", in);
}
