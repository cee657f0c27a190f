/* jqexpr: see jqexpr.h. */
#include "jqexpr.h"

#include <stdlib.h>
#include <string.h>

#include <jq.h>

#include "diag.h"

struct cp_jq {
	jq_state *jq;
	char *program;
	char *err; /* where compile messages go, during cp_jq_new() */
};

static void on_message(void *data, jv msg)
{
	struct cp_jq *q = data;
	if (q->err && !q->err[0]) {
		if (jv_get_kind(msg) == JV_KIND_STRING)
			cp_err_set(q->err, "%s", jv_string_value(msg));
		else {
			jv s = jv_dump_string(jv_copy(msg), 0);
			cp_err_set(q->err, "%s", jv_string_value(s));
			jv_free(s);
		}
	}
	jv_free(msg);
}

struct cp_jq *cp_jq_new(const char *program, char *err)
{
	struct cp_jq *q = calloc(1, sizeof *q);
	if (!q || !(q->jq = jq_init()) || !(q->program = strdup(program))) {
		cp_jq_free(q);
		cp_err_set(err, "out of memory");
		return NULL;
	}
	char msg[CP_ERR_LEN] = "";
	q->err = msg;
	jq_set_error_cb(q->jq, on_message, q);
	int ok = jq_compile(q->jq, program);
	q->err = NULL;
	if (!ok) {
		cp_err_set(err, "cannot compile jq program '%s': %s", program,
		    msg[0] ? msg : "syntax error");
		cp_jq_free(q);
		return NULL;
	}
	return q;
}

void cp_jq_free(struct cp_jq *q)
{
	if (!q)
		return;
	if (q->jq)
		jq_teardown(&q->jq);
	free(q->program);
	free(q);
}

const char *cp_jq_program(const struct cp_jq *q) { return q->program; }

static int fail_value(struct cp_jq *q, jv v, char *err)
{
	jv msg = jv_invalid_get_msg(v);
	if (jv_get_kind(msg) == JV_KIND_STRING)
		cp_err_set(err, "jq '%s': %s", q->program, jv_string_value(msg));
	else if (jv_get_kind(msg) == JV_KIND_NULL)
		cp_err_set(err, "jq '%s' yielded no value", q->program);
	else {
		jv s = jv_dump_string(jv_copy(msg), 0);
		cp_err_set(err, "jq '%s': error %s", q->program, jv_string_value(s));
		jv_free(s);
	}
	jv_free(msg);
	return -1;
}

int cp_jq_eval_all(struct cp_jq *q, jv input, jv *out, char *err)
{
	jq_start(q->jq, input, 0);
	jv all = jv_array();
	for (;;) {
		jv v = jq_next(q->jq);
		if (!jv_is_valid(v)) {
			if (jv_invalid_has_msg(jv_copy(v))) {
				jv_free(all);
				return fail_value(q, v, err);
			}
			jv_free(v);
			break;
		}
		all = jv_array_append(all, v);
	}
	*out = all;
	return 0;
}

int cp_jq_eval(struct cp_jq *q, jv input, jv *out, char *err)
{
	jq_start(q->jq, input, 0);
	jv v = jq_next(q->jq);
	if (!jv_is_valid(v))
		return fail_value(q, v, err);
	*out = v;
	return 0;
}

int cp_jq_eval_string(struct cp_jq *q, jv input, jv *out, char *err)
{
	jv v;
	if (cp_jq_eval(q, input, &v, err) < 0)
		return -1;
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		*out = v;
		return 0;
	case JV_KIND_NUMBER:
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		*out = jv_dump_string(v, 0);
		return 0;
	default:
		cp_err_set(err, "jq '%s' yielded %s, not a string", q->program,
		    jv_kind_name(jv_get_kind(v)));
		jv_free(v);
		return -1;
	}
}
