/* Unit tests for lib/timeutil: the RFC 3339 parser on its edge cases, the
 * formatter, round trips against an independent calendar and against libc,
 * the clocks, and UUIDv7 layout, ordering and uniqueness across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "timeutil.h"

#define MIN_SEC INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define MAX_SEC INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* ---- helpers ---- */

static struct cp_time parse_ok(const char *s)
{
	struct cp_time t = { -7, -7 };
	char err[CP_ERR_LEN] = "";
	if (cp_time_parse(s, strlen(s), &t, err) != 0)
		fail_msg("parse(\"%s\") failed: %s", s, err);
	return t;
}

static void assert_parses(const char *s, int64_t sec, int32_t nsec)
{
	struct cp_time t = parse_ok(s);
	if (t.sec != sec || t.nsec != nsec)
		fail_msg("parse(\"%s\") = {%lld, %d}, want {%lld, %d}", s,
		    (long long)t.sec, (int)t.nsec, (long long)sec, (int)nsec);
}

/* Parses in and checks that it denotes the same instant as utc. */
static void assert_same(const char *in, const char *utc)
{
	struct cp_time a = parse_ok(in), b = parse_ok(utc);
	if (a.sec != b.sec || a.nsec != b.nsec) {
		char buf[CP_TIME_LEN];
		cp_time_format_prec(a, 9, buf);
		fail_msg("parse(\"%s\") = %s, want %s", in, buf, utc);
	}
}

/* Checks that s (len bytes) is rejected with a message containing needle
 * (when not NULL), and that *out is left alone. */
static void assert_rejects_n(const char *s, size_t len, const char *needle)
{
	struct cp_time t = { 42, 43 };
	char err[CP_ERR_LEN] = "";
	if (cp_time_parse(s, len, &t, err) != -1)
		fail_msg("parse(\"%.*s\") accepted: {%lld, %d}", (int)len, s,
		    (long long)t.sec, (int)t.nsec);
	if (err[0] == 0)
		fail_msg("parse(\"%.*s\"): no error message", (int)len, s);
	if (needle && strstr(err, needle) == NULL)
		fail_msg("parse(\"%.*s\"): error \"%s\" lacks \"%s\"", (int)len, s,
		    err, needle);
	assert_int_equal(t.sec, 42);
	assert_int_equal(t.nsec, 43);
	/* A NULL err is allowed. */
	assert_int_equal(cp_time_parse(s, len, &t, NULL), -1);
}

static void assert_rejects(const char *s, const char *needle)
{
	assert_rejects_n(s, strlen(s), needle);
}

