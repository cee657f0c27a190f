/* queue: see queue.h. */
#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "record.h"
#include "spool.h"
#include "sqs.h"
#include "timeutil.h"

enum op_kind { OP_SEND, OP_RECV, OP_DELETE, OP_VISIBILITY };

struct op {
	enum op_kind kind;
	struct cp_queue *q;
	char *url;
	void *user;
	cp_queue_send_fn *send_done;
	cp_queue_recv_fn *recv_done;
	cp_queue_ack_fn *ack_done;
	size_t n;
	/* send: copies of the entries, and their expected MD5s */
	struct cp_queue_entry *entries;
	char (*md5_body)[CP_SQS_MD5_LEN];
	char (*md5_attrs)[CP_SQS_MD5_LEN];
	/* receive */
	struct cp_queue_recv recv;
	/* delete / visibility */
	char **receipts;
	int seconds;
	struct op *next; /* the spool's run list */
};

struct spool_handle {
	char *path;
	struct cp_spool *h;
};

struct cp_queue {
	struct cp_queue_opts opts;
	struct cp_aws *aws;
	struct cp_sqs *sqs;
	struct spool_handle *spools;
	size_t nspools;
	struct op *head, *tail; /* spool operations waiting to run */
	int pending;
	uint64_t corrupt;
};

int cp_queue_is_spool(const char *url) { return cp_spool_is_url(url); }

struct cp_queue *cp_queue_new(const struct cp_queue_opts *o, char *err)
{
	struct cp_queue *q = calloc(1, sizeof *q);
	if (!q) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	q->opts = *o;
	return q;
}

static void op_free(struct op *op)
{
	if (!op)
		return;
	for (size_t i = 0; op->entries && i < op->n; i++) {
		free((char *)op->entries[i].body);
		free((char *)op->entries[i].attrs);
		free((char *)op->entries[i].group_id);
		free((char *)op->entries[i].dedup_id);
	}
	free(op->entries);
	free(op->md5_body);
	free(op->md5_attrs);
	for (size_t i = 0; op->receipts && i < op->n; i++)
		free(op->receipts[i]);
	free(op->receipts);
	free(op->url);
	free(op);
}

void cp_queue_free(struct cp_queue *q)
{
	if (!q)
		return;
	while (q->head) {
		struct op *n = q->head->next;
		op_free(q->head);
		q->head = n;
	}
	cp_sqs_free(q->sqs);
	cp_aws_free(q->aws);
	for (size_t i = 0; i < q->nspools; i++) {
		cp_spool_close(q->spools[i].h);
		free(q->spools[i].path);
	}
	free(q->spools);
	free(q);
}

static void op_free(struct op *op);

/* An SQS call dropped unfinished when the queue is freed. */
static void drop_op(void *user)
{
	op_free(user);
}

static struct cp_sqs *sqs_client(struct cp_queue *q, char *err)
{
	if (q->sqs)
		return q->sqs;
	if (!q->aws && !(q->aws = cp_aws_new(&q->opts.aws, err)))
		return NULL;
	struct cp_sqs_opts so = {
		.aws = q->aws,
		.max_in_flight = q->opts.max_in_flight,
		.retry = q->opts.retry,
		.insecure = q->opts.insecure,
	};
	q->sqs = cp_sqs_new(&so, err);
	if (q->sqs)
		cp_sqs_set_dropped(q->sqs, drop_op);
	return q->sqs;
}

