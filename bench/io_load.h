/*
 * io_load.h -- the kit the I/O benchmarks share: a plain epoll server that
 * Tina's own servers are measured against, and the load generators that
 * drive both in the same run.
 *
 * Who calls it: bench/echo.c and bench/http.c.  Like bench.h it is
 * header-only (static inline functions) so that each benchmark still builds
 * from its own file; unlike bench.h it needs only libc and pthreads, not
 * tina.h.  Everything listens on and connects to 127.0.0.1.
 *
 * The baseline (io_baseline_*) is the server a systems programmer writes in
 * an afternoon, and deliberately no more: `threads` workers, each with its
 * own epoll set and its own SO_REUSEPORT listener on the shared port (so the
 * kernel spreads connections and no accept is contended), level-triggered,
 * non-blocking accept4/recv/send, one read per readiness event.  Each
 * connection owns two fixed buffers:
 *
 *     in[]   bytes received, not yet answered     [0, in_used)
 *     out[]  answers produced, not yet sent        [out_head, out_tail)
 *
 * Echo copies in[] to out[]; HTTP finds each "\r\n\r\n" in in[] and appends
 * IO_HTTP_RESPONSE to out[].  When send() cannot take all of out[], the
 * connection stops reading and waits for EPOLLOUT (interest is EPOLLIN or
 * EPOLLOUT, never both), so a slow reader pushes back on its writer instead
 * of growing a buffer.  Each epoll set also holds an eventfd that
 * io_baseline_stop() writes to wake and end its worker.
 *
 * The load generators (io_load_*) run on the calling thread alone: the
 * benchmark machine has two cores, one for the server under test and one
 * for the client.  One epoll set drives every connection; a connection sends
 * its whole message (or its whole pipeline of requests) in one send() and
 * starts the next as soon as the last reply byte is verified, in the same
 * event.  A connection that fails (refused, reset, closed early, wrong
 * bytes) is counted as an error, closed, and opened again at the top of the
 * next loop, so the offered load stays at `conns`.  The first tenth of the
 * run is warm-up and is not counted.
 *
 * Invariants: a struct io_baseline must not move while it runs (its workers
 * point into it); its per-worker counters are written by the worker and
 * read only after io_baseline_stop().
 */
#ifndef TINA_BENCH_IO_LOAD_H
#define TINA_BENCH_IO_LOAD_H

#ifndef _GNU_SOURCE
#error "io_load.h needs _GNU_SOURCE (accept4, memmem)"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_MODE_ECHO 1
#define IO_MODE_HTTP 2

/* The one response both the baseline and Tina's server send, byte for byte. */
#define IO_HTTP_RESPONSE \
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"
#define IO_HTTP_REQUEST "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define IO_HTTP_BODY "Hello, World!"

#define IO_LISTEN_BACKLOG 4096
#define IO_BASELINE_THREADS_MAX 16
#define IO_CONN_BUFFER_SIZE 16384u   /* bytes, each of a server connection's in[] and out[] */
#define IO_EVENT_BATCH 256           /* epoll events taken per epoll_wait */
#define IO_CLIENT_RX_SIZE 8192u      /* bytes, an HTTP client's receive buffer */
#define IO_CLIENT_SCRATCH_SIZE 65536u /* bytes, the echo client's shared receive buffer */
#define IO_ECHO_PATTERN_PERIOD 251u  /* prime: shifting the pattern by one changes every byte */
#define IO_LOAD_WAIT_MS_MAX 10       /* the client looks at the clock at least this often */

_Static_assert(sizeof(IO_HTTP_RESPONSE) - 1 <= IO_CONN_BUFFER_SIZE,
               "one response fits a server connection's out[]");
_Static_assert(sizeof(IO_HTTP_RESPONSE) - 1 < IO_CLIENT_RX_SIZE,
               "one response fits the client's receive buffer with room to spare");
_Static_assert(sizeof(IO_HTTP_BODY) - 1 == 13, "the response's Content-Length is the body's size");