static void assert_formats(struct cp_time t, int digits, const char *want)
{
	char buf[CP_TIME_LEN];
	memset(buf, 'x', sizeof buf);
	size_t n = cp_time_format_prec(t, digits, buf);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64*: deterministic, so a failure can be replayed. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* ---- parsing: valid input ---- */

static void parse_basic(void **state)
{
	(void)state;
	assert_parses("1970-01-01T00:00:00Z", 0, 0);
	assert_parses("2026-11-28T12:00:00Z", 1795867200, 0);
	assert_parses("2026-11-28T12:00:00.123Z", 1795867200, 123000000);
	assert_parses("1969-12-31T23:59:59Z", -1, 0);
	assert_parses("1969-12-31T23:59:59.5Z", -1, 500000000);
	assert_parses("2016-12-31T23:59:59Z", 1483228799, 0);
}

static void parse_leap_years(void **state)
{
	(void)state;
	assert_parses("2024-02-29T00:00:00Z", 1709164800, 0);
	assert_parses("2000-02-29T00:00:00Z", 951782400, 0);
	assert_parses("1600-02-29T00:00:00Z", INT64_C(-11670998400), 0);
	assert_parses("2400-02-29T00:00:00Z", INT64_C(13574563200), 0);
	parse_ok("0000-02-29T00:00:00Z"); /* year 0 is divisible by 400 */
	parse_ok("0004-02-29T00:00:00Z");
	parse_ok("9996-02-29T00:00:00Z");
	assert_rejects("2023-02-29T00:00:00Z", "invalid day 29 for 2023-02");
	assert_rejects("1900-02-29T00:00:00Z", "invalid day 29 for 1900-02");
	assert_rejects("2100-02-29T00:00:00Z", "invalid day 29");
	assert_rejects("0100-02-29T00:00:00Z", "invalid day 29");
	assert_rejects("2024-02-30T00:00:00Z", "invalid day 30");
	/* The day after 02-29 is 03-01. */
	assert_int_equal(parse_ok("2024-03-01T00:00:00Z").sec -
	    parse_ok("2024-02-29T00:00:00Z").sec, 86400);
	assert_int_equal(parse_ok("2023-03-01T00:00:00Z").sec -
	    parse_ok("2023-02-28T00:00:00Z").sec, 86400);
}

static void parse_month_lengths(void **state)
{
	(void)state;
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	char s[64];
	for (int m = 1; m <= 12; m++) {
		snprintf(s, sizeof s, "2023-%02d-%02dT00:00:00Z", m, len[m - 1]);
		parse_ok(s);
		snprintf(s, sizeof s, "2023-%02d-01T00:00:00Z", m);
		parse_ok(s);
		snprintf(s, sizeof s, "2023-%02d-%02dT00:00:00Z", m, len[m - 1] + 1);
		assert_rejects(s, "invalid day");
		snprintf(s, sizeof s, "2023-%02d-00T00:00:00Z", m);
		assert_rejects(s, "invalid day 00");
	}
	assert_rejects("2026-04-31T00:00:00Z", "invalid day 31 for 2026-04");
	assert_rejects("2026-06-31T00:00:00Z", "invalid day 31");
	assert_rejects("2026-09-31T00:00:00Z", "invalid day 31");
	assert_rejects("2026-11-31T00:00:00Z", "invalid day 31");
	assert_rejects("2026-01-32T00:00:00Z", "invalid day 32");
	assert_rejects("2026-01-99T00:00:00Z", "invalid day 99");
	assert_rejects("2026-00-01T00:00:00Z", "invalid month 00");
	assert_rejects("2026-13-01T00:00:00Z", "invalid month 13");
	assert_rejects("2026-99-01T00:00:00Z", "invalid month 99");
}

static void parse_time_ranges(void **state)
{
	(void)state;
	assert_parses("1970-01-01T23:59:59Z", 86399, 0);
	assert_parses("1970-01-01T00:59:00Z", 3540, 0);
	assert_rejects("2026-11-28T24:00:00Z", "invalid hour 24");
	assert_rejects("2026-11-28T99:00:00Z", "invalid hour 99");
	assert_rejects("2026-11-28T12:60:00Z", "invalid minute 60");
	assert_rejects("2026-11-28T12:00:61Z", "invalid second 61");
	assert_rejects("2026-11-28T12:00:99Z", "invalid second 99");
}

static void parse_offsets(void **state)
{
	(void)state;
	int64_t noon = 1795867200; /* 2026-11-28T12:00:00Z */
	assert_parses("2026-11-28T12:00:00+05:30", noon - 5 * 3600 - 30 * 60, 0);
	assert_parses("2026-11-28T12:00:00-08:00", noon + 8 * 3600, 0);
	assert_parses("2026-11-28T12:00:00+00:00", noon, 0);
	assert_parses("2026-11-28T12:00:00-00:00", noon, 0);
	assert_parses("2026-11-28T12:00:00+23:59", noon - 23 * 3600 - 59 * 60, 0);
	assert_parses("2026-11-28T12:00:00-23:59", noon + 23 * 3600 + 59 * 60, 0);
	assert_parses("2026-11-28T12:00:00.25+01:00", noon - 3600, 250000000);
	assert_same("2026-11-28T12:00:00+05:30", "2026-11-28T06:30:00Z");
	assert_same("2026-11-28T12:00:00-08:00", "2026-11-28T20:00:00Z");

	/* Crossing day, month and year boundaries, both ways. */
	assert_same("2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00Z");
	assert_same("2027-01-01T00:15:00+01:00", "2026-12-31T23:15:00Z");
	assert_same("2024-02-29T23:00:00-02:00", "2024-03-01T01:00:00Z");
	assert_same("2023-02-28T23:00:00-02:00", "2023-03-01T01:00:00Z");
	assert_same("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00Z");
	assert_same("2026-05-01T03:00:00+05:00", "2026-04-30T22:00:00Z");
	assert_same("2026-11-28T00:00:00+23:59", "2026-11-27T00:01:00Z");
	assert_same("2026-11-28T23:59:59.999-23:59", "2026-11-29T23:58:59.999Z");
	assert_same("1970-01-01T00:00:00+00:01", "1969-12-31T23:59:00Z");

	/* Offsets that leave years 0000-9999 are rejected; the edges are not. */
	assert_parses("0000-01-01T00:00:00-01:00", MIN_SEC + 3600, 0);
	assert_parses("0000-01-01T00:00:00+00:00", MIN_SEC, 0);
	assert_parses("9999-12-31T23:59:59+00:00", MAX_SEC, 0);
	assert_parses("9999-12-31T23:59:59+23:59", MAX_SEC - 23 * 3600 - 59 * 60, 0);
	assert_rejects("0000-01-01T00:00:00+00:01", "out of range");
	assert_rejects("0000-01-01T00:00:00.999999999+00:01", "out of range");
	assert_rejects("9999-12-31T23:59:59-00:01", "out of range");
	assert_rejects("9999-12-31T23:30:00-23:59", "out of range");

	/* Offset ranges and shapes. */
	assert_rejects("2026-11-28T12:00:00+24:00", "invalid offset hour 24");
	assert_rejects("2026-11-28T12:00:00-99:00", "invalid offset hour 99");
	assert_rejects("2026-11-28T12:00:00+05:60", "invalid offset minute 60");
	assert_rejects("2026-11-28T12:00:00+05:3", "offset minute");
	assert_rejects("2026-11-28T12:00:00+05", "':' in the time offset");
	assert_rejects("2026-11-28T12:00:00+0530", "':' in the time offset");
	assert_rejects("2026-11-28T12:00:00+5:30", "offset hour");
	assert_rejects("2026-11-28T12:00:00+", "offset hour");
	assert_rejects("2026-11-28T12:00:00-", "offset hour");
	assert_rejects("2026-11-28T12:00:00+-5:30", "offset hour");
	assert_rejects("2026-11-28T12:00:00+05:30:00", "trailing");
	assert_rejects("2026-11-28T12:00:00Z+05:30", "trailing");
	assert_rejects("2026-11-28T12:00:00 +05:30", "time offset");
	assert_rejects("2026-11-28T12:00:00UTC", "time offset");
	assert_rejects("2026-11-28T12:00:00GMT", "time offset");
	assert_rejects("2026-11-28T12:00:00 Z", "time offset");
}

static void parse_fraction_digits(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int32_t nsec;
	} cases[] = {
		{ "2026-11-28T12:00:00Z", 0 },
		{ "2026-11-28T12:00:00.1Z", 100000000 },
		{ "2026-11-28T12:00:00.12Z", 120000000 },
		{ "2026-11-28T12:00:00.123Z", 123000000 },
		{ "2026-11-28T12:00:00.1234Z", 123400000 },
		{ "2026-11-28T12:00:00.12345Z", 123450000 },
		{ "2026-11-28T12:00:00.123456Z", 123456000 },
		{ "2026-11-28T12:00:00.1234567Z", 123456700 },
		{ "2026-11-28T12:00:00.12345678Z", 123456780 },
		{ "2026-11-28T12:00:00.123456789Z", 123456789 },
		{ "2026-11-28T12:00:00.0Z", 0 },
		{ "2026-11-28T12:00:00.000000000Z", 0 },
		{ "2026-11-28T12:00:00.000000001Z", 1 },
		{ "2026-11-28T12:00:00.000001Z", 1000 },
		{ "2026-11-28T12:00:00.9Z", 900000000 },
		{ "2026-11-28T12:00:00.999999999Z", 999999999 },
		{ "2026-11-28T12:00:00.5+01:00", 500000000 },
		{ "2026-11-28T12:00:00.987654321-08:00", 987654321 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cp_time t = parse_ok(cases[i].s);
		if (t.nsec != cases[i].nsec)
			fail_msg("%s: nsec %d, want %d", cases[i].s, (int)t.nsec,
			    (int)cases[i].nsec);
	}
	assert_rejects("2026-11-28T12:00:00.1234567890Z",
	    "more than 9 fractional digits");
	assert_rejects("2026-11-28T12:00:00.0000000000Z",
	    "more than 9 fractional digits");
	assert_rejects("2026-11-28T12:00:00.12345678901234567890Z",
	    "more than 9 fractional digits");
	assert_rejects("2026-11-28T12:00:00.Z", "fractional digits after '.'");
	assert_rejects("2026-11-28T12:00:00.", "fractional digits after '.'");
	assert_rejects("2026-11-28T12:00:00.+01:00", "fractional digits");
	assert_rejects("2026-11-28T12:00:00,5Z", "time offset");
	assert_rejects("2026-11-28T12:00:00.12a4Z", "time offset");
	assert_rejects("2026-11-28T12:00:00..5Z", "fractional digits");
	assert_rejects("2026-11-28T12:00:00.5", "missing time offset");
}

static void parse_separators(void **state)
{
	(void)state;
	int64_t noon = 1795867200;
	assert_parses("2026-11-28t12:00:00z", noon, 0);
	assert_parses("2026-11-28T12:00:00z", noon, 0);
	assert_parses("2026-11-28t12:00:00Z", noon, 0);
	assert_parses("2026-11-28 12:00:00Z", noon, 0);
	assert_parses("2026-11-28 12:00:00.5z", noon, 500000000);
	assert_parses("2026-11-28 12:00:00+01:00", noon - 3600, 0);
	assert_rejects("2026-11-28  12:00:00Z", "hour");
	assert_rejects("2026-11-28_12:00:00Z", "'T' between date and time");
	assert_rejects("2026-11-28\t12:00:00Z", "byte 0x09");
	assert_rejects("2026-11-28x12:00:00Z", "'T' between date and time");
	assert_rejects("2026-11-28TT12:00:00Z", "hour");
	assert_rejects("2026/11/28T12:00:00Z", "'-' after the year");
	assert_rejects("2026-11/28T12:00:00Z", "'-' after the month");
	assert_rejects("2026-11-28T12.00:00Z", "':' after the hour");
	assert_rejects("2026-11-28T12:00.00Z", "':' after the minute");
}

static void parse_leap_second(void **state)
{
	(void)state;
	int64_t newyear = 1483228800; /* 2017-01-01T00:00:00Z */
	assert_parses("2016-12-31T23:59:60Z", newyear, 0);
	assert_parses("2016-12-31T23:59:60.5Z", newyear, 0);
	assert_parses("2016-12-31T23:59:60.999999999Z", newyear, 0);
	assert_parses("2016-12-31T18:59:60-05:00", newyear, 0);
	assert_parses("2017-01-01T05:29:60+05:30", newyear, 0);
	/* Accepted in any minute (documented), folded likewise. */
	assert_same("2026-11-28T12:34:60Z", "2026-11-28T12:35:00Z");
	assert_same("2024-02-29T23:59:60Z", "2024-03-01T00:00:00Z");
	/* Ordering is kept around it. */
	struct cp_time before = parse_ok("2016-12-31T23:59:59.999999999Z");
	struct cp_time leap = parse_ok("2016-12-31T23:59:60.5Z");
	struct cp_time after = parse_ok("2017-01-01T00:00:00.000000001Z");
	assert_true(before.sec < leap.sec);
	assert_true(leap.sec < after.sec || (leap.sec == after.sec && leap.nsec < after.nsec));
	/* Its fraction is still checked. */
	assert_rejects("2016-12-31T23:59:60.1234567890Z", "more than 9");
	assert_rejects("2016-12-31T23:59:60.Z", "fractional digits");
	/* 9999-12-31T23:59:60Z would be year 10000. */
	assert_rejects("9999-12-31T23:59:60Z", "out of range");
	assert_rejects("2016-12-31T23:59:61Z", "invalid second 61");
}

static void parse_extremes(void **state)
{
	(void)state;
	assert_parses("0000-01-01T00:00:00Z", MIN_SEC, 0);
	assert_parses("9999-12-31T23:59:59.999999999Z", MAX_SEC, 999999999);
	assert_parses("0000-12-31T23:59:59Z", MIN_SEC + 366 * 86400 - 1, 0);
	assert_parses("0001-01-01T00:00:00Z", MIN_SEC + 366 * 86400, 0);
	assert_true(parse_ok("0000-01-01T00:00:00.5Z").sec < 0);
}

static void parse_garbage(void **state)
{
	(void)state;
	/* The cases named by the issue, with their messages. */
	assert_rejects("", "empty time string");
	assert_rejects_n(NULL, 0, "empty time string");
	assert_rejects_n("2026-11-28T12:00:00Z", 0, "empty time string");
	assert_rejects("2026", "truncated at offset 4: expected '-' after the year");
	assert_rejects("2026-11-28", "missing time after the date");
	assert_rejects("2026-11-28T12:00:00", "missing time offset");
	assert_rejects("2026-13-01T12:00:00Z", "invalid month 13");
	assert_rejects("2026-11-28T12:00:00Zjunk",
	    "trailing characters at offset 20");
	assert_rejects("2026-11-28T12:00:00+05:3",
	    "truncated at offset 24: expected 2-digit offset minute");
	assert_rejects("2O26-11-28T12:00:00Z",
	    "unexpected 'O' at offset 1: expected 4-digit year");
	assert_rejects("-2026-11-28T12:00:00Z",
	    "unexpected '-' at offset 0: expected 4-digit year");

	/* Everything else that must not parse. */
	static const char *const bad[] = {
		" ", "Z", "T", "now", "null", "0", "1795867200",
		"2026-", "2026-11", "2026-11-", "2026-11-28T", "2026-11-28T12",
		"2026-11-28T12:", "2026-11-28T12:00", "2026-11-28T12:00Z",
		"2026-11-28T12:00:", "2026-11-28T12:00:0", "2026-11-28T12:00:0Z",
		"T12:00:00Z", "12:00:00Z", "2026-11-28Z",
		"20261128T120000Z", "2026-11-28T120000Z",
		"+2026-11-28T12:00:00Z", "12026-11-28T12:00:00Z",
		"026-11-28T12:00:00Z", "2026-1-28T12:00:00Z",
		"2026-11-8T12:00:00Z", "2026-11-28T2:00:00Z",
		"2026-11-28T12:0:00Z", "2026--1-28T12:00:00Z",
		"2026-11--1T12:00:00Z", "2026-11-28T-1:00:00Z",
		"2026-11-28T12:-1:00Z", "2026-11-28T12:00:-1Z",
		"2026-1l-28T12:00:00Z", "2026-11-2xT12:00:00Z",
		"2026-11-28T1a:00:00Z", "2026-11-28T12:0b:00Z",
		"2026-11-28T12:00:0cZ", "2026-11-28T12:00:00+0x:30",
		"2026-11-28T12:00:00+05:x0", "2026-11-28T12:00:00+ 5:30",
		"abcd-ef-ghTij:kl:mnZ", " 2026-11-28T12:00:00Z",
		"2026-11-28T12:00:00Z ", "2026-11-28T12:00:00Z\n",
		"2026-11-28t12:00:00+05:30\r", "2026-11-28T12:00:00ZZ",
		"2026-11-28T12:00:00zz", "2026-11-28T12:00:00.5Zjunk",
		"\"2026-11-28T12:00:00Z\"", "2026-11-28T12:00:00\xef\xbc\xba",
		"\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x96-11-28T12:00:00Z",
		"2026-11-28T12:00:00\xff", "\xff", "2026-11-28T12:00:00-",
		"2026-11-28T12:00:00.-1Z", "2026-11-28T12:00:00.+1Z",
		"2026-11-28T12:00:00+05:30Z", "2026-11-28T24:00:00Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_rejects(bad[i], NULL);

	/* An embedded NUL is an ordinary bad byte. */
	assert_rejects_n("2026-11-28T12:00:00\0Z", 21, "byte 0x00 at offset 19");
	assert_rejects_n("2026-11-28T12:00:00Z\0", 21, "trailing");
	assert_rejects_n("2026\0" "11-28T12:00:00Z", 20, "byte 0x00 at offset 4");
}

/* The len argument bounds the input: no NUL is needed, bytes past len are
 * never read and never matter. */
static void parse_len_bounded(void **state)
{
	(void)state;
	static const char *const good[] = {
		"2026-11-28T12:00:00Z",
		"2026-11-28T12:00:00.123456789Z",
		"2026-11-28T12:00:00.5+05:30",
		"2026-11-28 12:00:00-08:00",
	};
	long page = sysconf(_SC_PAGESIZE);
	assert_true(page > 0);
	/* Two pages, the second inaccessible: a string placed to end exactly at
	 * the boundary faults if anything past its end is read. */
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		size_t n = strlen(good[i]);
		struct cp_time want = parse_ok(good[i]), t;
		char err[CP_ERR_LEN];

		/* Exactly n bytes on the heap, no NUL (ASan sees overreads). */
		char *heap = malloc(n);
		assert_non_null(heap);
		memcpy(heap, good[i], n);
		assert_int_equal(cp_time_parse(heap, n, &t, err), 0);
		assert_int_equal(t.sec, want.sec);
		assert_int_equal(t.nsec, want.nsec);
		free(heap);

		/* Against the guard page, whole and every truncation of it:
		 * each prefix is rejected without reading past its end. */
		for (size_t k = 0; k <= n; k++) {
			char *p = map + page - k;
			memcpy(p, good[i], k);
			int rc = cp_time_parse(p, k, &t, err);
			if (k == n) {
				assert_int_equal(rc, 0);
				assert_int_equal(t.sec, want.sec);
				assert_int_equal(t.nsec, want.nsec);
			} else if (rc != -1) {
				fail_msg("prefix \"%.*s\" accepted", (int)k, p);
			}
		}
	}
	/* Digits running up to the boundary: the fraction loop must stop. */
	const char *frac = "2026-11-28T12:00:00.123456789";
	size_t n = strlen(frac);
	memcpy(map + page - n, frac, n);
	assert_rejects_n(map + page - n, n, "missing time offset");
	const char *frac10 = "2026-11-28T12:00:00.1234567890";
	n = strlen(frac10);
	memcpy(map + page - n, frac10, n);
	assert_rejects_n(map + page - n, n, "more than 9 fractional digits");
	assert_int_equal(munmap(map, (size_t)page * 2), 0);

	/* What follows len does not matter. */
	const char *s = "2026-11-28T12:00:00Zjunk";
	assert_parses("2026-11-28T12:00:00Z", 1795867200, 0);
	struct cp_time t;
	assert_int_equal(cp_time_parse(s, 20, &t, NULL), 0);
	assert_int_equal(t.sec, 1795867200);
	s = "2026-11-28T12:00:00.123456789Z";
	assert_int_equal(cp_time_parse(s, 23, &t, NULL), -1); /* ".123" no Z */
	s = "2026-11-28T12:00:00+05:30";
	assert_rejects_n(s, 22, "truncated at offset 22");
	assert_rejects_n(s, 19, "missing time offset");
	assert_rejects_n(s, 10, "missing time after the date");
	assert_rejects_n(s, 4, "truncated at offset 4");
}

/* ---- formatting ---- */

static void format_basic(void **state)
{
	(void)state;
	char buf[CP_TIME_LEN];
	assert_true(CP_TIME_LEN >= sizeof "YYYY-MM-DDTHH:MM:SS.fffffffffZ");
	assert_int_equal(cp_time_format((struct cp_time){ 0, 0 }, buf), 27);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
	cp_time_format((struct cp_time){ 1795867200, 123456789 }, buf);
	assert_string_equal(buf, "2026-11-28T12:00:00.123456Z");
	cp_time_format((struct cp_time){ MIN_SEC, 0 }, buf);
	assert_string_equal(buf, "0000-01-01T00:00:00.000000Z");
	cp_time_format((struct cp_time){ MAX_SEC, 999999999 }, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999999Z");
	cp_time_format((struct cp_time){ -1, 0 }, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.000000Z");
	cp_time_format((struct cp_time){ -1, 500000 }, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.000500Z");
	cp_time_format((struct cp_time){ INT64_C(951782400), 0 }, buf);
	assert_string_equal(buf, "2000-02-29T00:00:00.000000Z");
	cp_time_format((struct cp_time){ INT64_C(-11670998400), 0 }, buf);
	assert_string_equal(buf, "1600-02-29T00:00:00.000000Z");
}

static void format_truncates(void **state)
{
	(void)state;
	assert_formats((struct cp_time){ 0, 999999999 }, 6, "1970-01-01T00:00:00.999999Z");
	assert_formats((struct cp_time){ 0, 999 }, 6, "1970-01-01T00:00:00.000000Z");
	assert_formats((struct cp_time){ 0, 1999 }, 6, "1970-01-01T00:00:00.000001Z");
	assert_formats((struct cp_time){ 0, 123456500 }, 6, "1970-01-01T00:00:00.123456Z");
	assert_formats((struct cp_time){ 59, 999999999 }, 0, "1970-01-01T00:00:59Z");
	assert_formats((struct cp_time){ 59, 999999999 }, 3, "1970-01-01T00:00:59.999Z");
	assert_formats((struct cp_time){ 59, 999999999 }, 9, "1970-01-01T00:00:59.999999999Z");
	assert_formats((struct cp_time){ 86399, 1 }, 9, "1970-01-01T23:59:59.000000001Z");
	assert_formats((struct cp_time){ 86399, 1 }, 1, "1970-01-01T23:59:59.0Z");
	assert_formats((struct cp_time){ MAX_SEC, 999999999 }, 9,
	    "9999-12-31T23:59:59.999999999Z");
	assert_formats((struct cp_time){ 1795867200, 120000000 }, 3,
	    "2026-11-28T12:00:00.120Z");
	/* A 9-digit result with its NUL fits CP_TIME_LEN exactly enough. */
	char buf[CP_TIME_LEN];
	assert_int_equal(cp_time_format_prec((struct cp_time){ 0, 0 }, 9, buf), 30);
	assert_int_equal(cp_time_format_prec((struct cp_time){ 0, 0 }, 0, buf), 20);
	assert_int_equal(cp_time_format_prec((struct cp_time){ 0, 0 }, 3, buf), 24);
}

static void format_edge_values(void **state)
{
	(void)state;
	/* Bad digit counts and out-of-range values give "" and 0. */
	assert_formats((struct cp_time){ 0, 0 }, -1, "");
	assert_formats((struct cp_time){ 0, 0 }, 10, "");
	assert_formats((struct cp_time){ MAX_SEC + 1, 0 }, 6, "");
	assert_formats((struct cp_time){ MIN_SEC - 1, 999999999 }, 6, "");
	assert_formats((struct cp_time){ INT64_MAX, 999999999 }, 6, "");
	assert_formats((struct cp_time){ INT64_MIN, -999999999 }, 6, "");
	assert_formats((struct cp_time){ INT64_MIN, INT32_MIN }, 6, "");
	assert_formats((struct cp_time){ INT64_MAX, INT32_MAX }, 6, "");
	assert_formats((struct cp_time){ MAX_SEC, 1000000000 }, 6, "");
	assert_formats((struct cp_time){ MIN_SEC, -1 }, 6, "");
	/* An unnormalized nsec is carried into sec. */
	assert_formats((struct cp_time){ 1, -1 }, 9, "1970-01-01T00:00:00.999999999Z");
	assert_formats((struct cp_time){ 0, 1500000000 }, 6, "1970-01-01T00:00:01.500000Z");
	assert_formats((struct cp_time){ 0, -1500000000 }, 6, "1969-12-31T23:59:58.500000Z");
	assert_formats((struct cp_time){ MAX_SEC + 1, -1 }, 9, "9999-12-31T23:59:59.999999999Z");
	assert_formats((struct cp_time){ MIN_SEC - 1, 1000000000 }, 0, "0000-01-01T00:00:00Z");
}

static void to_unix_us(void **state)
{
	(void)state;
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ 0, 0 }), 0);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ 1, 999999999 }), 1999999);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ 1795867200, 123456789 }),
	    INT64_C(1795867200123456));
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ -1, 500000000 }), -500000);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ -1, 999 }), -1000000);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ 0, -1 }), -1);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ MIN_SEC, 0 }),
	    MIN_SEC * 1000000);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ MAX_SEC, 999999999 }),
	    MAX_SEC * 1000000 + 999999);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ INT64_MAX, 0 }), INT64_MAX);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ INT64_MAX, INT32_MAX }),
	    INT64_MAX);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ INT64_MIN, 0 }), INT64_MIN);
	assert_int_equal(cp_time_to_unix_us((struct cp_time){ INT64_MIN, INT32_MIN }),
	    INT64_MIN);
	struct cp_time t = parse_ok("2026-11-28T12:00:00.654321987+01:00");
	assert_int_equal(cp_time_to_unix_us(t), INT64_C(1795863600654321));
}