static struct cp_spool *spool_handle(struct cp_queue *q, const char *url, int flags, char *err)
{
	char path[CP_SPOOL_PATH_LEN];
	if (cp_spool_url_path(url, path, sizeof path, err) < 0)
		return NULL;
	for (size_t i = 0; i < q->nspools; i++)
		if (strcmp(q->spools[i].path, path) == 0)
			return q->spools[i].h;
	struct cp_spool *h = cp_spool_open(path, flags, err);
	if (!h)
		return NULL;
	struct spool_handle *n = realloc(q->spools, (q->nspools + 1) * sizeof *n);
	char *p = strdup(path);
	if (!n || !p) {
		free(p);
		if (n)
			q->spools = n;
		cp_spool_close(h);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	q->spools = n;
	q->spools[q->nspools].path = p;
	q->spools[q->nspools++].h = h;
	return h;
}

static void st_fail(struct cp_queue_status *st, const char *code, const char *message)
{
	memset(st, 0, sizeof *st);
	st->code = code;
	st->message = message;
}

static void st_from_reply(struct cp_queue_status *st, const struct cp_sqs_reply *r)
{
	memset(st, 0, sizeof *st);
	st->ok = r->ok;
	st->code = r->code;
	st->message = r->message;
	st->retryable = r->retryable;
	st->auth = r->auth;
	st->missing = cp_sqs_code_is(r->code, "QueueDoesNotExist") ||
	    cp_sqs_code_is(r->type, "QueueDoesNotExist");
}

static struct op *op_new(struct cp_queue *q, enum op_kind kind, const char *url, void *user, char *err)
{
	struct op *op = calloc(1, sizeof *op);
	if (!op || !(op->url = strdup(url))) {
		free(op);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	op->kind = kind;
	op->q = q;
	op->user = user;
	return op;
}

static void spool_enqueue(struct cp_queue *q, struct op *op)
{
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->pending++;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* ---- send ---- */

/* The Failed[] entries of a batch answer: st (n statuses, stride bytes
 * apart) gets a per-entry failure for each valid Id, its code and message
 * copied into codes[i] and msgs[i].  Throttling is retryable even as a
 * sender's fault; otherwise the service's own faults are. */
static void batch_failed(jv result, size_t n, struct cp_queue_status *st, size_t stride,
    char (*codes)[64], char (*msgs)[CP_ERR_LEN])
{
	jv failed = jv_object_get(jv_copy(result), jv_string("Failed"));
	int nf = jv_get_kind(failed) == JV_KIND_ARRAY ? jv_array_length(jv_copy(failed)) : 0;
	for (int k = 0; k < nf; k++) {
		jv e = jv_array_get(jv_copy(failed), k);
		static const char *const names[] = { "Id", "Code", "Message", "SenderFault" };
		jv f[4];
		cp_record_members(&e, names, 4, f);
		jv id = f[0], code = f[1], msg = f[2], sf = f[3];
		long i = jv_get_kind(id) == JV_KIND_STRING ? strtol(jv_string_value(id), NULL, 10) : -1;
		jv_free(id);
		if (i >= 0 && (size_t)i < n) {
			struct cp_queue_status *t = (struct cp_queue_status *)((char *)st + (size_t)i * stride);
			snprintf(codes[i], sizeof codes[i], "%s",
			    jv_get_kind(code) == JV_KIND_STRING ? jv_string_value(code) : "Failed");
			snprintf(msgs[i], sizeof msgs[i], "%s",
			    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : codes[i]);
			st_fail(t, codes[i], msgs[i]);
			t->retryable = cp_retry_classify_aws(codes[i]) != CP_RETRY_NO ||
			    jv_get_kind(sf) == JV_KIND_FALSE;
			t->missing = cp_sqs_code_is(codes[i], "QueueDoesNotExist");
			/* Deleted, expired or received again.  Real SQS answers a
			 * visibility change for a deleted message with
			 * InvalidParameterValue: "Value … for parameter ReceiptHandle
			 * is invalid. Reason: Message does not exist or is not
			 * available for visibility timeout change." (seen in
			 * vmihailenco/taskq#29); emulators say MessageNotInflight. */
			t->stale = cp_sqs_code_is(codes[i], "MessageNotInflight") ||
			    cp_sqs_code_is(codes[i], "ReceiptHandleIsInvalid") ||
			    (cp_sqs_code_is(codes[i], "InvalidParameterValue") &&
			    strstr(msgs[i], "ReceiptHandle") && strstr(msgs[i], "does not exist"));
			t->entry = 1;
		}
		jv_free(code);
		jv_free(msg);
		jv_free(sf);
		jv_free(e);
	}
	jv_free(failed);
}

static void sqs_send_done(const struct cp_sqs_reply *r, void *user)
{
	struct op *op = user;
	struct cp_queue_sent *res = calloc(op->n, sizeof *res);
	char (*codes)[64] = calloc(op->n, sizeof *codes);
	char (*msgs)[CP_ERR_LEN] = calloc(op->n, sizeof *msgs);
	jv ids = jv_array(), seqs = jv_array();
	for (size_t i = 0; i < op->n; i++) {
		ids = jv_array_append(ids, jv_null());
		seqs = jv_array_append(seqs, jv_null());
	}
	if (!res || !codes || !msgs)
		abort(); /* out of memory in a callback: nothing sane to do */
	for (size_t i = 0; i < op->n; i++) {
		if (!r->ok) {
			st_from_reply(&res[i].st, r);
			continue;
		}
		st_fail(&res[i].st, "MissingFromAnswer", "the answer named neither success nor failure for this entry");
		res[i].st.retryable = res[i].st.entry = 1;
	}
	if (r->ok) {
		jv ok = jv_object_get(jv_copy(r->result), jv_string("Successful"));
		int nok = jv_get_kind(ok) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ok)) : 0;
		for (int k = 0; k < nok; k++) {
			jv e = jv_array_get(jv_copy(ok), k);
			static const char *const names[] = { "Id", "MessageId", "MD5OfMessageBody",
				"MD5OfMessageAttributes", "SequenceNumber" };
			jv f[5];
			cp_record_members(&e, names, 5, f);
			jv id = f[0], mid = f[1], md5 = f[2], md5a = f[3], seq = f[4];
			long i = jv_get_kind(id) == JV_KIND_STRING ? strtol(jv_string_value(id), NULL, 10) : -1;
			jv_free(id);
			if (i < 0 || (size_t)i >= op->n) {
				jv_free(mid);
				jv_free(md5);
				jv_free(md5a);
				jv_free(seq);
				jv_free(e);
				continue;
			}
			memset(&res[i].st, 0, sizeof res[i].st);
			if (jv_get_kind(md5) != JV_KIND_STRING || strcmp(jv_string_value(md5), op->md5_body[i]) != 0) {
				st_fail(&res[i].st, "MD5Mismatch", "MD5OfMessageBody differs from the body sent");
				res[i].st.retryable = res[i].st.entry = 1;
			} else if (op->md5_attrs[i][0] && (jv_get_kind(md5a) != JV_KIND_STRING ||
			    strcmp(jv_string_value(md5a), op->md5_attrs[i]) != 0)) {
				st_fail(&res[i].st, "MD5Mismatch", "MD5OfMessageAttributes differs from the attributes sent");
				res[i].st.retryable = res[i].st.entry = 1;
			} else {
				res[i].st.ok = 1;
				res[i].st.code = res[i].st.message = "";
			}
			ids = jv_array_set(ids, (int)i, jv_get_kind(mid) == JV_KIND_STRING ? mid : (jv_free(mid), jv_string("")));
			seqs = jv_array_set(seqs, (int)i, jv_get_kind(seq) == JV_KIND_STRING ? seq : (jv_free(seq), jv_string("")));
			jv_free(md5);
			jv_free(md5a);
			jv_free(e);
		}
		jv_free(ok);
		batch_failed(r->result, op->n, &res[0].st, sizeof *res, codes, msgs);
	}
	for (size_t i = 0; i < op->n; i++) {
		jv id = jv_array_get(jv_copy(ids), (int)i);
		jv seq = jv_array_get(jv_copy(seqs), (int)i);
		res[i].message_id = jv_get_kind(id) == JV_KIND_STRING ? jv_string_value(id) : "";
		res[i].sequence = jv_get_kind(seq) == JV_KIND_STRING ? jv_string_value(seq) : "";
		/* ids and seqs keep the strings alive. */
		jv_free(id);
		jv_free(seq);
	}
	op->q->pending--;
	op->send_done(res, op->n, op->user);
	jv_free(ids);
	jv_free(seqs);
	free(res);
	free(codes);
	free(msgs);
	op_free(op);
}

/* Batch requests are printed a member at a time: each value by libjq
 * (jv_dumpf()), joined by the fixed names, as sqs-poll prints its
 * envelopes.  Building them as jv objects cost a jv_string() of every
 * name for every entry, and libjq printing them again.  batch_open()
 * starts {"QueueUrl":…,"Entries":[ in a memory stream; batch_close() ends
 * it: 0 with *text (len bytes, to free), or -1 with err. */
static FILE *batch_open(const char *url, char **text, size_t *len, char *err)
{
	*text = NULL;
	FILE *f = open_memstream(text, len);
	if (!f) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	fputs("{\"QueueUrl\":", f);
	jv_dumpf(jv_string(url), f, 0);
	fputs(",\"Entries\":[", f);
	return f;
}

static int batch_close(FILE *f, char **text, char *err)
{
	fputs("]}", f);
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return cp_err_set(err, "out of memory");
	}
	return 0;
}