static inline uint64_t io__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void io__set_nodelay(int fd) {
    int one = 1;
    /* Best effort: without it a request/response stream still works, only slower. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------------ */
/* Listening sockets                                                         */
/* ------------------------------------------------------------------------ */

/* A non-blocking listener on 127.0.0.1:port (0: the kernel picks), with
 * SO_REUSEADDR and, if reuseport, SO_REUSEPORT.  Returns the fd or -errno. */
static inline int io_listen(uint16_t port, int reuseport) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) goto fail;
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) goto fail;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) goto fail;
    if (listen(fd, IO_LISTEN_BACKLOG) != 0) goto fail;
    return fd;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

/* The local port fd is bound to, or 0 if it cannot be read. */
static inline uint16_t io_port_of(int fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return 0;
    return ntohs(addr.sin_port);
}

/* ------------------------------------------------------------------------ */
/* The baseline server                                                       */
/* ------------------------------------------------------------------------ */

struct io__conn {
    struct io__conn *prev, *next; /* the worker's list of open connections */
    int fd;
    uint32_t events;             /* interest registered now: EPOLLIN or EPOLLOUT */
    uint32_t in_used;            /* bytes of in[] received, not yet answered */
    uint32_t out_head, out_tail; /* out[out_head, out_tail) is still to send */
    char in[IO_CONN_BUFFER_SIZE];
    char out[IO_CONN_BUFFER_SIZE];
};

struct io_baseline_worker {
    pthread_t thread;
    int started;             /* the thread runs; io_baseline_stop joins it */
    int mode;                /* IO_MODE_ECHO or IO_MODE_HTTP */
    int listen_fd;           /* this worker's SO_REUSEPORT listener */
    int epoll_fd;
    int wake_fd;             /* eventfd: io_baseline_stop writes, the worker ends */
    struct io__conn *conns;  /* open connections; the worker's while it runs */
    uint64_t accepted_count; /* connections accepted */
    uint64_t closed_count;   /* connections closed by the peer or on a socket error */
    uint64_t refused_count;  /* accepted, then closed for want of memory or epoll room */
    uint64_t oversize_count; /* HTTP connections dropped: a request outgrew in[] */
};

struct io_baseline {
    uint16_t port;    /* the port every worker listens on */
    int mode;         /* IO_MODE_ECHO or IO_MODE_HTTP */
    int thread_count; /* workers in use, [0, thread_count) */
    struct io_baseline_worker workers[IO_BASELINE_THREADS_MAX];
};

/* Turns received bytes into bytes to send, as far as out[] has room: echo
 * copies them, HTTP answers each complete request.  Returns bytes produced. */
static inline uint32_t io__conn_process(struct io__conn *c, int mode) {
    const uint32_t response_size = sizeof(IO_HTTP_RESPONSE) - 1;
    uint32_t room = IO_CONN_BUFFER_SIZE - c->out_tail;
    uint32_t consumed = 0, produced = 0;
    if (mode == IO_MODE_ECHO) {
        consumed = produced = c->in_used < room ? c->in_used : room;
        memcpy(c->out + c->out_tail, c->in, produced);
    } else {
        while (room - produced >= response_size) {
            const char *end = memmem(c->in + consumed, c->in_used - consumed, "\r\n\r\n", 4);
            if (end == NULL) break;
            consumed = (uint32_t)(end - c->in) + 4;
            memcpy(c->out + c->out_tail + produced, IO_HTTP_RESPONSE, response_size);
            produced += response_size;
        }
    }
    c->out_tail += produced;
    memmove(c->in, c->in + consumed, c->in_used - consumed);
    c->in_used -= consumed;
    return produced;
}

