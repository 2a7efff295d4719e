#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define LOCK_POLL_MS 20 /* how often a waiter tries again */
#define LOCK_RECORD_MAX 64

struct mrd_lock {
    int fd;                       /* the folder, flocked */
    char record[LOCK_RECORD_MAX]; /* the record's name in the folder */
};

/* Who DIRFD/RECORD says holds the lock; zeroes when unreadable. */
static void read_holder(int dirfd, const char *record, mrd_lock_holder *h)
{
    char buf[64];
    memset(h, 0, sizeof(*h));
    int fd = openat(dirfd, record, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return;
    buf[r] = '\0';
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    if (end == buf || pid <= 0 || pid >= 1L << 30)
        return;
    h->pid = (pid_t)pid;
    if (*end == ' ')
        snprintf(h->what, sizeof(h->what), "%.*s", (int)strcspn(end + 1, "\n"), end + 1);
}

/* True when FD is still the folder at DIR (not removed or replaced). */
static bool same_dir(int fd, const char *dir)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* "PID WHAT\n" into DIRFD/RECORD: written in place (the record is only
 * read for a message, and only while we hold the lock). */
static void write_record(int dirfd, const char *record, const char *what)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "%d %s\n", (int)getpid(), what ? what : "");
    int fd = openat(dirfd, record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n)
        mrd_warn("cannot record our pid in %s: %s", record, strerror(errno));
    if (fd >= 0)
        close(fd);
}

mrd_rc mrd_lock_take(const char *dir, const char *record, const char *what, int wait_ms,
                     mrd_lock **out, mrd_lock_holder *holder, mrd_error *err)
{
    *out = NULL;
    if (!record || strlen(record) >= LOCK_RECORD_MAX || strchr(record, '/'))
        return mrd_error_set(err, MRD_ERR_INVALID, "bad lock record name");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mrd_error_set(err, errno == ENOENT ? MRD_ERR_NOT_FOUND : MRD_ERR_IO,
                             "cannot open %s: %s", dir, strerror(errno));
    long long deadline = mrd_now_ms() + (wait_ms > 0 ? wait_ms : 0);
    int got;
    while ((got = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EWOULDBLOCK &&
           mrd_now_ms() < deadline)
        mrd_sleep_ms(LOCK_POLL_MS);
    int e = errno;
    if (got != 0 && e != EWOULDBLOCK) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_IO, "cannot lock %s: %s", dir, strerror(e));
    }
    /* The holder may have removed the folder (destroy): a lock on a
     * removed folder excludes nobody. */
    if (!same_dir(fd, dir)) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_NOT_FOUND, "%s was removed while we waited",
                             dir);
    }
    if (got != 0) {
        if (holder)
            read_holder(fd, record, holder);
        close(fd);
        return mrd_error_set(err, MRD_ERR_TIMEOUT, "%s is locked by another process", dir);
    }
    mrd_lock *l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        return mrd_error_set(err, MRD_ERR_NOMEM, "out of memory");
    }
    l->fd = fd;
    snprintf(l->record, sizeof(l->record), "%s", record);
    write_record(fd, record, what);
    *out = l;
    return MRD_OK;
}

void mrd_lock_release(mrd_lock **l)
{
    if (!l || !*l)
        return;
    /* Emptied, so nobody reads us as the holder any more.  It may be gone
     * with the folder, or the folder with it: nothing to do then. */
    int fd = openat((*l)->fd, (*l)->record, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0)
        close(fd);
    close((*l)->fd);
    free(*l);
    *l = NULL;
}
