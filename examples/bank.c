/*
 * bank -- money moves between accounts on four shards while the simulator
 * crashes, drops, delays, partitions and stalls everything it can; a
 * checker proves that no money is created or lost.
 *
 *   bank [--seed=N | --seeds=N] [--broken]
 *
 * Accounts are isolates: 8 per shard on 4 shards, 1000 each.  Two tellers
 * per shard each make 40 transfers, one after the other, between accounts
 * picked at random anywhere (tina_random, which the simulator seeds).  A
 * transfer is two calls across shards: DEBIT the source, then CREDIT the
 * destination.  Every run is simulated (tina_simulate) with every fault
 * of the "all" profile on and the shard order shuffled each round.
 *
 * The durable store.  An isolate's struct is lost when it crashes (the
 * runtime restarts it in a zeroed struct), so what must survive lives in
 * a "disk" record: a static array indexed by (shard, index), which the
 * struct only points to.  A handler writes its disk in the same call that
 * decides.  An injected crash replaces the handler's effect after it ran,
 * so "committed to disk, but the reply is lost" happens all the time:
 * that is the case the protocol is for.
 *
 * The protocol (idempotent transfers).  Teller t journals transfer s
 * {seq, from, to, amount, stage} on its disk before the first call, then
 *
 *   stage DEBIT:  call from  DEBIT{t, s, amount}   -> OK | REFUSED
 *   stage CREDIT: call to    CREDIT{t, s, amount}  -> OK
 *
 * A timeout or a call that failed at once (the latter after a short timer
 * backoff, so it does not spin) retries the same step with the same seq; a
 * teller restarted from its journal re-issues the stage it was in.  Both
 * are safe because accounts deduplicate: each keeps, per teller, the last
 * DEBIT seq applied with its result and the amount taken, and the last
 * CREDIT seq applied; a repeat of that seq gets the stored result again
 * and changes nothing.  REFUSED (insufficient funds) or a credit's OK
 * ends transfer s; the teller journals s + 1.
 *
 * Handles.  A restarted account has a new handle, so tellers look accounts
 * up in a directory, g_dir, written by each account's init.  That is a
 * simulation-only shortcut: the simulator runs every shard on one thread,
 * so a plain static array is a coherent registry (under tina_run it would
 * be a data race; the dispatcher example shows check-in messages instead).
 * A call to a stale handle fails at once (same shard) or times out (the
 * message is dropped on arrival); the retry reads the directory again.
 *
 * The invariant, checked every 200 rounds and at the end (config.check):
 *
 *   sum of disk balances + sum over tellers of money in flight = 32 x 1000
 *
 * where teller t's money in flight is the amount its current transfer took
 * from `from` (from's last DEBIT of t has the journal's seq and was OK)
 * and `to` has not yet been credited (to's last CREDIT of t is another
 * seq).  The checker reads the static disk arrays directly, not through the
 * isolates: a dead account (between its crash and its restart) still holds
 * money.  It uses tina_sim_each to check what the live isolates must
 * satisfy: each points at its own disk record, and the directory names
 * every live account's current handle.  After the run, every teller must
 * have finished its 40 transfers (liveness) and no shard may have been
 * quarantined; the run ends quiescent once the tellers are done.
 *
 * --broken: the account's DEBIT forgets to deduplicate.  A retry after a
 * lost reply (crash after commit, dropped reply, partition) takes the money
 * a second time, while the in-flight rule still counts it once: money
 * disappears.  Without faults nothing is ever retried and the bug hides;
 * with them a sweep finds it, and the program prints the command that
 * replays the failing seed.  Exit status 0 when every run passed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tina.h"

#define SHARDS 4u
#define ACCOUNTS_PER_SHARD 8u
#define TELLERS_PER_SHARD 2u
#define ACCOUNTS (SHARDS * ACCOUNTS_PER_SHARD)
#define TELLERS (SHARDS * TELLERS_PER_SHARD)
#define BALANCE_INITIAL 1000
#define MONEY_TOTAL ((int64_t)ACCOUNTS * BALANCE_INITIAL)
#define TRANSFERS_PER_TELLER 40u
#define AMOUNT_MAX 600u                /* amounts are 1..AMOUNT_MAX: some are refused */
#define CALL_TIMEOUT_NS 5000000ull     /* 5 ms simulated: longer than any partition */
#define BACKOFF_NS 200000ull           /* after a call that failed at once */
#define CHECK_EVERY_ROUNDS 200u
#define ROUND_LIMIT 2000000ull         /* a safety net: a good run needs a few thousand */
#define FAILING_KEPT 16u               /* failing seeds a sweep remembers */