/* ---- round trips ---- */

static void round_trip_canonical(void **state)
{
	(void)state;
	static const char *const canon[] = {
		"1970-01-01T00:00:00.000000Z", "1969-12-31T23:59:59.999999Z",
		"2026-11-28T12:00:00.123456Z", "0000-01-01T00:00:00.000000Z",
		"9999-12-31T23:59:59.999999Z", "2000-02-29T12:34:56.789012Z",
		"1900-03-01T00:00:00.000001Z", "1900-02-28T23:59:59.999999Z",
		"2038-01-19T03:14:08.000000Z", "2106-02-07T06:28:16.000000Z",
		"1600-02-29T23:59:59.500000Z", "0004-02-29T00:00:00.000000Z",
		"0001-01-01T00:00:00.000000Z", "1582-10-15T00:00:00.000000Z",
		"2024-12-31T23:59:59.999999Z", "2025-01-01T00:00:00.000000Z",
		"0399-12-31T23:59:59.999999Z", "0400-01-01T00:00:00.000000Z",
		"1000-06-15T06:07:08.090807Z", "5000-07-04T11:22:33.444555Z",
	};
	char buf[CP_TIME_LEN];
	for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		cp_time_format(parse_ok(canon[i]), buf);
		assert_string_equal(buf, canon[i]);
	}
	/* Non-canonical spellings come back canonical. */
	static const char *const pairs[][2] = {
		{ "2026-11-28t12:00:00z", "2026-11-28T12:00:00.000000Z" },
		{ "2026-11-28 12:00:00.5Z", "2026-11-28T12:00:00.500000Z" },
		{ "2026-11-28T12:00:00.123456789Z", "2026-11-28T12:00:00.123456Z" },
		{ "2026-11-28T12:00:00.1234567-00:00", "2026-11-28T12:00:00.123456Z" },
		{ "2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00.000000Z" },
		{ "2026-11-28T12:00:00.000001+05:30", "2026-11-28T06:30:00.000001Z" },
		{ "2016-12-31T23:59:60.75Z", "2017-01-01T00:00:00.000000Z" },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		cp_time_format(parse_ok(pairs[i][0]), buf);
		assert_string_equal(buf, pairs[i][1]);
	}
}

