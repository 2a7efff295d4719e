/* loopback.h - a TCP socket on 127.0.0.1 for tests, on a port the kernel
 * picks.  Include after <cmocka.h>. */
#ifndef MRD_TEST_LOOPBACK_H
#define MRD_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A socket listening on 127.0.0.1 (backlog 8); its port in *PORT.  Until
 * the test accepts, the kernel completes connections and nothing answers. */
static inline int loopback_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

#endif