static int sqs_send(struct cp_queue *q, struct op *op, char *err)
{
	struct cp_sqs *s = sqs_client(q, err);
	if (!s)
		return -1;
	char *text;
	size_t len = 0;
	FILE *f = batch_open(op->url, &text, &len, err);
	if (!f)
		return -1;
	for (size_t i = 0; i < op->n; i++) {
		const struct cp_queue_entry *e = &op->entries[i];
		fprintf(f, "%s{\"Id\":\"%zu\",\"MessageBody\":", i ? "," : "", i);
		jv_dumpf(jv_string_sized(e->body, (int)e->body_len), f, 0);
		if (e->delay >= 0)
			fprintf(f, ",\"DelaySeconds\":%d", e->delay);
		if (e->attrs) {
			/* An object: cp_queue_send() checked it (cp_spool_attrs_md5). */
			fputs(",\"MessageAttributes\":", f);
			fwrite(e->attrs, 1, e->attrs_len, f);
		}
		if (e->group_id) {
			fputs(",\"MessageGroupId\":", f);
			jv_dumpf(jv_string(e->group_id), f, 0);
		}
		if (e->dedup_id) {
			fputs(",\"MessageDeduplicationId\":", f);
			jv_dumpf(jv_string(e->dedup_id), f, 0);
		}
		fputc('}', f);
	}
	if (batch_close(f, &text, err) < 0)
		return -1;
	int r = cp_sqs_call_text(s, "SendMessageBatch", op->url, text, len, 0, sqs_send_done, op, err);
	free(text);
	if (r < 0)
		return -1;
	q->pending++;
	return 0;
}

static void spool_send(struct op *op)
{
	char err[CP_ERR_LEN];
	struct cp_queue_sent *res = calloc(op->n, sizeof *res);
	struct cp_spool_entry *se = calloc(op->n, sizeof *se);
	struct cp_spool_result *sr = calloc(op->n, sizeof *sr);
	if (!res || !se || !sr)
		abort();
	struct cp_spool *h = spool_handle(op->q, op->url, CP_SPOOL_CREATE, err);
	int r = -1;
	if (h) {
		for (size_t i = 0; i < op->n; i++) {
			se[i].body = op->entries[i].body;
			se[i].body_len = op->entries[i].body_len;
			se[i].attrs = op->entries[i].attrs;
			se[i].attrs_len = op->entries[i].attrs_len;
			se[i].delay_seconds = op->entries[i].delay;
			se[i].group_id = op->entries[i].group_id;
			se[i].dedup_id = op->entries[i].dedup_id;
		}
		r = cp_spool_send_batch(h, se, op->n, sr, err);
	}
	for (size_t i = 0; i < op->n; i++) {
		if (r < 0) {
			st_fail(&res[i].st, h ? "SpoolIOError" : "SpoolOpenError", err);
			res[i].st.retryable = res[i].st.entry = h != NULL;
		} else if (sr[i].status < 0) {
			st_fail(&res[i].st, "InvalidMessage", sr[i].err);
		} else {
			res[i].st.ok = 1;
			res[i].st.code = res[i].st.message = "";
			res[i].message_id = sr[i].id;
		}
		if (!res[i].message_id)
			res[i].message_id = "";
		res[i].sequence = "";
	}
	op->send_done(res, op->n, op->user);
	free(res);
	free(se);
	free(sr);
}