/* Returns 1 if out[] is now empty, 0 if the socket is full, -1 on failure. */
static inline int io__conn_flush(struct io__conn *c) {
    while (c->out_head < c->out_tail) {
        ssize_t n = send(c->fd, c->out + c->out_head, c->out_tail - c->out_head, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_head += (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    c->out_head = c->out_tail = 0;
    return 1;
}

/* One readiness event: read once, then answer and send until the socket is
 * full or nothing is left to answer.  Returns -1 to close the connection. */
static inline int io__conn_serve(struct io_baseline_worker *w, struct io__conn *c, uint32_t ready) {
    uint32_t room = IO_CONN_BUFFER_SIZE - c->in_used;
    if ((ready & (EPOLLIN | EPOLLHUP | EPOLLERR)) && room > 0) {
        ssize_t n = recv(c->fd, c->in + c->in_used, room, 0);
        if (n > 0) {
            c->in_used += (uint32_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            w->closed_count++;
            return -1;
        }
    }
    uint32_t want = EPOLLIN;
    for (;;) {
        uint32_t produced = io__conn_process(c, w->mode);
        int flushed = io__conn_flush(c);
        if (flushed < 0) {
            w->closed_count++;
            return -1;
        }
        if (flushed == 0) want = EPOLLOUT;
        if (flushed == 0 || produced == 0) break;
    }
    if (want == EPOLLIN && c->in_used == IO_CONN_BUFFER_SIZE) {
        w->oversize_count++; /* only HTTP gets here: a request with no end in sight */
        return -1;
    }
    if (want == c->events) return 0;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        w->closed_count++;
        return -1;
    }
    c->events = want;
    return 0;
}

static inline void io__worker_drop(struct io_baseline_worker *w, struct io__conn *c) {
    if (c->prev != NULL) c->prev->next = c->next;
    else w->conns = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    close(c->fd); /* also leaves the epoll set: the fd was never duplicated */
    free(c);
}

static inline void io__worker_accept(struct io_baseline_worker *w) {
    for (;;) {
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return; /* EAGAIN: all taken; EMFILE and the like: retried next event */
        }
        io__set_nodelay(fd);
        struct io__conn *c = malloc(sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (c == NULL || epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            w->refused_count++;
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->in_used = c->out_head = c->out_tail = 0;
        c->prev = NULL;
        c->next = w->conns;
        if (w->conns != NULL) w->conns->prev = c;
        w->conns = c;
        w->accepted_count++;
    }
}

static inline void *io__worker_main(void *arg) {
    struct io_baseline_worker *w = arg;
    struct epoll_event events[IO_EVENT_BATCH];
    for (;;) {
        int n = epoll_wait(w->epoll_fd, events, IO_EVENT_BATCH, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return NULL;
        for (int i = 0; i < n; i++) {
            void *source = events[i].data.ptr;
            if (source == &w->wake_fd) return NULL;
            if (source == &w->listen_fd) {
                io__worker_accept(w);
            } else if (io__conn_serve(w, source, events[i].events) < 0) {
                io__worker_drop(w, source);
            }
        }
    }
}

/* Opens one worker's listener, epoll set and eventfd; on failure leaves
 * what it opened for io__worker_close.  Returns 0 or -errno. */
static inline int io__worker_open(struct io_baseline_worker *w, int mode, uint16_t port) {
    memset(w, 0, sizeof *w);
    w->mode = mode;
    w->epoll_fd = w->wake_fd = -1;
    w->listen_fd = io_listen(port, 1);
    if (w->listen_fd < 0) return w->listen_fd;
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_fd < 0) return -errno;
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) return -errno;
    struct epoll_event listen_ev = {.events = EPOLLIN, .data.ptr = &w->listen_fd};
    struct epoll_event wake_ev = {.events = EPOLLIN, .data.ptr = &w->wake_fd};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->listen_fd, &listen_ev) != 0) return -errno;
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &wake_ev) != 0) return -errno;
    return 0;
}

static inline void io__worker_close(struct io_baseline_worker *w) {
    while (w->conns != NULL) io__worker_drop(w, w->conns);
    if (w->listen_fd >= 0) close(w->listen_fd);
    if (w->epoll_fd >= 0) close(w->epoll_fd);
    if (w->wake_fd >= 0) close(w->wake_fd);
    w->listen_fd = w->epoll_fd = w->wake_fd = -1;
}