_Static_assert(TELLERS <= 16u, "the account disk record keeps one entry per teller");
_Static_assert(AMOUNT_MAX < BALANCE_INITIAL, "a fresh account can pay any transfer");

enum { TYPE_ACCOUNT = 0, TYPE_TELLER = 1 };
enum { TAG_KICK = TINA_TAG_USER, TAG_BACKOFF, TAG_DEBIT, TAG_CREDIT, TAG_RESULT };
enum { RESULT_NONE = 0, RESULT_OK = 1, RESULT_REFUSED = 2, RESULT_STALE = 3 };
enum { STAGE_NEW = 0, STAGE_DEBIT = 1, STAGE_CREDIT = 2, STAGE_FINISHED = 3 };

/* ---- the durable store -------------------------------------------------------- */

/* One account's disk.  Index [t] is teller t's dedupe entry: seqs start at
 * 1, so the zeroed record means "nothing applied yet". */
struct account_disk {
    int64_t balance;
    uint32_t last_debit_seq[TELLERS];  /* the last DEBIT of teller t applied */
    uint32_t debit_result[TELLERS];    /* its result, replayed to a retry */
    int64_t debited_amount[TELLERS];   /* what it took: 0 when refused */
    uint32_t last_credit_seq[TELLERS]; /* the last CREDIT of teller t applied */
};

/* One teller's disk: the journal of its current transfer. */
struct teller_disk {
    uint32_t seq;      /* the transfer in progress, from 1 */
    uint32_t stage;    /* STAGE_* */
    uint32_t from, to; /* global account indexes */
    int64_t amount;
    uint32_t finished; /* transfers ended: credited or refused */
};

static struct account_disk g_disk[ACCOUNTS];
static struct teller_disk g_tdisk[TELLERS];
static tina_handle g_dir[ACCOUNTS]; /* current handle of each account (see the header) */
static int g_broken;                /* --broken: DEBIT does not deduplicate */

/* One run's counters; like the disks, they survive crashes. */
static struct bank_counts {
    uint64_t done;     /* transfers credited */
    uint64_t refused;  /* transfers refused for insufficient funds */
    uint64_t retries;  /* steps issued again: timeouts plus calls failed at once */
    uint64_t timeouts; /* calls that timed out */
    uint64_t failed;   /* calls that failed at once (stale handle, full channel) */
    uint64_t replayed; /* repeats an account answered from its dedupe entry */
} g_count;

static void bank_reset(void) {
    memset(g_disk, 0, sizeof(g_disk));
    memset(g_tdisk, 0, sizeof(g_tdisk));
    memset(g_dir, 0, sizeof(g_dir));
    memset(&g_count, 0, sizeof(g_count));
    for (uint32_t a = 0; a < ACCOUNTS; a++) g_disk[a].balance = BALANCE_INITIAL;
}

/* What a teller asks, and what an account answers. */
struct order {
    uint32_t teller;
    uint32_t seq;
    int64_t amount;
};
struct outcome {
    uint32_t seq;
    uint32_t result; /* RESULT_* */
};

/* ---- account -------------------------------------------------------------------- */

typedef struct account {
    struct account_disk *disk;
    uint32_t id;         /* global account index */
    struct outcome out;  /* the reply's payload: copied when the handler returns */
} account;

static uint32_t account_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    account *a = self;
    uint32_t index;
    if (size != sizeof(index)) return 1;
    memcpy(&index, args, sizeof(index));
    a->id = tina_shard_id(ctx) * ACCOUNTS_PER_SHARD + index;
    a->disk = &g_disk[a->id];
    g_dir[a->id] = tina_self(ctx);
    return 0;
}

