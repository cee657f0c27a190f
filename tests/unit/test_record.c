/* Unit tests: envelopes, rejects, jq expressions and diagnostics. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "diag.h"
#include "jqexpr.h"
#include "record.h"
#include "reject.h"

static jv parse(const char *s)
{
	jv v = jv_parse(s);
	assert_true(jv_is_valid(v));
	return v;
}

static int equal(jv a, const char *json)
{
	return jv_equal(a, parse(json));
}

static void test_envelope(void **state)
{
	(void)state;
	jv env = parse("{\"queue_url\":\"q\",\"message_id\":\"m\",\"receipt_handle\":\"r\",\"body\":{\"a\":1}}");
	assert_true(cp_record_is_envelope(&env));
	assert_true(equal(cp_record_body(&env), "{\"a\":1}"));
	jv_free(env);
	/* A string body stays a string. */
	env = parse("{\"receipt_handle\":\"r\",\"body\":\"plain\"}");
	assert_true(equal(cp_record_body(&env), "\"plain\""));
	jv_free(env);
	/* A record that merely has a "body" field is a record. */
	jv rec = parse("{\"body\":\"hello\",\"content\":\"x\"}");
	assert_false(cp_record_is_envelope(&rec));
	assert_true(equal(cp_record_body(&rec), "{\"body\":\"hello\",\"content\":\"x\"}"));
	jv_free(rec);
	jv arr = parse("[1,2]");
	assert_false(cp_record_is_envelope(&arr));
	assert_true(equal(cp_record_body(&arr), "[1,2]"));
	assert_false(jv_is_valid(cp_record_get(&arr, "x")));
	jv_free(arr);
}

/* Reads back what a rejects file holds, one jv per line. */
static jv read_rejects(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	jv all = jv_array();
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0)
		all = jv_array_append(all, parse(line));
	free(line);
	fclose(f);
	return all;
}

/* split s: 1 and the body's text in body, the head printed in head; or 0. */
static int split(const char *s, char *head, char *body)
{
	jv h;
	size_t off, len;
	if (!cp_record_split(s, strlen(s), &h, &off, &len))
		return 0;
	jv d = jv_dump_string(h, JV_PRINT_SORTED);
	strcpy(head, jv_string_value(d));
	jv_free(d);
	memcpy(body, s + off, len);
	body[len] = 0;
	return 1;
}

static void test_split(void **state)
{
	(void)state;
	char h[512], b[512];
	/* As sqs-poll writes them: the body kept byte for byte. */
	assert_true(split("{\"queue_url\":\"q\",\"receipt_handle\":\"r\",\"body\":{\"n\":9007199254740993,\"f\":1.50}}", h, b));
	assert_string_equal(h, "{\"queue_url\":\"q\",\"receipt_handle\":\"r\"}");
	assert_string_equal(b, "{\"n\":9007199254740993,\"f\":1.50}");
	assert_true(split("{\"message_id\":\"m\",\"body\":\"a \\\"b\\\" \\u00e9\"}", h, b));
	assert_string_equal(b, "\"a \\\"b\\\" \\u00e9\"");
	assert_true(split(" {\"a\":1,\"body\":  [1, 2] \t} \r\n", h, b));
	assert_string_equal(b, "[1, 2]");
	/* A message attribute named "body" comes first. */
	assert_true(split("{\"receipt_handle\":\"r\",\"message_attributes\":{\"x\":1,\"body\":{\"DataType\":\"String\"}},\"body\":7}", h, b));
	assert_string_equal(b, "7");
	assert_string_equal(h, "{\"message_attributes\":{\"body\":{\"DataType\":\"String\"},\"x\":1},\"receipt_handle\":\"r\"}");
	/* The body itself has a "body" member. */
	assert_true(split("{\"receipt_handle\":\"r\",\"body\":{\"x\":1,\"body\":2}}", h, b));
	assert_string_equal(b, "{\"x\":1,\"body\":2}");
	/* Not the last member, not at the top, or first: parse it whole. */
	assert_false(split("{\"a\":1,\"body\":2,\"c\":3}", h, b));
	assert_false(split("{\"a\":{\"x\":1,\"body\":2}}", h, b));
	assert_false(split("{\"body\":2,\"receipt_handle\":\"r\"}", h, b));
	assert_false(split("{\"body\":2}", h, b));
	assert_false(split("\"x\"", h, b));
	/* Inside a string the bytes are escaped: no split there. */
	assert_false(split("{\"a\":\"x\\\",\\\"body\\\":1\"}", h, b));
	/* A string value ending in ',' then "body": not JSON, but the check
	 * is on the parts. */
	assert_false(split("{\"a\":\"x,\"body\":1}", h, b));
}

/* head s key: 1 and the head printed (keys sorted) in out, or 0. */
static int head(const char *s, const char *key, char *out)
{
	jv h;
	if (!cp_record_head(s, strlen(s), key, &h))
		return 0;
	jv d = jv_dump_string(h, JV_PRINT_SORTED);
	strcpy(out, jv_string_value(d));
	jv_free(d);
	return 1;
}

