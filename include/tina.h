/*
 * tina.h -- the one public header of Tina, a thread-per-core, shared-nothing
 * actor framework for C11.
 *
 * An application defines isolate types (a struct, an init function and a
 * handler function), describes shards, types and static children in a plain
 * boot spec, and calls tina_create() + tina_run().  Each shard is one pinned
 * thread running a deterministic loop over its isolates.  Handlers are
 * synchronous: they take one message and return an effect (receive, yield,
 * done, crash, call, reply).  Actions -- send, spawn, timers, log -- go through
 * the context during the call.
 *
 * Ownership: the runtime and the context are opaque; handles, messages,
 * effects and the boot spec are plain structs the user builds and reads.
 *
 * Every call that can fail returns a tina_result; tina_strerror() names it in
 * words.  Calls whose result matters are marked warn_unused_result: ignoring
 * a send result must be a visible (void) choice.
 */
#ifndef TINA_H
#define TINA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The header compiles as C11 and as C++11: the C11 keywords it uses, and
 * the zero initializer of the effect builders ({0} draws C++'s
 * missing-field-initializers warning), under each language's spelling.
 * Same meaning, same layout. */
#ifdef __cplusplus
#define TINA__STATIC_ASSERT(expr, why) static_assert(expr, why)
#define TINA__ALIGNAS(bytes) alignas(bytes)
#define TINA__ZERO {}
#else
#define TINA__STATIC_ASSERT(expr, why) _Static_assert(expr, why)
#define TINA__ALIGNAS(bytes) _Alignas(bytes)
#define TINA__ZERO {0}
#endif

/* warn_unused_result only where a (void) cast silences it (clang); gcc
 * warns even through (void), which would forbid an explicit choice. */
#if defined(__clang__)
#define TINA_WUR __attribute__((warn_unused_result))
#define TINA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#elif defined(__GNUC__)
#define TINA_WUR
#define TINA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TINA_WUR
#define TINA_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * X(name, value, text).  TINA_OK is 0; every error is negative so that a
 * result can travel in an int next to a count.  The spec-validation errors
 * (TINA_ESPEC_*, -20..-59) each name one field of tina_spec; the boot report's message
 * also names the offending value.
 */
#define TINA_RESULT_MAP(X)                                                          \
    X(OK, 0, "success")                                                             \
    X(EMAILBOX_FULL, -1, "receiver's mailbox or the cross-shard channel is full")   \
    X(EPOOL_EXHAUSTED, -2, "message pool exhausted")                                \
    X(ESTALE, -3, "stale handle: the target is dead or its shard is unavailable")   \
    X(EINVAL, -4, "invalid argument")                                               \
    X(EHANDLE, -5, "malformed handle: shard, type or slot out of range, or none")   \
    X(ERESERVED_TAG, -6, "tag is reserved for the system (user tags are >= 0x40)")  \
    X(ETOO_BIG, -7, "payload larger than 96 bytes (or spawn args over 64)")        \
    X(ENO_SLOT, -8, "no free slot left for this isolate type on this shard")        \
    X(ETIMER_EXHAUSTED, -9, "no free timer entry on this shard")                    \
    X(ETIMER_STALE, -10, "timer id is stale: fired, cancelled or never set")       \
    X(ENOT_CALL, -11, "reply effect while not handling a call request")            \
    X(ENO_MEMORY, -12, "could not reserve the memory the boot spec needs")          \
    X(ESYSTEM, -13, "operating system call failed (thread, topology or signal)")    \
    X(ESTATE, -14, "operation not allowed in the runtime's current state")          \
    X(ESHUTDOWN, -15, "cut short: a graceful shutdown began")                       \
    X(EMONITOR_EXHAUSTED, -16, "no free monitor entry on the target's shard")       \
    X(EGROUP_FULL, -17, "the group already has dynamic_max dynamic children")          \
    X(ENOT_RUNNING, -18, "address: no incarnation runs now (its supervisor is restarting it)") \
    X(ENOT_MONITORING, -19, "demonitor: this isolate has no monitor of that target")  \
    X(ESPEC_NULL, -20, "spec: spec pointer is NULL")                                 \
    X(ESPEC_TYPES, -21, "spec: types/type_count invalid (1..255 types)")            \
    X(ESPEC_TYPE_NAME, -22, "spec: a type has no name or an over-long name")        \
    X(ESPEC_STRUCT_SIZE, -23, "spec: a type's struct_size is out of range")         \
    X(ESPEC_SLOTS, -24, "spec: a type's slots_per_shard is out of range")           \
    X(ESPEC_MAILBOX, -25, "spec: a type's mailbox_capacity is out of range")        \
    X(ESPEC_WEIGHT, -26, "spec: a type's weight is out of range")                   \
    X(ESPEC_HANDLER, -27, "spec: a type has no handler")                            \
    X(ESPEC_SHARDS, -28, "spec: shard_count is out of range")                       \
    X(ESPEC_CORES, -29, "spec: a core in cores[] is not in the allowed CPU set")    \
    X(ESPEC_POOL, -30, "spec: message pool size is out of range")                   \
    X(ESPEC_RING, -31, "spec: ring_slots is not a power of two in range")           \
    X(ESPEC_TIMERS, -32, "spec: timer settings are out of range")                   \
    X(ESPEC_LOG, -33, "spec: log_entries is not a power of two in range")           \
    X(ESPEC_CHILD, -34, "spec: a static child names an unknown type or shard")      \
    X(ESPEC_CHILD_ARGS, -35, "spec: a static child's args are over 64 bytes")       \
    X(ESPEC_BUDGET, -36, "spec: base_budget is out of range")                        \
    X(ESPEC_SCRATCH, -37, "spec: scratch_bytes is out of range")                    \
    X(ESPEC_MEMORY, -38, "spec: the memory the spec needs does not fit")            \
    X(ESPEC_RESTART, -39, "spec: a static child's restart type is unknown")         \
    X(ESPEC_TOO_MANY_CHILDREN, -40, "spec: static children exceed a type's slots")        \
    X(ESPEC_GROUP, -41, "spec: a group's parent is unknown, cyclic or too deep")      \
    X(ESPEC_STRATEGY, -42, "spec: a group's strategy is unknown")                     \
    X(ESPEC_GROUP_BUDGET, -43, "spec: a group's restart budget or window is zero")    \
    X(ESPEC_GROUP_DYNAMIC, -44, "spec: dynamic children need a one-for-one group")    \
    X(ESPEC_CHILD_GROUP, -45, "spec: a static child names an unknown group")          \
    X(ESPEC_MONITORS, -46, "spec: monitor_slots is out of range")                    \
    X(ESPEC_WATCHDOG, -47, "spec: watchdog_policy or watchdog_ns is out of range")   \
    X(ESPEC_IO, -48, "spec: fd_slots, io_buffers, io_buffer_bytes or io_backend out of range") \
    X(ESPEC_TOKENS, -49, "spec: token_slots is out of range")                        \
    X(ESPEC_INJECT, -50, "spec: inject_slots is not a power of two in range")         \
    X(EFD_STALE, -60, "stale descriptor handle: closed, handed off, or not this shard's") \
    X(EFD_EXHAUSTED, -61, "no free descriptor: the shard's fd_slots or the process limit") \
    X(EIO_BUFFERS, -62, "reactor buffer pool exhausted")                              \
    X(EIO_OFF, -63, "I/O is off: the boot spec's fd_slots is 0")                      \
    X(EIO_BUSY, -64, "the descriptor has an operation in flight")                      \
    X(ETOKEN, -70, "reply token is stale: used already, forged, or not this isolate's") \
    X(ETOKEN_LATE, -71, "reply token too late: its caller no longer waits")            \
    X(ETOKEN_EXHAUSTED, -72, "no free reply token entry on this shard")               \
    X(EINJECT_THREAD, -73, "injection from a shard's own thread: send from a handler") \
    X(ETIMEDOUT, -74, "the call's timeout passed before its reply came")             \
    X(ECALLERS_FULL, -75, "every foreign caller entry is in use")

typedef enum tina_result {
#define TINA__RESULT_ENUM(name, value, text) TINA_##name = value,
    TINA_RESULT_MAP(TINA__RESULT_ENUM)
#undef TINA__RESULT_ENUM
} tina_result;

/* Words for a result; never NULL (unknown codes give "unknown result"). */
const char *tina_strerror(int result);
/* The symbol of a result, e.g. "TINA_EMAILBOX_FULL". */
const char *tina_result_name(int result);

/* ------------------------------------------------------------------------ */
/* Handles                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A 64-bit generational reference to an isolate:
 *
 *   63      56 55      48 47                28 27                    0
 *  +----------+----------+--------------------+-----------------------+
 *  | shard  8 | type   8 | slot index      20 | generation         28 |
 *  +----------+----------+--------------------+-----------------------+
 *
 * Generations are never 0, so a valid handle is never 0; 0 means "none".
 * When an isolate dies its slot's generation increments: every old handle
 * becomes stale and never reaches the slot's next occupant.
 *
 * Addresses.  The same 64 bits with the top bit set (TINA_ADDRESS_BIT)
 * name a supervised child for its whole lineage instead of one
 * incarnation: the generation field holds the generation of the lineage's
 * first incarnation.  tina_send, tina_call, tina_monitor and
 * tina_fd_transfer take an address wherever they take a handle.  It is
 * resolved on the target's shard when the message arrives (no table is
 * shared between threads): to whichever incarnation runs then.  It is
 * refused with TINA_ENOT_RUNNING while none runs but one will (its
 * supervisor is restarting it), and with TINA_ESTALE once the lineage has
 * ended (a temporary child done, a dynamic child its group gave up on, a
 * quarantined shard) -- it never reaches an isolate of another lineage.
 * Where an address comes from: tina_self_address(); tina_child_address()
 * for a static child (the same on every restart and after a revival);
 * tina_address_of(h) for the handle tina_spawn_child (or tina_spawn)
 * returned, its lineage's first.  A handle is never resolved: an old
 * handle never reaches a successor.
 */
typedef uint64_t tina_handle;
#define TINA_HANDLE_NONE ((tina_handle)0)
#define TINA_SHARD_COUNT_MAX 64u
#define TINA_TYPE_COUNT_MAX 255u
#define TINA_SLOT_COUNT_MAX (1u << 20)
#define TINA_GENERATION_MASK ((1u << 28) - 1u)

