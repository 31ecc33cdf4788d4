/*
 * stress.h -- what the plain stress programs share (they are not
 * Criterion suites because Criterion's sandbox does not start under
 * ThreadSanitizer): a CHECK that counts failures, UNDER_TSAN, and a main
 * that runs the tests and prints a Criterion-style synthesis line so that
 * `make test` counts them with the rest.
 */
#ifndef TINA_TEST_STRESS_H
#define TINA_TEST_STRESS_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "[FAIL] %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
            failures++;                                                       \
        }                                                                     \
    } while (0)

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#endif

struct stress_test {
    const char *name;
    void (*run)(void);
};

static int stress_main(const char *suite, const struct stress_test *tests, int count) {
    int passed = 0;
    for (int i = 0; i < count; i++) {
        int before = failures;
        tests[i].run();
        int ok = failures == before;
        passed += ok;
        printf("[%s] %s::%s\n", ok ? "PASS" : "FAIL", suite, tests[i].name);
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0\n", count,
           passed, count - passed);
    return passed == count ? 0 : 1;
}

#endif /* TINA_TEST_STRESS_H */