static uint32_t account_debit(struct account_disk *d, const struct order *o) {
    uint32_t t = o->teller;
    if (!g_broken && o->seq <= d->last_debit_seq[t]) {
        if (o->seq < d->last_debit_seq[t]) return RESULT_STALE; /* its caller moved on */
        g_count.replayed++;
        return d->debit_result[t];
    }
    int pays = d->balance >= o->amount;
    if (pays) d->balance -= o->amount;
    d->last_debit_seq[t] = o->seq;
    d->debit_result[t] = pays ? RESULT_OK : RESULT_REFUSED;
    d->debited_amount[t] = pays ? o->amount : 0;
    return d->debit_result[t];
}

static uint32_t account_credit(struct account_disk *d, const struct order *o) {
    uint32_t t = o->teller;
    if (o->seq <= d->last_credit_seq[t]) {
        if (o->seq < d->last_credit_seq[t]) return RESULT_STALE;
        g_count.replayed++;
        return RESULT_OK;
    }
    d->balance += o->amount;
    d->last_credit_seq[t] = o->seq;
    return RESULT_OK;
}

static tina_effect account_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    account *a = self;
    (void)ctx;
    struct order o;
    if (msg->kind != TINA_MSG_CALL || msg->size != sizeof(o)) return tina_receive();
    memcpy(&o, msg->payload, sizeof(o));
    if (o.teller >= TELLERS || o.seq == 0 || o.amount <= 0) return tina_receive();
    a->out.seq = o.seq;
    a->out.result = msg->tag == TAG_DEBIT ? account_debit(a->disk, &o)
                                          : account_credit(a->disk, &o);
    return tina_reply(TAG_RESULT, &a->out, sizeof(a->out));
}

/* ---- teller ---------------------------------------------------------------------- */

typedef struct teller {
    struct teller_disk *disk;
    uint32_t id;          /* global teller index */
    uint32_t waiting;     /* a kick or backoff timer is armed: the next step is its */
    struct order out;     /* the call's payload: copied when the handler returns */
} teller;

static uint32_t teller_init(void *self, tina_ctx *ctx, const void *args, size_t size) {
    teller *t = self;
    uint32_t index;
    if (size != sizeof(index)) return 1;
    memcpy(&index, args, sizeof(index));
    t->id = tina_shard_id(ctx) * TELLERS_PER_SHARD + index;
    t->disk = &g_tdisk[t->id];
    /* Resume from the journal on the first handler call. */
    tina_timer_id id;
    t->waiting = 1;
    return tina_timer_set(ctx, 0, 0, TAG_KICK, &id) == TINA_OK ? 0 : 2;
}

/* Journal the next transfer; the caller issues its first step. */
static void teller_journal_next(teller *t, tina_ctx *ctx) {
    struct teller_disk *d = t->disk;
    uint64_t r = tina_random(ctx);
    uint32_t from = (uint32_t)(r % ACCOUNTS);
    uint32_t to = (uint32_t)((r >> 16) % (ACCOUNTS - 1));
    if (to >= from) to++;
    d->seq++;
    d->from = from;
    d->to = to;
    d->amount = 1 + (int64_t)((r >> 32) % AMOUNT_MAX);
    d->stage = STAGE_DEBIT;
}

/* Issue the journal's step: a call to the account's current handle. */
static tina_effect teller_step(teller *t, tina_ctx *ctx) {
    struct teller_disk *d = t->disk;
    if (d->stage == STAGE_NEW) teller_journal_next(t, ctx);
    if (d->stage == STAGE_FINISHED) return tina_receive();
    int debit = d->stage == STAGE_DEBIT;
    t->out = (struct order){.teller = t->id, .seq = d->seq, .amount = d->amount};
    return tina_call(g_dir[debit ? d->from : d->to], debit ? TAG_DEBIT : TAG_CREDIT, &t->out,
                     sizeof(t->out), CALL_TIMEOUT_NS);
}

/* Transfer d->seq has ended: journal the next one, or finish. */
static tina_effect teller_next(teller *t, tina_ctx *ctx) {
    struct teller_disk *d = t->disk;
    if (++d->finished >= TRANSFERS_PER_TELLER) {
        d->stage = STAGE_FINISHED;
        return tina_receive();
    }
    teller_journal_next(t, ctx);
    return teller_step(t, ctx);
}