static inline tina_handle tina_handle_make(uint32_t shard, uint32_t type, uint32_t slot,
                                           uint32_t generation) {
    return ((tina_handle)(shard & 0xffu) << 56) | ((tina_handle)(type & 0xffu) << 48) |
           ((tina_handle)(slot & 0xfffffu) << 28) | (tina_handle)(generation & TINA_GENERATION_MASK);
}
static inline uint32_t tina_handle_shard(tina_handle h) { return (uint32_t)(h >> 56) & 0x7fu; }
static inline uint32_t tina_handle_type(tina_handle h) { return (uint32_t)(h >> 48) & 0xffu; }
static inline uint32_t tina_handle_slot(tina_handle h) { return (uint32_t)(h >> 28) & 0xfffffu; }
static inline uint32_t tina_handle_generation(tina_handle h) {
    return (uint32_t)h & TINA_GENERATION_MASK;
}
#define TINA_ADDRESS_BIT ((tina_handle)1 << 63)
static inline bool tina_handle_is_address(tina_handle h) { return (h & TINA_ADDRESS_BIT) != 0; }
/* The address of the lineage whose first incarnation is `first` (the
 * handle tina_spawn_child or tina_spawn gave); 0 stays 0. */
static inline tina_handle tina_address_of(tina_handle first) {
    return first ? first | TINA_ADDRESS_BIT : TINA_HANDLE_NONE;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

#define TINA_PAYLOAD_MAX 96u
#define TINA_ARGS_MAX 64u

/* Tags below 0x40 are the system's; user tags start at TINA_TAG_USER. */
#define TINA_TAG_NONE 0x00u
#define TINA_TAG_RESUME 0x01u            /* first message after a yield effect */
#define TINA_TAG_CALL_TIMEOUT 0x02u      /* the pending call timed out */
#define TINA_TAG_CALL_FAILED 0x03u       /* the request could not be sent; payload: int32 result */
#define TINA_TAG_SHUTDOWN 0x05u          /* graceful shutdown (supervision issue) */
#define TINA_TAG_TRANSFER 0x06u          /* a descriptor handed over: payload tina_fd_transfer_msg */
#define TINA_TAG_SHARD_RESTARTED 0x07u   /* a peer shard was revived */
#define TINA_TAG_SHARD_QUARANTINED 0x08u /* a peer shard was quarantined */
#define TINA_TAG_DOWN 0x09u              /* a monitored isolate ended */
#define TINA_TAG_IO_FIRST 0x10u          /* I/O completions: 0x10..0x1f */
#define TINA_TAG_IO_LAST 0x1fu
#define TINA_TAG_USER 0x40u

/* What produced a message; read msg->kind to tell a timer from a send. */
typedef enum tina_msg_kind {
    TINA_MSG_SEND = 0,  /* tina_send */
    TINA_MSG_CALL = 1,  /* a call request: answer it with tina_reply() */
    TINA_MSG_REPLY = 2, /* the reply to this isolate's pending call */
    TINA_MSG_TIMER = 3, /* a timer fired; payload: tina_timer_id (8 bytes) */
    TINA_MSG_SYSTEM = 4 /* resume, call timeout, call failed, ... */
} tina_msg_kind;

/*
 * The fixed 128-byte envelope.  The handler gets a const pointer valid for
 * the duration of that handler call only.
 */
typedef struct tina_msg {
    tina_handle from;  /* sender (0 for system messages) */
    tina_handle to;    /* receiver */
    uint64_t corr;     /* call correlation id; 0 when not part of a call */
    uint16_t tag;      /* user tags >= TINA_TAG_USER */
    uint8_t size;      /* payload bytes, 0..TINA_PAYLOAD_MAX */
    uint8_t kind;      /* tina_msg_kind */
    uint32_t reserved; /* the runtime's: links the envelope in a mailbox or free list */
    TINA__ALIGNAS(8) uint8_t payload[TINA_PAYLOAD_MAX];
} tina_msg;
TINA__STATIC_ASSERT(sizeof(tina_msg) == 128, "the envelope is exactly two cache lines");

/* ------------------------------------------------------------------------ */
/* Effects                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum tina_effect_kind {
    TINA_EFFECT_RECEIVE = 0, /* park until the next message */
    TINA_EFFECT_YIELD = 1,   /* run again next pass, with a TINA_TAG_RESUME message */
    TINA_EFFECT_DONE = 2,    /* finished: free the slot */
    TINA_EFFECT_CRASH = 3,   /* failed: the supervisor decides */
    TINA_EFFECT_CALL = 4,    /* send a request and park until reply or timeout */
    TINA_EFFECT_REPLY = 5,   /* answer the call being handled, then park */
    TINA_EFFECT_IO = 6       /* submit one I/O operation and park until it completes */
} tina_effect_kind;

/* A descriptor of the shard's table (see I/O below): shard 8 | zero 8 |
 * slot 16 | generation 32; 0 is none. */
typedef uint64_t tina_fd; /* shard 8 | zero 8 | slot 16 | generation 32; 0 is none */
#define TINA_FD_NONE ((tina_fd)0)

/* What a handler returns, made by the builders below (tina_receive(),
 * tina_call(), tina_io_recv(), ...): a tagged union.  `kind` is the first
 * byte of every member and says which member is meant; each member's
 * fields mean one thing.  32 bytes, zeroed by the builders. */
typedef struct tina_effect_call { /* TINA_EFFECT_CALL */
    uint8_t kind;
    uint8_t size;          /* payload bytes */
    uint16_t tag;          /* the request's tag */
    uint32_t reserved;
    tina_handle to;        /* the callee */
    uint64_t timeout_ns;   /* after the call is made */
    const void *payload;   /* copied when the handler returns */
} tina_effect_call;

typedef struct tina_effect_reply { /* TINA_EFFECT_REPLY */
    uint8_t kind;
    uint8_t size;          /* payload bytes */
    uint16_t tag;          /* the reply's tag */
    uint32_t reserved;
    const void *payload;   /* copied when the handler returns */
} tina_effect_reply;

typedef struct tina_effect_crash { /* TINA_EFFECT_CRASH */
    uint8_t kind;
    uint8_t reserved[3];
    uint32_t reason;       /* user-defined, non-zero */
} tina_effect_crash;

typedef struct tina_effect_io { /* TINA_EFFECT_IO */
    uint8_t kind;
    uint8_t op;            /* tina_io_op */
    uint8_t addr_len;      /* connect, sendto: bytes at the address */
    uint8_t reserved;
    uint32_t len;          /* recv, read, recvfrom: at most; send, write, sendto: bytes of data */
    tina_fd fd;
    union {
        const void *data;  /* send, write, sendto: the bytes, copied when the handler returns */
        const void *peer;  /* connect: the address */
    };
    union {
        uint64_t timeout_ns;  /* accept, connect, recv, send, recvfrom: 0 (none) or a deadline */
        uint64_t offset;      /* read, write: the file offset (UINT64_MAX: the current one) */
        const void *dest;     /* sendto: the address */
    };
} tina_effect_io;

typedef union tina_effect {
    tina_effect_call call; /* first: a zero initializer clears all 32 bytes */
    tina_effect_reply reply;
    tina_effect_crash crash;
    tina_effect_io io;
    uint8_t kind;          /* tina_effect_kind; RECEIVE, YIELD and DONE carry nothing else */
} tina_effect;
TINA__STATIC_ASSERT(sizeof(tina_effect) == 32, "effects are returned in a small slot");

static inline tina_effect tina_receive(void) {
    tina_effect e = TINA__ZERO;
    e.call.kind = TINA_EFFECT_RECEIVE;
    return e;
}
static inline tina_effect tina_yield(void) {
    tina_effect e = TINA__ZERO;
    e.call.kind = TINA_EFFECT_YIELD;
    return e;
}
static inline tina_effect tina_done(void) {
    tina_effect e = TINA__ZERO;
    e.call.kind = TINA_EFFECT_DONE;
    return e;
}
/* Crash reasons: any non-zero value of the user's below
 * TINA_CRASH_SIGNAL_BASE; the trap boundary reports a fault in a handler or
 * init as TINA_CRASH_SIGNAL_BASE + the signal number (SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL, SIGABRT; a stack overflow is a SIGSEGV). */
#define TINA_CRASH_SIGNAL_BASE 0xff000000u
#define TINA_CRASH_UNKNOWN_EFFECT 0xfe000000u

static inline tina_effect tina_crash(uint32_t reason) {
    tina_effect e = TINA__ZERO;
    e.crash.kind = TINA_EFFECT_CRASH;
    e.crash.reason = reason;
    return e;
}
/* The payloads of tina_call and tina_reply, like the I/O effects' data
 * below, are copied as the effect is applied, after the handler returns:
 * they must outlive the return (the isolate's struct, static data, the
 * message being handled), never a local of the handler.
 * The caller parks until exactly one outcome: the reply (TINA_MSG_REPLY),
 * TINA_TAG_CALL_TIMEOUT, or TINA_TAG_CALL_FAILED carrying an int32 result.
 * It fails at once when the request cannot be sent (TINA_EMAILBOX_FULL,
 * TINA_ESTALE, TINA_EHANDLE, TINA_EPOOL_EXHAUSTED -- the reply's slot is
 * reserved as the call is made -- TINA_ETOO_BIG, TINA_ERESERVED_TAG, a
 * timeout of 0: TINA_EINVAL); promptly when the runtime learns it failed
 * (the request dropped on arrival, or its callee ended without answering:
 * TINA_ESTALE, TINA_EMAILBOX_FULL, TINA_EPOOL_EXHAUSTED); and when a
 * graceful shutdown begins (TINA_ESHUTDOWN).  A timeout too large to add
 * to the clock (UINT64_MAX, say) saturates: the call waits, forever. */
static inline tina_effect tina_call(tina_handle to, uint16_t tag, const void *payload, size_t size,
                                    uint64_t timeout_ns) {
    tina_effect e = TINA__ZERO;
    e.call.kind = TINA_EFFECT_CALL;
    e.call.to = to;
    e.call.tag = tag;
    e.call.payload = payload;
    e.call.size = size > 255 ? 255 : (uint8_t)size;
    e.call.timeout_ns = timeout_ns;
    return e;
}
static inline tina_effect tina_reply(uint16_t tag, const void *payload, size_t size) {
    tina_effect e = TINA__ZERO;
    e.reply.kind = TINA_EFFECT_REPLY;
    e.reply.tag = tag;
    e.reply.payload = payload;
    e.reply.size = size > 255 ? 255 : (uint8_t)size;
    return e;
}