static char *put_num(char *p, int64_t v, int width)
{
	for (int k = width - 1; k >= 0; k--, v /= 10)
		p[k] = (char)('0' + v % 10);
	return p + width;
}

/* Every day of 0000-9999: format against a naive day-by-day calendar, and
 * parse(format(t)) == t. */
static void round_trip_every_day(void **state)
{
	(void)state;
	int y = 0, m = 1, d = 1;
	char buf[CP_TIME_LEN], want[128];
	int64_t days = 0;
	for (int64_t sec = MIN_SEC; sec <= MAX_SEC; sec += 86400, days++) {
		/* Vary the time of day so every field moves. */
		int64_t tod = (days * 7919) % 86400;
		struct cp_time t = { sec + tod, (int32_t)((days * 104729) % 1000000000) };
		cp_time_format_prec(t, 9, buf);
		/* Like snprintf("%04d-%02d-%02dT%02d:%02d:%02d.%09dZ"), faster. */
		char *p = want;
		p = put_num(p, y, 4);
		*p++ = '-';
		p = put_num(p, m, 2);
		*p++ = '-';
		p = put_num(p, d, 2);
		*p++ = 'T';
		p = put_num(p, tod / 3600, 2);
		*p++ = ':';
		p = put_num(p, tod / 60 % 60, 2);
		*p++ = ':';
		p = put_num(p, tod % 60, 2);
		*p++ = '.';
		p = put_num(p, t.nsec, 9);
		strcpy(p, "Z");
		if (strcmp(buf, want) != 0)
			fail_msg("day %lld: format gives %s, want %s",
			    (long long)days, buf, want);
		struct cp_time back;
		char err[CP_ERR_LEN];
		if (cp_time_parse(buf, strlen(buf), &back, err) != 0)
			fail_msg("parse(\"%s\"): %s", buf, err);
		if (back.sec != t.sec || back.nsec != t.nsec)
			fail_msg("round trip of %s", buf);

		int mlen = m == 2 ? ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28) :
		    (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
		if (++d > mlen) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	assert_int_equal(y, 10000);
	assert_int_equal(days, 3652425); /* 10000 years of 365.2425 days */
}

/* Random instants against glibc's gmtime_r/timegm, and format/parse round
 * trips at every precision. */
static void round_trip_random(void **state)
{
	(void)state;
	char buf[CP_TIME_LEN], want[128];
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng();
		struct cp_time t = {
			MIN_SEC + (int64_t)(r % (uint64_t)(MAX_SEC - MIN_SEC + 1)),
			(int32_t)(rng() % 1000000000),
		};
		time_t tt = (time_t)t.sec;
		struct tm tm;
		assert_non_null(gmtime_r(&tt, &tm));
		snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		cp_time_format_prec(t, 0, buf);
		if (strcmp(buf, want) != 0)
			fail_msg("sec %lld: %s, gmtime says %s", (long long)t.sec,
			    buf, want);
		assert_int_equal(parse_ok(buf).sec, (int64_t)timegm(&tm));

		static const int32_t div[10] = { 1000000000, 100000000, 10000000,
			1000000, 100000, 10000, 1000, 100, 10, 1 };
		int digits = (int)(r >> 60) % 10;
		cp_time_format_prec(t, digits, buf);
		struct cp_time back = parse_ok(buf);
		int32_t trunc = t.nsec - t.nsec % div[digits];
		if (back.sec != t.sec || back.nsec != trunc)
			fail_msg("%s: {%lld, %d}, want {%lld, %d}", buf,
			    (long long)back.sec, (int)back.nsec, (long long)t.sec,
			    (int)trunc);

		/* The same instant written with a random offset. */
		int off = (int)(rng() % (2 * 1439 + 1)) - 1439; /* minutes */
		struct cp_time local = { t.sec + off * 60, t.nsec };
		char lbuf[CP_TIME_LEN], s[64];
		if (cp_time_format_prec(local, 9, lbuf) == 0)
			continue; /* local time outside 0000-9999 */
		int aoff = off < 0 ? -off : off;
		snprintf(s, sizeof s, "%.29s%c%02d:%02d", lbuf, off < 0 ? '-' : '+',
		    aoff / 60, aoff % 60);
		back = parse_ok(s);
		if (back.sec != t.sec || back.nsec != t.nsec)
			fail_msg("%s: {%lld, %d}, want {%lld, %d}", s,
			    (long long)back.sec, (int)back.nsec, (long long)t.sec,
			    (int)t.nsec);
	}
}

