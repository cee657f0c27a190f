/* sqs-poll: long-poll a queue and write what it receives.
 *
 * Reads nothing.  Keeps -w N ReceiveMessage long polls (20 s, 10 messages
 * each) in flight on the queue named by --queue-url (SQS, or file:DIR for a
 * local spool) and writes one envelope per message:
 *   {"queue_url":…,"message_id":…,"receipt_handle":…,"receive_count":N,
 *    "sent_at":…,"attributes":{…},"message_attributes":{…},"body":…}
 * with the body parsed when it is JSON, else as a string; --raw writes the
 * bodies alone.  Messages whose MD5 does not match are not written.
 *
 * It deletes nothing (sqs-delete at the end of the pipeline does, once the
 * stages before it are done), except with --delete (at most once: deleted
 * as soon as written and flushed).  --peek shows without consuming: each
 * message received is held (invisible, so a pass sees it once) until the
 * run ends, then all are made visible again at once; if sqs-poll dies
 * first, they come back after their visibility timeout (each receive
 * counts, as in SQS).  --max N stops after N messages, --until-empty once
 * the queue gives nothing more (several empty long polls in a row, never
 * one short poll).  SIGTERM/SIGINT: stop receiving, write what it holds,
 * exit 0; the messages of long polls still open come back after their
 * visibility timeout.
 */
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "json.h"
#include "jsonl.h"
#include "opts.h"
#include "progress.h"
#include "qopts.h"
#include "sig.h"
#include "sqs.h"
#include "timeutil.h"

static int receivers = 1, wait_s = CP_SQS_MAX_WAIT, visibility = -1, batch = 10;
static int max_msgs, until_empty, peek, raw, del;

static struct poptOption options[] = {
	{ "receivers", 'w', POPT_ARG_INT, &receivers, 0, "long polls in flight at once (1)", "N" },
	{ "wait", 0, POPT_ARG_INT, &wait_s, 0, "seconds a long poll waits for messages (0-20; 20)", "S" },
	{ "visibility-timeout", 0, POPT_ARG_INT, &visibility, 0,
	  "seconds a received message stays invisible (the queue's)", "S" },
	{ "batch", 'b', POPT_ARG_INT, &batch, 0, "messages per receive (1-10; 10)", "N" },
	{ "max", 'n', POPT_ARG_INT, &max_msgs, 0, "stop after N messages", "N" },
	{ "until-empty", 'e', POPT_ARG_NONE, &until_empty, 0,
	  "stop once the queue has nothing more to give (for cron drains)", NULL },
	{ "peek", 0, POPT_ARG_NONE, &peek, 0, "show without consuming: messages become visible again when it ends", NULL },
	{ "raw", 'r', POPT_ARG_NONE, &raw, 0, "write bare bodies instead of envelopes (dumps)", NULL },
	{ "delete", 0, POPT_ARG_NONE, &del, 0, "delete each message once written (at most once)", NULL },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_qopts_table, 0, "Queue and AWS options:", NULL },
	POPT_TABLEEND
};

static const struct cp_tool tool = {
	.name = "sqs-poll",
	.summary = "Long-poll an SQS queue or a local spool and write an envelope per message.",
	.options = options,
};

static struct cp_queue *queue;
static char *queue_url;
static struct cp_writer *out;
static int outstanding, acks, empties, stop_receiving, status;
static long written;
/* --peek: the receipt handles held until the end. */
static char **held;
static size_t nheld, held_cap;

/* The JSON text of a message's body: the body itself when it is one JSON
 * value (RFC 8259, lib/json) on one line, else libjq's compact print of
 * it, or of the body as a string when it is not JSON. */
static jv body_text(const struct cp_queue_msg *m, int *verbatim)
{
	char err[CP_ERR_LEN];
	*verbatim = 0;
	int valid = cp_json_valid(m->body, m->body_len, err);
	if (valid < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);
	if (!valid)
		return jv_dump_string(jv_string_sized(m->body, (int)m->body_len), 0);
	if (!memchr(m->body, '\n', m->body_len) && !memchr(m->body, '\r', m->body_len)) {
		*verbatim = 1; /* the body's own bytes */
		return jv_null();
	}
	return jv_dump_string(jv_parse_sized(m->body, (int)m->body_len), 0);
}