/*
 * I/O effects.  An isolate never makes a syscall: it returns one of these,
 * the shard submits it (io_uring, or the epoll fallback, or the simulator)
 * and parks the isolate until the completion arrives as a message with tag
 * TINA_TAG_IO(op), kind TINA_MSG_SYSTEM, and a tina_io_done payload.  While
 * parked, other messages (and fired timers) wait in the mailbox: give an op
 * a deadline with tina_io_timeout when the isolate must not wait forever.  Data to
 * send and connect/sendto addresses are copied as the effect is applied,
 * just after the handler returns: so they must outlive the return -- the
 * isolate's own struct, static data, or the received data of this very
 * call, never the handler's stack.  Sends larger than the spec's
 * io_buffer_bytes are cut to it and complete partially, as send(2) may.
 * Received data lives in a reactor buffer valid during the completion's
 * handler call only.  A waiting recv holds no buffer, and one that finds
 * every buffer out waits for one instead of failing; a send, write or read
 * with none left is refused (TINA_EIO_BUFFERS): try it again later, for
 * instance with a yield (the examples do).  Two refusals come before any operation exists and
 * so arrive as TINA_TAG_CALL_FAILED (payload: int32 result) instead:
 * TINA_EIO_OFF (the spec's fd_slots is 0) and TINA_EIO_BUFFERS (every
 * operation entry of the shard is in use).
 */

typedef enum tina_io_op {
    TINA_IO_ACCEPT = 0,   /* fd: a listening socket; done.fd: the new connection */
    TINA_IO_CONNECT = 1,  /* fd: a socket from tina_socket; the address is copied */
    TINA_IO_RECV = 2,     /* up to len bytes (0: a whole buffer); result 0 = peer closed */
    TINA_IO_SEND = 3,
    TINA_IO_READ = 4,     /* files: at offset */
    TINA_IO_WRITE = 5,    /* files: at offset */
    TINA_IO_CLOSE = 6,    /* the handle is stale from the moment the effect is applied */
    TINA_IO_SENDTO = 7,   /* datagrams */
    TINA_IO_RECVFROM = 8  /* datagrams; done.addr: the sender */
} tina_io_op;
#define TINA_IO_OP_COUNT 9u
#define TINA_TAG_IO(op) ((uint16_t)(TINA_TAG_IO_FIRST + (op)))

/* The payload of an I/O completion. */
typedef struct tina_io_done {
    int32_t result;      /* bytes (recv: 0 = end of stream), 0 (connect, close, accept) or -errno */
    int32_t error;       /* TINA_OK, or what Tina refused: TINA_EFD_STALE, TINA_EFD_EXHAUSTED,
                            TINA_EIO_BUFFERS, TINA_EIO_BUSY, TINA_EINVAL (result is then -errno-like) */
    tina_fd fd;          /* the descriptor operated on; accept: the new connection */
    const uint8_t *data; /* recv, read, recvfrom: result bytes, valid during this call only */
    uint32_t op;         /* tina_io_op */
    uint32_t addr_len;   /* accept, recvfrom: bytes in addr */
    uint8_t addr[28];    /* accept, recvfrom: the peer (struct sockaddr_in or _in6) */
    uint32_t reserved;
} tina_io_done;
TINA__STATIC_ASSERT(sizeof(tina_io_done) <= TINA_PAYLOAD_MAX, "an I/O completion fits a message");

/* The payload of a TINA_TAG_TRANSFER message: a descriptor handed to this
 * isolate by tina_fd_transfer, already installed in this shard's table. */
typedef struct tina_fd_transfer_msg {
    tina_fd fd;
    tina_handle from; /* the isolate that handed it over */
    uint64_t note;    /* the sender's 8 bytes, as given to tina_fd_transfer */
} tina_fd_transfer_msg;

static inline tina_effect tina__io(uint32_t op, tina_fd fd, uint32_t len, uint32_t addr_len) {
    tina_effect e = TINA__ZERO;
    e.io.kind = TINA_EFFECT_IO;
    e.io.op = (uint8_t)op;
    e.io.fd = fd;
    e.io.len = len;
    e.io.addr_len = addr_len > 255 ? 255 : (uint8_t)addr_len;
    return e;
}
static inline tina_effect tina_io_accept(tina_fd listener) {
    return tina__io(TINA_IO_ACCEPT, listener, 0, 0);
}
static inline tina_effect tina_io_connect(tina_fd fd, const void *addr, uint32_t addr_len) {
    tina_effect e = tina__io(TINA_IO_CONNECT, fd, 0, addr_len);
    e.io.peer = addr;
    return e;
}
static inline tina_effect tina_io_recv(tina_fd fd, uint32_t max) {
    return tina__io(TINA_IO_RECV, fd, max, 0);
}
static inline tina_effect tina_io_send(tina_fd fd, const void *data, uint32_t len) {
    tina_effect e = tina__io(TINA_IO_SEND, fd, len, 0);
    e.io.data = data;
    return e;
}
static inline tina_effect tina_io_read(tina_fd fd, uint32_t max, uint64_t offset) {
    tina_effect e = tina__io(TINA_IO_READ, fd, max, 0);
    e.io.offset = offset;
    return e;
}
static inline tina_effect tina_io_write(tina_fd fd, const void *data, uint32_t len, uint64_t offset) {
    tina_effect e = tina__io(TINA_IO_WRITE, fd, len, 0);
    e.io.data = data;
    e.io.offset = offset;
    return e;
}
static inline tina_effect tina_io_close(tina_fd fd) {
    return tina__io(TINA_IO_CLOSE, fd, 0, 0);
}
static inline tina_effect tina_io_sendto(tina_fd fd, const void *data, uint32_t len,
                                         const void *addr, uint32_t addr_len) {
    tina_effect e = tina__io(TINA_IO_SENDTO, fd, len, addr_len);
    e.io.data = data;
    e.io.dest = addr;
    return e;
}
static inline tina_effect tina_io_recvfrom(tina_fd fd, uint32_t max) {
    return tina__io(TINA_IO_RECVFROM, fd, max, 0);
}
/* Give an accept, connect, recv, send or recvfrom a deadline: if it has not
 * completed timeout_ns after it is applied, it is cancelled and completes
 * with -ETIMEDOUT (stats.io_timeouts).  Other ops have no room for one: the
 * result is an effect refused with TINA_EINVAL.  A timeout of 0 means none,
 * and one too large to add to the clock saturates: none either. */
static inline tina_effect tina_io_timeout(tina_effect e, uint64_t timeout_ns) {
    if (e.kind != TINA_EFFECT_IO) return tina__io(TINA_IO_OP_COUNT, 0, 0, 0); /* TINA_EINVAL */
    if (e.io.op == TINA_IO_READ || e.io.op == TINA_IO_WRITE || e.io.op == TINA_IO_SENDTO ||
        e.io.op == TINA_IO_CLOSE) {
        e.io.op = TINA_IO_OP_COUNT; /* refused at once: TINA_EINVAL */
        return e;
    }
    e.io.timeout_ns = timeout_ns;
    return e;
}

/* ------------------------------------------------------------------------ */
/* Isolate types and the context                                             */
/* ------------------------------------------------------------------------ */

typedef struct tina_ctx tina_ctx; /* opaque: valid during init/handler calls */

/* Init runs in a zeroed struct.  Return 0 on success, or a non-zero reason:
 * the isolate then counts as crashed and its supervisor decides. */
typedef uint32_t (*tina_init_fn)(void *self, tina_ctx *ctx, const void *args, size_t args_size);
typedef tina_effect (*tina_handler_fn)(void *self, tina_ctx *ctx, const tina_msg *msg);

typedef struct tina_type_spec {
    const char *name;          /* for logs and the watchdog; <= 31 chars */
    uint32_t struct_size;      /* bytes of the user struct, 1..1 MiB */
    uint32_t slots_per_shard;  /* isolates of this type per shard, 1..2^20 */
    uint32_t mailbox_capacity; /* messages; 0 means 256 */
    uint32_t weight;           /* scheduling weight 1..1024; 0 means 1 */
    tina_init_fn init;         /* may be NULL */
    tina_handler_fn handler;   /* required */
} tina_type_spec;

typedef enum tina_restart {
    TINA_RESTART_TEMPORARY = 0, /* never restarted */
    TINA_RESTART_TRANSIENT = 1, /* restarted after a crash only */
    TINA_RESTART_PERMANENT = 2  /* always restarted */
} tina_restart;

#define TINA_SHARD_EVERY 0xffffu

/* A static child: spawned at boot, on one shard or on every shard. */
typedef struct tina_child_spec {
    uint32_t type_id;   /* index into tina_spec.types */
    uint32_t shard;     /* shard index, or TINA_SHARD_EVERY */
    uint32_t restart;   /* tina_restart */
    uint32_t args_size; /* <= TINA_ARGS_MAX */
    const void *args;   /* copied at boot; passed to init on every (re)start */
    uint32_t group;     /* supervision group index; 0 = the root group */
    uint32_t reserved;
} tina_child_spec;

/* Supervision strategies: who is restarted when a member must be. */
typedef enum tina_strategy {
    TINA_ONE_FOR_ONE = 0,  /* the failed member alone */
    TINA_ONE_FOR_ALL = 1,  /* every member of the group */
    TINA_REST_FOR_ONE = 2  /* the failed member and those after it */
} tina_strategy;

#define TINA_GROUP_NONE 0xffffffffu
#define TINA_GROUP_DEPTH_MAX 8u
#define TINA_GROUP_RESTARTS_MAX 1024u

/*
 * A supervision group, declared as data.  Group 0 is the root (parent
 * TINA_GROUP_NONE); every other group names a parent with a smaller index
 * (so the tree has no cycle by construction), at most 8 deep.  A group's
 * members, in order, are its static children (spec order) and then its
 * child groups (index order).  Each shard runs its own instance of the tree
 * over the children placed on it: supervision never crosses shards.
 *
 * Budget: more than restart_max restarts within window_ns escalates: the
 * group fails as a member of its parent (everything in it is torn down and
 * the parent's strategy applies).  The root failing quarantines the shard,
 * or aborts the process if tina_spec.quarantine_abort is set.
 * A spec without groups gets an implicit root: one-for-one, 100 restarts a
 * second (a child that can never start ends in a quarantine, not a silent
 * loop).  Every crash, restart, escalation, quarantine, revival and forced
 * shutdown is logged, rate-limited (stats.log_suppressed).
 */
