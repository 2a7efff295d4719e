/* log.h - timestamped log lines on one stream (stderr by default).
 * Lines name what they are about ("use-a1/redis: started pid 42").
 * Secrets are never passed to these functions. Thread-safe. */
#ifndef MRD_LOG_H
#define MRD_LOG_H

#include <stdio.h>

typedef enum mrd_log_level {
    MRD_LOG_DEBUG = 0,
    MRD_LOG_INFO,
    MRD_LOG_WARN,
    MRD_LOG_ERROR,
} mrd_log_level;

/* PROG prefixes every line; OUT (borrowed, NULL = stderr). */
void mrd_log_init(const char *prog, FILE *out, mrd_log_level min_level);

void mrd_log(mrd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define mrd_info(...) mrd_log(MRD_LOG_INFO, __VA_ARGS__)
#define mrd_warn(...) mrd_log(MRD_LOG_WARN, __VA_ARGS__)
#define mrd_errorlog(...) mrd_log(MRD_LOG_ERROR, __VA_ARGS__)
#define mrd_debug(...) mrd_log(MRD_LOG_DEBUG, __VA_ARGS__)

/* Monotonic and wall clocks in milliseconds. */
long long mrd_now_ms(void);
long long mrd_wall_ms(void);
void mrd_sleep_ms(long long ms);

#endif
