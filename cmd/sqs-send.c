/* sqs-send: send each input line's record as a message to a queue.
 *
 * Reads JSON lines; each line's record (the body of an envelope, else the
 * line itself, byte for byte) becomes one message of the queue named by
 * --queue-url (SQS, or file:DIR for a local spool).  Messages go out in
 * SendMessageBatch calls of up to 10 entries and 1 MiB, several in flight.
 * Writes each input line, unchanged, once its message is accepted (the
 * MD5 of body and attributes checked), so "sqs-send | sqs-delete" moves
 * messages between queues losing nothing: a line reaches sqs-delete only
 * after its copy is safely in the other queue.  Lines that cannot be sent
 * are rejected with the reason; per-entry failures such as throttling are
 * retried first.  An envelope keeps its message attributes and FIFO group
 * and deduplication ids (a redrive); jq expressions can set them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "diag.h"
#include "jqexpr.h"
#include "opts.h"
#include "progress.h"
#include "qopts.h"
#include "qstage.h"
#include "record.h"
#include "sig.h"
#include "sqs.h"
#include "stage.h"

static const char *group_expr, *dedup_expr, *delay_expr;
static int batch_max = 10, linger_ms, max_line;
static struct { char *name; struct cp_jq *q; } attrs[10];
static int nattrs;

enum { OPT_ATTR = 1 };

static struct poptOption options[] = {
	{ "group-id", 0, POPT_ARG_STRING, &group_expr, 0,
	  "FIFO MessageGroupId: a jq expression on the record", "EXPR" },
	{ "dedup-id", 0, POPT_ARG_STRING, &dedup_expr, 0,
	  "FIFO MessageDeduplicationId: a jq expression on the record", "EXPR" },
	{ "delay", 0, POPT_ARG_STRING, &delay_expr, 0,
	  "DelaySeconds (0-900): a number or a jq expression on the record", "EXPR" },
	{ "attr", 'a', POPT_ARG_STRING, NULL, OPT_ATTR,
	  "a message attribute NAME whose value is the jq expression EXPR (repeatable)", "NAME=EXPR" },
	{ "batch", 'b', POPT_ARG_INT, &batch_max, 0, "messages per SendMessageBatch (1-10; 10)", "N" },
	{ "linger", 0, POPT_ARG_INT, &linger_ms, 0,
	  "wait up to MS for a fuller batch while input flows (0)", "MS" },
	{ "max-line", 0, POPT_ARG_INT, &max_line, 0, "longest line accepted (8 MiB: an envelope; a message body is at most 1 MiB)", "BYTES" },
	{ NULL, 0, POPT_ARG_INCLUDE_TABLE, cp_qopts_table, 0, "Queue and AWS options:", NULL },
	POPT_TABLEEND
};

static int on_option(int val, const char *arg, char *err)
{
	if (val != OPT_ATTR)
		return 0;
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return cp_err_set(err, "--attr: '%s' is not NAME=EXPR", arg);
	if (nattrs == 10)
		return cp_err_set(err, "--attr: a message has at most 10 attributes");
	attrs[nattrs].name = strndup(arg, (size_t)(eq - arg));
	if (!(attrs[nattrs].q = cp_jq_new(eq + 1, err)))
		return -1;
	nattrs++;
	return 0;
}

static const struct cp_tool tool = {
	.name = "sqs-send",
	.summary = "Send each line's record as a message to an SQS queue or a local spool.",
	.options = options,
	.on_option = on_option,
};

static struct cp_queue *queue;
static char *queue_url;
static struct cp_jq *group_q, *dedup_q, *delay_q;

struct msg {
	char *body;        /* NULL: the item's line is the body */
	size_t body_len;
	char *attrs;       /* MessageAttributes JSON or NULL */
	char *group, *dedup;
	int delay;
};

static void msg_free(void *p)
{
	struct msg *m = p;
	if (!m)
		return;
	free(m->body);
	free(m->attrs);
	free(m->group);
	free(m->dedup);
	free(m);
}

/* An attribute as SendMessage takes it: DataType and one value, without
 * the empty list members ReceiveMessage adds. */