/* ---- clocks ---- */

static void clocks(void **state)
{
	(void)state;
	struct cp_time now = cp_time_now();
	time_t libc = time(NULL);
	assert_true(now.sec >= libc - 2 && now.sec <= libc + 2);
	assert_in_range(now.nsec, 0, 999999999);
	assert_true(now.sec > 1700000000); /* after 2023 */

	int64_t prev = cp_time_mono_ns();
	for (int i = 0; i < 10000; i++) {
		int64_t cur = cp_time_mono_ns();
		assert_true(cur >= prev);
		prev = cur;
	}
	int64_t ms1 = cp_time_mono_ms();
	int64_t ns = cp_time_mono_ns();
	int64_t ms2 = cp_time_mono_ms();
	assert_true(ms1 <= ns / 1000000 && ns / 1000000 <= ms2);

	int64_t a = cp_time_mono_ns();
	struct timespec ts = { 0, 20 * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
	int64_t b = cp_time_mono_ns();
	assert_true(b - a >= 20 * 1000000);
	assert_true(b - a < INT64_C(5) * 1000000000);
}

/* ---- UUIDv7 ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* uppercase is not accepted either */
}

/* Checks the 8-4-4-4-12 shape, version and variant; returns the timestamp
 * field and the 12-bit rand_a. */
