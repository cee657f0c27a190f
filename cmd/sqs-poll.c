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
 *
 * --heartbeat MAX keeps each message written invisible while the stages
 * downstream work on it, for at most MAX seconds after it was received:
 * it receives with an explicit visibility timeout T (--visibility-timeout,
 * else 30 s) and, every T/2 from a message's receive, sets its visibility
 * to T again (ChangeMessageVisibilityBatch, 10 receipts a call, only the
 * messages due; the last change is shorter, so that the message comes
 * back at MAX).  A message leaves the heartbeat when a change finds its
 * receipt stale (deleted downstream: the normal end), at MAX, or when a
 * change fails for good (the first warned, all counted); a change that
 * may pass is made again a second later.  Stopping to receive (--max,
 * --until-empty) does not end the run while messages are held: it ends
 * once all have left the heartbeat.  SIGTERM/SIGINT end it at once, and a
 * closed stdout too; what was held comes back within T.  Memory: one entry
 * per message held, kept in the order the changes fall due, so a turn of
 * the loop looks only at those due.  A spool runs one operation at a
 * time: there, one receive at a time, never while changes are out, and
 * waiting no longer than until the next change is due.
 */
#include <stdint.h>
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
static int max_msgs, until_empty, peek, raw, del, heartbeat;

enum { OPT_HEARTBEAT = 1 };

static struct poptOption options[] = {
	{ "receivers", 'w', POPT_ARG_INT, &receivers, 0, "long polls in flight at once (1)", "N" },
	{ "wait", 0, POPT_ARG_INT, &wait_s, 0, "seconds a long poll waits for messages (0-20; 20)", "S" },
	{ "visibility-timeout", 0, POPT_ARG_INT, &visibility, 0,
	  "seconds a received message stays invisible (the queue's; 30 with --heartbeat)", "S" },
	{ "batch", 'b', POPT_ARG_INT, &batch, 0, "messages per receive (1-10; 10)", "N" },
	{ "max", 'n', POPT_ARG_INT, &max_msgs, 0, "stop after N messages", "N" },
	{ "until-empty", 'e', POPT_ARG_NONE, &until_empty, 0,
	  "stop once the queue has nothing more to give (for cron drains)", NULL },
	{ "peek", 0, POPT_ARG_NONE, &peek, 0, "show without consuming: messages become visible again when it ends", NULL },
	{ "raw", 'r', POPT_ARG_NONE, &raw, 0, "write bare bodies instead of envelopes (dumps)", NULL },
	{ "delete", 0, POPT_ARG_NONE, &del, 0, "delete each message once written (at most once)", NULL },
	{ "heartbeat", 0, POPT_ARG_STRING, NULL, OPT_HEARTBEAT,
	  "keep each message written invisible until it is deleted downstream, for at most MAX seconds (1-43200)",
	  "MAX" },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_qopts_table, 0, "Queue and AWS options:", NULL },
	POPT_TABLEEND
};

static int on_option(int val, const char *arg, char *err)
{
	long long v;
	if (val != OPT_HEARTBEAT)
		return 0;
	if (cp_opts_number("--heartbeat", arg, 1, 43200, &v, err) < 0)
		return -1;
	heartbeat = (int)v;
	return 0;
}

