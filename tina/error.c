/*
 * error.c -- words for every result code, generated from TINA_RESULT_MAP so
 * that the enum, the names and the texts can never drift apart.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "base.h"

const char *tina_strerror(int result) {
    switch (result) {
#define TINA__RESULT_TEXT(name, value, text) \
    case value:                              \
        return text;
        TINA_RESULT_MAP(TINA__RESULT_TEXT)
#undef TINA__RESULT_TEXT
    default:
        return "unknown result";
    }
}

const char *tina_result_name(int result) {
    switch (result) {
#define TINA__RESULT_NAME(name, value, text) \
    case value:                              \
        return "TINA_" #name;
        TINA_RESULT_MAP(TINA__RESULT_NAME)
#undef TINA__RESULT_NAME
    default:
        return "TINA_UNKNOWN";
    }
}

_Thread_local int tina__assert_shard = -1;

void tina__assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "tina: assertion failed: %s (%s:%d, shard %d)\n", expr, file, line,
            tina__assert_shard);
    /* A broken invariant ends the process, armed or not.  The trap
     * boundary is armed around handlers, the runtime calls they make and
     * the effects applied after them, and cannot tell this abort() from a
     * handler's own (same signal, same siginfo): with its handler in
     * place the assert would become an isolate crash.  So take every
     * handler off SIGABRT first.  Process-wide, which is right: the
     * process is on its way out, and it holds on every thread and every
     * shard without this file knowing about the trap.  A user's own
     * SIGABRT handler is skipped too; one that jumped out would hide the
     * bug the same way. */
    signal(SIGABRT, SIG_DFL);
    abort();
}
