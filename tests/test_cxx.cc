/*
 * test_cxx.cc -- include/tina.h is usable from C++: it compiles as C++11
 * under g++ and clang++ with -Wall -Wextra -Werror -pedantic (the Makefile
 * builds this file with each), its structs keep their C layout, its inline
 * effect builders give what the runtime expects, and a C++ program links
 * against libtina.a and runs a spec under the simulator: a call across
 * shards, answered by tina_reply, and a recv effect with a deadline.
 *
 * A plain program (no Criterion): it prints a Criterion-style synthesis
 * line for `make test` and exits 1 if a check failed.
 */
#include <tina.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

static_assert(sizeof(tina_msg) == 128, "the envelope is two cache lines in C++ too");
static_assert(offsetof(tina_msg, payload) == 32, "the payload starts where C puts it");
static_assert(alignof(tina_msg) == 8, "the envelope is 8-byte aligned");
static_assert(sizeof(tina_effect) == 32, "an effect is as large as in C");
static_assert(TINA_OK == 0, "TINA_OK is 0");

static int g_tested, g_failing;

static void check(bool ok, const char *what, unsigned long long got, unsigned long long want) {
    g_tested++;
    if (ok) return;
    g_failing++;
    std::printf("[FAIL] cxx::%s: got %llu, want %llu\n", what, got, want);
}
#define CHECK_EQ(what, got, want) \
    check((unsigned long long)(got) == (unsigned long long)(want), what, \
          (unsigned long long)(got), (unsigned long long)(want))

static void check_inline_builders() {
    tina_handle h = tina_handle_make(3, 7, 12345, 42);
    CHECK_EQ("handle_shard", tina_handle_shard(h), 3);
    CHECK_EQ("handle_type", tina_handle_type(h), 7);
    CHECK_EQ("handle_slot", tina_handle_slot(h), 12345);
    CHECK_EQ("handle_generation", tina_handle_generation(h), 42);

    static const char ping[] = "ping";
    tina_effect call = tina_call(h, TINA_TAG_USER + 1, ping, sizeof(ping), 5000);
    CHECK_EQ("call_kind", call.kind, TINA_EFFECT_CALL);
    CHECK_EQ("call_to", call.call.to, h);
    CHECK_EQ("call_size", call.call.size, sizeof(ping));
    CHECK_EQ("call_timeout", call.call.timeout_ns, 5000);
    tina_effect reply = tina_reply(TINA_TAG_USER + 2, ping, 300);
    CHECK_EQ("reply_kind", reply.kind, TINA_EFFECT_REPLY);
    CHECK_EQ("reply_size_capped", reply.reply.size, 255);

    tina_effect recv = tina_io_timeout(tina_io_recv(9, 512), 1000000);
    CHECK_EQ("recv_kind", recv.kind, TINA_EFFECT_IO);
    CHECK_EQ("recv_op", recv.io.op, TINA_IO_RECV);
    CHECK_EQ("recv_timeout", recv.io.timeout_ns, 1000000);
    tina_effect close = tina_io_timeout(tina_io_close(9), 1000000);
    CHECK_EQ("close_timeout_refused", close.io.op, TINA_IO_OP_COUNT);
    CHECK_EQ("crash_reason", tina_crash(6).crash.reason, 6);
    CHECK_EQ("done_kind", tina_done().kind, TINA_EFFECT_DONE);
}

/* ---- a caller on shard 0 calls an answerer on shard 1 ---------------------- */

enum { TAG_ASK = TINA_TAG_USER, TAG_ANSWER };
static const uint32_t ANSWER = 42;
static uint32_t g_answers_received, g_answer;

static uint32_t caller_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    (void)self, (void)args, (void)size;
    return tina_send(ctx, tina_self(ctx), TAG_ASK, nullptr, 0) == TINA_OK ? 0 : 1;
}

static tina_effect caller_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self;
    if (msg->tag == TAG_ASK) /* the answerer is child 1, on shard 1 */
        return tina_call(tina_child_handle(ctx, 1, 1), TAG_ASK, nullptr, 0, 1000000000ull);
    if (msg->kind == TINA_MSG_REPLY && msg->tag == TAG_ANSWER) {
        std::memcpy(&g_answer, msg->payload, sizeof(g_answer));
        g_answers_received++;
    }
    tina_request_stop(ctx);
    return tina_receive();
}

static tina_effect answerer_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    (void)self, (void)ctx;
    if (msg->kind == TINA_MSG_CALL) return tina_reply(TAG_ANSWER, &ANSWER, sizeof(ANSWER));
    return tina_receive();
}

static void check_simulated_call() {
    tina_type_spec types[2] = {};
    types[0].name = "caller";
    types[0].struct_size = 8;
    types[0].slots_per_shard = 1;
    types[0].init = caller_init;
    types[0].handler = caller_handle;
    types[1].name = "answerer";
    types[1].struct_size = 8;
    types[1].slots_per_shard = 1;
    types[1].handler = answerer_handle;
    tina_child_spec children[2] = {};
    children[0].type_id = 0;
    children[0].shard = 0;
    children[1].type_id = 1;
    children[1].shard = 1;
    tina_spec spec = {};
    spec.types = types;
    spec.type_count = 2;
    spec.children = children;
    spec.child_count = 2;
    spec.shard_count = 2;
    spec.log_level = TINA_LOG_WARN;

    tina_sim_config config = {};
    config.seed = 7;
    config.round_limit = 100000;
    tina_sim_report report;
    tina_result r = tina_simulate(&spec, &config, &report);
    CHECK_EQ("simulate_result", r, TINA_OK);
    CHECK_EQ("simulate_reason", report.reason, TINA_SIM_STOPPED);
    CHECK_EQ("answers_received", g_answers_received, 1);
    CHECK_EQ("answer", g_answer, ANSWER);
}

int main() {
    check_inline_builders();
    check_simulated_call();
    std::printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n",
                g_tested, g_tested - g_failing, g_failing);
    return g_failing ? 1 : 0;
}