static const struct cp_tool tool = {
	.name = "sqs-poll",
	.summary = "Long-poll an SQS queue or a local spool and write an envelope per message.",
	.options = options,
	.on_option = on_option,
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

/* Envelopes are printed a member at a time into one memory stream
 * (open_memstream() clears a buffer of its own each time: a tenth of what
 * sqs-poll spent): each value by libjq (jv_dumpf()), the members joined
 * by their fixed names, as the body is joined to them; the queue_url
 * member, the same for every message of a run, is printed once.  Building
 * the envelope as a jv object to print it whole made libjq validate and
 * print the seven names and the URL again for every message. */
static FILE *mem;
static char *membuf;
static size_t memlen;
static char *url_member;          /* "queue_url":"…" */
static const char *url_member_for;

static void env_init(void)
{
	if (!(mem = open_memstream(&membuf, &memlen)))
		cp_die(CP_EX_SOFTWARE, "out of memory");
	__fsetlocking(mem, FSETLOCKING_BYCALLER);
}

static void env_free(void)
{
	if (mem)
		fclose(mem);
	free(membuf);
	free(url_member);
}

/* The queue_url member of url's envelopes. */
static const char *url_text(const char *url)
{
	if (url != url_member_for) {
		char *t = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&t, &n);
		if (!f)
			abort(); /* out of memory, as libjq itself */
		fputs("\"queue_url\":", f);
		jv_dumpf(jv_string(url), f, 0);
		if (fclose(f) != 0)
			abort();
		free(url_member);
		url_member = t;
		url_member_for = url;
	}
	return url_member;
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
		FILE *f = mem;
		fputc('{', f);
		fputs(url_text(m->queue_url), f);
		fputs(",\"message_id\":", f);
		jv_dumpf(jv_string(m->message_id), f, 0);
		fputs(",\"receipt_handle\":", f);
		jv_dumpf(jv_string(m->receipt), f, 0);
		fputs(",\"receive_count\":", f);
		jv_dumpf(jv_number(m->receive_count), f, 0);
		fputs(",\"sent_at\":", f);
		jv_dumpf(sent[0] ? jv_string(sent) : jv_null(), f, 0);
		fputs(",\"attributes\":", f);
		jv_dumpf(jv_copy(m->attributes), f, 0);
		fputs(",\"message_attributes\":", f);
		jv_dumpf(jv_copy(m->message_attributes), f, 0);
		fputs(",\"body\":", f);
		if (fwrite(btext, 1, blen, f) != blen || fputc('}', f) == EOF || fflush(f) != 0)
			abort(); /* a memory stream fails only for want of memory */
		r = cp_writer_line(out, membuf, memlen);
		if (fseeko(f, 0, SEEK_SET) != 0)
			abort();
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

/* ---- --heartbeat ---- */

/* A message written and not yet known to be deleted. */
struct hb_msg {
	char *receipt;
	int64_t recv_ms;          /* when it was received (monotonic clock) */
	int64_t due_ms;           /* when its visibility is to be set again */
};

/* A ChangeMessageVisibilityBatch in flight: it owns its messages until
 * its answer puts them back or lets them go. */
struct beat {
	struct beat *prev, *next;
	int64_t sent_ms;
	int seconds;
	size_t n;
	struct hb_msg m[CP_SQS_MAX_BATCH];
};

static int hb_t;                  /* T: the visibility timeout in effect (s) */
/* The messages held, in the order they fall due: a ring buffer.  All share
 * T, so a message received or extended is due T/2 later, never before
 * those already there (answers out of order go a few places from the
 * end); one whose change may pass goes back to the front, due at once. */
static struct hb_msg *hb;
static size_t hb_first, hb_n, hb_cap;
static struct beat *beats;        /* in flight */
static int64_t hb_pause_ms;       /* no change before (after one that may pass) */
static int64_t recv_after_ms;     /* a spool: no receive before */
static long hb_extended, hb_deleted, hb_max, hb_failed;
static char capped;               /* marks a spool receive whose wait was cut */

static struct hb_msg *hb_at(size_t i)
{
	return &hb[(hb_first + i) % hb_cap];
}

static int hb_grow(void)
{
	if (hb_n < hb_cap)
		return 0;
	size_t cap = hb_cap ? 2 * hb_cap : 64;
	struct hb_msg *h = malloc(cap * sizeof *h);
	if (!h)
		return -1;
	for (size_t i = 0; i < hb_n; i++)
		h[i] = *hb_at(i);
	free(hb);
	hb = h;
	hb_cap = cap;
	hb_first = 0;
	return 0;
}

/* A message that cannot be kept invisible any more: the first is told,
 * the others counted. */
static void hb_fail(struct hb_msg *m, const char *code, const char *message)
{
	if (hb_failed++ == 0)
		cp_warn("keeping a message invisible failed: %s: %s; it comes back after its "
		    "visibility timeout (more such failures are only counted)", code, message);
	free(m->receipt);
}

/* Puts m in its place by due time, looking from the end. */
static void hb_insert(struct hb_msg *m)
{
	if (hb_grow() < 0) {
		hb_fail(m, "OutOfMemory", "no memory to hold it");
		return;
	}
	size_t i = hb_n;
	for (; i > 0 && hb_at(i - 1)->due_ms > m->due_ms; i--)
		*hb_at(i) = *hb_at(i - 1);
	*hb_at(i) = *m;
	hb_n++;
}

static void hb_push_front(struct hb_msg *m)
{
	if (hb_grow() < 0) {
		hb_fail(m, "OutOfMemory", "no memory to hold it");
		return;
	}
	hb_first = (hb_first + hb_cap - 1) % hb_cap;
	hb_n++;
	*hb_at(0) = *m;
}

static void hb_pop_front(void)
{
	hb_first = (hb_first + 1) % hb_cap;
	hb_n--;
}

/* A message written: first due T/2 after its receive. */
static void hb_hold(const char *receipt, int64_t now)
{
	struct hb_msg m = { strdup(receipt), now, now + hb_t * 500LL };
	if (!m.receipt)
		hb_fail(&m, "OutOfMemory", "no memory to hold it");
	else
		hb_insert(&m);
}

/* Messages held, those being changed included. */
static size_t hb_held(void)
{
	size_t n = hb_n;
	for (const struct beat *b = beats; b; b = b->next)
		n += b->n;
	return n;
}

static void beaten(const struct cp_queue_status *st, size_t n, void *user)
{
	struct beat *b = user;
	int64_t now = cp_time_mono_ms();
	*(b->prev ? &b->prev->next : &beats) = b->next;
	if (b->next)
		b->next->prev = b->prev;
	for (size_t i = 0; i < b->n; i++) {
		struct hb_msg *m = &b->m[i];
		if (i >= n) {
			hb_fail(m, "MissingFromAnswer", "no status for this receipt");
		} else if (st[i].stale) {
			/* Deleted downstream (or received again elsewhere). */
			hb_deleted++;
			free(m->receipt);
		} else if (st[i].ok) {
			hb_extended++;
			if (b->seconds < hb_t) {
				/* The last change: it ends at MAX. */
				hb_max++;
				free(m->receipt);
			} else {
				m->due_ms = b->sent_ms + hb_t * 500LL;
				hb_insert(m);
			}
		} else if (st[i].retryable) {
			m->due_ms = now;
			hb_push_front(m);
			hb_pause_ms = now + 1000;
		} else {
			hb_fail(m, st[i].code, st[i].message);
		}
	}
	free(b);
}

/* Sets the visibility of the messages due to T again, 10 to a call; the
 * last change of a message is shorter, to end at MAX after its receive. */
static void hb_beat(int64_t now)
{
	char err[CP_ERR_LEN];
	while (hb_n && hb_at(0)->due_ms <= now && now >= hb_pause_ms) {
		struct beat *b = malloc(sizeof *b);
		if (!b) {
			hb_pause_ms = now + 1000;
			return;
		}
		b->n = 0;
		b->seconds = 0;
		b->sent_ms = now;
		while (b->n < CP_SQS_MAX_BATCH && hb_n && hb_at(0)->due_ms <= now) {
			struct hb_msg *m = hb_at(0);
			int64_t left = m->recv_ms + heartbeat * 1000LL - now;
			int seconds = left >= hb_t * 1000LL ? hb_t : (int)(left / 1000);
			if (seconds < 1) {
				/* At MAX, or less than a second from it. */
				hb_max++;
				free(m->receipt);
				hb_pop_front();
				continue;
			}
			if (b->n && seconds != b->seconds)
				break;
			b->seconds = seconds;
			b->m[b->n++] = *m;
			hb_pop_front();
		}
		if (b->n == 0) {
			free(b);
			continue;
		}
		const char *receipts[CP_SQS_MAX_BATCH];
		for (size_t i = 0; i < b->n; i++)
			receipts[i] = b->m[i].receipt;
		if (cp_queue_visibility(queue, queue_url, receipts, b->n, b->seconds, beaten, b, err) < 0) {
			for (size_t i = 0; i < b->n; i++)
				hb_fail(&b->m[i], "Error", err);
			free(b);
			continue;
		}
		b->prev = NULL;
		b->next = beats;
		if (beats)
			beats->prev = b;
		beats = b;
	}
}

/* Are messages still to be kept invisible before sqs-poll may end? */
static int hb_holding(void)
{
	return heartbeat && !cp_sig_stopping() && status != CP_EX_IOERR && (hb_n || beats);
}

/* When the heartbeat next has something to do (INT64_MAX: nothing). */
static int64_t hb_next(void)
{
	if (!heartbeat || hb_n == 0)
		return INT64_MAX;
	return hb_at(0)->due_ms > hb_pause_ms ? hb_at(0)->due_ms : hb_pause_ms;
}

/* A spool runs one operation at a time, so a long poll there would hold
 * up the changes queued after it: with --heartbeat it waits no longer than
 * until the next change falls due. */
static int recv_wait(int wait, int64_t now)
{
	int64_t next = hb_next();
	if (!heartbeat || !cp_queue_is_spool(queue_url) || next == INT64_MAX || next - now >= wait * 1000LL)
		return wait;
	return next > now ? (int)((next - now) / 1000) : 0;
}

static void hb_free(void)
{
	for (size_t i = 0; i < hb_n; i++)
		free(hb_at(i)->receipt);
	free(hb);
	while (beats) {
		struct beat *b = beats;
		beats = b->next;
		for (size_t i = 0; i < b->n; i++)
			free(b->m[i].receipt);
		free(b);
	}
}

static void received(const struct cp_queue_status *st, const struct cp_queue_msg *m,
    size_t n, void *user)
{
	int64_t now = cp_time_mono_ms();
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
	if (heartbeat)
		for (size_t i = 0; i < nkeep; i++)
			hb_hold(keep[i], now);
	ack(release, nrelease, 0);
	if (n == 0)
		empties++;
	else
		empties = 0;
	/* A spool receive cut short found nothing: no other before the
	 * changes due, or the loop would spin on empty short polls. */
	if (n == 0 && user == &capped)
		recv_after_ms = hb_next() != INT64_MAX ? hb_next() : now;
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
	if (cp_opts_parse(&tool, argc, argv, NULL, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
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
	if (heartbeat && (peek || del))
		cp_die(CP_EX_USAGE, "--heartbeat and %s contradict each other", peek ? "--peek" : "--delete");
	if (heartbeat && visibility == 0)
		cp_die(CP_EX_USAGE, "--heartbeat needs a --visibility-timeout of at least 1 second");
	hb_t = visibility > 0 ? visibility : 30;
	if (heartbeat && heartbeat <= hb_t)
		cp_die(CP_EX_USAGE, "--heartbeat %d: not longer than the visibility timeout (%d s): "
		    "nothing to keep", heartbeat, hb_t);
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);

	/* With --heartbeat, the changes need requests of their own beside
	 * the long polls. */
	if (cp_qopts_open(0, heartbeat ? receivers + 4 : 0, &queue, &queue_url, &status, err) < 0)
		cp_die(status, "%s", err);
	env_init();
	if (!(out = cp_writer_new(1, err)))
		cp_die(CP_EX_SOFTWARE, "%s", err);
	if (cp_common.progress && cp_progress_start(err) < 0)
		cp_warn("%s", err);
	/* A spool answers exactly: --until-empty need not wait long. */
	int wait = until_empty && cp_queue_is_spool(queue_url) && wait_s > 1 ? 1 : wait_s;
	/* A spool runs one operation at a time: with --heartbeat, one receive
	 * at a time, never while changes are out (their messages fall due
	 * again T/2 after, which the receive's wait must know). */
	int spool_hb = heartbeat && cp_queue_is_spool(queue_url);
	int nrecv = spool_hb ? 1 : receivers;
	int told = 0, signalled = 0;

	for (;;) {
		int64_t now = cp_time_mono_ms();
		if (cp_sig_stopping() && !signalled) {
			signalled = 1;
			if (!stop_receiving)
				cp_info("stopping: %d long polls left to expire", outstanding);
			if (heartbeat && hb_held())
				cp_info("stopping: the %zu messages held come back within %d s", hb_held(), hb_t);
			stop_receiving = 1;
		}
		while (!stop_receiving && outstanding < nrecv && now >= recv_after_ms && !(spool_hb && beats)) {
			int n = batch;
			if (max_msgs) {
				long left = max_msgs - written - (long)outstanding * batch;
				if (left <= 0)
					break;
				if (left < n)
					n = (int)left;
			}
			int w = recv_wait(wait, now);
			struct cp_queue_recv ro = { .max = n, .wait = w,
				.visibility = heartbeat ? hb_t : visibility, .stop_fd = cp_sig_fd() };
			if (cp_queue_receive(queue, queue_url, &ro, received, w < wait ? &capped : NULL, err) < 0) {
				cp_error("%s", err);
				status = CP_EX_SOFTWARE;
				stop_receiving = 1;
				break;
			}
			outstanding++;
		}
		if (heartbeat && !cp_sig_stopping() && status != CP_EX_IOERR)
			hb_beat(now);
		/* Done: nothing to receive, acknowledgements answered, nothing
		 * held; after a signal, long polls still open are left to
		 * expire, and what the heartbeat held too. */
		if (stop_receiving && acks == 0 && (outstanding == 0 || cp_sig_stopping())) {
			if (nheld)
				release_held();
			else if (!hb_holding())
				break;
			else if (!told++)
				cp_info("stopped receiving: keeping %zu messages invisible until they are deleted "
				    "downstream, at most %d s after their receive", hb_held(), heartbeat);
		}
		if (cp_writer_flush(out) < 0 && status != CP_EX_IOERR) {
			cp_error("writing output failed: stopping");
			status = CP_EX_IOERR;
			stop_receiving = 1;
		}
		int64_t until = hb_next();
		if (recv_after_ms > now && recv_after_ms < until)
			until = recv_after_ms;
		int timeout = until - now < 0 ? 0 : until - now < 1000 ? (int)(until - now) : 1000;
		struct pollfd fds[1] = { { .fd = cp_sig_fd(), .events = POLLIN } };
		if (cp_queue_run(queue, fds, 1, timeout, err) < 0) {
			cp_error("%s", err);
			status = CP_EX_SOFTWARE;
			break;
		}
	}
	cp_progress_stop();
	env_free();
	for (size_t i = 0; i < nheld; i++)
		free(held[i]);
	free(held);
	uint64_t corrupt = cp_queue_corrupt(queue);
	cp_queue_free(queue);
	size_t left = hb_held();
	hb_free();
	if (cp_writer_close(out, 0, err) < 0 && status != CP_EX_IOERR) {
		cp_error("%s", err);
		status = CP_EX_IOERR;
	}
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("received: %s; %ju withheld (MD5 mismatch)", err, (uintmax_t)corrupt);
		if (heartbeat)
			cp_info("heartbeat: extended %ld times; released %ld deleted downstream, "
			    "%ld at --heartbeat %d s, %ld failed, %zu left held", hb_extended, hb_deleted,
			    hb_max, heartbeat, hb_failed, left);
	}
	if (hb_failed > 1)
		cp_warn("%ld messages could not be kept invisible to the end", hb_failed);
	free(queue_url);
	return status;
}