static void test_head(void **state)
{
	(void)state;
	char h[512];
	assert_true(head("{\"queue_url\":\"q\",\"receipt_handle\":\"r\",\"receive_count\":1,\"body\":{\"n\":1}}",
	    "receive_count", h));
	assert_string_equal(h, "{\"queue_url\":\"q\",\"receipt_handle\":\"r\"}");
	assert_true(head(" {\"a\":1 ,\"k\":2} \n", "k", h));
	assert_string_equal(h, "{\"a\":1}");
	/* The rest must be JSON too, by the RFC. */
	assert_false(head("{\"a\":1,\"k\":2,\"body\":nan}", "k", h));
	assert_false(head("{\"a\":1,\"k\":2,\"body\":[1,]}", "k", h));
	assert_false(head("{\"a\":1,\"k\":2", "k", h));
	assert_false(head("{\"a\":01,\"k\":2}", "k", h));
	/* Not at the top, first, absent, or inside a string. */
	assert_false(head("{\"a\":{\"x\":1,\"k\":2},\"b\":3}", "k", h));
	assert_false(head("{\"k\":2,\"a\":1}", "k", h));
	assert_false(head("{\"a\":1}", "k", h));
	assert_false(head("{\"a\":\"x\\\",\\\"k\\\":1\"}", "k", h));
	assert_false(head("[1,\"k\":2]", "k", h));
	/* Every split it makes agrees with the whole parse. */
	static const char *const lines[] = {
		"{\"a\":[1,{\"k\":0}],\"b\":\"s\",\"k\":{\"k\":1},\"z\":null}",
		"{\"a\":1,\"k\":2,\"k\":3}",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		jv hv;
		assert_true(cp_record_head(lines[i], strlen(lines[i]), "k", &hv));
		jv whole = parse(lines[i]);
		jv_object_foreach(hv, k, v) {
			assert_true(jv_equal(v, jv_object_get(jv_copy(whole), k)));
		}
		jv_free(whole);
		jv_free(hv);
	}
}

static void test_members(void **state)
{
	(void)state;
	jv o = parse("{\"b\":2,\"a\":\"x\",\"c\":null}");
	static const char *const names[] = { "a", "z", "c" };
	jv f[3];
	cp_record_members(&o, names, 3, f);
	assert_true(equal(f[0], "\"x\""));
	assert_false(jv_is_valid(f[1]));
	jv_free(f[1]);
	assert_true(equal(f[2], "null"));
	jv_free(o);
	jv n = parse("[1]");
	cp_record_members(&n, names, 3, f);
	for (int i = 0; i < 3; i++) {
		assert_false(jv_is_valid(f[i]));
		jv_free(f[i]);
	}
	jv_free(n);
}

static void test_maybe_envelope(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"{\"receipt_handle\":\"r\",\"body\":1}", " {\"message_id\":\"m\",\"body\":1}",
		"{\"\\u0062ody\":1,\"message_id\":\"m\"}", "{\"x\":\"\\u0041\"}",
	};
	static const char *const no[] = {
		"[\"receipt_handle\",\"body\"]", "{\"body\":1}", "{\"receipt_handle\":1}", "\"body\"", "1",
		"{\"bodyx\":1,\"message_id\":2}",
	};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		assert_true(cp_record_maybe_envelope(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		assert_false(cp_record_maybe_envelope(no[i], strlen(no[i])));
	/* Every envelope is found: all that the parse says is one. */
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		jv v = jv_parse(no[i]);
		assert_false(cp_record_is_envelope(&v));
		jv_free(v);
	}
}

static void test_rejects(void **state)
{
	(void)state;
	char path[] = "/tmp/cp-rejects-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	char err[CP_ERR_LEN];
	struct cp_rejects *rj = cp_rejects_open(path, "sqs-send", err);
	assert_non_null(rj);
	assert_int_equal(cp_reject(rj, 17, "not JSON", 0, "{oops", 5, 5), 0);
	assert_int_equal(cp_reject(rj, 18, "bad bytes", 1, "a\xff\0b", 4, 4), 0);
	assert_int_equal(cp_reject(rj, 19, "line too long", 0, "xxxx", 4, 5000000), 0);
	assert_int_equal(cp_reject_jv(rj, 20, "throttled", 1, "{}", 2, 2,
	    JV_OBJECT(jv_string("attempts"), jv_number(8))), 0);
	assert_int_equal(cp_rejects_count(rj), 4);
	assert_int_equal(cp_rejects_close(rj, err), 0);
	jv all = read_rejects(path);
	unlink(path);
	assert_int_equal(jv_array_length(jv_copy(all)), 4);
	assert_true(equal(jv_array_get(jv_copy(all), 0),
	    "{\"line\":17,\"tool\":\"sqs-send\",\"error\":\"not JSON\",\"retryable\":false,\"input\":\"{oops\"}"));
	jv second = jv_array_get(jv_copy(all), 1);
	/* Not valid UTF-8: the exact bytes survive in base64. */
	assert_true(equal(jv_object_get(jv_copy(second), jv_string("input_base64")), "\"Yf8AYg==\""));
	assert_true(equal(jv_object_get(jv_copy(second), jv_string("retryable")), "true"));
	jv_free(second);
	jv third = jv_array_get(jv_copy(all), 2);
	assert_true(equal(jv_object_get(jv_copy(third), jv_string("input_truncated")), "true"));
	assert_true(equal(jv_object_get(jv_copy(third), jv_string("input_bytes")), "5000000"));
	jv_free(third);
	assert_true(equal(jv_object_get(jv_array_get(jv_copy(all), 3), jv_string("attempts")), "8"));
	jv_free(all);
}