static void check_uuid(const char *u, uint64_t *ms, unsigned *rand_a)
{
	if (strlen(u) != 36)
		fail_msg("uuid \"%s\": length %zu", u, strlen(u));
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				fail_msg("uuid \"%s\": no '-' at %d", u, i);
		} else if (hexval(u[i]) < 0) {
			fail_msg("uuid \"%s\": bad hex at %d", u, i);
		}
	}
	if (u[14] != '7')
		fail_msg("uuid \"%s\": version nibble %c", u, u[14]);
	if (strchr("89ab", u[19]) == NULL || u[19] == 0)
		fail_msg("uuid \"%s\": variant nibble %c", u, u[19]);
	uint64_t v = 0;
	for (int i = 0; i < 13; i++)
		if (i != 8)
			v = v << 4 | (uint64_t)hexval(u[i]);
	*ms = v;
	*rand_a = (unsigned)(hexval(u[15]) << 8 | hexval(u[16]) << 4 | hexval(u[17]));
}

static void uuid_format(void **state)
{
	(void)state;
	char u[CP_UUID_LEN], err[CP_ERR_LEN] = "";
	memset(u, 'x', sizeof u);
	struct cp_time before = cp_time_now();
	assert_int_equal(cp_time_uuidv7(u, err), 0);
	struct cp_time after = cp_time_now();
	assert_int_equal(u[36], 0);
	uint64_t ms;
	unsigned ra;
	check_uuid(u, &ms, &ra);
	/* The timestamp is now, within a second. */
	int64_t lo = before.sec * 1000 + before.nsec / 1000000 - 1000;
	int64_t hi = after.sec * 1000 + after.nsec / 1000000 + 1000;
	if ((int64_t)ms < lo || (int64_t)ms > hi)
		fail_msg("uuid %s: timestamp %llu ms, now is %lld ms", u,
		    (unsigned long long)ms, (long long)(lo + 1000));
	/* err may be NULL. */
	assert_int_equal(cp_time_uuidv7(u, NULL), 0);
	check_uuid(u, &ms, &ra);
	/* Random bits differ between ids. */
	char v[CP_UUID_LEN];
	assert_int_equal(cp_time_uuidv7(v, NULL), 0);
	assert_string_not_equal(u + 19, v + 19);
}