int cp_queue_send(struct cp_queue *q, const char *url,
    const struct cp_queue_entry *e, size_t n, cp_queue_send_fn *done,
    void *user, char *err)
{
	if (n == 0 || n > CP_SQS_MAX_BATCH)
		return cp_err_set(err, "a batch holds 1 to 10 messages, not %zu", n);
	struct op *op = op_new(q, OP_SEND, url, user, err);
	if (!op)
		return -1;
	op->send_done = done;
	op->n = n;
	op->entries = calloc(n, sizeof *op->entries);
	op->md5_body = calloc(n, sizeof *op->md5_body);
	op->md5_attrs = calloc(n, sizeof *op->md5_attrs);
	if (!op->entries || !op->md5_body || !op->md5_attrs)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		struct cp_queue_entry *d = &op->entries[i];
		*d = e[i];
		d->body = dupn(e[i].body, e[i].body_len);
		d->attrs = e[i].attrs ? dupn(e[i].attrs, e[i].attrs_len) : NULL;
		d->group_id = e[i].group_id ? strdup(e[i].group_id) : NULL;
		d->dedup_id = e[i].dedup_id ? strdup(e[i].dedup_id) : NULL;
		if (!d->body || (e[i].attrs && !d->attrs) || (e[i].group_id && !d->group_id) ||
		    (e[i].dedup_id && !d->dedup_id))
			goto oom;
		cp_sqs_md5_hex(e[i].body, e[i].body_len, op->md5_body[i]);
		if (e[i].attrs && cp_spool_attrs_md5(e[i].attrs, e[i].attrs_len, op->md5_attrs[i], err) < 0) {
			op_free(op);
			return -1;
		}
	}
	if (cp_queue_is_spool(url)) {
		spool_enqueue(q, op);
		return 0;
	}
	if (sqs_send(q, op, err) < 0) {
		op_free(op);
		return -1;
	}
	return 0;
oom:
	op_free(op);
	return cp_err_set(err, "out of memory");
}

/* ---- receive ---- */

/* The number an SQS attribute's string holds, or 0.  Consumes v. */
static int64_t attr_num(jv v)
{
	int64_t r = jv_get_kind(v) == JV_KIND_STRING ? strtoll(jv_string_value(v), NULL, 10) : 0;
	jv_free(v);
	return r;
}

static void sqs_recv_done(const struct cp_sqs_reply *r, void *user)
{
	struct op *op = user;
	struct cp_queue_status st;
	st_from_reply(&st, r);
	struct cp_queue_msg *m = NULL;
	size_t n = 0;
	jv msgs = r->ok ? jv_object_get(jv_copy(r->result), jv_string("Messages")) : jv_null();
	int total = jv_get_kind(msgs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(msgs)) : 0;
	jv keep = jv_array(); /* holds the strings the messages point into */
	if (total > 0 && !(m = calloc((size_t)total, sizeof *m)))
		abort();
	for (int k = 0; k < total; k++) {
		jv e = jv_array_get(jv_copy(msgs), k);
		static const char *const names[] = { "Body", "MessageId", "ReceiptHandle", "MD5OfBody",
			"MD5OfMessageAttributes", "Attributes", "MessageAttributes" };
		jv f[7];
		cp_record_members(&e, names, 7, f);
		jv body = f[0], id = f[1], rh = f[2], md5 = f[3], md5a = f[4], attrs = f[5], mattrs = f[6];
		if (jv_get_kind(attrs) != JV_KIND_OBJECT) {
			jv_free(attrs);
			attrs = jv_object();
		}
		if (jv_get_kind(mattrs) != JV_KIND_OBJECT) {
			jv_free(mattrs);
			mattrs = jv_object();
		}
		const char *why = NULL;
		char md5hex[CP_SQS_MD5_LEN], err[CP_ERR_LEN];
		if (jv_get_kind(body) != JV_KIND_STRING || jv_get_kind(id) != JV_KIND_STRING ||
		    jv_get_kind(rh) != JV_KIND_STRING) {
			why = "a message without Body, MessageId or ReceiptHandle";
		} else {
			cp_sqs_md5_hex(jv_string_value(body), (size_t)jv_string_length_bytes(jv_copy(body)), md5hex);
			if (jv_get_kind(md5) == JV_KIND_STRING && strcmp(jv_string_value(md5), md5hex) != 0)
				why = "MD5OfBody does not match the body";
			else if (jv_get_kind(md5a) == JV_KIND_STRING && jv_object_length(jv_copy(mattrs)) > 0) {
				jv text = jv_dump_string(jv_copy(mattrs), 0);
				if (cp_spool_attrs_md5(jv_string_value(text),
				    (size_t)jv_string_length_bytes(jv_copy(text)), md5hex, err) < 0 ||
				    strcmp(md5hex, jv_string_value(md5a)) != 0)
					why = "MD5OfMessageAttributes does not match the attributes";
				jv_free(text);
			}
		}
		if (why) {
			op->q->corrupt++;
			cp_error("%s: message %s withheld: %s", op->url,
			    jv_get_kind(id) == JV_KIND_STRING ? jv_string_value(id) : "?", why);
			jv_free(body);
			jv_free(id);
			jv_free(rh);
			jv_free(attrs);
			jv_free(mattrs);
		} else {
			struct cp_queue_msg *x = &m[n++];
			x->queue_url = op->url;
			x->message_id = jv_string_value(id);
			x->receipt = jv_string_value(rh);
			x->body = jv_string_value(body);
			x->body_len = (size_t)jv_string_length_bytes(jv_copy(body));
			static const char *const an[] = { "ApproximateReceiveCount", "SentTimestamp" };
			jv a[2];
			cp_record_members(&attrs, an, 2, a);
			x->receive_count = (int)attr_num(a[0]);
			x->sent_ms = attr_num(a[1]);
			x->attributes = attrs;
			x->message_attributes = mattrs;
			keep = jv_array_append(keep, id);
			keep = jv_array_append(keep, rh);
			keep = jv_array_append(keep, body);
			keep = jv_array_append(keep, jv_copy(attrs));
			keep = jv_array_append(keep, jv_copy(mattrs));
			jv_free(attrs);
			jv_free(mattrs);
		}
		jv_free(md5);
		jv_free(md5a);
		jv_free(e);
	}
	jv_free(msgs);
	op->q->pending--;
	op->recv_done(&st, m, n, op->user);
	jv_free(keep);
	free(m);
	op_free(op);
}