typedef struct tina_group_spec {
    uint32_t parent;      /* group index, or TINA_GROUP_NONE for group 0 */
    uint32_t strategy;    /* tina_strategy */
    uint32_t restart_max; /* 1..TINA_GROUP_RESTARTS_MAX */
    uint32_t dynamic_max; /* room for dynamic children: one-for-one groups only */
    uint64_t window_ns;   /* > 0 */
} tina_group_spec;

/* Per ordered pair ring-size override. */
typedef struct tina_ring_override {
    uint32_t from, to; /* shard indexes */
    uint32_t slots;    /* power of two, 2..2^20 */
} tina_ring_override;

/*
 * The boot spec.  Zero means "default" for every numeric field; the
 * defaults are listed beside each field.  Validation happens in full
 * before any memory is reserved or any thread starts.
 */
/* Which kernel interface the shards' I/O uses. */
typedef enum tina_io_backend {
    TINA_IO_AUTO = 0,   /* io_uring; the epoll fallback if the kernel refuses it */
    TINA_IO_URING = 1,  /* io_uring or fail the boot (TINA_ESYSTEM) */
    TINA_IO_EPOLL = 2   /* the epoll fallback, always */
} tina_io_backend;

/* What the watchdog does about a shard stuck in one handler. */
typedef enum tina_watchdog_policy {
    TINA_WATCHDOG_LOG = 0,   /* log type name and handle, count it (stats.stalls) */
    TINA_WATCHDOG_ABORT = 1, /* log, then abort the process */
    TINA_WATCHDOG_OFF = 2    /* no watchdog thread */
} tina_watchdog_policy;

typedef struct tina_spec {
    const tina_type_spec *types;
    uint32_t type_count;
    uint32_t child_count;
    const tina_child_spec *children;
    uint32_t group_count;     /* 0: the implicit root group */
    const tina_group_spec *groups;
    uint32_t quarantine_abort; /* non-zero: a failing root aborts the process */

    uint32_t shard_count;     /* 0: one per physical core of the allowed set */
    uint32_t core_count;      /* entries in cores[]; 0: automatic placement */
    const uint32_t *cores;    /* OS CPU ids to pin shard i to cores[i] */

    uint32_t pool_user_slots;   /* messages per shard for user traffic; 4096 */
    uint32_t pool_system_slots; /* reserved for timers, timeouts, notices; 1024 */
    uint32_t ring_slots;        /* per channel, power of two; 1024 */
    uint32_t ring_override_count;
    const tina_ring_override *ring_overrides;

    uint32_t timer_slots;          /* timers per shard; 4096 */
    uint32_t timer_wheel_slots;    /* power of two; 4096 */
    uint64_t timer_resolution_ns;  /* wheel tick; 100000 (100 us) */
    uint32_t log_entries;          /* per-shard log ring, power of two; 1024 */
    uint32_t base_budget;          /* dispatches per type per pass = weight x this; 64 */
    uint32_t scratch_bytes;        /* per-shard scratch buffer; 4096 */
    uint64_t idle_spin_ns;         /* poll at most this long before sleeping; 50000 */
    uint64_t memory_limit_bytes;   /* 0: physical memory (and cgroup limit) */
    uint64_t seed;                 /* isolate random source; 0: from the clock */
    uint32_t no_signal_handlers;   /* non-zero: tina_run leaves SIGINT/SIGTERM alone */
    uint32_t no_trap_handlers;     /* non-zero: no trap boundary (faults kill the process) */
    uint32_t log_level;            /* minimum tina_log_level printed; TINA_LOG_INFO */
    uint64_t shutdown_timeout_ns;  /* graceful shutdown bound; 5 s (too large for the
                                      clock, e.g. UINT64_MAX: no bound) */
    uint32_t monitor_slots;        /* monitor entries per shard; 4096 */
    uint64_t watchdog_ns;          /* a pass longer than this is a stall; 1 s */
    uint32_t watchdog_policy;      /* tina_watchdog_policy */
    /* I/O (section "I/O" below).  fd_slots 0 leaves I/O off: the shard
     * never sets up io_uring and I/O calls return TINA_EIO_OFF. */
    uint32_t fd_slots;             /* descriptors per shard, 0 or 16..65536 */
    uint32_t io_buffers;           /* reactor buffers per shard (bytes on their way); fd_slots */
    uint32_t io_buffer_bytes;      /* bytes per reactor buffer, 512..1 MiB; 16384 */
    uint32_t io_backend;           /* tina_io_backend */
    uint32_t token_slots;          /* reply tokens per shard (tina_defer), 1..2^20; 1024 */
    uint32_t inject_slots;         /* foreign-thread queue per shard, power of two 2..2^20; 1024 */
    /* The idle spin.  0 (adaptive): an idle shard polls only as long as
     * polling has lately caught work -- the poll doubles (up to
     * idle_spin_ns) after each idle gap shorter than idle_spin_ns and
     * halves after each longer one, so a shard whose work comes rarely
     * sleeps at once and leaves its core to others.  Non-zero: always
     * poll idle_spin_ns.  stats.spin_budget_ns shows the poll now. */
    uint32_t idle_spin_fixed;
} tina_spec;

/* ------------------------------------------------------------------------ */
/* Context calls (from init and handlers, on the isolate's own shard)        */
/* ------------------------------------------------------------------------ */

/*
 * Send a message.  Returns at once with one of:
 *   TINA_OK               accepted (locally: in the mailbox; remotely: in the
 *                         channel -- a stale or full target is then dropped
 *                         and counted on arrival);
 *   TINA_EMAILBOX_FULL    receiver's mailbox (local) or the channel is full;
 *   TINA_EPOOL_EXHAUSTED  the shard's user message region is exhausted;
 *   TINA_ESTALE           the local target is dead;
 *   TINA_EHANDLE          the handle is 0 or out of range;
 *   TINA_ERESERVED_TAG    tag < TINA_TAG_USER;
 *   TINA_ETOO_BIG         size > TINA_PAYLOAD_MAX.
 * Nothing is buffered for a retry.
 */
TINA_WUR tina_result tina_send(tina_ctx *ctx, tina_handle to, uint16_t tag, const void *payload,
                               size_t size);

/* Spawn an isolate of type_id on this shard, running its init now.
 * Returns TINA_OK, TINA_ENO_SLOT, TINA_ETOO_BIG (args > 64), TINA_EINVAL
 * (unknown type).  If init fails the handle is already stale. */
TINA_WUR tina_result tina_spawn(tina_ctx *ctx, uint32_t type_id, const void *args,
                                size_t args_size, tina_handle *out);

/* Spawn a dynamic child into supervision group `group` on this shard (a
 * one-for-one group with dynamic_max > 0).  The group restarts it after it
 * ends according to `restart` (a tina_restart), charging the group's budget,
 * with the same args; if the group itself fails (escalation) its dynamic
 * children end with it and are not restarted.  Returns what tina_spawn
 * returns, plus TINA_EINVAL (unknown group or restart type, or a group with
 * no room for dynamic children) and TINA_EGROUP_FULL (dynamic_max alive). */
TINA_WUR tina_result tina_spawn_child(tina_ctx *ctx, uint32_t group, uint32_t restart,
                                      uint32_t type_id, const void *args, size_t args_size,
                                      tina_handle *out);

typedef uint64_t tina_timer_id;
/* Deliver a TINA_MSG_TIMER message with tag after delay_ns, then every
 * period_ns if period_ns > 0.  A zero delay fires on the next pass.  A fired
 * timer needs no message slot and is delivered ahead of queued mail (never
 * refused for a full mailbox or pool).  A periodic timer has at most one
 * undelivered fire: periods missed while the isolate was busy are skipped.
 * Only the owner's own timers can be cancelled; cancelling a fired but
 * undelivered timer withdraws it.  Deadlines saturate: a delay (or a
 * period) too large to add to the shard clock means "never" -- the timer
 * stays armed and cancellable but never fires -- never "now".
 * Returns TINA_OK, TINA_ERESERVED_TAG, TINA_ETIMER_EXHAUSTED. */
TINA_WUR tina_result tina_timer_set(tina_ctx *ctx, uint64_t delay_ns, uint64_t period_ns,
                                    uint16_t tag, tina_timer_id *out);
/* Returns TINA_OK or TINA_ETIMER_STALE (fired one-shot, cancelled, not ours). */
tina_result tina_timer_cancel(tina_ctx *ctx, tina_timer_id id);

tina_handle tina_self(const tina_ctx *ctx);
tina_handle tina_sender(const tina_ctx *ctx); /* from of the current message */
uint32_t tina_shard_id(const tina_ctx *ctx);
uint32_t tina_shard_count(const tina_ctx *ctx);
uint64_t tina_now_ns(const tina_ctx *ctx);   /* shard clock, read once per pass */
uint64_t tina_random(tina_ctx *ctx);         /* per-shard xoshiro256** stream */
void *tina_scratch(tina_ctx *ctx, size_t *size_out); /* valid for this call only */
/* True once a graceful shutdown (or a stop) has begun. */
bool tina_shutting_down(const tina_ctx *ctx);
/* Stop the whole runtime now: shards finish their pass and tina_run
 * returns; isolates are left as they are (their counters stay readable). */
void tina_request_stop(tina_ctx *ctx);
/* Begin a graceful shutdown, as tina_shutdown(). */
void tina_request_shutdown(tina_ctx *ctx);
/* The boot-time handle of static child child_index on shard (its first
 * incarnation; restarts give new handles). 0 if there is no such child. */
tina_handle tina_child_handle(const tina_ctx *ctx, uint32_t child_index, uint32_t shard);
/* The address of static child child_index on shard: it reaches whichever
 * incarnation runs, across restarts and revivals (see Addresses above).
 * 0 if there is no such child. */
tina_handle tina_child_address(const tina_ctx *ctx, uint32_t child_index, uint32_t shard);
/* The calling isolate's own address (its lineage: it survives restarts). */
tina_handle tina_self_address(const tina_ctx *ctx);