#define SEQ_N 100000

static void uuid_increasing(void **state)
{
	(void)state;
	char (*ids)[CP_UUID_LEN] = malloc(sizeof *ids * SEQ_N);
	assert_non_null(ids);
	struct cp_time before = cp_time_now();
	for (int i = 0; i < SEQ_N; i++)
		assert_int_equal(cp_time_uuidv7(ids[i], NULL), 0);
	struct cp_time after = cp_time_now();

	uint64_t pms = 0;
	unsigned pra = 0;
	int same_ms = 0;
	for (int i = 0; i < SEQ_N; i++) {
		uint64_t ms;
		unsigned ra;
		check_uuid(ids[i], &ms, &ra);
		if (i > 0) {
			if (strcmp(ids[i - 1], ids[i]) >= 0)
				fail_msg("ids %d and %d out of order: %s, %s", i - 1,
				    i, ids[i - 1], ids[i]);
			/* Method 1: within a millisecond the counter counts. */
			if (ms == pms) {
				same_ms++;
				if (ra != pra + 1)
					fail_msg("%s after %s: counter not +1", ids[i],
					    ids[i - 1]);
			} else if (ms < pms) {
				fail_msg("%s after %s: timestamp went back", ids[i],
				    ids[i - 1]);
			}
		}
		pms = ms;
		pra = ra;
	}
	assert_true(same_ms > 0); /* 100000 ids cannot take 100000 ms */
	/* However fast, the timestamps stay near the clock. */
	int64_t last = after.sec * 1000 + after.nsec / 1000000;
	int64_t first = before.sec * 1000 + before.nsec / 1000000;
	assert_true((int64_t)pms <= last + 1000);
	assert_true((int64_t)pms >= first - 1000);
	free(ids);
}