static void spool_recv(struct op *op)
{
	char err[CP_ERR_LEN];
	struct cp_queue_status st;
	memset(&st, 0, sizeof st);
	struct cp_spool_msg sm[CP_SPOOL_RECV_MAX];
	struct cp_queue_msg m[CP_SPOOL_RECV_MAX];
	memset(sm, 0, sizeof sm);
	memset(m, 0, sizeof m);
	int n = -1;
	struct cp_spool *h = spool_handle(op->q, op->url, 0, err);
	if (h) {
		struct cp_spool_recv o;
		cp_spool_recv_default(&o);
		o.max = op->recv.max;
		o.wait_seconds = op->recv.wait;
		o.visibility_timeout = op->recv.visibility;
		o.stop_fd = op->recv.stop_fd;
		n = cp_spool_receive(h, &o, sm, err);
		const char *w = cp_spool_warning(h);
		if (w)
			cp_warn("%s: %s", op->url, w);
	}
	if (n < 0) {
		st_fail(&st, h ? "SpoolIOError" : "SpoolOpenError", err);
		st.missing = errno == ENOENT;
		st.retryable = !st.missing;
		n = 0;
	} else {
		st.ok = 1;
		st.code = st.message = "";
	}
	for (int i = 0; i < n; i++) {
		char num[32];
		jv a = jv_object();
		snprintf(num, sizeof num, "%lld", (long long)sm[i].sent_ms);
		a = jv_object_set(a, jv_string("SentTimestamp"), jv_string(num));
		snprintf(num, sizeof num, "%d", sm[i].receive_count);
		a = jv_object_set(a, jv_string("ApproximateReceiveCount"), jv_string(num));
		snprintf(num, sizeof num, "%lld", (long long)sm[i].first_receive_ms);
		a = jv_object_set(a, jv_string("ApproximateFirstReceiveTimestamp"), jv_string(num));
		a = jv_object_set(a, jv_string("SenderId"), jv_string(sm[i].sender_id));
		if (sm[i].group_id[0])
			a = jv_object_set(a, jv_string("MessageGroupId"), jv_string(sm[i].group_id));
		if (sm[i].dedup_id[0])
			a = jv_object_set(a, jv_string("MessageDeduplicationId"), jv_string(sm[i].dedup_id));
		jv ma = sm[i].attrs ? jv_parse_sized(sm[i].attrs, (int)sm[i].attrs_len) : jv_object();
		if (jv_get_kind(ma) != JV_KIND_OBJECT) {
			jv_free(ma);
			ma = jv_object();
		}
		m[i].queue_url = op->url;
		m[i].message_id = sm[i].id;
		m[i].receipt = sm[i].receipt;
		m[i].body = sm[i].body;
		m[i].body_len = sm[i].body_len;
		m[i].receive_count = sm[i].receive_count;
		m[i].sent_ms = sm[i].sent_ms;
		m[i].attributes = a;
		m[i].message_attributes = ma;
	}
	op->recv_done(&st, m, (size_t)n, op->user);
	for (int i = 0; i < n; i++) {
		jv_free(m[i].attributes);
		jv_free(m[i].message_attributes);
		cp_spool_msg_free(&sm[i]);
	}
}

int cp_queue_receive(struct cp_queue *q, const char *url,
    const struct cp_queue_recv *o, cp_queue_recv_fn *done, void *user, char *err)
{
	struct op *op = op_new(q, OP_RECV, url, user, err);
	if (!op)
		return -1;
	op->recv_done = done;
	op->recv = *o;
	if (cp_queue_is_spool(url)) {
		spool_enqueue(q, op);
		return 0;
	}
	struct cp_sqs *s = sqs_client(q, err);
	if (!s) {
		op_free(op);
		return -1;
	}
	jv all = JV_ARRAY(jv_string("All"));
	jv req = JV_OBJECT(jv_string("QueueUrl"), jv_string(url),
	    jv_string("MaxNumberOfMessages"), jv_number(o->max),
	    jv_string("WaitTimeSeconds"), jv_number(o->wait),
	    jv_string("MessageSystemAttributeNames"), jv_copy(all),
	    jv_string("AttributeNames"), jv_copy(all),
	    jv_string("MessageAttributeNames"), all);
	if (o->visibility >= 0)
		req = jv_object_set(req, jv_string("VisibilityTimeout"), jv_number(o->visibility));
	/* The read timeout must exceed the long poll. */
	if (cp_sqs_call(s, "ReceiveMessage", url, req, (long)o->wait * 1000 + 15000,
	    sqs_recv_done, op, err) < 0) {
		op_free(op);
		return -1;
	}
	q->pending++;
	return 0;
}

