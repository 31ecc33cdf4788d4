/*
 * test_errors.c -- every result code of TINA_RESULT_MAP has words and a name.
 *
 * tina_strerror() and tina_result_name() are generated from the one X-macro
 * list; here the list is expanded again on the test side and every entry is
 * checked against what the library returns: non-empty, the documented text,
 * the TINA_ symbol, and no two codes sharing a text or a name.
 */
#include "helpers.h"

struct code_entry {
    int code;
    const char *symbol;
    const char *text;
};

#define H_CODE_ENTRY(name, value, text) {TINA_##name, "TINA_" #name, text},
static const struct code_entry codes[] = {TINA_RESULT_MAP(H_CODE_ENTRY)};
#undef H_CODE_ENTRY

#define CODE_COUNT H_COUNT(codes)

Test(errors, every_code_has_its_text, .timeout = 10) {
    for (uint32_t i = 0; i < CODE_COUNT; i++) {
        const char *text = tina_strerror(codes[i].code);
        cr_assert(not(eq(ptr, (void *)text, NULL)), "%s", codes[i].symbol);
        cr_assert(ge(sz, strlen(text), 1), "%s has empty text", codes[i].symbol);
        cr_assert(eq(str, (char *)text, (char *)codes[i].text), "%s", codes[i].symbol);
    }
}

Test(errors, every_code_has_its_symbol, .timeout = 10) {
    for (uint32_t i = 0; i < CODE_COUNT; i++) {
        const char *name = tina_result_name(codes[i].code);
        cr_assert(not(eq(ptr, (void *)name, NULL)), "%s", codes[i].symbol);
        cr_assert(eq(str, (char *)name, (char *)codes[i].symbol));
    }
}

Test(errors, texts_and_symbols_are_distinct, .timeout = 10) {
    for (uint32_t i = 0; i < CODE_COUNT; i++) {
        for (uint32_t j = i + 1; j < CODE_COUNT; j++) {
            cr_assert(ne(int, codes[i].code, codes[j].code), "%s and %s share a value",
                      codes[i].symbol, codes[j].symbol);
            cr_assert(ne(str, (char *)tina_strerror(codes[i].code),
                         (char *)tina_strerror(codes[j].code)),
                      "%s and %s share a text", codes[i].symbol, codes[j].symbol);
            cr_assert(ne(str, (char *)tina_result_name(codes[i].code),
                         (char *)tina_result_name(codes[j].code)),
                      "%s and %s share a name", codes[i].symbol, codes[j].symbol);
        }
    }
}

Test(errors, ok_is_zero_and_every_error_is_negative, .timeout = 10) {
    cr_assert(eq(int, TINA_OK, 0));
    cr_assert(eq(str, (char *)tina_result_name(TINA_OK), "TINA_OK"));
    for (uint32_t i = 0; i < CODE_COUNT; i++) {
        if (codes[i].code == TINA_OK) continue;
        cr_assert(lt(int, codes[i].code, 0), "%s", codes[i].symbol);
    }
}

Test(errors, unknown_codes_say_unknown_result, .timeout = 10) {
    const int unknown[] = {1, 7, -51, -59, -69, -76, -99, -1000, 123456};
    for (uint32_t i = 0; i < H_COUNT(unknown); i++) {
        const char *text = tina_strerror(unknown[i]);
        cr_assert(not(eq(ptr, (void *)text, NULL)), "code %d", unknown[i]);
        cr_assert(eq(str, (char *)text, "unknown result"), "code %d", unknown[i]);
        const char *name = tina_result_name(unknown[i]);
        if (name == NULL) continue; /* the header does not promise a name for unknown codes */
        for (uint32_t j = 0; j < CODE_COUNT; j++)
            cr_assert(ne(str, (char *)name, (char *)codes[j].symbol),
                      "unknown code %d is named like %s", unknown[i], codes[j].symbol);
    }
}
