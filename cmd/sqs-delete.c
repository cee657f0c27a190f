/* sqs-delete: acknowledge the envelopes that reach it.
 *
 * Reads envelopes (what sqs-poll writes, possibly passed on by other
 * stages) and deletes their messages with DeleteMessageBatch, up to 10 per
 * call, grouped by the envelope's queue_url (or --queue-url, which wins),
 * several calls in flight.  Writes each line, unchanged, once its message
 * is deleted; rejects the lines it could not delete (no receipt handle, a
 * receipt handle the queue refuses, a queue that does not exist) with the
 * reason.  Per-entry failures such as throttling are retried first.  A
 * receipt handle that no longer names an in-flight message (the message
 * was received again after its visibility timeout) deletes nothing, as in
 * SQS: the line is written and the message may come back.
 */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "opts.h"
#include "progress.h"
#include "qopts.h"
#include "qstage.h"
#include "record.h"
#include "sig.h"
#include "sqs.h"
#include "stage.h"

static int max_line;

static struct poptOption options[] = {
	{ "max-line", 0, POPT_ARG_INT, &max_line, 0, "longest line accepted (8 MiB: the envelope of a 1 MiB message)", "BYTES" },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_qopts_table, 0, "Queue and AWS options:", NULL },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "sqs-delete",
	.summary = "Delete the messages of the envelopes read, writing each line once it is deleted.",
	.options = options,
};

static struct cp_queue *queue;
static char *queue_url; /* --queue-url, or NULL: each envelope's own */
static unsigned long stale;

/* Checks and parses each line itself (the stage does not: .check is
 * CP_STAGE_UNCHECKED): without the body and what follows the receipt
 * handle when the envelope is written as sqs-poll writes them, else whole. */
static int prepare(struct cp_stage *s, jv line, struct cp_stage_item *it, char *err)
{
	(void)s;
	(void)line;
	jv v;
	if (!cp_record_head(it->line, it->line_len, "receive_count", &v) &&
	    cp_line_parse(it->line, it->line_len, &v, err) < 0)
		return -1;
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		cp_err_set(err, "not an envelope: a %s, not an object", jv_kind_name(jv_get_kind(v)));
		jv_free(v);
		return -1;
	}
	static const char *const names[] = { "receipt_handle", "queue_url" };
	jv f[2];
	cp_record_members(&v, names, 2, f);
	jv_free(v);
	jv rh = f[0], url = f[1];
	int r = 0;
	if (jv_get_kind(rh) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(rh)) == 0) {
		r = cp_err_set(err, "not an envelope: no receipt_handle");
	} else if (!queue_url && jv_get_kind(url) != JV_KIND_STRING) {
		r = cp_err_set(err, "the envelope has no queue_url, and no --queue-url was given");
	} else {
		it->data = strdup(jv_string_value(rh));
		it->key = strdup(queue_url ? queue_url : jv_string_value(url));
		it->size = 1;
		if (!it->data || !it->key)
			r = cp_err_set(err, "out of memory");
	}
	jv_free(rh);
	jv_free(url);
	return r;
}

static void acked(const struct cp_queue_status *st, size_t n, void *user)
{
	struct cp_qstage_batch *b = user;
	for (size_t i = 0; i < n && i < b->n; i++) {
		if (st[i].ok && st[i].stale) {
			stale++;
			cp_info("line %ju: the receipt handle is stale: nothing deleted, the message may come back",
			    (uintmax_t)b->items[i]->lineno);
		}
		cp_qstage_item_done(b, i, &st[i]);
	}
	cp_qstage_batch_end(b);
}

static int submit(struct cp_stage *s, const char *key, struct cp_stage_item *const *items,
    size_t n, char *err)
{
	const char *receipts[CP_SQS_MAX_BATCH];
	struct cp_qstage_batch *b = cp_qstage_batch_new(s, items, n, err);
	if (!b)
		return -1;
	for (size_t i = 0; i < n; i++)
		receipts[i] = items[i]->data;
	if (cp_queue_delete(queue, key, receipts, n, acked, b, err) < 0) {
		cp_qstage_batch_free(b);
		return -1;
	}
	return 0;
}

int main(int argc, const char **argv)
{
	char err[CP_ERR_LEN];
	int status;
	if (cp_opts_parse(&tool, argc, argv, NULL, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);

	/* Only an explicit queue overrides the envelopes' own. */
	if (cp_qopts_open(CP_QOPTS_EXPLICIT, 0, &queue, &queue_url, &status, err) < 0)
		cp_die(status, "%s", err);
	struct cp_stage_ops ops = { .prepare = prepare, .check = CP_STAGE_UNCHECKED, .submit = submit,
		.free_data = free, .run = cp_qstage_run };
	struct cp_stage_opts so = {
		.max_items = CP_SQS_MAX_BATCH,
		.max_in_flight = cp_qopts.jobs > 0 ? cp_qopts.jobs : 8,
		.max_line = (size_t)(max_line > 0 ? max_line : CP_SQS_MAX_ENVELOPE),
	};
	int ex = cp_stage_main(&ops, &so, tool.name, queue);
	cp_queue_free(queue);
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("%s; %lu receipt handles were stale", err, stale);
	}
	free(queue_url);
	return ex;
}