/* Stops and joins every worker, then closes every connection and fd.
 * Safe to call twice, and after a failed io_baseline_start. */
static inline void io_baseline_stop(struct io_baseline *b) {
    for (int i = 0; i < b->thread_count; i++) {
        /* Cannot fail: the counter starts at 0 and is written once per stop. */
        if (b->workers[i].started) (void)eventfd_write(b->workers[i].wake_fd, 1);
    }
    for (int i = 0; i < b->thread_count; i++) {
        if (b->workers[i].started) pthread_join(b->workers[i].thread, NULL);
        b->workers[i].started = 0;
    }
    for (int i = 0; i < b->thread_count; i++) io__worker_close(&b->workers[i]);
    b->thread_count = 0;
}

/* Starts `threads` workers serving `mode` on 127.0.0.1:port (0: the first
 * worker's listener picks a port, the others share it); the port is in
 * b->port.  Returns 0, -EINVAL for a bad mode or thread count, or the
 * -errno of the socket, epoll or pthread call that failed. */
static inline int io_baseline_start(struct io_baseline *b, int mode, uint16_t port, int threads) {
    memset(b, 0, sizeof *b);
    if (mode != IO_MODE_ECHO && mode != IO_MODE_HTTP) return -EINVAL;
    if (threads < 1 || threads > IO_BASELINE_THREADS_MAX) return -EINVAL;
    b->mode = mode;
    int r = 0;
    for (int i = 0; i < threads; i++) {
        b->thread_count = i + 1; /* so that the failure path closes this one too */
        r = io__worker_open(&b->workers[i], mode, port);
        if (r < 0) goto fail;
        if (port == 0) port = io_port_of(b->workers[i].listen_fd);
        if (port == 0) {
            r = -EADDRNOTAVAIL;
            goto fail;
        }
    }
    b->port = port;
    for (int i = 0; i < threads; i++) {
        r = -pthread_create(&b->workers[i].thread, NULL, io__worker_main, &b->workers[i]);
        if (r < 0) goto fail;
        b->workers[i].started = 1;
    }
    return 0;
fail:
    io_baseline_stop(b);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Load generators                                                           */
/* ------------------------------------------------------------------------ */

struct io__client {
    int fd;             /* -1 while waiting to be opened again */
    int connecting;     /* connect() in flight: EPOLLOUT tells its outcome */
    uint32_t events;    /* interest registered now */
    const char *tx;     /* the message or request batch being sent */
    size_t tx_size;     /* bytes of tx */
    size_t tx_sent;     /* bytes of tx sent so far */
    size_t rx_verified; /* echo: bytes of the reply received and checked */
    uint32_t shift;     /* echo: where this message starts in the pattern */
    uint32_t responses; /* http: responses of this batch received */
    uint32_t rx_used;   /* http: bytes in rx not yet parsed */
    char *rx;           /* http: IO_CLIENT_RX_SIZE bytes of the load's rx_slab */
};

struct io__load {
    int mode;
    int epoll_fd;
    uint16_t port;
    int client_count;
    int dead_count;            /* clients with fd -1, to open again */
    struct io__client *clients;
    char *pattern;             /* echo: msg_bytes + period bytes, byte i is i % period */
    size_t msg_bytes;          /* echo */
    char *scratch;             /* echo: IO_CLIENT_SCRATCH_SIZE bytes */
    char *batch;               /* http: `pipeline` requests back to back */
    size_t batch_size;         /* http: bytes of batch */
    uint32_t pipeline;         /* http: requests in flight per connection */
    char *rx_slab;             /* http: client_count * IO_CLIENT_RX_SIZE bytes */
    uint64_t done_count;       /* round trips (echo) or responses (http) verified */
    uint64_t error_count;
};

static inline void io__client_fail(struct io__load *l, struct io__client *c) {
    l->error_count++;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    l->dead_count++;
}

static inline int io__client_want(struct io__load *l, struct io__client *c, uint32_t want) {
    if (want == c->events) return 0;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return -1;
    c->events = want;
    return 0;
}

/* Sends what is left of tx; waits for EPOLLOUT only while some is left. */
static inline int io__client_send(struct io__load *l, struct io__client *c) {
    while (c->tx_sent < c->tx_size) {
        ssize_t n = send(c->fd, c->tx + c->tx_sent, c->tx_size - c->tx_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->tx_sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return io__client_want(l, c, EPOLLIN | EPOLLOUT);
        } else {
            return -1;
        }
    }
    return io__client_want(l, c, EPOLLIN);
}

/* Starts the next message (echo: the pattern shifted by one more) or the
 * next batch of requests (http), and sends it. */
static inline int io__client_begin(struct io__load *l, struct io__client *c) {
    if (l->mode == IO_MODE_ECHO) {
        c->shift = (c->shift + 1) % IO_ECHO_PATTERN_PERIOD;
        c->tx = l->pattern + c->shift;
        c->tx_size = l->msg_bytes;
        c->rx_verified = 0;
    } else {
        c->tx = l->batch;
        c->tx_size = l->batch_size;
        c->responses = 0;
    }
    c->tx_sent = 0;
    return io__client_send(l, c);
}

static inline void io__client_open(struct io__load *l, struct io__client *c) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(l->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        l->error_count++;
        return; /* stays dead; tried again next loop */
    }
    l->dead_count--;
    io__set_nodelay(c->fd);
    int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (r != 0 && errno != EINPROGRESS) {
        io__client_fail(l, c);
        return;
    }
    c->connecting = r != 0;
    c->events = c->connecting ? EPOLLOUT : EPOLLIN;
    c->rx_used = 0;
    struct epoll_event ev = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        io__client_fail(l, c);
        return;
    }
    if (!c->connecting && io__client_begin(l, c) != 0) io__client_fail(l, c);
}

