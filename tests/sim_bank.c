/*
 * sim_bank.c -- the bank example as a simulator property: money is
 * conserved on every seed with every fault on, and the broken variant (a
 * DEBIT that does not deduplicate retries) is found by the checker, only
 * when faults cause retries, on a seed that replays to the same failure.
 *
 * The example is compiled in whole (its main left out): the test drives
 * the same spec, handlers and checker through bank_simulate / bank_sweep.
 */
#include "helpers.h"

#define BANK_NO_MAIN
#include "../examples/bank.c"

#define TRANSFERS_PER_RUN (TELLERS * TRANSFERS_PER_TELLER)

Test(sim_bank, money_is_conserved_on_200_seeds_with_every_fault_on, .timeout = 120) {
    static struct bank_sweep s;
    H_ASSERT_RESULT(bank_sweep(1, 200, 0, "all", &s), TINA_OK);
    cr_assert(eq(u32, s.runs, 200));
    cr_assert(eq(u32, s.failing, 0), "first failing seed 0x%llx: %s",
              (unsigned long long)s.failing_seed[0], s.failing_why[0]);
    /* Every transfer of every run ended, one way or the other. */
    cr_assert(eq(u64, s.count.done + s.count.refused, 200ull * TRANSFERS_PER_RUN));
    cr_assert(ge(u64, s.count.refused, 1), "some transfers meet insufficient funds");
    /* And the faults were real: they forced retries, and some retries came
     * after the account had committed (answered from its dedupe entry). */
    cr_assert(ge(u64, s.faults_injected, 200), "faults injected: %llu",
              (unsigned long long)s.faults_injected);
    cr_assert(ge(u64, s.restarts, 1));
    cr_assert(ge(u64, s.count.timeouts, 1));
    cr_assert(ge(u64, s.count.replayed, 1));
}

Test(sim_bank, the_broken_bank_is_caught_and_its_seed_replays, .timeout = 120) {
    static struct bank_sweep s;
    H_ASSERT_RESULT(bank_sweep(1, 500, 1, "all", &s), TINA_OK);
    cr_assert(ge(u32, s.failing_checker, 1), "the bug is found within 500 seeds");
    cr_assert(le(u32, s.failing, 499), "but not on every seed: it needs a retry");
    cr_assert(eq(u32, s.failing, s.failing_checker), "every failure is the checker's: %s",
              s.failing_why[0]);
    uint64_t seed = s.failing_seed[0];
    cr_assert(eq(int, strncmp(s.failing_why[0], "checker: money not conserved", 28), 0), "%s",
              s.failing_why[0]);

    /* Run again, by its seed: the same failure, the same execution. */
    struct bank_run run;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(bank_simulate(seed, 1, "all", &run), TINA_OK);
    cr_assert(eq(u32, run.report.reason, TINA_SIM_CHECKER));
    cr_assert(eq(int, run.ok, 0));
    cr_assert(eq(str, run.why, s.failing_why[0]));
    cr_assert(eq(u64, run.report.digest, s.failing_digest[0]));

    /* And as the printed command does it: TINA_SEED wins over the config. */
    char text[32];
    snprintf(text, sizeof(text), "0x%llx", (unsigned long long)seed);
    setenv("TINA_SEED", text, 1);
    H_ASSERT_RESULT(bank_simulate(1u + seed, 1, "all", &run), TINA_OK);
    unsetenv("TINA_SEED");
    cr_assert(eq(u64, run.report.seed, seed));
    cr_assert(eq(u64, run.report.digest, s.failing_digest[0]));
    cr_assert(eq(u32, run.report.reason, TINA_SIM_CHECKER));
}

Test(sim_bank, the_broken_bank_hides_without_faults, .timeout = 60) {
    static struct bank_sweep s;
    H_ASSERT_RESULT(bank_sweep(1, 50, 1, "none", &s), TINA_OK);
    cr_assert(eq(u32, s.failing, 0), "seed 0x%llx: %s", (unsigned long long)s.failing_seed[0],
              s.failing_why[0]);
    cr_assert(eq(u64, s.count.retries, 0), "nothing is ever retried without faults");
    cr_assert(eq(u64, s.faults_injected, 0));
    cr_assert(eq(u64, s.count.done + s.count.refused, 50ull * TRANSFERS_PER_RUN));
}

Test(sim_bank, one_seed_is_one_execution, .timeout = 30) {
    struct bank_run a, b, c;
    unsetenv("TINA_SEED");
    H_ASSERT_RESULT(bank_simulate(7, 0, "all", &a), TINA_OK);
    H_ASSERT_RESULT(bank_simulate(7, 0, "all", &b), TINA_OK);
    H_ASSERT_RESULT(bank_simulate(8, 0, "all", &c), TINA_OK);
    cr_assert(eq(int, a.ok, 1), "%s", a.why);
    cr_assert(eq(u64, a.report.seed, 7));
    cr_assert(eq(u64, a.report.digest, b.report.digest));
    cr_assert(eq(u64, a.report.rounds, b.report.rounds));
    cr_assert(eq(u64, a.report.crashes_injected + a.report.drops_injected,
                 b.report.crashes_injected + b.report.drops_injected));
    cr_assert(eq(u64, a.count.retries, b.count.retries));
    cr_assert(eq(u64, a.count.done, b.count.done));
    cr_assert(ne(u64, a.report.digest, c.report.digest), "another seed, another execution");
}
