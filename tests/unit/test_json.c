/* Unit tests: lib/json, RFC 8259 validity against libjq 1.6's leniency. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jv.h>

#include "diag.h"
#include "json.h"

static int valid(const char *s)
{
	char err[CP_ERR_LEN];
	int r = cp_json_valid(s, strlen(s), err);
	assert_int_not_equal(r, -1);
	return r;
}

/* Every text accepted here must parse with libjq, to the same value as
 * libjq gives. */
static void parses(const char *s)
{
	jv v = jv_parse(s);
	if (!jv_is_valid(v))
		fail_msg("libjq refuses a text lib/json accepted: %s", s);
	jv_free(v);
}

static void test_valid(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"0", "-0", "1", "-1", "1.5", "1e5", "1E+5", "1e-5", "-0.0e0", "1E400",
		"123456789012345678901234567890", "true", "false", "null", "\"\"",
		"\"a\\u0000b\"", "\"\\ud83d\\ude00\"", "\"é😀\"", "[]", "{}", "[1,[2,{}]]",
		"{\"a\":{\"b\":[null,true,\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]}}",
		" 1 ", "\t[1]\n", "\r\n{}\r\n", "[ 1 , 2 ]",
	};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!valid(yes[i]))
			fail_msg("refused: %s", yes[i]);
		parses(yes[i]);
	}
}

static void test_invalid(void **state)
{
	(void)state;
	/* The first ones libjq 1.6 reads: its numbers are whatever strtod
	 * takes. */
	static const char *const lenient[] = {
		"nan", "NaN", "-nan", "infinity", "-Infinity", "inf", "01", "00", "-01",
		"+1", ".5", "5.", "-.5", "1.e5", "[nan]", "{\"a\":01}", "[1,+2]",
	};
	for (size_t i = 0; i < sizeof lenient / sizeof lenient[0]; i++) {
		jv v = jv_parse(lenient[i]);
		assert_true(jv_is_valid(v)); /* the leniency this module exists for */
		jv_free(v);
		if (valid(lenient[i]))
			fail_msg("accepted: %s", lenient[i]);
		char err[CP_ERR_LEN];
		cp_json_why_not(lenient[i], strlen(lenient[i]), err);
		assert_non_null(strstr(err, "RFC 8259"));
	}
	static const char *const no[] = {
		"", " ", "1 2", "[1,]", "{\"a\":1,}", "{a:1}", "'a'", "[1", "\"a",
		"\"a\tb\"", "\"\\x\"", "0x10", "1e", "-", "tru", "nul", "[1]]", "//",
		"\"\\u12\"", "{\"a\" 1}", "{1:2}", "\"\\ud800\"", "[\"\\ud83d\\u0041\"]",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		if (valid(no[i]))
			fail_msg("accepted: '%s'", no[i]);
		char err[CP_ERR_LEN];
		cp_json_why_not(no[i], strlen(no[i]), err);
		assert_int_equal(strncmp(err, "not JSON", 8), 0);
	}
	/* What SQLite would pass but libjq or UTF-8 would not. */
	char err[CP_ERR_LEN];
	assert_int_equal(cp_json_valid("\"a\0b\"", 5, err), 0);
	assert_int_equal(cp_json_valid("\"\xff\"", 3, err), 0);
	assert_int_equal(cp_json_valid("\"\xed\xa0\x80\"", 5, err), 0); /* a surrogate in UTF-8 */
	cp_json_why_not("\"\xff\"", 3, err);
	assert_string_equal(err, "not JSON: invalid UTF-8 at offset 1");
	/* Only the length counts: no terminating NUL needed. */
	assert_int_equal(cp_json_valid("[1]]", 3, err), 1);
}

/* libjq reads 256 levels; SQLite reads more: the text must fit both. */
static void test_depth(void **state)
{
	(void)state;
	char s[2 * 300 + 1];
	for (int d = 255; d <= 258; d++) {
		memset(s, '[', (size_t)d);
		memset(s + d, ']', (size_t)d);
		s[2 * d] = 0;
		jv v = jv_parse(s);
		int jq = jv_is_valid(v);
		jv_free(v);
		assert_int_equal(valid(s), jq);
		assert_int_equal(jq, d <= 256);
	}
	/* Many brackets, little depth: still valid. */
	char *wide = malloc(3 * 1000 + 3);
	assert_non_null(wide);
	size_t n = 0;
	wide[n++] = '[';
	for (int i = 0; i < 1000; i++) {
		if (i)
			wide[n++] = ',';
		wide[n++] = '[';
		wide[n++] = ']';
	}
	wide[n++] = ']';
	wide[n] = 0;
	assert_int_equal(valid(wide), 1);
	free(wide);
}

static void *worker(void *arg)
{
	long ok = 0;
	for (int i = 0; i < 2000; i++) {
		char err[CP_ERR_LEN];
		ok += cp_json_valid("{\"a\":[1,2,3]}", 13, err) == 1;
		ok += cp_json_valid("{\"a\":01}", 8, err) == 0;
	}
	cp_json_end();
	*(long *)arg = ok;
	return NULL;
}

/* Each thread its own connection. */
static void test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	long ok[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &ok[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(ok[i], 4000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
