/*
 * tokens.c -- replies sent later: tina_defer and tina_reply_later.
 *
 * A handler handling a call may defer it: the call's caller and
 * correlation id go into an entry of the shard's token table (token.h),
 * on the list of the isolate that deferred it, and the handler gets a
 * token naming the entry.  That handler call's own reply is refused
 * (stats.reply_invalid) and its end does not answer the call failed: the
 * call is the token's now.  Later, in any handler call of the same
 * incarnation, tina_reply_later sends the reply through the ordinary path
 * (a REPLY with the call's correlation id, so the caller's side knows no
 * difference) and spends the token.
 *
 * Exactly once: an entry is freed (its generation moved on) when its reply
 * leaves, when its caller is known to have given up, or when its owner
 * ends -- then the caller is answered at once with TINA_TAG_CALL_FAILED
 * (TINA_ESTALE), as if the owner had ended while handling the call.  The
 * caller's timeout holds all along: a reply after it is counted late on
 * the caller's shard and dropped there, as any late reply.
 */
#include "shard.h"

tina_result tina_defer(tina_ctx *ctx, tina_reply_token *out) {
    struct tina__shard *s = ctx->shard;
    const tina_msg *m = ctx->msg;
    if (out == NULL) {
        s->stats.invalid++;
        return TINA_EINVAL;
    }
    *out = 0;
    if (m == NULL || m->kind != TINA_MSG_CALL || m->corr == 0 || ctx->deferred) {
        s->stats.reply_invalid++;
        return TINA_ENOT_CALL;
    }
    uint32_t i = tina__token_take(&s->tokens, &ctx->type->reach[ctx->slot].tokens);
    if (i == TINA__NIL) {
        s->stats.token_exhausted++;
        return TINA_ETOKEN_EXHAUSTED;
    }
    struct tina__token *e = &s->tokens.entries[i];
    e->caller = m->from;
    e->corr = m->corr;
    e->owner = ctx->self;
    ctx->deferred = 1;
    s->stats.tokens_deferred++;
    *out = tina__token_value(&s->tokens, s->id, i);
    return TINA_OK;
}

tina_result tina_reply_later(tina_ctx *ctx, tina_reply_token token, uint16_t tag,
                             const void *payload, size_t size) {
    struct tina__shard *s = ctx->shard;
    uint32_t i = tina__token_find(&s->tokens, s->id, token);
    if (i == TINA__NIL || s->tokens.entries[i].owner != ctx->self) {
        s->stats.token_invalid++;
        return TINA_ETOKEN;
    }
    struct tina__token *e = &s->tokens.entries[i];
    uint64_t late = s->stats.late_replies;
    tina_result r = tina__reply_send(s, e->caller, tag, payload, size, e->corr);
    if (r == TINA_EMAILBOX_FULL || r == TINA_ERESERVED_TAG || r == TINA_ETOO_BIG ||
        r == TINA_EINVAL) { /* nothing sent: the token stays good */
        s->stats.token_late++;
        return r;
    }
    /* A caller on this shard that no longer waits shows as a late reply. */
    if (r == TINA_OK && s->stats.late_replies != late) r = TINA_ETOKEN_LATE;
    tina__token_free(&s->tokens, &ctx->type->reach[ctx->slot].tokens, i);
    if (r == TINA_OK) {
        s->stats.tokens_used++;
        s->stats.replies++;
    } else {
        s->stats.token_late++;
    }
    return r;
}

/* The isolate in slot i ends holding tokens: each caller hears now. */
void tina__tokens_orphan(struct tina__shard *s, struct tina__type *t, uint32_t i) {
    uint32_t *head = &t->reach[i].tokens;
    while (*head != TINA__NIL) {
        uint32_t k = *head;
        struct tina__token *e = &s->tokens.entries[k];
        tina_msg request = {.from = e->caller, .corr = e->corr, .kind = TINA_MSG_CALL};
        tina__token_free(&s->tokens, head, k);
        tina__call_answer_failed(s, &request, TINA_ESTALE);
        s->stats.tokens_orphaned++;
    }
}