static tina_effect teller_on_outcome(teller *t, tina_ctx *ctx, const tina_msg *msg) {
    struct teller_disk *d = t->disk;
    struct outcome o;
    if (msg->size != sizeof(o)) return teller_step(t, ctx);
    memcpy(&o, msg->payload, sizeof(o));
    if (o.seq != d->seq) return teller_step(t, ctx); /* not ours: the call ids rule it out */
    if (d->stage == STAGE_DEBIT && o.result == RESULT_OK) {
        d->stage = STAGE_CREDIT;
        return teller_step(t, ctx);
    }
    if (d->stage == STAGE_DEBIT && o.result == RESULT_REFUSED) {
        g_count.refused++;
        return teller_next(t, ctx);
    }
    if (d->stage == STAGE_CREDIT && o.result == RESULT_OK) {
        g_count.done++;
        return teller_next(t, ctx);
    }
    return teller_step(t, ctx);
}

static tina_effect teller_handle(void *self, tina_ctx *ctx, const tina_msg *msg) {
    teller *t = self;
    tina_timer_id id;
    switch (msg->tag) {
    case TAG_KICK:
    case TAG_BACKOFF:
        if (!t->waiting) return tina_receive();
        t->waiting = 0;
        return teller_step(t, ctx);
    case TINA_TAG_CALL_TIMEOUT:
        g_count.timeouts++;
        g_count.retries++;
        return teller_step(t, ctx);
    case TINA_TAG_CALL_FAILED:
        /* Stale handle (the account is restarting) or a full channel:
         * wait a little, then read the directory again. */
        g_count.failed++;
        g_count.retries++;
        if (tina_timer_set(ctx, BACKOFF_NS, 0, TAG_BACKOFF, &id) != TINA_OK) return tina_crash(3);
        t->waiting = 1;
        return tina_receive();
    case TAG_RESULT:
        if (msg->kind == TINA_MSG_REPLY) return teller_on_outcome(t, ctx, msg);
        return tina_receive();
    default:
        return tina_receive();
    }
}

/* ---- the checker ------------------------------------------------------------------- */

/* The money teller t's current transfer has taken and not yet given. */
static int64_t teller_in_flight(uint32_t t) {
    const struct teller_disk *j = &g_tdisk[t];
    const struct account_disk *from = &g_disk[j->from], *to = &g_disk[j->to];
    if (from->last_debit_seq[t] != j->seq || from->debit_result[t] != RESULT_OK) return 0;
    if (to->last_credit_seq[t] == j->seq) return 0;
    return from->debited_amount[t];
}

struct live_check {
    uint32_t seen;
    uint32_t wrong; /* live isolates that contradict their disk or the directory */
    char what[96];
};

static void live_account(void *acc, tina_handle h, const void *state) {
    struct live_check *c = acc;
    const account *a = state;
    c->seen++;
    if (a->id < ACCOUNTS && a->disk == &g_disk[a->id] &&
        a->id / ACCOUNTS_PER_SHARD == tina_handle_shard(h) && g_dir[a->id] == h)
        return;
    if (c->wrong++ == 0)
        snprintf(c->what, sizeof(c->what), "account %u (handle %016" PRIx64 ", directory %016"
                 PRIx64 ")", a->id, h, a->id < ACCOUNTS ? g_dir[a->id] : 0);
}

static void live_teller(void *acc, tina_handle h, const void *state) {
    struct live_check *c = acc;
    const teller *t = state;
    c->seen++;
    if (t->id < TELLERS && t->disk == &g_tdisk[t->id] &&
        t->id / TELLERS_PER_SHARD == tina_handle_shard(h))
        return;
    if (c->wrong++ == 0)
        snprintf(c->what, sizeof(c->what), "teller %u (handle %016" PRIx64 ")", t->id, h);
}