/*
 * Replies sent later.  A handler handling a call (msg->kind ==
 * TINA_MSG_CALL) may take the right to answer it later instead of
 * answering now: tina_defer gives a token, the handler returns any effect
 * but tina_reply (a tina_reply in the same call is refused,
 * stats.reply_invalid), and later -- after other messages, timers, its own
 * calls or I/O -- the same isolate answers once with tina_reply_later.
 * The caller's timeout still holds.  A token lives in an entry of the
 * shard's token_slots, held until it is used or its isolate ends; an
 * isolate that ends holding tokens has each of their callers answered at
 * once with TINA_TAG_CALL_FAILED (TINA_ESTALE), as if it had ended while
 * handling the call.
 *
 * tina_defer returns TINA_OK, TINA_ENOT_CALL (not handling a call, or it is
 * already deferred: counted in reply_invalid), TINA_ETOKEN_EXHAUSTED (no
 * entry free: answer now; token_exhausted) or TINA_EINVAL (out is NULL).
 * tina_reply_later returns
 *   TINA_OK            the reply is on its way (delivered locally; across
 *                      shards a reply that finds its caller gone is
 *                      counted there, in late_replies); the token is spent;
 *   TINA_ETOKEN_LATE   a caller on this shard no longer waits (it timed
 *                      out, failed or ended); the token is spent;
 *   TINA_ETOKEN        the token was spent already, is forged, or is
 *                      another isolate's (stats.token_invalid);
 *   TINA_ESTALE        the caller's shard is quarantined; the token is spent;
 *   TINA_EMAILBOX_FULL the channel to the caller's shard is full, and
 *   TINA_ERESERVED_TAG, TINA_ETOO_BIG, TINA_EINVAL: nothing was sent and
 *                      the token stays good: try again.
 * Every outcome but TINA_OK is counted.  A call made by a foreign thread
 * (tina_inject_call) is deferred and answered the same way.
 */
typedef uint64_t tina_reply_token; /* shard 8 | entry 24 | generation 32; 0 is none */
TINA_WUR tina_result tina_defer(tina_ctx *ctx, tina_reply_token *out);
TINA_WUR tina_result tina_reply_later(tina_ctx *ctx, tina_reply_token token, uint16_t tag,
                                      const void *payload, size_t size);

/*
 * Monitors.  Watch any handle, on this shard or another: when that isolate
 * ends (done, crash, torn down by its supervisor, its shard quarantined) the
 * watcher receives one TINA_TAG_DOWN message (kind TINA_MSG_SYSTEM) whose
 * payload is a tina_down.  Monitoring a handle that is already dead gives a
 * DOWN with how = TINA_DOWN_NOPROC; one the target's shard has no entry for
 * gives how = TINA_DOWN_NO_MONITOR.  A DOWN takes no message slot (it waits
 * in the monitor's entry, delivered ahead of queued mail) and is never
 * delivered to a successor of a dead watcher.  Each monitor holds an entry
 * of this shard's monitor_slots (and one of the target's, if remote) until
 * its DOWN is delivered, its watcher ends or it is demonitored.  Returns TINA_OK, TINA_EHANDLE, TINA_EMAILBOX_FULL
 * (the channel to the target's shard is full: retry), TINA_ESTALE (the
 * target's shard is quarantined) or TINA_EMONITOR_EXHAUSTED (no entry free).
 */
typedef enum tina_down_how {
    TINA_DOWN_DONE = 0,        /* returned tina_done(), or finished draining */
    TINA_DOWN_CRASHED = 1,     /* tina_crash(), a failed init or a trapped fault */
    TINA_DOWN_TERMINATED = 2,  /* torn down by its group's strategy */
    TINA_DOWN_QUARANTINED = 3, /* its shard was quarantined */
    TINA_DOWN_NOPROC = 4,      /* it was already dead when monitored */
    TINA_DOWN_NO_MONITOR = 5   /* not a death: the target's shard had no monitor entry free
                                  (reason: TINA_EMONITOR_EXHAUSTED, as an int32); the
                                  target may well be alive */
} tina_down_how;

typedef struct tina_down {
    tina_handle target;
    uint32_t how;    /* tina_down_how */
    uint32_t reason; /* the crash reason; NO_MONITOR, and NOPROC of an address: the
                        tina_result (as an int32); 0 otherwise */
} tina_down;

TINA_WUR tina_result tina_monitor(tina_ctx *ctx, tina_handle target);
/* Monitoring an address watches the incarnation running when the request
 * arrives (the DOWN names that incarnation's handle); none running gives
 * a NOPROC DOWN naming the address, reason TINA_ENOT_RUNNING (it is being
 * restarted) or TINA_ESTALE (the lineage ended).  A monitor's entries are freed when its DOWN is
 * delivered, when its watcher ends (the target's shard is told), or by
 * tina_demonitor. */

/* Remove every monitor this isolate has of target (the handle or address
 * given to tina_monitor), and any DOWN of it not yet delivered: no DOWN
 * for it arrives after this returns.  Entries on another shard are freed
 * when the word gets there.  Returns TINA_OK, TINA_EHANDLE, or
 * TINA_ENOT_MONITORING (none found; counted in stats.demonitor_unknown). */
TINA_WUR tina_result tina_demonitor(tina_ctx *ctx, tina_handle target);

typedef enum tina_log_level {
    TINA_LOG_DEBUG = 1, /* 0 is "default" in the spec */
    TINA_LOG_INFO = 2,
    TINA_LOG_WARN = 3,
    TINA_LOG_ERROR = 4
} tina_log_level;
/* Append one line to the shard's log ring (flushed to stderr at the end of
 * the pass).  Lines over 95 characters are cut; a full ring drops and counts. */
void tina_log(tina_ctx *ctx, tina_log_level level, const char *fmt, ...) TINA_PRINTF(3, 4);

/*
 * I/O set-up through the context (synchronous; no isolate parks).  Each
 * returns TINA_OK, TINA_EIO_OFF, TINA_EFD_STALE, TINA_EFD_EXHAUSTED,
 * TINA_EINVAL or TINA_ESYSTEM (the OS refused: tina_io_errno() says why).
 * Under the simulator they act on the simulated network and file system.
 * A descriptor belongs to the isolate that opened or accepted it; it is
 * closed when that isolate ends.
 */
TINA_WUR tina_result tina_socket(tina_ctx *ctx, int domain, int type, int protocol, tina_fd *out);
TINA_WUR tina_result tina_bind(tina_ctx *ctx, tina_fd fd, const void *addr, uint32_t addr_len);
TINA_WUR tina_result tina_listen(tina_ctx *ctx, tina_fd fd, int backlog);
TINA_WUR tina_result tina_setsockopt(tina_ctx *ctx, tina_fd fd, int level, int name,
                                     const void *value, uint32_t value_len);
/* Open a file (open(2) flags and mode). */
TINA_WUR tina_result tina_open(tina_ctx *ctx, const char *path, int flags, uint32_t mode,
                               tina_fd *out);
/* The errno of the last TINA_ESYSTEM from the calls above on this shard. */
int tina_io_errno(const tina_ctx *ctx);
/* The port a bound socket got (bind to port 0 picks one); 0 on error. */
uint16_t tina_local_port(tina_ctx *ctx, tina_fd fd);
/* Hand a descriptor to isolate `to` (any shard): it leaves this isolate's
 * table at once and arrives as a TINA_TAG_TRANSFER message carrying the
 * receiver's new handle and `note`.  If the receiver is gone (or its
 * mailbox full) on arrival, the descriptor is closed and counted
 * (fd_transfer_dropped).  Returns TINA_OK, TINA_EFD_STALE, TINA_EIO_BUSY
 * (an operation is in flight on it, or bytes already arrived for it that
 * no recv has taken yet: receive them, then hand over), TINA_EHANDLE, TINA_ESTALE,
 * TINA_EMAILBOX_FULL or TINA_EPOOL_EXHAUSTED (the descriptor stays here):
 * a handoff is user traffic, under the receiver's mailbox bound. */
TINA_WUR tina_result tina_fd_transfer(tina_ctx *ctx, tina_fd fd, tina_handle to, uint64_t note);

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

