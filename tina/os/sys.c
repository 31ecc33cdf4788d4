/*
 * sys.c -- the plain system calls behind I/O, where io_uring is not the
 * one making them: an operation tried once without blocking (the epoll
 * backend's attempts), and the synchronous set-up calls (socket, open,
 * bind, listen, setsockopt, close, the local port) of the platform's
 * io_ctl.  Sockets are blocking under io_uring (which polls for them) and
 * non-blocking under epoll; every descriptor is close-on-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "os.h"

/* A connect that said EINPROGRESS and whose socket turned writable: how it
 * ended, as the kernel keeps it for us. */
static int32_t connect_result(int os_fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(os_fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    return -err;
}

/* Files at an offset; offset -1 (the current position) or a descriptor
 * that cannot seek (a pipe, a socket) reads and writes in order, as
 * io_uring does for them. */
static ssize_t file_io(const struct tina__io_op *op, void *buf) {
    int writing = op->op == TINA_IO_WRITE;
    ssize_t r = -1;
    errno = ESPIPE;
    if (op->offset != UINT64_MAX)
        r = writing ? pwrite(op->os_fd, buf, op->len, (off_t)op->offset)
                    : pread(op->os_fd, buf, op->len, (off_t)op->offset);
    if (r < 0 && errno == ESPIPE)
        r = writing ? write(op->os_fd, buf, op->len) : read(op->os_fd, buf, op->len);
    return r;
}

/* One attempt at op's syscall, never blocking: bytes, 0, a new os fd
 * (accept) or -errno; -EAGAIN or -EINPROGRESS mean wait, and so does
 * TINA__SYS_NO_BUFFER (a recv with every reactor buffer out). */
int32_t tina__sys_try(struct tina__io *io, struct tina__io_op *op, int connecting) {
    int receiving = op->op == TINA_IO_RECV || op->op == TINA_IO_RECVFROM;
    if (receiving && tina__io_buf_take(io, op) != 0) return TINA__SYS_NO_BUFFER;
    void *buf = op->buf != TINA__NIL ? tina__io_buf(io, op->buf) : NULL;
    struct sockaddr *addr = (struct sockaddr *)op->addr;
    socklen_t addr_len = sizeof(op->addr);
    ssize_t r;
    switch (op->op) {
    case TINA_IO_ACCEPT:
        r = accept4(op->os_fd, addr, &addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        op->msg_addr_len = addr_len;
        break;
    case TINA_IO_CONNECT:
        if (connecting) return connect_result(op->os_fd);
        r = connect(op->os_fd, addr, op->addr_len);
        break;
    case TINA_IO_RECV: r = recv(op->os_fd, buf, op->len, MSG_DONTWAIT); break;
    case TINA_IO_SEND: r = send(op->os_fd, buf, op->len, MSG_NOSIGNAL | MSG_DONTWAIT); break;
    case TINA_IO_READ: case TINA_IO_WRITE: r = file_io(op, buf); break;
    case TINA_IO_SENDTO:
        r = sendto(op->os_fd, buf, op->len, MSG_NOSIGNAL | MSG_DONTWAIT, addr, op->addr_len);
        break;
    case TINA_IO_RECVFROM:
        r = recvfrom(op->os_fd, buf, op->len, MSG_DONTWAIT, addr, &addr_len);
        op->msg_addr_len = addr_len;
        break;
    default:
        TINA_ASSERT(0 && "unknown op");
        return -EINVAL;
    }
    int32_t result = r < 0 ? -errno : (int32_t)r;
    if (receiving && result == -EAGAIN) tina__io_buf_give(io, op); /* it waits without one */
    return result;
}

static int64_t errno_result(long r) { return r < 0 ? -(int64_t)errno : (int64_t)r; }

/* The synchronous calls.  Sockets are blocking under io_uring (which polls
 * for them) and non-blocking under epoll; always close-on-exec. */
int64_t tina__sys_ctl(struct tina__io *io, struct tina__io_ctl *c) {
    int nonblock = io->backend_kind == TINA_IO_EPOLL;
    switch (c->op) {
    case TINA__CTL_SOCKET:
        return errno_result(socket(c->a, c->b | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), c->c));
    case TINA__CTL_BIND:
        return errno_result(bind(c->os_fd, (const struct sockaddr *)c->ptr, c->len));
    case TINA__CTL_LISTEN:
        return errno_result(listen(c->os_fd, c->a));
    case TINA__CTL_SETSOCKOPT:
        return errno_result(setsockopt(c->os_fd, c->a, c->b, c->ptr, c->len));
    case TINA__CTL_OPEN:
        return errno_result(open((const char *)c->ptr, c->a | O_CLOEXEC, (mode_t)c->len));
    case TINA__CTL_CLOSE:
        if (c->a >= 0) (void)tina__io_backend_of(io)->forget(io, (uint32_t)c->a, c->os_fd, (uint32_t)c->b, 0);
        return errno_result(close(c->os_fd));
    case TINA__CTL_FORGET:
        return tina__io_backend_of(io)->forget(io, (uint32_t)c->a, c->os_fd, (uint32_t)c->b, 1);
    case TINA__CTL_LOCAL_PORT: {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(c->os_fd, (struct sockaddr *)&ss, &len) != 0) return -(int64_t)errno;
        if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return -EAFNOSUPPORT;
    }
    default:
        return -EINVAL;
    }
}