static int write_msg(const struct cp_queue_msg *m)
{
	int verbatim;
	jv body = body_text(m, &verbatim);
	const char *btext = verbatim ? m->body : jv_string_value(body);
	size_t blen = verbatim ? m->body_len : (size_t)jv_string_length_bytes(jv_copy(body));
	int r;
	if (raw) {
		r = cp_writer_line(out, btext, blen);
	} else {
		char sent[CP_TIME_LEN] = "";
		if (m->sent_ms > 0)
			cp_time_format((struct cp_time){ m->sent_ms / 1000, (int32_t)(m->sent_ms % 1000) * 1000000 }, sent);
		jv env = JV_OBJECT(jv_string("queue_url"), jv_string(m->queue_url),
		    jv_string("message_id"), jv_string(m->message_id),
		    jv_string("receipt_handle"), jv_string(m->receipt),
		    jv_string("receive_count"), jv_number(m->receive_count),
		    jv_string("sent_at"), sent[0] ? jv_string(sent) : jv_null(),
		    jv_string("attributes"), jv_copy(m->attributes),
		    jv_string("message_attributes"), jv_copy(m->message_attributes));
		/* The envelope printed by libjq without its closing brace, then
		 * the body's text, in one buffer: jv_dumpf() into memory through
		 * stdio: jv_dump_string() appends one character at a time to a jv
		 * string, and was about a third of what sqs-poll spent. */
		char *line = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&line, &n);
		if (!f)
			abort(); /* out of memory, as libjq itself */
		__fsetlocking(f, FSETLOCKING_BYCALLER);
		jv_dumpf(env, f, 0);
		if (fseeko(f, -1, SEEK_CUR) != 0 || fputs(",\"body\":", f) == EOF ||
		    fwrite(btext, 1, blen, f) != blen || fputc('}', f) == EOF || fclose(f) != 0)
			abort(); /* a memory stream fails only for want of memory */
		r = cp_writer_line(out, line, n);
		free(line);
	}
	jv_free(body);
	return r;
}

static void acked(const struct cp_queue_status *st, size_t n, void *user)
{
	const char *what = user;
	acks--;
	for (size_t i = 0; i < n; i++)
		if (!st[i].ok)
			cp_warn("%s failed: %s: %s", what, st[i].code, st[i].message);
}

static void ack(const char *const *receipts, size_t n, int delete_them)
{
	char err[CP_ERR_LEN];
	if (n == 0)
		return;
	int r = delete_them ?
	    cp_queue_delete(queue, queue_url, receipts, n, acked, "delete", err) :
	    cp_queue_visibility(queue, queue_url, receipts, n, 0, acked, "making messages visible", err);
	if (r < 0)
		cp_warn("%s", err);
	else
		acks++;
}

/* --peek: keeps the messages invisible until the end, so that one pass
 * sees each once (a receive with visibility 0 would hand the same ones
 * back at once, for ever). */
static void hold(const char *const *receipts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (nheld == held_cap) {
			size_t cap = held_cap ? 2 * held_cap : 64;
			char **h = realloc(held, cap * sizeof *h);
			if (!h) {
				ack(receipts + i, n - i, 0);
				return;
			}
			held = h;
			held_cap = cap;
		}
		if (!(held[nheld] = strdup(receipts[i]))) {
			ack(receipts + i, n - i, 0);
			return;
		}
		nheld++;
	}
}

/* --peek: makes every message held visible again. */
static void release_held(void)
{
	for (size_t i = 0; i < nheld; i += CP_SQS_MAX_BATCH) {
		size_t n = nheld - i < CP_SQS_MAX_BATCH ? nheld - i : CP_SQS_MAX_BATCH;
		ack((const char *const *)held + i, n, 0);
	}
	for (size_t i = 0; i < nheld; i++)
		free(held[i]);
	nheld = 0;
}

static void received(const struct cp_queue_status *st, const struct cp_queue_msg *m,
    size_t n, void *user)
{
	(void)user;
	outstanding--;
	if (!st->ok) {
		cp_error("receiving from %s: %s: %s", queue_url, st->code, st->message);
		if (!status)
			status = cp_qopts_exit_code(st);
		stop_receiving = 1;
		return;
	}
	const char *keep[CP_SQS_MAX_BATCH] = { 0 }, *release[CP_SQS_MAX_BATCH] = { 0 };
	size_t nkeep = 0, nrelease = 0;
	for (size_t i = 0; i < n; i++) {
		if ((max_msgs && written >= max_msgs) || status == CP_EX_IOERR) {
			release[nrelease++] = m[i].receipt;
			continue;
		}
		cp_count_read();
		if (write_msg(&m[i]) < 0) {
			cp_error("writing output failed: stopping");
			status = CP_EX_IOERR;
			stop_receiving = 1;
			release[nrelease++] = m[i].receipt;
			continue;
		}
		cp_count_written();
		written++;
		keep[nkeep++] = m[i].receipt;
	}
	/* Delete only what is out of our hands: written and flushed. */
	if (del && nkeep && cp_writer_flush(out) == 0)
		ack(keep, nkeep, 1);
	if (peek)
		hold(keep, nkeep);
	ack(release, nrelease, 0);
	if (n == 0)
		empties++;
	else
		empties = 0;
	/* Several empty long polls in a row, one per receiver and one more,
	 * mean empty; short polls sample, so they need more.  A spool's
	 * answer is exact. */
	int enough = cp_queue_is_spool(queue_url) ? 1 : wait_s > 0 ? receivers + 1 : 5 * receivers + 5;
	if (until_empty && empties >= enough && !stop_receiving) {
		cp_info("the queue is empty: stopping");
		stop_receiving = 1;
	}
	if (max_msgs && written >= max_msgs)
		stop_receiving = 1;
}