static void test_rejects_open_fails(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	assert_null(cp_rejects_open("/nonexistent/dir/rejects", "t", err));
	assert_non_null(strstr(err, "cannot open rejects file /nonexistent/dir/rejects"));
}

static void test_jq(void **state)
{
	(void)state;
	char err[CP_ERR_LEN];
	assert_null(cp_jq_new(".conversation_id |", err));
	assert_non_null(strstr(err, "cannot compile jq program"));

	struct cp_jq *q = cp_jq_new(".conversation_id", err);
	assert_non_null(q);
	jv out;
	assert_int_equal(cp_jq_eval(q, parse("{\"conversation_id\":42}"), &out, err), 0);
	assert_true(equal(out, "42"));
	assert_int_equal(cp_jq_eval_string(q, parse("{\"conversation_id\":42}"), &out, err), 0);
	assert_string_equal(jv_string_value(out), "42");
	jv_free(out);
	assert_int_equal(cp_jq_eval_string(q, parse("{\"conversation_id\":null}"), &out, err), -1);
	assert_string_equal(err, "jq '.conversation_id' yielded null, not a string");
	/* A run-time error fails this record only. */
	assert_int_equal(cp_jq_eval(q, parse("[1]"), &out, err), -1);
	assert_non_null(strstr(err, "Cannot index array"));
	assert_int_equal(cp_jq_eval(q, parse("{\"conversation_id\":\"c\"}"), &out, err), 0);
	assert_true(equal(out, "\"c\""));
	cp_jq_free(q);

	q = cp_jq_new("empty", err);
	assert_int_equal(cp_jq_eval(q, parse("1"), &out, err), -1);
	assert_string_equal(err, "jq 'empty' yielded no value");
	cp_jq_free(q);

	q = cp_jq_new(".[] | select(. > 1)", err);
	assert_int_equal(cp_jq_eval_all(q, parse("[1,2,3]"), &out, err), 0);
	assert_true(equal(out, "[2,3]"));
	cp_jq_free(q);

	q = cp_jq_new("error(\"custom\")", err);
	assert_int_equal(cp_jq_eval_all(q, parse("1"), &out, err), -1);
	assert_string_equal(err, "jq 'error(\"custom\")': custom");
	cp_jq_free(q);
}

/* Diagnostics are one line each, whatever the text holds. */
static void test_diag_one_line(void **state)
{
	(void)state;
	char path[] = "/tmp/cp-diag-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(2);
	dup2(fd, 2);
	cp_diag_init("sqs-poll");
	cp_diag_set_level(CP_LOG_WARNING);
	cp_warn("two\nlines\tand \x01 control");
	cp_info("hidden at the default level");
	cp_diag_set_format(CP_LOG_JSON);
	cp_error("json \"quoted\"\nmessage");
	cp_diag_set_format(CP_LOG_TEXT);
	dup2(saved, 2);
	close(saved);
	char buf[1024] = "";
	assert_true(pread(fd, buf, sizeof buf - 1, 0) > 0);
	close(fd);
	unlink(path);
	char *nl = strchr(buf, '\n');
	assert_non_null(nl);
	*nl = 0;
	assert_string_equal(buf, "sqs-poll: warning: two\\nlines\\x09and \\x01 control");
	char *second = nl + 1;
	assert_int_equal(strchr(second, '\n')[1], 0); /* exactly one more line */
	jv o = parse(second);
	assert_true(equal(jv_object_get(jv_copy(o), jv_string("msg")), "\"json \\\"quoted\\\"\\nmessage\""));
	assert_true(equal(jv_object_get(jv_copy(o), jv_string("level")), "\"error\""));
	assert_true(equal(jv_object_get(jv_copy(o), jv_string("prog")), "\"sqs-poll\""));
	jv_free(o);
	assert_int_equal(cp_err_set(NULL, "ignored %d", 1), -1);
	assert_string_equal(cp_exit_name(CP_EX_TEMPFAIL), "tempfail");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_maybe_envelope),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_rejects_open_fails),
		cmocka_unit_test(test_jq),
		cmocka_unit_test(test_diag_one_line),
	};
	return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