static jv clean_attr(jv a)
{
	jv o = jv_object();
	static const char *const keep[] = { "DataType", "StringValue", "BinaryValue" };
	for (size_t i = 0; i < 3; i++) {
		jv v = jv_object_get(jv_copy(a), jv_string(keep[i]));
		if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL)
			o = jv_object_set(o, jv_string(keep[i]), v);
		else
			jv_free(v);
	}
	jv_free(a);
	return o;
}

/* The deduplication id of a FIFO message moved from another queue.  Not
 * its old one: the destination remembers ids for 5 minutes and would
 * drop the copy as a duplicate while sqs-delete deletes the original.
 * A digest of the envelope's message id instead: a redrive of the same
 * message repeated within 5 minutes is still deduplicated. */
static char *redrive_dedup(const jv *env)
{
	jv id = cp_record_get(env, "message_id");
	const char *s = jv_get_kind(id) == JV_KIND_STRING ? jv_string_value(id) : "";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	jv_free(id);
	char *out = malloc(8 + 2 * n + 1);
	if (!out)
		return NULL;
	strcpy(out, "redrive-");
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 8 + 2 * i, "%02x", md[i]);
	return out;
}

static int string_of(struct cp_jq *q, jv rec, char **out, const char *what, char *err)
{
	jv s;
	char e[CP_ERR_LEN];
	if (cp_jq_eval_string(q, rec, &s, e) < 0)
		return cp_err_set(err, "%s: %s", what, e);
	*out = strdup(jv_string_value(s));
	jv_free(s);
	return *out ? 0 : cp_err_set(err, "out of memory");
}

static int any_expr(void)
{
	return group_q || dedup_q || delay_q || nattrs;
}

/* Copies n bytes into m->body. */
static int set_body(struct msg *m, const char *s, size_t n)
{
	/* Not strdup: a string body may hold NUL ("\u0000"). */
	if (!(m->body = malloc(n + 1)))
		return -1;
	memcpy(m->body, s, n);
	m->body[n] = 0;
	m->body_len = n;
	return 0;
}

/* What a line holds: a bare record (sent as the line's bytes), or an
 * envelope, whose body is sent: a JSON string's contents, else the body's
 * JSON text, as it appears in the line when the envelope ends with it (as
 * sqs-poll writes them), else as libjq prints it.  *env gets the envelope
 * (borrowed by the caller, jv_invalid() for a bare record) and *rec the
 * record, parsed only when want_rec. */
static int split_line(const struct cp_stage_item *it, struct msg *m, int want_rec, jv *env,
    jv *rec, char *err)
{
	size_t off, len;
	*env = jv_invalid();
	*rec = jv_invalid();
	if (cp_record_maybe_envelope(it->line, it->line_len)) {
		jv head;
		if (cp_record_split(it->line, it->line_len, &head, &off, &len)) {
			if (jv_get_kind(head) == JV_KIND_OBJECT &&
			    (jv_object_has(jv_copy(head), jv_string("receipt_handle")) ||
			    jv_object_has(jv_copy(head), jv_string("message_id")))) {
				*env = head;
				const char *text = it->line + off;
				if (text[0] == '"' || want_rec) {
					*rec = jv_parse_sized(text, (int)len);
					if (jv_get_kind(*rec) == JV_KIND_STRING)
						return set_body(m, jv_string_value(*rec),
						    (size_t)jv_string_length_bytes(jv_copy(*rec))) < 0 ?
						    cp_err_set(err, "out of memory") : 0;
				}
				return set_body(m, text, len) < 0 ? cp_err_set(err, "out of memory") : 0;
			}
			jv_free(head);
		} else {
			jv v = jv_parse_sized(it->line, (int)it->line_len);
			if (cp_record_is_envelope(&v)) {
				*rec = cp_record_body(&v);
				*env = v;
				if (jv_get_kind(*rec) == JV_KIND_STRING)
					return set_body(m, jv_string_value(*rec),
					    (size_t)jv_string_length_bytes(jv_copy(*rec))) < 0 ?
					    cp_err_set(err, "out of memory") : 0;
				jv d = jv_dump_string(jv_copy(*rec), 0);
				int r = set_body(m, jv_string_value(d), (size_t)jv_string_length_bytes(jv_copy(d)));
				jv_free(d);
				return r < 0 ? cp_err_set(err, "out of memory") : 0;
			}
			*rec = v;
			return 0;
		}
	}
	if (want_rec)
		*rec = jv_parse_sized(it->line, (int)it->line_len);
	return 0;
}