int main(int argc, const char **argv)
{
	char err[CP_ERR_LEN];
	poptContext pc;
	if (cp_opts_parse(&tool, argc, argv, &pc, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
	if (poptPeekArg(pc))
		cp_die(CP_EX_USAGE, "unexpected argument '%s'", poptPeekArg(pc));
	poptFreeContext(pc);
	if (receivers < 1 || receivers > 1000)
		cp_die(CP_EX_USAGE, "--receivers: 1 to 1000, not %d", receivers);
	if (wait_s < 0 || wait_s > CP_SQS_MAX_WAIT)
		cp_die(CP_EX_USAGE, "--wait: 0 to 20 seconds, not %d", wait_s);
	if (batch < 1 || batch > 10)
		cp_die(CP_EX_USAGE, "--batch: 1 to 10 messages, not %d", batch);
	if (visibility < -1 || visibility > 43200)
		cp_die(CP_EX_USAGE, "--visibility-timeout: 0 to 43200 seconds, not %d", visibility);
	if (max_msgs < 0)
		cp_die(CP_EX_USAGE, "--max: a number of messages (0: no limit), not %d", max_msgs);
	if (peek && del)
		cp_die(CP_EX_USAGE, "--peek and --delete contradict each other");
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);

	struct cp_queue_opts qo;
	cp_qopts_queue_opts(&qo);
	if (!(queue = cp_queue_new(&qo, err)))
		cp_die(CP_EX_SOFTWARE, "%s", err);
	if (cp_qopts_queue_url(queue, 1, &queue_url, &status, err) < 0)
		cp_die(status, "%s", err);
	struct cp_queue_status qst;
	if (cp_queue_check(queue, queue_url, 0, &qst, err) < 0)
		cp_die(cp_qopts_exit_code(&qst), "%s", err);
	if (!(out = cp_writer_new(1, err)))
		cp_die(CP_EX_SOFTWARE, "%s", err);
	if (cp_common.progress && cp_progress_start(err) < 0)
		cp_warn("%s", err);
	/* A spool answers exactly: --until-empty need not wait long. */
	int wait = until_empty && cp_queue_is_spool(queue_url) && wait_s > 1 ? 1 : wait_s;

	for (;;) {
		if (cp_sig_stopping() && !stop_receiving) {
			cp_info("stopping: %d long polls left to expire", outstanding);
			stop_receiving = 1;
		}
		while (!stop_receiving && outstanding < receivers) {
			int n = batch;
			if (max_msgs) {
				long left = max_msgs - written - (long)outstanding * batch;
				if (left <= 0)
					break;
				if (left < n)
					n = (int)left;
			}
			struct cp_queue_recv ro = { .max = n, .wait = wait, .visibility = visibility,
				.stop_fd = cp_sig_fd() };
			if (cp_queue_receive(queue, queue_url, &ro, received, NULL, err) < 0) {
				cp_error("%s", err);
				status = CP_EX_SOFTWARE;
				stop_receiving = 1;
				break;
			}
			outstanding++;
		}
		/* Done: nothing to receive, acknowledgements answered; after a
		 * signal, long polls still open are left to expire. */
		if (stop_receiving && acks == 0 && (outstanding == 0 || cp_sig_stopping())) {
			if (nheld == 0)
				break;
			release_held();
		}
		if (cp_writer_flush(out) < 0 && status != CP_EX_IOERR) {
			cp_error("writing output failed: stopping");
			status = CP_EX_IOERR;
			stop_receiving = 1;
		}
		struct pollfd fds[1] = { { .fd = cp_sig_fd(), .events = POLLIN } };
		if (cp_queue_run(queue, fds, 1, 1000, err) < 0) {
			cp_error("%s", err);
			status = CP_EX_SOFTWARE;
			break;
		}
	}
	cp_progress_stop();
	for (size_t i = 0; i < nheld; i++)
		free(held[i]);
	free(held);
	uint64_t corrupt = cp_queue_corrupt(queue);
	cp_queue_free(queue);
	if (cp_writer_close(out, 0, err) < 0 && status != CP_EX_IOERR) {
		cp_error("%s", err);
		status = CP_EX_IOERR;
	}
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("received: %s; %ju withheld (MD5 mismatch)", err, (uintmax_t)corrupt);
	}
	free(queue_url);
	return status;
}
