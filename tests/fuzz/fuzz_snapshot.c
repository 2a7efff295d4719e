/* fuzz_snapshot.c - the snapshot fetch's protocol side (store/snapshot.c)
 * on any bytes a server could send.
 *
 * Input: byte 0 chooses AUTH (bit 0: a user and password are given, so
 * the first reply line answers AUTH) and seeds how the rest is cut into
 * reads; the rest is the server's side of the connection: the answers to
 * AUTH and the two REPLCONFs, keepalives, the "$<len>" or "$EOF:<mark>"
 * line, the payload.  It is written into a SOCK_SEQPACKET socket pair
 * (each record arrives as exactly one read, so the cut is deterministic)
 * whose writing side is then shut down; store__snapshot_fetch_fd() reads the other side and
 * installs into a tmpfs folder.
 *
 * Every input is fetched twice: as one read, and cut into reads of 1 to
 * 64 bytes or more at places taken from byte 0.  Checked:
 *   - both cuts give the same result and the same installed bytes (the EOF
 *     mark and the trailer are found wherever the reads end);
 *   - a fetch that succeeds installed a file of mode 0600 holding OUT->bytes
 *     bytes that came in one piece from the input, ending with the EOF
 *     opcode and a CRC64 that matches (or is zero), whose header inspects
 *     to the fields in OUT;
 *   - a fetch that fails leaves no destination and no temporary file, and
 *     says so with a protocol-side error (never a timeout: the peer always
 *     closes). */
#define _GNU_SOURCE /* memmem */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "snapshot_internal.h"

#define MAX_RECORD 65536 /* the fetch reads at most this much at once */

static char dir[256];
static char dest[300];

static void remove_dir(void)
{
    rmdir(dir);
}

static void setup(void)
{
    if (dir[0])
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/meridian-fuzz-snapshot.XXXXXX", base);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(dest, sizeof(dest), "%s/dump.rdb", dir);
    atexit(remove_dir);
}

typedef struct feeder {
    int fd;
    const uint8_t *p;
    size_t n;
    size_t off;    /* bytes sent so far */
    uint32_t seed; /* 0: one record */
    uint32_t x;    /* xorshift32 state */
} feeder;

/* Size of the next record. */
static size_t next_record(feeder *f)
{
    size_t k = f->n - f->off;
    if (f->seed) {
        uint32_t x = f->x;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f->x = x;
        size_t want = (x & 7) == 0 ? 1024 + x % 4096 : 1 + (x >> 3) % 64;
        if (want < k)
            k = want;
    }
    return k > MAX_RECORD ? MAX_RECORD : k;
}

/* Send records until done or until the socket is full (false). */
static bool feed_some(feeder *f, int flags)
{
    while (f->off < f->n) {
        uint32_t x = f->x;
        size_t k = next_record(f);
        ssize_t w = send(f->fd, f->p + f->off, k, MSG_NOSIGNAL | flags);
        if (w < 0 && errno == EAGAIN && (flags & MSG_DONTWAIT)) {
            f->x = x; /* undo the draw: the same record goes next */
            return false;
        }
        if (w != (ssize_t)k)
            break; /* the fetch gave up and closed its side */
        f->off += k;
    }
    shutdown(f->fd, SHUT_WR);
    return true;
}

static void *feed_rest(void *arg)
{
    feed_some(arg, 0);
    return NULL;
}
typedef struct result {
    mrd_rc rc;
    store_snapshot out;
    mrd_error err;
    uint8_t *file; /* installed bytes (malloc), NULL when none */
    size_t len;
} result;