static int money_check(void *user, const tina_runtime *rt, char *why, size_t why_size) {
    (void)user;
    int64_t balances = 0, in_flight = 0;
    for (uint32_t a = 0; a < ACCOUNTS; a++) {
        balances += g_disk[a].balance;
        if (g_disk[a].balance >= 0) continue;
        snprintf(why, why_size, "overdrawn: account %u has %" PRId64, a, g_disk[a].balance);
        return 1;
    }
    for (uint32_t t = 0; t < TELLERS; t++) in_flight += teller_in_flight(t);
    if (balances + in_flight != MONEY_TOTAL) {
        snprintf(why, why_size, "money not conserved: expected %" PRId64 ", found %" PRId64
                 " (balances %" PRId64 " + in flight %" PRId64 ")", MONEY_TOTAL,
                 balances + in_flight, balances, in_flight);
        return 1;
    }
    struct live_check c = {0};
    tina_sim_each(rt, TYPE_ACCOUNT, live_account, &c);
    tina_sim_each(rt, TYPE_TELLER, live_teller, &c);
    if (c.wrong == 0) return 0;
    snprintf(why, why_size, "%u live isolates disagree with their disk or the directory: %s",
             c.wrong, c.what);
    return 1;
}

/* ---- one run, and a sweep -------------------------------------------------------------- */

static tina_spec bank_spec(void) {
    static const uint32_t index[ACCOUNTS_PER_SHARD] = {0, 1, 2, 3, 4, 5, 6, 7};
    static tina_type_spec types[2];
    static tina_child_spec children[ACCOUNTS_PER_SHARD + TELLERS_PER_SHARD];
    static const tina_group_spec groups[] = {
        /* Generous: injected crashes must never escalate to a quarantine. */
        {.parent = TINA_GROUP_NONE, .strategy = TINA_ONE_FOR_ONE, .restart_max = 1000,
         .window_ns = 1000000000ull}};
    types[TYPE_ACCOUNT] = (tina_type_spec){
        .name = "account", .struct_size = sizeof(account), .slots_per_shard = ACCOUNTS_PER_SHARD,
        .mailbox_capacity = 32, .init = account_init, .handler = account_handle};
    types[TYPE_TELLER] = (tina_type_spec){
        .name = "teller", .struct_size = sizeof(teller), .slots_per_shard = TELLERS_PER_SHARD,
        .mailbox_capacity = 8, .init = teller_init, .handler = teller_handle};
    for (uint32_t k = 0; k < ACCOUNTS_PER_SHARD + TELLERS_PER_SHARD; k++) {
        uint32_t is_teller = k >= ACCOUNTS_PER_SHARD;
        children[k] = (tina_child_spec){
            .type_id = is_teller ? TYPE_TELLER : TYPE_ACCOUNT, .shard = TINA_SHARD_EVERY,
            .restart = TINA_RESTART_PERMANENT, .args_size = sizeof(uint32_t),
            .args = &index[is_teller ? k - ACCOUNTS_PER_SHARD : k]};
    }
    /* Small pools and tables: each seed builds and frees a runtime. */
    return (tina_spec){.types = types, .type_count = 2, .children = children,
                       .child_count = ACCOUNTS_PER_SHARD + TELLERS_PER_SHARD, .groups = groups,
                       .group_count = 1, .shard_count = SHARDS, .pool_user_slots = 256,
                       .pool_system_slots = 64, .ring_slots = 64, .timer_slots = 64,
                       .timer_wheel_slots = 256, .log_entries = 64, .monitor_slots = 16,
                       .no_signal_handlers = 1, .log_level = TINA_LOG_WARN};
}

/* One run's verdict. */
struct bank_run {
    tina_sim_report report;
    struct bank_counts count;
    uint32_t finished;  /* transfers ended over every teller */
    int ok;
    char why[224];      /* when not ok */
};

static void bank_judge(struct bank_run *run) {
    const tina_sim_report *r = &run->report;
    run->finished = 0;
    for (uint32_t t = 0; t < TELLERS; t++) run->finished += g_tdisk[t].finished;
    run->ok = 0;
    if (r->reason == TINA_SIM_CHECKER)
        snprintf(run->why, sizeof(run->why), "checker: %s", r->failure);
    else if (r->total.quarantines != 0)
        snprintf(run->why, sizeof(run->why), "%" PRIu64 " quarantines", r->total.quarantines);
    else if (r->reason != TINA_SIM_QUIESCENT)
        snprintf(run->why, sizeof(run->why), "the run did not end by itself (reason %u)",
                 r->reason);
    else if (run->finished != TELLERS * TRANSFERS_PER_TELLER)
        snprintf(run->why, sizeof(run->why), "liveness: %u of %u transfers finished",
                 run->finished, TELLERS * TRANSFERS_PER_TELLER);
    else
        run->ok = 1;
}

