/*
 * flags.h -- the examples' command line: numbers checked against a range,
 * switches, and one verdict for the whole line.
 *
 * Each example is a single C file with its own main; this header, next to
 * them, keeps their flag parsing the same.  A value is a decimal integer
 * (or 0x hex): no sign, no blank, nothing after it, inside the flag's
 * range.  Anything else -- empty, negative, not a number, trailing
 * characters, out of range, an unknown flag, a switch given a value -- is
 * a bad flag, named on stderr with what is wrong with it.  Parsing goes on
 * past a bad flag, so that every bad flag of the line is named; then the
 * program exits 2.  --help (or -h), anywhere on the line, prints the usage
 * on stdout and exits 0.
 *
 *     flags_help(argc, argv, usage);
 *     flags f = {.program = "echo"};
 *     for (int i = 1; i < argc; i++)
 *         if (!flag_switch(&f, argv[i], "--epoll", &g_epoll) &&
 *             !flag_u32(&f, argv[i], "--port", 0, 65535, &g_port))
 *             flag_unknown(&f, argv[i]);
 *     flags_end(&f);
 *
 * A flag given twice takes its last good value.  A bad value leaves the
 * default alone, which does not matter: the program does not start.
 */
#ifndef TINA_EXAMPLES_FLAGS_H
#define TINA_EXAMPLES_FLAGS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct flags {
    const char *program; /* first word of every message */
    uint32_t bad_count;  /* bad flags seen so far */
} flags;

/* --help or -h anywhere: the usage on stdout, exit 0. */
static inline void flags_help(int argc, char **argv, void (*usage)(FILE *)) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
    }
}

/* Names a bad flag and counts it.  Returns 1, so that a parser can end with it. */
static inline int flag_bad(flags *f, const char *arg, const char *why) {
    fprintf(stderr, "%s: bad flag %s: %s\n", f->program, arg, why);
    f->bad_count++;
    return 1;
}

static inline int flag_unknown(flags *f, const char *arg) {
    return flag_bad(f, arg, "unknown flag");
}

/* The value of `arg` when it is `name=value`, "" when it is `name` alone,
 * NULL when it is another flag. */
static inline const char *flag_value(const char *arg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') return arg + n + 1;
    return arg[n] == 0 ? arg + n : NULL;
}

/* Reads text as an integer in [min, max]: NULL, or what is wrong with it. */
static inline const char *flag_number(const char *text, uint64_t min, uint64_t max,
                                      uint64_t *out) {
    if (text[0] == 0) return "empty value";
    if (text[0] == '-') return "negative";
    uint64_t base = 10, value = 0;
    const char *p = text;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    const char *digits = p;
    int overflow = 0;
    for (; *p; p++) {
        uint64_t digit;
        char lower = (char)(*p | 0x20);
        if (*p >= '0' && *p <= '9') digit = (uint64_t)(*p - '0');
        else if (base == 16 && lower >= 'a' && lower <= 'f') digit = (uint64_t)(lower - 'a' + 10);
        else break;
        if (value > (UINT64_MAX - digit) / base) overflow = 1;
        else value = value * base + digit;
    }
    if (p == digits) return "not a number";
    if (*p) return "trailing characters after the number";
    if (overflow || value < min || value > max) return "out of range";
    *out = value;
    return NULL;
}

/* `name=N` with N in [min, max].  Returns 1 when arg is this flag, good or
 * bad (a bad one is named and counted); 0 when it is another one. */
static inline int flag_u64(flags *f, const char *arg, const char *name, uint64_t min,
                           uint64_t max, uint64_t *out) {
    const char *text = flag_value(arg, name);
    if (!text) return 0;
    uint64_t value;
    const char *why = arg[strlen(name)] == '=' ? flag_number(text, min, max, &value) : "needs =N";
    if (why) {
        char range[128];
        snprintf(range, sizeof(range), "%s (%s=%llu..%llu)", why, name, (unsigned long long)min,
                 (unsigned long long)max);
        return flag_bad(f, arg, range);
    }
    *out = value;
    return 1;
}

/* The same into 32 bits: a good value is at most max, so it fits. */
static inline int flag_u32(flags *f, const char *arg, const char *name, uint32_t min,
                           uint32_t max, uint32_t *out) {
    uint64_t value = 0;
    uint32_t bad_before = f->bad_count;
    if (!flag_u64(f, arg, name, min, max, &value)) return 0;
    if (f->bad_count == bad_before) *out = (uint32_t)value;
    return 1;
}

/* `name=TEXT`: *text points at TEXT (which may be empty).  Returns 1 when
 * arg is this flag; a bare `name` is bad, named, and leaves *text NULL. */
static inline int flag_text(flags *f, const char *arg, const char *name, const char **text) {
    const char *value = flag_value(arg, name);
    if (!value) return 0;
    *text = NULL;
    if (arg[strlen(name)] != '=') return flag_bad(f, arg, "needs =VALUE");
    *text = value;
    return 1;
}

/* `name` alone sets *on to 1; `name=...` is bad: a switch takes no value. */
static inline int flag_switch(flags *f, const char *arg, const char *name, uint32_t *on) {
    const char *text = flag_value(arg, name);
    if (!text) return 0;
    if (arg[strlen(name)] == '=') return flag_bad(f, arg, "takes no value");
    *on = 1;
    return 1;
}

/* After the last flag: every bad one has been named; exit 2 if there was one. */
static inline void flags_end(const flags *f) {
    if (f->bad_count == 0) return;
    fprintf(stderr, "%s: %u bad flag%s; see --help\n", f->program, f->bad_count,
            f->bad_count == 1 ? "" : "s");
    exit(2);
}

#endif /* TINA_EXAMPLES_FLAGS_H */
