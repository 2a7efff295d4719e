#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "meridian";
static FILE *log_out;
static mrd_log_level log_min = MRD_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void mrd_log_init(const char *prog, FILE *out, mrd_log_level min_level)
{
    log_prog = prog ? prog : "meridian";
    log_out = out;
    log_min = min_level;
}

void mrd_log(mrd_log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    FILE *out = log_out ? log_out : stderr;
    long long ms = mrd_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    flockfile(out);
    fprintf(out, "%s.%03dZ %s[%d] %s ", stamp, (int)(ms % 1000), log_prog,
            (int)getpid(), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
    funlockfile(out);
}

long long mrd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mrd_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mrd_sleep_ms(long long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