/* ---- delete, visibility ---- */

static void sqs_ack_done(const struct cp_sqs_reply *r, void *user)
{
	struct op *op = user;
	struct cp_queue_status *st = calloc(op->n, sizeof *st);
	char (*codes)[64] = calloc(op->n, sizeof *codes);
	char (*msgs)[CP_ERR_LEN] = calloc(op->n, sizeof *msgs);
	if (!st || !codes || !msgs)
		abort();
	for (size_t i = 0; i < op->n; i++) {
		if (!r->ok) {
			st_from_reply(&st[i], r);
		} else {
			st_fail(&st[i], "MissingFromAnswer", "the answer named neither success nor failure for this entry");
			st[i].retryable = st[i].entry = 1;
		}
	}
	if (r->ok) {
		jv ok = jv_object_get(jv_copy(r->result), jv_string("Successful"));
		int nok = jv_get_kind(ok) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ok)) : 0;
		for (int k = 0; k < nok; k++) {
			jv id = jv_object_get(jv_array_get(jv_copy(ok), k), jv_string("Id"));
			long i = jv_get_kind(id) == JV_KIND_STRING ? strtol(jv_string_value(id), NULL, 10) : -1;
			jv_free(id);
			if (i >= 0 && (size_t)i < op->n) {
				memset(&st[i], 0, sizeof st[i]);
				st[i].ok = 1;
				st[i].code = st[i].message = "";
			}
		}
		jv_free(ok);
		batch_failed(r->result, op->n, st, sizeof *st, codes, msgs);
	}
	op->q->pending--;
	op->ack_done(st, op->n, op->user);
	free(st);
	free(codes);
	free(msgs);
	op_free(op);
}

static void spool_ack(struct op *op)
{
	char err[CP_ERR_LEN], (*msgs)[CP_ERR_LEN] = calloc(op->n, CP_ERR_LEN);
	struct cp_queue_status *st = calloc(op->n, sizeof *st);
	if (!st || !msgs)
		abort();
	struct cp_spool *h = spool_handle(op->q, op->url, 0, err);
	for (size_t i = 0; i < op->n; i++) {
		int r;
		if (!h) {
			r = -1;
			snprintf(msgs[i], CP_ERR_LEN, "%s", err);
		} else if (op->kind == OP_DELETE) {
			r = cp_spool_delete(h, op->receipts[i], msgs[i]);
		} else {
			r = cp_spool_change_visibility(h, op->receipts[i], op->seconds, msgs[i]);
		}
		if (r < 0) {
			int e = errno;
			st_fail(&st[i], e == EINVAL ? "ReceiptHandleIsInvalid" : "SpoolIOError", msgs[i]);
			st[i].missing = !h && e == ENOENT;
			st[i].retryable = st[i].entry = e != EINVAL && !st[i].missing;
		} else {
			st[i].ok = 1;
			st[i].stale = r == CP_SPOOL_STALE;
			st[i].code = st[i].message = "";
		}
	}
	op->ack_done(st, op->n, op->user);
	free(st);
	free(msgs);
}

