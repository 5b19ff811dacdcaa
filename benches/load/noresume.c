/*
 * LD_PRELOAD shim for the load generators (wrk, h2load): no TLS session resumption.
 *
 * Both tools keep the OpenSSL session of a closed connection and offer it again on the next
 * one (wrk: SSL_clear keeps it; h2load: the SSL object is reused), so against a server that
 * issues tickets -- nginx, HAProxy and tlsgate all do by default -- a "new connection per
 * request" run measures resumed handshakes, not full ones. Both call SSL_set_fd before each
 * connection's handshake; here that first drops any session still attached to the SSL object.
 * (wrk calls SSL_set_fd again on every retry of a non-blocking handshake, hence the check that
 * the handshake has not started yet.) bench.py checks the effect on the wire: it captures the
 * ClientHellos and ServerHellos of a short run and counts offered and accepted resumptions.
 *
 * No OpenSSL headers needed: cc -shared -fPIC -O2 -o noresume.so noresume.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>

typedef struct ssl_st SSL;

static int (*real_set_fd)(SSL *, int);
static int (*set_session)(SSL *, void *);
static int (*in_before)(const SSL *);

__attribute__((constructor)) static void noresume_init(void) {
    real_set_fd = (int (*)(SSL *, int))dlsym(RTLD_NEXT, "SSL_set_fd");
    set_session = (int (*)(SSL *, void *))dlsym(RTLD_NEXT, "SSL_set_session");
    in_before = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_in_before");
}

int SSL_set_fd(SSL *s, int fd) {
    if (set_session && in_before && in_before(s))
        set_session(s, 0);
    return real_set_fd(s, fd);
}