static int prepare(struct cp_stage *s, jv line, struct cp_stage_item *it, char *err)
{
	(void)s;
	(void)line;
	struct msg *m = calloc(1, sizeof *m);
	if (!m)
		return cp_err_set(err, "out of memory");
	it->data = m;
	m->delay = -1;
	jv v, rec, mattrs = jv_object();
	if (split_line(it, m, any_expr(), &v, &rec, err) < 0) {
		jv_free(v);
		goto fail;
	}
	if (jv_is_valid(v)) {
		/* A redrive keeps what the message had. */
		jv ma = cp_record_get(&v, "message_attributes");
		if (jv_get_kind(ma) == JV_KIND_OBJECT) {
			jv_object_foreach(ma, k, a) mattrs = jv_object_set(mattrs, k, clean_attr(a));
		}
		jv_free(ma);
		jv sa = cp_record_get(&v, "attributes");
		if (jv_get_kind(sa) == JV_KIND_OBJECT) {
			jv g = jv_object_get(jv_copy(sa), jv_string("MessageGroupId"));
			jv d = jv_object_get(jv_copy(sa), jv_string("MessageDeduplicationId"));
			int oom = (jv_get_kind(g) == JV_KIND_STRING && !(m->group = strdup(jv_string_value(g)))) ||
			    (jv_get_kind(d) == JV_KIND_STRING && !(m->dedup = redrive_dedup(&v)));
			jv_free(g);
			jv_free(d);
			if (oom) {
				jv_free(sa);
				jv_free(v);
				goto oom;
			}
		}
		jv_free(sa);
	}
	jv_free(v);
	size_t body_len = m->body ? m->body_len : it->line_len;
	const char *body = m->body ? m->body : it->line;
	if (group_q) {
		free(m->group);
		m->group = NULL;
		if (string_of(group_q, jv_copy(rec), &m->group, "--group-id", err) < 0)
			goto fail;
	}
	if (dedup_q) {
		free(m->dedup);
		m->dedup = NULL;
		if (string_of(dedup_q, jv_copy(rec), &m->dedup, "--dedup-id", err) < 0)
			goto fail;
	}
	if (delay_q) {
		jv d;
		char e[CP_ERR_LEN];
		if (cp_jq_eval(delay_q, jv_copy(rec), &d, e) < 0) {
			cp_err_set(err, "--delay: %s", e);
			goto fail;
		}
		double x = jv_get_kind(d) == JV_KIND_NUMBER ? jv_number_value(d) : -1;
		jv_free(d);
		if (x < 0 || x > 900 || x != (int)x) {
			cp_err_set(err, "--delay: not a whole number of seconds from 0 to 900");
			goto fail;
		}
		m->delay = (int)x;
	}
	for (int i = 0; i < nattrs; i++) {
		jv a;
		char e[CP_ERR_LEN];
		if (cp_jq_eval(attrs[i].q, jv_copy(rec), &a, e) < 0) {
			cp_err_set(err, "--attr %s: %s", attrs[i].name, e);
			goto fail;
		}
		jv val;
		if (jv_get_kind(a) == JV_KIND_STRING) {
			val = JV_OBJECT(jv_string("DataType"), jv_string("String"), jv_string("StringValue"), a);
		} else if (jv_get_kind(a) == JV_KIND_NUMBER) {
			val = JV_OBJECT(jv_string("DataType"), jv_string("Number"),
			    jv_string("StringValue"), jv_dump_string(a, 0));
		} else if (jv_get_kind(a) == JV_KIND_NULL) {
			jv_free(a);
			continue; /* no value: no attribute */
		} else {
			val = JV_OBJECT(jv_string("DataType"), jv_string("String"),
			    jv_string("StringValue"), jv_dump_string(a, 0));
		}
		mattrs = jv_object_set(mattrs, jv_string(attrs[i].name), val);
	}
	size_t attrs_len = 0;
	if (jv_object_length(jv_copy(mattrs)) > 0) {
		jv d = jv_dump_string(jv_copy(mattrs), 0);
		m->attrs = strdup(jv_string_value(d));
		attrs_len = (size_t)jv_string_length_bytes(jv_copy(d));
		jv_free(d);
		if (!m->attrs)
			goto oom;
	}
	if (body_len == 0) {
		cp_err_set(err, "an empty message body");
		goto fail;
	}
	if (!cp_queue_is_spool(queue_url) && cp_sqs_body_check(body, body_len, err) < 0)
		goto fail;
	if (!(it->key = strdup(queue_url)))
		goto oom;
	it->size = body_len + attrs_len;
	if (it->size > CP_SQS_MAX_PAYLOAD) {
		cp_err_set(err, "message too large: %zu bytes with its attributes, the limit is %d",
		    it->size, CP_SQS_MAX_PAYLOAD);
		goto fail;
	}
	jv_free(rec);
	jv_free(mattrs);
	return 0;
oom:
	cp_err_set(err, "out of memory");
fail:
	jv_free(rec);
	jv_free(mattrs);
	return -1;
}