/* The size of the response at the front of buf[0, used): 0 while it is
 * incomplete, -1 if it is not a 200 carrying IO_HTTP_BODY. */
static inline long io__http_response_size(const char *buf, size_t used) {
    const size_t expected_size = sizeof(IO_HTTP_RESPONSE) - 1;
    if (used >= expected_size && memcmp(buf, IO_HTTP_RESPONSE, expected_size) == 0) {
        return (long)expected_size; /* the common case: our exact bytes */
    }
    const char *end = memmem(buf, used, "\r\n\r\n", 4);
    if (end == NULL) return 0;
    size_t head_size = (size_t)(end - buf) + 4;
    if (head_size < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0) return -1;
    long body_size = -1;
    for (const char *line = buf; line < end; line++) {
        if (line[0] != '\n' || strncasecmp(line + 1, "content-length:", 15) != 0) continue;
        const char *digit = line + 16;
        while (*digit == ' ') digit++;
        /* The header block ends in "\r\n", so the digits end before `end`. */
        for (body_size = 0; *digit >= '0' && *digit <= '9' && body_size < 1000000; digit++) {
            body_size = body_size * 10 + (*digit - '0');
        }
    }
    if (body_size != (long)sizeof(IO_HTTP_BODY) - 1) return -1;
    if (used < head_size + (size_t)body_size) return 0;
    if (memcmp(buf + head_size, IO_HTTP_BODY, (size_t)body_size) != 0) return -1;
    return (long)(head_size + (size_t)body_size);
}

/* Verifies n echoed bytes; starts the next message once all are back. */
static inline int io__client_echo_receive(struct io__load *l, struct io__client *c, size_t n) {
    if (c->rx_verified + n > l->msg_bytes) return -1; /* more than was sent */
    if (memcmp(l->scratch, c->tx + c->rx_verified, n) != 0) return -1;
    c->rx_verified += n;
    if (c->rx_verified < l->msg_bytes) return 0;
    l->done_count++;
    return io__client_begin(l, c);
}