/* The paths the real clock rarely takes, driven through cp_time_uuidv7_at:
 * more ids in one millisecond than the counter holds, and a clock that steps
 * back. */
#define BURST 10000

static void uuid_overflow_and_step_back(void **state)
{
	(void)state;
	char (*ids)[CP_UUID_LEN] = malloc(sizeof *ids * (BURST + 3));
	assert_non_null(ids);
	uint64_t ms, pms;
	unsigned ra, pra;
	/* Start from a millisecond no id has used yet. */
	assert_int_equal(cp_time_uuidv7(ids[0], NULL), 0);
	check_uuid(ids[0], &ms, &ra);
	int64_t base = (int64_t)ms + 1;

	for (int i = 0; i < BURST; i++)
		assert_int_equal(cp_time_uuidv7_at(ids[i], base, NULL), 0);
	check_uuid(ids[0], &pms, &pra);
	assert_int_equal(pms, base);
	assert_true(pra <= 0x7ff); /* seeded with the top bit clear */
	int bumps = 0;
	for (int i = 1; i < BURST; i++) {
		check_uuid(ids[i], &ms, &ra);
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("%s after %s", ids[i], ids[i - 1]);
		if (ms == pms) {
			if (ra != pra + 1)
				fail_msg("%s after %s: counter not +1", ids[i], ids[i - 1]);
		} else if (ms == pms + 1 && pra == 0xfff && ra <= 0x7ff) {
			bumps++; /* overflow: next millisecond, counter reseeded */
		} else {
			fail_msg("%s after %s: bad step", ids[i], ids[i - 1]);
		}
		pms = ms;
		pra = ra;
	}
	/* 10000 ids need at least 10000 / 4096 = 2 more milliseconds, and
	 * with at least 2048 per millisecond at most 4. */
	assert_in_range(bumps, 2, 4);

	/* The clock steps back (by a minute, to 0, below 0): the timestamp
	 * stays, the counter goes on. */
	const int64_t back[3] = { base - 60000, 0, -5 };
	for (int i = 0; i < 3; i++) {
		char *id = ids[BURST + i];
		assert_int_equal(cp_time_uuidv7_at(id, back[i], NULL), 0);
		check_uuid(id, &ms, &ra);
		if (strcmp(i == 0 ? ids[BURST - 1] : ids[BURST + i - 1], id) >= 0)
			fail_msg("%s not after the previous id", id);
		assert_true(ms == pms || (ms == pms + 1 && pra == 0xfff));
		pms = ms;
		pra = ra;
	}
	/* The real clock carries on from there. */
	char next[CP_UUID_LEN];
	assert_int_equal(cp_time_uuidv7(next, NULL), 0);
	assert_true(strcmp(ids[BURST + 2], next) < 0);
	free(ids);
}

#define THREADS 4
#define PER_THREAD 50000

struct worker {
	pthread_t tid;
	pthread_barrier_t *start;
	char (*ids)[CP_UUID_LEN];
	int failures;
	int disorder;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	pthread_barrier_wait(w->start);
	for (int i = 0; i < PER_THREAD; i++) {
		if (cp_time_uuidv7(w->ids[i], NULL) != 0)
			w->failures++;
		else if (i > 0 && strcmp(w->ids[i - 1], w->ids[i]) >= 0)
			w->disorder++;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void uuid_threads(void **state)
{
	(void)state;
	char (*all)[CP_UUID_LEN] = malloc(sizeof *all * THREADS * PER_THREAD);
	assert_non_null(all);
	pthread_barrier_t start;
	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .start = &start, .ids = all + i * PER_THREAD };
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_run, &w[i]), 0);
	}
	/* Join them all before any assertion can jump out of this frame. */
	int joined = 0;
	for (int i = 0; i < THREADS; i++)
		joined += pthread_join(w[i].tid, NULL) == 0;
	pthread_barrier_destroy(&start);
	assert_int_equal(joined, THREADS);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].disorder, 0); /* each thread sees increase */
	}

	qsort(all, THREADS * PER_THREAD, sizeof *all, cmp_id);
	for (int i = 0; i < THREADS * PER_THREAD; i++) {
		uint64_t ms;
		unsigned ra;
		check_uuid(all[i], &ms, &ra);
		if (i > 0 && strcmp(all[i - 1], all[i]) == 0)
			fail_msg("duplicate id %s", all[i]);
		/* Strict order also means distinct (timestamp, counter). */
		if (i > 0 && strncmp(all[i - 1], all[i], 18) == 0)
			fail_msg("ids %s and %s share timestamp and counter",
			    all[i - 1], all[i]);
	}
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_basic),
		cmocka_unit_test(parse_leap_years),
		cmocka_unit_test(parse_month_lengths),
		cmocka_unit_test(parse_time_ranges),
		cmocka_unit_test(parse_offsets),
		cmocka_unit_test(parse_fraction_digits),
		cmocka_unit_test(parse_separators),
		cmocka_unit_test(parse_leap_second),
		cmocka_unit_test(parse_extremes),
		cmocka_unit_test(parse_garbage),
		cmocka_unit_test(parse_len_bounded),
		cmocka_unit_test(format_basic),
		cmocka_unit_test(format_truncates),
		cmocka_unit_test(format_edge_values),
		cmocka_unit_test(to_unix_us),
		cmocka_unit_test(round_trip_canonical),
		cmocka_unit_test(round_trip_every_day),
		cmocka_unit_test(round_trip_random),
		cmocka_unit_test(clocks),
		cmocka_unit_test(uuid_format),
		cmocka_unit_test(uuid_increasing),
		cmocka_unit_test(uuid_overflow_and_step_back),
		cmocka_unit_test(uuid_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