static void run(const uint8_t *p, size_t n, bool auth, uint32_t seed, result *r)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    FUZZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
    /* Most inputs fit in the socket's buffer: sent before the fetch
     * starts, no thread.  The rest goes from a thread; the records are the
     * same either way. */
    int big = 1 << 22;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    feeder f = {.fd = sv[1], .p = p, .n = n, .seed = seed, .x = seed};
    pthread_t t;
    bool threaded = false;
    if (!feed_some(&f, MSG_DONTWAIT)) {
        threaded = true;
        FUZZ_CHECK(pthread_create(&t, NULL, feed_rest, &f) == 0);
    }
    mrd_error_clear(&r->err);
    r->rc = store__snapshot_fetch_fd(sv[0], "fuzz:16379", auth ? "fuzz" : NULL,
                                     auth ? "secret" : NULL, dest, 5000, &r->out, &r->err);
    if (threaded)
        pthread_join(t, NULL);
    close(sv[1]);

    r->file = NULL;
    r->len = 0;
    struct stat st;
    if (stat(dest, &st) == 0) {
        FUZZ_CHECK(r->rc == MRD_OK); /* a failed fetch installs nothing */
        FUZZ_CHECK((st.st_mode & 0777) == 0600);
        r->len = (size_t)st.st_size;
        r->file = malloc(r->len ? r->len : 1);
        FUZZ_CHECK(r->file != NULL);
        int fd = open(dest, O_RDONLY | O_CLOEXEC);
        FUZZ_CHECK(fd >= 0 && read(fd, r->file, r->len) == (ssize_t)r->len);
        close(fd);
        unlink(dest);
    } else {
        FUZZ_CHECK(r->rc != MRD_OK);
    }
    /* nothing else is left in the folder: no temporary file */
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));)
        FUZZ_CHECK(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
    closedir(d);
}

static void check_ok(const uint8_t *stream, size_t n, const result *r)
{
    FUZZ_CHECK(r->out.bytes >= 0 && (size_t)r->out.bytes == r->len);
    FUZZ_CHECK(r->len >= 18);
    FUZZ_CHECK(memmem(stream, n, r->file, r->len) != NULL); /* came in one piece */
    const uint8_t *trailer = r->file + r->len - 9;
    FUZZ_CHECK(trailer[0] == 0xFF);
    uint64_t stored = 0;
    for (int i = 8; i >= 1; i--)
        stored = (stored << 8) | trailer[i];
    uint64_t crc = store_rdb_crc64(0, r->file, r->len - 8);
    FUZZ_CHECK(r->out.rdb_version < 5 || stored == 0 || stored == crc);
    store_snapshot s;
    FUZZ_CHECK(store_rdb_inspect(r->file, r->len < 4096 ? r->len : 4096, &s, NULL) == MRD_OK);
    FUZZ_CHECK(s.rdb_version == r->out.rdb_version && s.repl_offset == r->out.repl_offset &&
               strcmp(s.repl_id, r->out.repl_id) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    setup();
    const uint8_t *stream = data + 1;
    size_t n = size - 1;
    bool auth = data[0] & 1;
    uint32_t seed = 0x9E3779B9u ^ (uint32_t)data[0] ^ ((uint32_t)n << 8);

    result whole, cut;
    run(stream, n, auth, 0, &whole);
    run(stream, n, auth, seed, &cut);

    FUZZ_CHECK(whole.rc == cut.rc);
    if (whole.rc == MRD_OK) {
        check_ok(stream, n, &whole);
        FUZZ_CHECK(cut.len == whole.len && memcmp(cut.file, whole.file, whole.len) == 0);
        FUZZ_CHECK(cut.out.bytes == whole.out.bytes &&
                   cut.out.repl_offset == whole.out.repl_offset &&
                   strcmp(cut.out.repl_id, whole.out.repl_id) == 0);
    } else {
        FUZZ_CHECK_ERROR(&whole.err, whole.rc);
        FUZZ_CHECK(whole.rc == MRD_ERR_AUTH || whole.rc == MRD_ERR_PROTOCOL ||
                   whole.rc == MRD_ERR_IO || whole.rc == MRD_ERR_PARSE);
        FUZZ_CHECK(strncmp(whole.err.msg, "cannot fetch a snapshot from fuzz:16379: ", 41) == 0);
    }
    free(whole.file);
    free(cut.file);
    return 0;
}