/* Parses the responses in rx; starts the next batch once all are in. */
static inline int io__client_http_receive(struct io__load *l, struct io__client *c) {
    uint32_t parsed = 0;
    while (c->responses < l->pipeline) {
        long size = io__http_response_size(c->rx + parsed, c->rx_used - parsed);
        if (size < 0) return -1;
        if (size == 0) break;
        parsed += (uint32_t)size;
        c->responses++;
        l->done_count++;
    }
    memmove(c->rx, c->rx + parsed, c->rx_used - parsed);
    c->rx_used -= parsed;
    if (c->rx_used == IO_CLIENT_RX_SIZE) return -1; /* a response bigger than rx */
    if (c->responses < l->pipeline) return 0;
    if (c->rx_used != 0) return -1; /* bytes nobody asked for */
    return io__client_begin(l, c);
}

static inline int io__client_receive(struct io__load *l, struct io__client *c) {
    int echo = l->mode == IO_MODE_ECHO;
    char *into = echo ? l->scratch : c->rx + c->rx_used;
    size_t room = echo ? IO_CLIENT_SCRATCH_SIZE : IO_CLIENT_RX_SIZE - c->rx_used;
    ssize_t n = recv(c->fd, into, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (n <= 0) return -1; /* reset, or closed while we expect bytes */
    if (echo) return io__client_echo_receive(l, c, (size_t)n);
    c->rx_used += (uint32_t)n;
    return io__client_http_receive(l, c);
}

static inline void io__client_event(struct io__load *l, struct io__client *c, uint32_t ready) {
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            io__client_fail(l, c);
            return;
        }
        c->connecting = 0;
        if (io__client_begin(l, c) != 0) io__client_fail(l, c);
        return;
    }
    int r = 0;
    if (ready & (EPOLLIN | EPOLLERR | EPOLLHUP)) r = io__client_receive(l, c);
    if (r == 0 && (ready & EPOLLOUT) && c->tx_sent < c->tx_size) r = io__client_send(l, c);
    if (r != 0) io__client_fail(l, c);
}

/* Drives every client for duration_ns after a warm-up of a tenth of it;
 * returns what was verified per second after the warm-up. */
static inline double io__load_run(struct io__load *l, uint64_t duration_ns) {
    struct epoll_event events[IO_EVENT_BATCH];
    uint64_t now_ns = io__now_ns();
    uint64_t warm_end_ns = now_ns + duration_ns / 10, end_ns = warm_end_ns + duration_ns;
    uint64_t measure_from_ns = 0, done_before = 0;
    int measuring = 0;
    while (now_ns < end_ns) {
        for (int i = 0; l->dead_count > 0 && i < l->client_count; i++) {
            if (l->clients[i].fd < 0) io__client_open(l, &l->clients[i]);
        }
        uint64_t wait_ms = (end_ns - now_ns + 999999) / 1000000;
        if (wait_ms > IO_LOAD_WAIT_MS_MAX) wait_ms = IO_LOAD_WAIT_MS_MAX;
        int n = epoll_wait(l->epoll_fd, events, IO_EVENT_BATCH, (int)wait_ms);
        for (int i = 0; i < n; i++) io__client_event(l, events[i].data.ptr, events[i].events);
        now_ns = io__now_ns();
        if (!measuring && now_ns >= warm_end_ns) {
            measuring = 1;
            measure_from_ns = now_ns;
            done_before = l->done_count;
        }
    }
    if (!measuring || now_ns <= measure_from_ns) return 0.0;
    return (double)(l->done_count - done_before) * 1e9 / (double)(now_ns - measure_from_ns);
}

/* Sets up the clients (fds opened by io__load_run), runs, tears down, and
 * frees the buffers the caller allocated (which may be NULL: out of memory).
 * Returns the rate, or -1.0 if the set-up itself failed. */