static int ack(struct cp_queue *q, enum op_kind kind, const char *url,
    const char *const *receipts, size_t n, int seconds, cp_queue_ack_fn *done,
    void *user, char *err)
{
	if (n == 0 || n > CP_SQS_MAX_BATCH)
		return cp_err_set(err, "a batch holds 1 to 10 receipt handles, not %zu", n);
	struct op *op = op_new(q, kind, url, user, err);
	if (!op)
		return -1;
	op->ack_done = done;
	op->n = n;
	op->seconds = seconds;
	if (!(op->receipts = calloc(n, sizeof *op->receipts))) {
		op_free(op);
		return cp_err_set(err, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (!(op->receipts[i] = strdup(receipts[i]))) {
			op_free(op);
			return cp_err_set(err, "out of memory");
		}
	if (cp_queue_is_spool(url)) {
		spool_enqueue(q, op);
		return 0;
	}
	struct cp_sqs *s = sqs_client(q, err);
	if (!s) {
		op_free(op);
		return -1;
	}
	char *text;
	size_t len = 0;
	FILE *f = batch_open(url, &text, &len, err);
	if (!f) {
		op_free(op);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"Id\":\"%zu\",\"ReceiptHandle\":", i ? "," : "", i);
		jv_dumpf(jv_string(receipts[i]), f, 0);
		if (kind == OP_VISIBILITY)
			fprintf(f, ",\"VisibilityTimeout\":%d", seconds);
		fputc('}', f);
	}
	const char *opname = kind == OP_DELETE ? "DeleteMessageBatch" : "ChangeMessageVisibilityBatch";
	if (batch_close(f, &text, err) < 0 ||
	    cp_sqs_call_text(s, opname, url, text, len, 0, sqs_ack_done, op, err) < 0) {
		free(text);
		op_free(op);
		return -1;
	}
	free(text);
	q->pending++;
	return 0;
}

int cp_queue_delete(struct cp_queue *q, const char *url,
    const char *const *receipts, size_t n, cp_queue_ack_fn *done, void *user,
    char *err)
{
	return ack(q, OP_DELETE, url, receipts, n, 0, done, user, err);
}

int cp_queue_visibility(struct cp_queue *q, const char *url,
    const char *const *receipts, size_t n, int seconds, cp_queue_ack_fn *done,
    void *user, char *err)
{
	return ack(q, OP_VISIBILITY, url, receipts, n, seconds, done, user, err);
}

/* ---- driving ---- */

int cp_queue_check(struct cp_queue *q, const char *url, int create,
    struct cp_queue_status *st, char *err)
{
	memset(st, 0, sizeof *st);
	st->code = st->message = "";
	if (cp_queue_is_spool(url)) {
		if (spool_handle(q, url, create ? CP_SPOOL_CREATE : 0, err))
			return 0;
		st_fail(st, errno == ENOENT ? "QueueDoesNotExist" : "SpoolOpenError", err);
		st->missing = errno == ENOENT;
		st->config = !st->missing;
		if (st->missing)
			cp_err_set(err, "%s: no such queue (sqs-queue create %s makes one)", url, url);
		return -1;
	}
	struct cp_sqs *s = sqs_client(q, err);
	if (!s || cp_sqs_check(s, url, err) < 0) {
		st_fail(st, "ConfigError", err);
		st->config = 1;
		return -1;
	}
	return 0;
}

int cp_queue_pending(const struct cp_queue *q) { return q->pending; }
uint64_t cp_queue_corrupt(const struct cp_queue *q) { return q->corrupt; }

/* Runs the first spool operation waiting: one per cp_queue_run(), so the
 * program can write out and flush what it got before the next (a spool
 * receive may wait up to its wait time). */
static int run_spool(struct cp_queue *q)
{
	int done = 0;
	if (q->head) {
		struct op *op = q->head;
		q->head = op->next;
		if (!q->head)
			q->tail = NULL;
		q->pending--;
		switch (op->kind) {
		case OP_SEND: spool_send(op); break;
		case OP_RECV: spool_recv(op); break;
		default: spool_ack(op); break;
		}
		op_free(op);
		done++;
	}
	return done;
}

int cp_queue_run(struct cp_queue *q, struct pollfd *fds, unsigned nfds,
    int timeout_ms, char *err)
{
	int done = run_spool(q);
	if (done > 0)
		timeout_ms = 0;
	for (unsigned i = 0; i < nfds; i++)
		fds[i].revents = 0;
	if (!q->sqs) {
		if (nfds == 0 && timeout_ms == 0)
			return done;
		int n = poll(fds, nfds, timeout_ms);
		if (n < 0 && errno != EINTR)
			return cp_err_set(err, "poll: %s", strerror(errno));
		return done;
	}
	struct curl_waitfd w[8];
	if (nfds > 8)
		nfds = 8;
	for (unsigned i = 0; i < nfds; i++) {
		w[i].fd = fds[i].fd;
		w[i].events = (short)((fds[i].events & POLLIN ? CURL_WAIT_POLLIN : 0) |
		    (fds[i].events & POLLOUT ? CURL_WAIT_POLLOUT : 0));
		w[i].revents = 0;
	}
	int n = cp_http_run_fds(cp_sqs_http(q->sqs), w, nfds, timeout_ms, err);
	if (n < 0)
		return -1;
	for (unsigned i = 0; i < nfds; i++)
		fds[i].revents = (short)((w[i].revents & CURL_WAIT_POLLIN ? POLLIN : 0) |
		    (w[i].revents & CURL_WAIT_POLLOUT ? POLLOUT : 0));
	return done + n;
}

/* ---- management ---- */

struct sync_call {
	int done;
	jv out;
	char code[64], message[CP_ERR_LEN];
	struct cp_queue_status st;
};

static void sync_done(const struct cp_sqs_reply *r, void *user)
{
	struct sync_call *c = user;
	c->done = 1;
	st_from_reply(&c->st, r);
	snprintf(c->code, sizeof c->code, "%s", r->code);
	snprintf(c->message, sizeof c->message, "%s", r->message);
	c->out = r->ok ? jv_copy(r->result) : jv_null();
}

static int spool_call(struct cp_queue *q, const char *op, const char *url,
    jv request, jv *out, struct cp_queue_status *st, char *err)
{
	char path[CP_SPOOL_PATH_LEN];
	memset(st, 0, sizeof *st);
	st->code = st->message = "";
	if (cp_spool_url_path(url, path, sizeof path, err) < 0) {
		jv_free(request);
		st_fail(st, "InvalidParameterValue", err);
		return -1;
	}
	int r = 0;
	*out = jv_object();
	if (strcmp(op, "CreateQueue") == 0) {
		struct cp_spool_config c;
		cp_spool_config_default(&c);
		jv a = jv_object_get(jv_copy(request), jv_string("Attributes"));
		if (jv_get_kind(a) == JV_KIND_OBJECT) {
			jv_object_foreach(a, k, v) {
				const char *name = jv_string_value(k);
				const char *val = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
				int num = atoi(val);
				if (strcmp(name, "VisibilityTimeout") == 0)
					c.visibility_timeout = num;
				else if (strcmp(name, "DelaySeconds") == 0)
					c.delay_seconds = num;
				else if (strcmp(name, "MessageRetentionPeriod") == 0)
					c.retention_period = num;
				else if (strcmp(name, "ReceiveMessageWaitTimeSeconds") == 0)
					c.receive_wait = num;
				else if (strcmp(name, "FifoQueue") == 0)
					c.fifo = strcmp(val, "true") == 0;
				else if (strcmp(name, "RedrivePolicy") == 0) {
					jv p = jv_parse(val);
					jv t = jv_object_get(jv_copy(p), jv_string("deadLetterTargetArn"));
					jv m = jv_object_get(p, jv_string("maxReceiveCount"));
					if (jv_get_kind(t) == JV_KIND_STRING &&
					    cp_spool_url_path(jv_string_value(t), c.dead_letter_queue,
					    sizeof c.dead_letter_queue, NULL) < 0)
						snprintf(c.dead_letter_queue, sizeof c.dead_letter_queue, "%s",
						    jv_string_value(t));
					c.max_receive_count = jv_get_kind(m) == JV_KIND_NUMBER ?
					    (int)jv_number_value(m) : jv_get_kind(m) == JV_KIND_STRING ?
					    atoi(jv_string_value(m)) : 0;
					jv_free(t);
					jv_free(m);
				}
				jv_free(k);
				jv_free(v);
			}
		}
		jv_free(a); /* jv_object_foreach does not consume it */
		r = cp_spool_create(path, &c, err);
		if (r == 0) {
			jv_free(*out);
			*out = JV_OBJECT(jv_string("QueueUrl"), jv_string(url));
		}
	} else if (strcmp(op, "DeleteQueue") == 0) {
		r = cp_spool_remove(path, err);
	} else if (strcmp(op, "GetQueueUrl") == 0) {
		struct cp_spool *h = cp_spool_open(path, 0, err);
		r = h ? 0 : -1;
		cp_spool_close(h);
		if (r == 0) {
			jv_free(*out);
			*out = JV_OBJECT(jv_string("QueueUrl"), jv_string(url));
		}
	} else if (strcmp(op, "PurgeQueue") == 0 || strcmp(op, "GetQueueAttributes") == 0) {
		struct cp_spool *h = spool_handle(q, url, 0, err);
		if (!h) {
			r = -1;
		} else if (op[0] == 'P') {
			r = cp_spool_purge(h, err);
		} else {
			struct cp_spool_stats s;
			r = cp_spool_stats(h, &s, err);
			const struct cp_spool_config *c = cp_spool_get_config(h);
			char b[64];
			jv a = jv_object();
#define NUM(name, v) (snprintf(b, sizeof b, "%lld", (long long)(v)), \
	a = jv_object_set(a, jv_string(name), jv_string(b)))
			NUM("ApproximateNumberOfMessages", s.visible);
			NUM("ApproximateNumberOfMessagesNotVisible", s.not_visible);
			NUM("ApproximateNumberOfMessagesDelayed", s.delayed);
			NUM("VisibilityTimeout", c->visibility_timeout);
			NUM("DelaySeconds", c->delay_seconds);
			NUM("MessageRetentionPeriod", c->retention_period);
			NUM("ReceiveMessageWaitTimeSeconds", c->receive_wait);
			NUM("MaximumMessageSize", CP_SPOOL_MAX_BODY);
			NUM("CreatedTimestamp", c->created);
#undef NUM
			if (c->max_receive_count > 0) {
				jv p = JV_OBJECT(jv_string("deadLetterTargetArn"),
				    jv_string_fmt("file:%s", c->dead_letter_queue),
				    jv_string("maxReceiveCount"), jv_number(c->max_receive_count));
				a = jv_object_set(a, jv_string("RedrivePolicy"), jv_dump_string(p, 0));
			}
			if (s.corrupt)
				a = jv_object_set(a, jv_string("chatpipe:Corrupt"), jv_string_fmt("%ld", s.corrupt));
			jv_free(*out);
			*out = JV_OBJECT(jv_string("Attributes"), a);
		}
	} else {
		r = cp_err_set(err, "%s is not available on a spool queue", op);
		errno = EINVAL;
	}
	jv_free(request);
	if (r < 0) {
		jv_free(*out);
		*out = jv_null();
		int e = errno;
		st_fail(st, e == ENOENT ? "QueueDoesNotExist" :
		    e == EEXIST ? "QueueNameExists" : "SpoolError", err);
		st->missing = e == ENOENT;
		st->config = e == EEXIST || e == EINVAL;
		return -1;
	}
	st->ok = 1;
	return 0;
}

int cp_queue_call(struct cp_queue *q, const char *op, const char *url,
    jv request, jv *out, struct cp_queue_status *st, char *err)
{
	if (url && cp_queue_is_spool(url))
		return spool_call(q, op, url, request, out, st, err);
	static struct sync_call c;
	memset(&c, 0, sizeof c);
	memset(st, 0, sizeof *st);
	st->code = st->message = "";
	struct cp_sqs *s = sqs_client(q, err);
	if (!s) {
		jv_free(request);
		st_fail(st, "ConfigError", err);
		return -1;
	}
	if (cp_sqs_call(s, op, url, request, 0, sync_done, &c, err) < 0) {
		st_fail(st, "ConfigError", err);
		return -1;
	}
	q->pending++;
	while (!c.done)
		if (cp_http_run(cp_sqs_http(s), 1000, err) < 0) {
			st_fail(st, "InternalError", err);
			return -1;
		}
	q->pending--;
	*st = c.st;
	st->code = c.code;
	st->message = c.message;
	*out = c.out;
	if (!st->ok)
		return cp_err_set(err, "%s: %s (%s)", op, c.message, c.code);
	return 0;
}