/* Simulate one seed (TINA_SEED, if set, overrides it) with a fault profile. */
static tina_result bank_simulate(uint64_t seed, int broken, const char *faults,
                                 struct bank_run *run) {
    tina_spec spec = bank_spec();
    tina_sim_config config = {.seed = seed, .shuffle = 1, .round_limit = ROUND_LIMIT,
                              .check_every_rounds = CHECK_EVERY_ROUNDS, .check = money_check};
    tina_result r = tina_sim_faults(&config, faults);
    if (r != TINA_OK) return r;
    g_broken = broken;
    bank_reset(); /* a fresh disk for every run: a sweep runs many in one process */
    memset(run, 0, sizeof(*run));
    r = tina_simulate(&spec, &config, &run->report);
    if (r != TINA_OK) return r;
    run->count = g_count;
    bank_judge(run);
    return TINA_OK;
}

struct bank_sweep {
    uint32_t runs;
    uint32_t failing;          /* runs that were not ok */
    uint32_t failing_checker;  /*   of which the checker stopped */
    uint64_t failing_seed[FAILING_KEPT];
    uint64_t failing_digest[FAILING_KEPT];
    char failing_why[FAILING_KEPT][224];
    struct bank_counts count;  /* summed over every run */
    uint64_t faults_injected;  /* crashes, init failures, drops, stalls, partitions */
    uint64_t restarts;
};

/* Seeds first .. first + count - 1.  TINA_SEED would pin every run to one
 * seed, so a sweep ignores it, as tina_simulate_sweep does. */
static tina_result bank_sweep(uint64_t first, uint32_t count, int broken, const char *faults,
                              struct bank_sweep *out) {
    memset(out, 0, sizeof(*out));
    unsetenv("TINA_SEED");
    for (uint32_t k = 0; k < count; k++) {
        struct bank_run run;
        tina_result r = bank_simulate(first + k, broken, faults, &run);
        if (r != TINA_OK) return r;
        const tina_sim_report *rep = &run.report;
        out->runs++;
        out->faults_injected += rep->crashes_injected + rep->init_failures_injected +
                                rep->drops_injected + rep->stalls_injected +
                                rep->partitions_injected;
        out->restarts += rep->total.restarts;
        out->count.done += run.count.done;
        out->count.refused += run.count.refused;
        out->count.retries += run.count.retries;
        out->count.timeouts += run.count.timeouts;
        out->count.failed += run.count.failed;
        out->count.replayed += run.count.replayed;
        if (run.ok) continue;
        if (out->failing < FAILING_KEPT) {
            out->failing_seed[out->failing] = rep->seed;
            out->failing_digest[out->failing] = rep->digest;
            memcpy(out->failing_why[out->failing], run.why, sizeof(run.why));
        }
        out->failing++;
        out->failing_checker += rep->reason == TINA_SIM_CHECKER;
    }
    return TINA_OK;
}

/* ---- main ---------------------------------------------------------------------------------- */

#ifndef BANK_NO_MAIN
#include "flags.h"

static void print_counts(const struct bank_counts *c) {
    printf("transfers: done %" PRIu64 ", refused (insufficient funds) %" PRIu64
           ", retries %" PRIu64 " (timeouts %" PRIu64 ", failed at once %" PRIu64
           "), answered from dedupe %" PRIu64 "\n",
           c->done, c->refused, c->retries, c->timeouts, c->failed, c->replayed);
}

static void print_replay(uint64_t seed) {
    printf("  replay: TINA_SEED=0x%llx build/examples/bank%s\n", (unsigned long long)seed,
           g_broken ? " --broken" : "");
}