static inline double io__load(struct io__load *l, uint16_t port, int conns, uint64_t duration_ns,
                              uint64_t *errors) {
    double rate = -1.0;
    l->port = port;
    l->client_count = conns;
    l->dead_count = conns;
    l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    l->clients = calloc((size_t)conns, sizeof l->clients[0]);
    int have_buffers = l->mode == IO_MODE_ECHO ? l->pattern != NULL && l->scratch != NULL
                                               : l->batch != NULL && l->rx_slab != NULL;
    if (l->epoll_fd < 0 || l->clients == NULL || !have_buffers) goto done;
    for (int i = 0; i < conns; i++) {
        l->clients[i].fd = -1;
        l->clients[i].shift = (uint32_t)i % IO_ECHO_PATTERN_PERIOD; /* neighbours differ */
        if (l->rx_slab != NULL) l->clients[i].rx = l->rx_slab + (size_t)i * IO_CLIENT_RX_SIZE;
    }
    rate = io__load_run(l, duration_ns);
    for (int i = 0; i < conns; i++) {
        if (l->clients[i].fd >= 0) close(l->clients[i].fd);
    }
done:
    if (errors != NULL) *errors = l->error_count;
    if (l->epoll_fd >= 0) close(l->epoll_fd);
    free(l->clients);
    free(l->pattern);
    free(l->scratch);
    free(l->batch);
    free(l->rx_slab);
    return rate;
}

/* `conns` connections each send msg_bytes, read them all back, verify
 * them, and repeat, for duration_ns after a warm-up of duration_ns / 10.
 * Returns round trips per second (-1.0 if set-up failed); *errors (may be
 * NULL) gets the count of failed connects, resets, early closes and wrong
 * bytes. */
static inline double io_load_echo(uint16_t port, int conns, size_t msg_bytes, uint64_t duration_ns,
                                  uint64_t *errors) {
    struct io__load l;
    memset(&l, 0, sizeof l);
    l.mode = IO_MODE_ECHO;
    l.epoll_fd = -1;
    l.msg_bytes = msg_bytes;
    if (conns < 1 || msg_bytes == 0) return -1.0;
    l.pattern = malloc(msg_bytes + IO_ECHO_PATTERN_PERIOD);
    l.scratch = malloc(IO_CLIENT_SCRATCH_SIZE);
    for (size_t i = 0; l.pattern != NULL && i < msg_bytes + IO_ECHO_PATTERN_PERIOD; i++) {
        l.pattern[i] = (char)(i % IO_ECHO_PATTERN_PERIOD);
    }
    return io__load(&l, port, conns, duration_ns, errors);
}

/* `conns` keep-alive connections each send `pipeline` requests
 * (IO_HTTP_REQUEST) in one write and read back `pipeline` responses, each a
 * 200 carrying IO_HTTP_BODY, and repeat, for duration_ns after a warm-up of
 * duration_ns / 10.  Returns requests per second (-1.0 if set-up failed);
 * *errors (may be NULL) as for io_load_echo, plus malformed responses. */
static inline double io_load_http(uint16_t port, int conns, int pipeline, uint64_t duration_ns,
                                  uint64_t *errors) {
    const size_t request_size = sizeof(IO_HTTP_REQUEST) - 1;
    struct io__load l;
    memset(&l, 0, sizeof l);
    l.mode = IO_MODE_HTTP;
    l.epoll_fd = -1;
    if (conns < 1 || pipeline < 1) return -1.0;
    l.pipeline = (uint32_t)pipeline;
    l.batch_size = request_size * (size_t)pipeline;
    l.batch = malloc(l.batch_size);
    l.rx_slab = malloc((size_t)conns * IO_CLIENT_RX_SIZE);
    for (int i = 0; l.batch != NULL && i < pipeline; i++) {
        memcpy(l.batch + (size_t)i * request_size, IO_HTTP_REQUEST, request_size);
    }
    return io__load(&l, port, conns, duration_ns, errors);
}

#endif /* TINA_BENCH_IO_LOAD_H */