#define TINA_SHARD_STATS_MAP(X)                                                         \
    X(sent)               /* messages accepted by tina_send/call/reply (local+remote) */ \
    X(sent_remote)        /* of which into a cross-shard channel */                     \
    X(delivered)          /* messages put into a mailbox (local and from channels) */   \
    X(dispatched)         /* handler calls */                                           \
    X(mailbox_full)       /* local sends refused: receiver's mailbox full */            \
    X(channel_full)       /* remote sends refused: channel full */                      \
    X(pool_exhausted)     /* sends refused: user region empty */                        \
    X(stale)              /* sends refused: local target dead */                        \
    X(invalid)            /* sends refused: bad handle, reserved tag, too big */        \
    X(dropped_on_arrival) /* from channels: stale, full mailbox, no room, late reply */ \
    X(dropped_stale)      /*   of which stale */                                        \
    X(dropped_full)       /*   of which mailbox full */                                 \
    X(dropped_pool)       /*   of which user region empty (never a stall: SPEC 13) */  \
    X(late_replies)       /*   of which replies after timeout (or to a dead caller) */  \
    X(answers_lost)       /* call-failed or no-monitor answers with no room back */       \
    X(calls)              /* call effects */                                            \
    X(call_failed)        /* calls woken at once: request not sent */                   \
    X(call_timeouts)      /* calls woken by their timeout */                            \
    X(replies)            /* reply effects sent */                                      \
    X(reply_invalid)      /* reply effects with no call to answer */                    \
    X(spawns)             /* isolates started (boot, spawn, restart) */                 \
    X(spawn_failed)       /* spawn refused: no slot */                                  \
    X(slots_retired)      /* slots at their last generation: never used again */        \
    X(init_failed)        /* init returned a reason */                                  \
    X(done)               /* done effects */                                            \
    X(crashes)            /* crash effects, init failures and trapped faults */         \
    X(crash_trapped)      /*   of which faults caught by the trap boundary */            \
    X(crash_segv)         /*     SIGSEGV (bad access, stack overflow) */                 \
    X(crash_bus)          /*     SIGBUS */                                               \
    X(crash_fpe)          /*     SIGFPE (e.g. integer division by zero) */              \
    X(crash_ill)          /*     SIGILL */                                               \
    X(crash_abort)        /*     SIGABRT (abort(), failed assert()) */                  \
    X(restarts)           /* isolates restarted by their supervisor */                  \
    X(terminated)         /* isolates torn down by their group's strategy */            \
    X(escalations)        /* groups that exceeded their restart budget */               \
    X(notices_dropped)    /* shard notices not delivered: system region empty */       \
    X(quarantines)        /* times this shard was quarantined */                        \
    X(revivals)           /* times this shard was rebuilt after a quarantine */        \
    X(peer_notices)       /* shard quarantined/restarted notices delivered */           \
    X(stalls)             /* passes the watchdog found stuck past watchdog_ns */        \
    X(monitors_set)       /* monitors set by this shard's isolates */                   \
    X(monitor_exhausted)  /* monitors refused: no entry free (here, or on the target's) */ \
    X(downs_sent)         /* DOWN messages delivered or put into a channel */           \
    X(downs_deferred)     /* DOWN messages retried next pass (channel full) */         \
    X(timers_set)                                                                       \
    X(timers_cancelled)                                                                 \
    X(timers_fired)                                                                     \
    X(timer_exhausted)    /* timer sets refused: no free entry */                       \
    X(yields)                                                                           \
    X(shutdown_notices)   /* TINA_TAG_SHUTDOWN messages delivered */                    \
    X(shutdown_forced)    /* isolates still alive when the shutdown timed out */        \
    X(passes)             /* shard passes */                                            \
    X(sleeps)             /* times the shard went to sleep */                           \
    X(wakeups_sent)       /* doorbells rung on sleeping peers */                        \
    X(log_written)                                                                      \
    X(log_dropped)        /* log ring full */                                           \
    X(log_suppressed)     /* the runtime's own lines (crashes, restarts...) rate-limited */ \
    X(live)               /* isolates alive now */                                      \
    X(pool_user_free)     /* user region slots free now */                              \
    X(pool_system_free)   /* system region slots free now */                            \
    X(timers_live)        /* timer entries in use now */                                \
    X(io_submitted)       /* I/O operations handed to the kernel (or simulator) */     \
    X(io_completed)       /* completions delivered to their isolate */                  \
    X(io_failed)          /*   of which with a negative result */                       \
    X(io_dead)            /* completions for an isolate that had ended: reclaimed */     \
    X(io_cancelled)       /* operations cancelled (teardown, shutdown) */              \
    X(io_timeouts)        /* operations cancelled by their tina_io_timeout */          \
    X(io_refused)         /* io effects refused at once: stale fd, bad op, no buffer */ \
    X(io_buffers_exhausted) /* of which for want of a reactor buffer */                 \
    X(io_recv_starved)    /* recvs that found every buffer out and waited for one */    \
    X(fd_exhausted)       /* descriptors refused: fd_slots full (or EMFILE) */          \
    X(fd_transferred)     /* descriptors handed to another isolate */                   \
    X(fd_transfer_dropped) /* handoffs whose receiver was gone: descriptor closed */    \
    X(fds_open)           /* descriptors open now */                                  \
    X(address_not_running) /* messages to an address refused: no incarnation running */ \
    X(demonitors)         /* monitors removed by tina_demonitor */                      \
    X(demonitor_unknown)  /* tina_demonitor with no such monitor */                     \
    X(monitors_released)  /* monitor entries freed because their watcher ended */       \
    X(tokens_deferred)    /* calls deferred (tina_defer) */                             \
    X(tokens_used)        /* deferred calls answered (tina_reply_later) */              \
    X(token_invalid)      /* tina_reply_later with a spent, forged or foreign token */  \
    X(token_late)         /* tina_reply_later after its caller gave up, or refused */  \
    X(token_exhausted)    /* tina_defer refused: no entry free */                       \
    X(tokens_orphaned)    /* tokens whose isolate ended: their callers answered failed */ \
    X(injected)           /* foreign-thread messages put into a mailbox */              \
    X(inject_dropped)     /* foreign-thread messages dropped on arrival (stale, full) */ \
    X(spin_won)           /* idle gaps short enough for the idle spin to catch */       \
    X(spin_lost)          /* idle gaps longer than idle_spin_ns */                      \
    X(spin_budget_ns)     /* gauge: how long an idle shard polls now (spec: idle_spin_fixed) */

typedef struct tina_shard_stats {
#define TINA__STATS_FIELD(name) uint64_t name;
    TINA_SHARD_STATS_MAP(TINA__STATS_FIELD)
#undef TINA__STATS_FIELD
} tina_shard_stats;

/* One channel (ordered shard pair).  accepted = delivered + dropped + in_flight,
 * exactly, whenever both shards are between passes (e.g. after tina_run). */
typedef struct tina_channel_stats {
    uint64_t accepted;  /* producer: messages written into the ring */
    uint64_t full;      /* producer: sends refused because the ring was full */
    uint64_t delivered; /* consumer: put into a mailbox */
    uint64_t dropped;   /* consumer: stale, mailbox full or late reply */
    uint64_t in_flight; /* written and not yet consumed */
    uint32_t slots;     /* ring capacity */
} tina_channel_stats;

/* Live counters of the calling isolate's own shard (exact, no copy). */
const tina_shard_stats *tina_ctx_stats(const tina_ctx *ctx);

/* ------------------------------------------------------------------------ */
/* Boot and run                                                              */
/* ------------------------------------------------------------------------ */

typedef struct tina_runtime tina_runtime;

typedef struct tina_boot_report {
    uint64_t memory_bytes;           /* everything the spec needs: arenas with their guard
                                        pages, I/O tables and reactor buffers */
    uint64_t memory_per_shard_bytes; /* largest single shard arena */
    uint64_t memory_limit_bytes;     /* what it was checked against */
    uint32_t shard_count;            /* resolved */
    uint32_t cores[TINA_SHARD_COUNT_MAX]; /* OS CPU id per shard */
    uint32_t oversubscribed;         /* non-zero: more shards than allowed cores */
    char message[256];               /* on error: the field and the value */
} tina_boot_report;

/* Validate a spec and compute its memory without reserving anything.
 * Returns TINA_OK or one TINA_ESPEC_* code; report (may be NULL) says why. */
TINA_WUR tina_result tina_validate(const tina_spec *spec, tina_boot_report *report);

/* Validate, reserve and carve every shard's arena, place static children,
 * and start every thread the runtime will use -- one per shard, pinned to
 * its core, and the watchdog's -- parked: no isolate runs before tina_run.
 * This is the last call that allocates.  Returns TINA_OK, a TINA_ESPEC_*
 * code, TINA_ENO_MEMORY or TINA_ESYSTEM (a thread could not start). */
TINA_WUR tina_result tina_create(const tina_spec *spec, tina_runtime **out,
                                 tina_boot_report *report);

/* Let the shard threads run and block until tina_stop(),
 * tina_request_stop(), a finished tina_shutdown(), or SIGINT/SIGTERM.
 * Allocates nothing, on any thread.  Returns TINA_OK, or TINA_ESTATE if it
 * already ran, or the process forked since tina_create (the child has none
 * of the runtime's threads). */
TINA_WUR tina_result tina_run(tina_runtime *rt);

/* Stop now; safe from any thread and from a signal handler. */
void tina_stop(tina_runtime *rt);

/* Graceful shutdown; safe from any thread and from a signal handler (the
 * first SIGINT/SIGTERM calls it, a second one calls tina_stop).  Every live
 * isolate, on every shard, receives one TINA_TAG_SHUTDOWN message (kind
 * TINA_MSG_SYSTEM) ahead of its queued mail -- it needs no message slot,
 * so it arrives even with the pool exhausted; a pending call is cut short
 * (TINA_TAG_CALL_FAILED carrying TINA_ESHUTDOWN) and the notice comes
 * right after.  An isolate may then drain: it keeps handling its
 * mail, timers, yields and calls; the first time it parks in receive with
 * nothing left to handle, it is done.  Nothing is restarted.  When every
 * shard has no isolate left, or shutdown_timeout_ns has passed, the shards
 * stop and tina_run returns TINA_OK. */
void tina_shutdown(tina_runtime *rt);

/* Free everything.  Only after tina_run returned (or if it never ran). */
void tina_destroy(tina_runtime *rt);

uint32_t tina_runtime_shard_count(const tina_runtime *rt);

/* A copy of a shard's counters.  While running it is the snapshot the shard
 * publishes at least every millisecond; after tina_run it is exact.
 * Returns TINA_OK or TINA_EINVAL. */
tina_result tina_stats(const tina_runtime *rt, uint32_t shard, tina_shard_stats *out);
/* Returns TINA_OK or TINA_EINVAL (from == to, or out of range). */
tina_result tina_stats_channel(const tina_runtime *rt, uint32_t from, uint32_t to,
                               tina_channel_stats *out);
/* Revive a quarantined shard: it is rebuilt from the boot spec (static
 * children restarted with new handles) and every other shard's isolates get
 * a TINA_TAG_SHARD_RESTARTED notice.  SIGUSR2 revives every quarantined
 * shard.  Returns TINA_OK, TINA_EINVAL for a bad shard index, or
 * TINA_ESTATE if the shard is not quarantined (nothing is remembered for a
 * later quarantine). */
tina_result tina_revive(tina_runtime *rt, uint32_t shard);
/* Whether a shard is quarantined now. */
bool tina_quarantined(const tina_runtime *rt, uint32_t shard);

/* Boot-time handle of a static child, as tina_child_handle(). */
tina_handle tina_runtime_child_handle(const tina_runtime *rt, uint32_t child_index,
                                      uint32_t shard);
/* A static child's address, as tina_child_address(). */
tina_handle tina_runtime_child_address(const tina_runtime *rt, uint32_t child_index,
                                       uint32_t shard);

/* ------------------------------------------------------------------------ */
/* A way in from other threads                                               */
/* ------------------------------------------------------------------------ */

/*
 * A thread that is not a shard -- the program's main thread, a library's
 * callback thread, an admin thread -- sends into the runtime with
 * tina_inject: a message of kind TINA_MSG_SEND from no one (from = 0) to a
 * handle or an address.  It never waits and never allocates: each shard
 * has a bounded multi-producer queue of inject_slots envelopes, drained at
 * the start of every pass like a channel, and a sleeping shard is woken
 * (the same doorbell as a channel's).  On arrival the envelope goes into
 * its receiver's mailbox under the same bounds as any message, or is
 * dropped and counted (inject_dropped: stale, not running, mailbox full,
 * pool empty).  So, per shard, accepted = injected + inject_dropped + the
 * envelopes still queued, exactly (tina_stats_inject).
 *
 * An injection made before tina_run waits in the queue for the first pass.
 *
 * Returns TINA_OK (accepted); TINA_EMAILBOX_FULL (the shard's queue is
 * full: never a wait); TINA_EHANDLE, TINA_ERESERVED_TAG, TINA_ETOO_BIG,
 * TINA_EINVAL (bad arguments, or rt NULL); TINA_ESTALE (the target's shard
 * is quarantined); TINA_ESTATE (the runtime is stopping, or tina_run has
 * returned); TINA_EINJECT_THREAD (called on a shard's own thread: send
 * from the handler instead).  Each refusal is counted, on the target's
 * shard (or, for a handle that names no shard, in the sum only).  Safe
 * from any number of threads at once; not from a signal handler.
 *
 * Under the simulator there are no other threads: tina_inject is called
 * from the run's inject hook (tina_sim_config.inject), at the start of
 * every round, so an injection is part of the seed's one execution; called
 * anywhere else under the simulator (a handler) it returns
 * TINA_EINJECT_THREAD.
 */