static int run_one(uint64_t seed, int broken) {
    struct bank_run run;
    tina_result r = bank_simulate(seed, broken, "all", &run);
    if (r != TINA_OK) {
        fprintf(stderr, "bank: %s\n", tina_strerror(r));
        return 1;
    }
    const tina_sim_report *rep = &run.report;
    print_counts(&run.count);
    printf("faults injected: crashes %" PRIu64 ", init failures %" PRIu64 ", drops %" PRIu64
           ", stalls %" PRIu64 ", partitions %" PRIu64 " (healed %" PRIu64 ", messages lost %"
           PRIu64 ")\n", rep->crashes_injected, rep->init_failures_injected, rep->drops_injected,
           rep->stalls_injected, rep->partitions_injected, rep->partitions_healed,
           rep->partition_drops[0] + rep->partition_drops[1]);
    printf("runtime: restarts %" PRIu64 ", quarantines %" PRIu64 ", call timeouts %" PRIu64
           ", late replies %" PRIu64 ", dropped stale %" PRIu64 ", watchdog reports %" PRIu64 "\n",
           rep->total.restarts, rep->total.quarantines, rep->total.call_timeouts,
           rep->total.late_replies, rep->total.dropped_stale, rep->watchdog_reports);
    char line[320];
    tina_sim_summary(rep, line, sizeof(line));
    printf("%s\n", line);
    if (run.ok) {
        printf("bank: ok: %" PRId64 " conserved, %u of %u transfers finished\n", MONEY_TOTAL,
               run.finished, TELLERS * TRANSFERS_PER_TELLER);
        return 0;
    }
    printf("bank: FAILED: %s\n", run.why);
    print_replay(rep->seed);
    return 1;
}

static int run_sweep(uint64_t first, uint32_t count, int broken) {
    static struct bank_sweep sweep;
    tina_result r = bank_sweep(first, count, broken, "all", &sweep);
    if (r != TINA_OK) {
        fprintf(stderr, "bank: %s\n", tina_strerror(r));
        return 1;
    }
    if (sweep.failing > FAILING_KEPT) printf("the first %u failing seeds:\n", FAILING_KEPT);
    for (uint32_t k = 0; k < sweep.failing && k < FAILING_KEPT; k++) {
        printf("seed 0x%llx: %s\n", (unsigned long long)sweep.failing_seed[k],
               sweep.failing_why[k]);
        print_replay(sweep.failing_seed[k]);
    }
    print_counts(&sweep.count);
    printf("faults injected %" PRIu64 ", restarts %" PRIu64 "\n", sweep.faults_injected,
           sweep.restarts);
    printf("bank: %u seeds from %llu%s, %u failing (%u by the checker)\n", sweep.runs,
           (unsigned long long)first, broken ? " (broken)" : "", sweep.failing,
           sweep.failing_checker);
    return sweep.failing ? 1 : 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bank [--seed=N | --seeds=N] [--broken]\n"
               "\n"
               "%u accounts on %u shards move money in %u transfers under the deterministic\n"
               "simulator with every fault on; a checker proves no money is made or lost.\n"
               "\n"
               "  --seed=N   simulate this seed, 1..2^64-1 (default 1; the environment\n"
               "             variable TINA_SEED overrides it) and print the counters and\n"
               "             the report\n"
               "  --seeds=N  sweep N seeds, 1..1000000, from --seed, and print the command\n"
               "             that replays each failing one (TINA_SEED is ignored)\n"
               "  --broken   accounts forget to deduplicate DEBIT retries: faults make\n"
               "             money disappear, and the checker must say so\n"
               "  --help     this text\n"
               "\n"
               "Exit status 0 when every run conserved money and finished every transfer;\n"
               "1 when one did not; 2 for a bad flag.\n",
            ACCOUNTS, SHARDS, TELLERS * TRANSFERS_PER_TELLER);
}

int main(int argc, char **argv) {
    uint64_t seed = 1, seeds = 0;
    uint32_t broken = 0;
    flags_help(argc, argv, usage);
    flags f = {.program = "bank"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!flag_switch(&f, arg, "--broken", &broken) &&
            !flag_u64(&f, arg, "--seeds", 1, 1000000, &seeds) &&
            !flag_u64(&f, arg, "--seed", 1, UINT64_MAX, &seed))
            flag_unknown(&f, arg);
    }
    flags_end(&f);
    g_broken = broken;
    return seeds ? run_sweep(seed, (uint32_t)seeds, broken) : run_one(seed, broken);
}

#endif /* BANK_NO_MAIN */
