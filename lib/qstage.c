/* qstage: see qstage.h. */
#include "qstage.h"

#include <stdio.h>
#include <stdlib.h>

#include "diag.h"
#include "qopts.h"

struct cp_qstage_batch *cp_qstage_batch_new(struct cp_stage *s,
    struct cp_stage_item *const *items, size_t n, char *err)
{
	struct cp_qstage_batch *b = calloc(1, sizeof *b);
	if (!b || !(b->items = malloc(n * sizeof *b->items))) {
		free(b);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	b->s = s;
	b->n = n;
	for (size_t i = 0; i < n; i++)
		b->items[i] = items[i];
	return b;
}

void cp_qstage_batch_free(struct cp_qstage_batch *b)
{
	if (!b)
		return;
	free(b->items);
	free(b);
}

void cp_qstage_item_done(struct cp_qstage_batch *b, size_t i, const struct cp_queue_status *st)
{
	struct cp_stage_outcome o = { .ok = st->ok, .extra = jv_null() };
	char why[CP_ERR_LEN];
	if (!o.ok) {
		snprintf(why, sizeof why, "%s: %s", st->code, st->message);
		o.error = why;
		o.retryable = st->retryable;
		o.entry = st->entry;
		if (st->auth || st->missing)
			o.fatal = cp_qopts_exit_code(st);
		o.extra = JV_OBJECT(jv_string("code"), jv_string(st->code));
	}
	cp_stage_item_done(b->s, b->items[i], &o);
}

void cp_qstage_batch_end(struct cp_qstage_batch *b)
{
	cp_stage_batch_done(b->s);
	cp_qstage_batch_free(b);
}

int cp_qstage_run(struct cp_stage *s, struct pollfd *fds, unsigned nfds,
    int timeout_ms, char *err)
{
	return cp_queue_run(cp_stage_user(s), fds, nfds, timeout_ms, err) < 0 ? -1 : 0;
}