static void sent(const struct cp_queue_sent *r, size_t n, void *user)
{
	struct cp_qstage_batch *b = user;
	for (size_t i = 0; i < n && i < b->n; i++) {
		if (r[i].st.ok)
			cp_trace("line %ju: message %s", (uintmax_t)b->items[i]->lineno, r[i].message_id);
		cp_qstage_item_done(b, i, &r[i].st);
	}
	cp_qstage_batch_end(b);
}

static int submit(struct cp_stage *s, const char *key, struct cp_stage_item *const *items,
    size_t n, char *err)
{
	struct cp_queue_entry e[CP_SQS_MAX_BATCH];
	struct cp_qstage_batch *b = cp_qstage_batch_new(s, items, n, err);
	if (!b)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct msg *m = items[i]->data;
		e[i] = (struct cp_queue_entry){
			.body = m->body ? m->body : items[i]->line,
			.body_len = m->body ? m->body_len : items[i]->line_len,
			.attrs = m->attrs,
			.attrs_len = m->attrs ? strlen(m->attrs) : 0,
			.delay = m->delay,
			.group_id = m->group,
			.dedup_id = m->dedup,
		};
	}
	if (cp_queue_send(queue, key, e, n, sent, b, err) < 0) {
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
	if (batch_max < 1 || batch_max > 10)
		cp_die(CP_EX_USAGE, "--batch: 1 to 10 messages, not %d", batch_max);
	if ((group_expr && !(group_q = cp_jq_new(group_expr, err))) ||
	    (dedup_expr && !(dedup_q = cp_jq_new(dedup_expr, err))) ||
	    (delay_expr && !(delay_q = cp_jq_new(delay_expr, err))))
		cp_die(CP_EX_USAGE, "%s", err);
	if (cp_sig_install(err) < 0)
		cp_die(CP_EX_SOFTWARE, "%s", err);

	if (cp_qopts_open(CP_QOPTS_CREATE, 0, &queue, &queue_url, &status, err) < 0)
		cp_die(status, "%s", err);
	/* The stage only checks lines are JSON: prepare parses what it needs. */
	struct cp_stage_ops ops = { .prepare = prepare, .check = CP_STAGE_VALIDATE, .submit = submit,
		.free_data = msg_free, .run = cp_qstage_run };
	struct cp_stage_opts so = {
		.max_items = (size_t)batch_max,
		.max_bytes = CP_SQS_MAX_PAYLOAD,
		.max_in_flight = cp_qopts.jobs > 0 ? cp_qopts.jobs : 8,
		.linger_ms = linger_ms,
		.max_line = (size_t)(max_line > 0 ? max_line : CP_SQS_MAX_ENVELOPE),
	};
	int ex = cp_stage_main(&ops, &so, tool.name, queue);
	cp_queue_free(queue);
	if (cp_diag_enabled(CP_LOG_INFO)) {
		cp_progress_summary(err, sizeof err);
		cp_info("%s", err);
	}
	free(queue_url);
	cp_jq_free(group_q);
	cp_jq_free(dedup_q);
	cp_jq_free(delay_q);
	for (int i = 0; i < nattrs; i++) {
		cp_jq_free(attrs[i].q);
		free(attrs[i].name);
	}
	return ex;
}