TINA_WUR tina_result tina_inject(tina_runtime *rt, tina_handle to, uint16_t tag,
                                 const void *payload, size_t size);

/* Call an isolate from a foreign thread and wait, up to timeout_ns, for its
 * reply (like Seastar's alien submit_to).  The request is a TINA_MSG_CALL
 * from a caller handle of no shard: answer it with tina_reply, or defer it
 * (tina_defer).  On TINA_OK *reply (may be NULL) holds the reply message.
 * Otherwise: any result of tina_inject; TINA_ETIMEDOUT; the runtime's
 * answer for a call it knows failed (TINA_ESTALE, TINA_ENOT_RUNNING,
 * TINA_EMAILBOX_FULL, TINA_EPOOL_EXHAUSTED, TINA_ESHUTDOWN); TINA_EINVAL
 * (timeout 0); TINA_ECALLERS_FULL (TINA_INJECT_CALLERS_MAX calls are
 * already waiting); TINA_ESTATE when tina_run returns with the call
 * unanswered (nothing would answer it), and under the simulator (its one
 * thread cannot wait).  A reply that comes after the timeout is counted (tina_stats_inject:
 * late_replies, on the answering shard) and dropped: it never reaches a
 * later call.  The request's `from` is a caller handle no shard owns
 * (shard field 127): reply to it, now or later (tina_defer); sending
 * anything else to it is TINA_EHANDLE.  tina_destroy must wait until no
 * thread is inside tina_inject or tina_inject_call: the runtime they name
 * is gone after it. */
#define TINA_INJECT_CALLERS_MAX 64u
TINA_WUR tina_result tina_inject_call(tina_runtime *rt, tina_handle to, uint16_t tag,
                                      const void *payload, size_t size, uint64_t timeout_ns,
                                      tina_msg *reply);

typedef struct tina_inject_stats {
    uint64_t accepted;      /* tina_inject (and _call) requests queued; once drained,
                               = the shard's injected + inject_dropped */
    uint64_t full;          /* refused: the shard's queue was full */
    uint64_t refused;       /* refused otherwise: bad arguments, quarantined, stopped */
    uint64_t wrong_thread;  /* refused: called on a shard thread */
    uint64_t wakeups;       /* sleeping shards woken by an injection */
    uint64_t calls;         /* tina_inject_call requests queued */
    uint64_t call_timeouts; /* of which ended by their timeout (the target's shard) */
    uint64_t late_replies;  /* replies that came after their caller's timeout (the
                               answering shard) */
} tina_inject_stats;

/* The injection counters of one shard's queue (shard < shard count), or,
 * with shard = TINA_SHARD_EVERY, the sum over every shard plus the
 * refusals that name no shard.  Exact once tina_run has returned.
 * Returns TINA_OK or TINA_EINVAL. */
tina_result tina_stats_inject(const tina_runtime *rt, uint32_t shard, tina_inject_stats *out);

/* ------------------------------------------------------------------------ */
/* Deterministic simulation                                                   */
/* ------------------------------------------------------------------------ */

/*
 * tina_simulate runs the same spec, the same handlers and the same shard
 * code on the calling thread, round by round: advance simulated time one
 * tick, order the shards (fixed, or shuffled by the seed), run one pass of
 * each.  It stops when the handlers stop it (tina_request_stop, or a
 * finished tina_request_shutdown), on quiescence (nothing pending anywhere;
 * when only timers remain, time jumps to the next one), or at the round
 * limit.  Every handler call is hashed, in order, into a 64-bit trace
 * digest: the same seed and spec give the same digest.  Faults (all off by
 * default) are drawn from the seed; checkers run every check_every_rounds
 * and at the end; I/O runs against a simulated network and file system.
 */
/* A user checker: reads isolates' state between rounds (tina_sim_each) and
 * returns 0, or writes why into `why` and returns non-zero to stop the run
 * with reason TINA_SIM_CHECKER. */
typedef int (*tina_sim_check_fn)(void *user, const tina_runtime *rt, char *why, size_t why_size);

typedef struct tina_sim_config {
    uint64_t seed;        /* 0 means 1; the environment variable TINA_SEED overrides it */
    uint64_t round_limit; /* 0: 10,000,000 */
    uint64_t tick_ns;     /* simulated time per round; 0: 10,000 ns */
    uint32_t shuffle;     /* non-zero: the shard order of each round comes from the seed */
    /* Faults, all off by default; rates are per million events, integers. */
    uint32_t crash_per_million; /* a handler call's effect becomes a crash */
    uint32_t drop_per_million;  /* a cross-shard message is lost in the network */
    uint32_t stall_per_million; /* per shard and round: the shard stalls ... */
    uint32_t stall_rounds_max;  /* ... for 1..stall_rounds_max rounds (0: 10) */
    uint32_t init_fail_per_million; /* an init fails (as if it returned a reason) */
    uint32_t partition_per_million; /* per round, when none is on: cut two shards apart ... */
    uint32_t partition_rounds_max;  /* ... both ways, for 1..max rounds (0: 100), then heal */
    uint32_t delay_rounds_min;      /* cross-shard delivery delay, in rounds, drawn per */
    uint32_t delay_rounds_max;      /* message from [min, max]; 0/0: none.  FIFO per channel */
    uint32_t io_error_per_million;  /* a simulated I/O operation fails (-EIO, -ECONNRESET) */
    uint32_t io_delay_rounds_max;   /* simulated I/O completes after 0..max rounds (0: next) */
    uint32_t revive_after_rounds;   /* a quarantined shard is revived after this many rounds,
                                       as an operator's SIGUSR2 would; 0: never */
    uint32_t check_every_rounds; /* checkers' period; 0: 1000 (and at the end) */
    tina_sim_check_fn check;     /* optional user checker, run with the built-in ones */
    void *check_user;
    /* Liveness.  From calm_at_ns of simulated time on (0: never), every
     * fault is off: rates go to zero, a partition heals, stalls end, delays
     * stop growing.  A run still going calm_rounds_max rounds after that
     * (0: no bound) fails with a "liveness:" violation naming what is still
     * pending.  Whatever the phase, a shard whose passes report work but
     * change nothing for spin_rounds_max rounds in a row (0: 10,000) -- a
     * shard that would spin at 100% CPU in production -- is a violation. */
    uint64_t calm_at_ns;
    uint32_t calm_rounds_max;
    uint32_t spin_rounds_max;
    uint32_t revive_random_per_million; /* per round, the operator calls tina_revive on a shard
                                           drawn at random, quarantined or not */
    uint32_t reserved;
    /* Injection: called at the start of every round (round counts from
     * 0), before any shard's pass, on the simulator's thread; it may call
     * tina_inject, and only there (elsewhere under the simulator
     * tina_inject returns TINA_EINJECT_THREAD: every other moment of the
     * one thread belongs to a shard), never tina_inject_call (TINA_ESTATE).
     * What it injects is drained by the round's passes and is part of the
     * seed's one execution (the digest).  It returns non-zero while it has
     * more to inject: the run is not quiescent while it says so (the
     * round limit still holds).  NULL: none. */
    int (*inject)(void *user, tina_runtime *rt, uint64_t round);
    void *inject_user;
} tina_sim_config;

/* For user checkers: call fn for every live isolate of type_id, shard by
 * shard, slot by slot, with its handle and its struct (read only). */
void tina_sim_each(const tina_runtime *rt, uint32_t type_id,
                   void (*fn)(void *acc, tina_handle h, const void *state), void *acc);

/* A spec's shard_count of 0 under the simulator, which pins nothing: a
 * fixed count, so that a seed means the same execution on any host. */
#define TINA_SIM_SHARD_COUNT_DEFAULT 4u

/* The reason an injected crash reports. */
#define TINA_CRASH_INJECTED 0xfd000000u

typedef enum tina_sim_reason {
    TINA_SIM_QUIESCENT = 0,  /* nothing left to do anywhere */
    TINA_SIM_STOPPED = 1,    /* a handler asked for a stop */
    TINA_SIM_SHUTDOWN = 2,   /* a graceful shutdown finished */
    TINA_SIM_ROUND_LIMIT = 3, /* round_limit reached */
    TINA_SIM_CHECKER = 4,     /* a checker found a violation: see report.failure */
    TINA_SIM_WATCHDOG = 5     /* a shard stalled past watchdog_ns (simulated time) under
                                 TINA_WATCHDOG_ABORT: the run ends, not the process */
} tina_sim_reason;

typedef struct tina_sim_report {
    uint64_t seed;         /* the seed actually used */
    uint64_t rounds;
    uint64_t digest;       /* hash of every dispatch and effect, in order */
    uint64_t sim_ns;       /* simulated time at the end */
    uint32_t reason;       /* tina_sim_reason */
    uint32_t shard_count;
    uint64_t handler_calls;    /* handler calls seen by the trace */
    uint64_t crashes_injected; /* faults injected, by kind */
    uint64_t drops_injected;
    uint64_t stalls_injected;
    uint64_t init_failures_injected;
    uint64_t partitions_injected;   /* partitions begun */
    uint64_t partitions_healed;     /* partitions over (one may still be on at the end) */
    uint64_t partition_drops[2];    /* lost to a partition: [0] lower to higher shard id, [1] back */
    uint64_t watchdog_reports; /* stalls past watchdog_ns seen by the watchdog (simulated time) */
    uint64_t io_errors_injected; /* simulated I/O operations failed on purpose */
    tina_shard_stats total; /* every shard's counters, summed */
    char failure[192];      /* the violation, when reason is TINA_SIM_CHECKER */
} tina_sim_report;

/* Returns TINA_OK, a TINA_ESPEC_* code, TINA_ENO_MEMORY or TINA_EINVAL. */
TINA_WUR tina_result tina_simulate(const tina_spec *spec, const tina_sim_config *config,
                                   tina_sim_report *report);
/* Run seeds first_seed .. first_seed + count - 1 (TINA_SEED is ignored) and
 * collect, in order, up to failing_max seeds whose run ended with a checker
 * violation.  *failing_count gets how many failed in all.  Returns TINA_OK
 * or the first error tina_simulate returned. */
TINA_WUR tina_result tina_simulate_sweep(const tina_spec *spec, const tina_sim_config *config,
                                         uint64_t first_seed, uint32_t count,
                                         uint64_t *failing_seeds, uint32_t failing_max,
                                         uint32_t *failing_count);

/*
 * Named fault profiles, for examples and tests: set the fault fields of
 * *config (every other field is left alone) from one of
 *   "none"     every fault off;
 *   "crash"    isolate crashes (2,000 per million handler calls) and init
 *              failures (20,000 per million inits);
 *   "network"  cross-shard drops (5,000 per million), delays of 0..20
 *              rounds, partitions (1,000 per million rounds, up to 200 rounds);
 *   "stall"    shard stalls (1,000 per million rounds, up to 20 rounds);
 *   "io"       simulated I/O errors (2,000 per million operations) and
 *              completion delays of 0..10 rounds;
 *   "all"      all of the above at once, io included.
 * Returns TINA_OK or TINA_EINVAL (unknown name; config untouched).
 */
TINA_WUR tina_result tina_sim_faults(tina_sim_config *config, const char *profile);
#define TINA_SIM_FAULT_PROFILES "none, crash, network, stall, io, all"

/* One line: "seed=0x... digest=0x... rounds=N reason=...".  Returns the
 * length snprintf would write. */
int tina_sim_summary(const tina_sim_report *report, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Serving TCP on every shard                                                */
/* ------------------------------------------------------------------------ */

/*
 * A TCP server's accepting half, ready made on top of the calls above
 * (tina/serve.c uses nothing else): one isolate type, tina_serve_type(),
 * placed on every shard by one static child, tina_serve_child(), and set
 * up by a tina_serve the application owns for as long as the runtime runs.
 * Two ways to accept, chosen by tina_serve.reuseport:
 *
 * Handoff (reuseport 0, the default):
 *
 *   shard 0   acceptor: socket, SO_REUSEADDR, bind host:port, listen;
 *             then accept, accept, ...  each connection to the next shard
 *             in turn, shard 0 included
 *   shard k   the service's instance there: tina_spawn(conn_type_id), then
 *             tina_fd_transfer(connection, the new isolate, note 0)
 *
 * Every shard serves an exact share of the connections however busy shard
 * 0 is, at the price of one cross-shard handoff per connection and one
 * shard doing every accept.  A shard whose instance refuses the handoff
 * (its mailbox or the channel full) is passed over for the next; a
 * connection no shard takes is closed (refused), and so is one whose
 * shard has no room for its isolate (dropped, logged).
 *
 * SO_REUSEPORT (reuseport non-zero):
 *
 *   shard 0   acceptor: socket, SO_REUSEADDR, SO_REUSEPORT, bind, listen;
 *             then tells every other shard's instance the port
 *   shard k   its instance: its own socket with SO_REUSEPORT on the same
 *             host:port, listen; then accept, and tina_spawn(conn_type_id)
 *             and tina_fd_transfer on its own shard, no handoff
 *   (shard 0 accepts for itself the same way)
 *
 * The kernel spreads connections over the listeners by a hash of their
 * addresses and ports: no hop between shards and no shard doing every
 * accept, but the spread is only as even as the hash (a few connections
 * may all land on one shard), and a shard whose threads are busy still
 * gets its share, queued in its backlog.  Another process of the same user
 * that sets SO_REUSEPORT on the same port shares it too.  A shard whose
 * instance cannot listen logs why and ends; the others serve on.
 *
 * Either way the connection's isolate (conn_type_id, spawned with no args)
 * starts with a TINA_TAG_TRANSFER message and owns the descriptor from
 * then on: it closes it, or it is closed as the isolate ends.
 *
 * Once the acceptor on shard 0 listens, or has failed to, it reports: one
 * message of tag report_tag, payload a tina_serve_report, to static child
 * report_child on shard 0 (report_tag 0: no report, and a failure is
 * logged instead).  The report is about shard 0's listener: with
 * reuseport the other shards' listen a moment later (listeners counts
 * them).  Failing to listen ends the acceptor (done, not a crash), never
 * the runtime: whether to stop is the application's choice -- the
 * examples print why and call tina_request_stop.  A restarted acceptor
 * listens again, on the port it got the first time; so does a restarted
 * instance of another shard with reuseport.
 *
 * On TINA_TAG_SHUTDOWN every listening instance ends (its accept is
 * cancelled and its listener closes with it); with handoff the other
 * instances start isolates for what was already dealt to them, then end.
 * The service's isolates take no other mail.  Bad settings are refused by
 * tina_serve_check, before boot.  examples/echo.c and examples/http.c are
 * built this way (--reuseport chooses the mode).  Under the simulator,
 * use handoff: the simulated network has no SO_REUSEPORT.
 */
typedef struct tina_serve {
    /* The application's: set before tina_serve_check. */
    const char *host;      /* dotted IPv4 address; NULL: "127.0.0.1" ("0.0.0.0": every
                              interface); read by tina_serve_check only */
    uint32_t port;         /* 0..65535; 0: the kernel picks one (tina_serve_port says which) */
    uint32_t backlog;      /* listen(2) backlog, 1..INT_MAX, per listener; 0: 4096 */
    uint32_t conn_type_id; /* the isolate type started for each connection */
    uint32_t report_child; /* static child index: its instance on shard 0 gets the report */
    uint32_t report_tag;   /* the report's tag, TINA_TAG_USER..0xffff; 0: no report */
    uint32_t reuseport;    /* 0: shard 0 accepts and hands off; else every shard listens
                              with SO_REUSEPORT and accepts for itself */
    /* The service's: set by tina_serve_check (self by tina_serve_child too). */
    uint32_t child_index;  /* the service's static child */
    uint32_t address;      /* host, parsed: IPv4, network byte order */
    uint32_t checked;      /* non-zero once tina_serve_check passed */
    uint32_t reserved;
    struct tina_serve *self; /* the static child's args: this struct's address */
    /* The service's, as it runs; tina_serve_check zeroes them.  bound_port
     * is stored atomically: read it with tina_serve_port(), from any
     * thread; listeners and (with reuseport) accepted are added to
     * atomically, by every shard.  Each of the others is written by one
     * shard.  All are exact after tina_run returns: then, with handoff,
     * accepted = handed + refused, and handed = the sum of served and
     * dropped, less handoffs whose instance was gone on arrival (the
     * runtime counts those: fd_transfer_dropped); with reuseport nothing
     * is handed (handed = refused = 0), and accepted = the sum of served
     * and dropped, each shard counting what it accepted itself. */
    uint32_t bound_port;   /* the port listened on; 0 until then, or if it could not */
    int32_t result;        /* TINA_OK, or why the acceptor could not listen */
    int32_t error;         /* with TINA_ESYSTEM: the errno (EADDRINUSE: the port is taken) */
    uint32_t listeners;    /* listening sockets opened, every shard's (a restart opens
                              another): 1 with handoff, the shard count with reuseport */
    uint64_t accepted;     /* connections accepted: shard 0's, or every shard's (reuseport) */
    uint64_t handed;       /*   of which dealt to a shard (shard 0 included); reuseport: 0 */
    uint64_t refused;      /*   of which no shard took: closed; reuseport: 0 */
    uint64_t served[TINA_SHARD_COUNT_MAX];  /* by shard: isolates started with a connection */
    uint64_t dropped[TINA_SHARD_COUNT_MAX]; /* by shard: dealt there (or accepted there), no
                                               room: closed */
} tina_serve;
TINA__STATIC_ASSERT(sizeof(tina_serve) == 96 + 16 * TINA_SHARD_COUNT_MAX,
                    "settings, the service's fields and its counters, with no padding");

/* The payload of the acceptor's report. */
typedef struct tina_serve_report {
    int32_t result;    /* TINA_OK: listening; else why not, as tina_serve.result */
    int32_t error;     /* with TINA_ESYSTEM: the errno, as tina_serve.error */
    uint32_t port;     /* the port listened on; 0 if it could not */
    uint32_t reserved;
} tina_serve_report;

/* The service's isolate type, for tina_spec.types at an index of the
 * application's choice: "acceptor", one slot per shard, a mailbox of 4096
 * (handoffs queue there).  The fields may be changed; slots_per_shard
 * must cover every service that uses the type. */
tina_type_spec tina_serve_type(void);

/* The service's static child, for tina_spec.children: type_id is where
 * tina_serve_type() went.  One instance on every shard, restarted after a
 * crash only (TINA_RESTART_TRANSIENT), root group; its args carry the
 * address of *serve. */
tina_child_spec tina_serve_child(tina_serve *serve, uint32_t type_id);

/* Check *serve against the finished spec, before tina_create, and ready
 * it for a run: parse host, find the service's child, zero the port,
 * result and counters.  An acceptor whose tina_serve was not checked does
 * not listen (result TINA_ESTATE).  Returns TINA_OK; TINA_EIO_OFF
 * (spec->fd_slots is 0); or TINA_EINVAL: a NULL argument, host not a
 * dotted IPv4 address, port over 65535, backlog over INT_MAX, not exactly
 * one child from tina_serve_child(serve), that child not on
 * TINA_SHARD_EVERY or not of a type from tina_serve_type(), conn_type_id
 * not a type of the spec or the service's own, report_tag neither 0 nor a
 * user tag, report_child not a child on shard 0 or on every shard.
 * report (may be NULL) is zeroed; on an error its message names the
 * setting.  (Only two things make an instance's init fail, the result
 * negated as its reason: args that are no tina_serve pointer -- a child not
 * made by tina_serve_child: 4, TINA_EINVAL -- and the acceptor's first
 * message to itself refused.) */
TINA_WUR tina_result tina_serve_check(tina_serve *serve, const tina_spec *spec,
                                      tina_boot_report *report);

/* The port the service listens on; 0 until it does, or if it could not.
 * Safe from any thread. */
uint16_t tina_serve_port(const tina_serve *serve);

#ifdef __cplusplus
}
#endif
#endif /* TINA_H */
