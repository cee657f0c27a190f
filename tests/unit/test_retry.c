/* Unit tests: the retry schedule (lib/retry). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"

/* min(cap, base * 2^n), computed the slow, obviously right way. */
static long expected_window(long base, long cap, int n)
{
	long double w = base;
	for (int i = 0; i < n && w < cap; i++)
		w *= 2;
	return w > cap ? cap : (long)w;
}

static void test_window(void **state)
{
	(void)state;
	assert_int_equal(cp_retry_window_ms(100, 20000, 0), 100);
	assert_int_equal(cp_retry_window_ms(100, 20000, 1), 200);
	assert_int_equal(cp_retry_window_ms(100, 20000, 7), 12800);
	assert_int_equal(cp_retry_window_ms(100, 20000, 8), 20000);
	assert_int_equal(cp_retry_window_ms(100, 20000, 62), 20000);
	assert_int_equal(cp_retry_window_ms(100, 20000, 63), 20000);
	assert_int_equal(cp_retry_window_ms(100, 20000, 64), 20000);
	assert_int_equal(cp_retry_window_ms(100, 20000, INT_MAX), 20000);
	assert_int_equal(cp_retry_window_ms(100, 20000, -5), 100);
	assert_int_equal(cp_retry_window_ms(0, 20000, INT_MAX), 0);
	assert_int_equal(cp_retry_window_ms(50000, 20000, 0), 20000);
	assert_int_equal(cp_retry_window_ms(-1, -1, 3), 0);
	/* No overflow even with the widest cap. */
	assert_true(cp_retry_window_ms(1, LONG_MAX, INT_MAX) == LONG_MAX);
	assert_true(cp_retry_window_ms(LONG_MAX / 2 + 1, LONG_MAX, 1) == LONG_MAX);
	for (int n = 0; n < 80; n++)
		assert_int_equal(cp_retry_window_ms(100, 20000, n), expected_window(100, 20000, n));
	for (int n = 0; n < 80; n++)
		assert_int_equal(cp_retry_window_ms(3, 1000000007L, n), expected_window(3, 1000000007L, n));
}

static void test_rng(void **state)
{
	(void)state;
	struct cp_retry_rng a, b;
	cp_retry_rng_seed(&a, 42);
	cp_retry_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		assert_true(cp_retry_rng_next(&a) == cp_retry_rng_next(&b));
	/* Seed 0 is a fine seed: not stuck. */
	cp_retry_rng_seed(&a, 0);
	uint64_t x = cp_retry_rng_next(&a), y = cp_retry_rng_next(&a);
	assert_true(x != y && x != 0);
	/* upto: bounds included, every value reached, roughly uniform. */
	int seen[10] = { 0 };
	for (int i = 0; i < 100000; i++) {
		uint64_t v = cp_retry_rng_upto(&a, 9);
		assert_true(v <= 9);
		seen[v]++;
	}
	for (int i = 0; i < 10; i++)
		assert_true(seen[i] > 9000 && seen[i] < 11000);
	for (int i = 0; i < 100; i++)
		assert_true(cp_retry_rng_upto(&a, 0) == 0);
	(void)cp_retry_rng_upto(&a, UINT64_MAX);
	char err[CP_ERR_LEN] = "";
	assert_int_equal(cp_retry_rng_seed_random(&a, err), 0);
	assert_int_equal(cp_retry_rng_seed_random(&b, err), 0);
	assert_true(cp_retry_rng_next(&a) != cp_retry_rng_next(&b));
}

/* Every delay lies in [0, min(cap, base * 2^n)], for many retries and
 * seeds, including retry numbers far past any sane count. */
static void test_delay_bounds(void **state)
{
	(void)state;
	const struct cp_retry_policy p = CP_RETRY_POLICY_DEFAULT;
	static const int big[] = { 31, 62, 63, 64, 65, 1000, INT_MAX - 1, INT_MAX };
	struct cp_retry_rng rng;
	for (uint64_t seed = 0; seed < 200; seed++) {
		cp_retry_rng_seed(&rng, seed);
		for (int n = 0; n < 70; n++) {
			long d = cp_retry_delay_ms(&p, n, &rng);
			assert_true(d >= 0);
			assert_true(d <= expected_window(p.base_ms, p.cap_ms, n));
		}
		for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
			long d = cp_retry_delay_ms(&p, big[i], &rng);
			assert_true(d >= 0 && d <= p.cap_ms);
		}
	}
	/* A huge cap and base: still no overflow, still in bounds. */
	struct cp_retry_policy q = { LONG_MAX / 4, 0, LONG_MAX, 100, 0 };
	cp_retry_rng_seed(&rng, 7);
	for (int n = 0; n < 100; n++) {
		long d = cp_retry_delay_ms(&q, n, &rng);
		assert_true(d >= 0 && d <= LONG_MAX);
	}
	/* The bounds are reached: over many draws the first retry sees both 0
	 * and the full window (100 ms -> 101 values). */
	int lo = 0, hi = 0;
	cp_retry_rng_seed(&rng, 1);
	for (int i = 0; i < 20000; i++) {
		long d = cp_retry_delay_ms(&p, 0, &rng);
		lo |= d == 0;
		hi |= d == p.base_ms;
	}
	assert_true(lo && hi);
}

/* The mean delay doubles with each retry, then stays at cap / 2. */
static void test_mean_grows_then_saturates(void **state)
{
	(void)state;
	const struct cp_retry_policy p = CP_RETRY_POLICY_DEFAULT;
	struct cp_retry_rng rng;
	cp_retry_rng_seed(&rng, 2024);
	double mean[14];
	const int samples = 20000;
	for (int n = 0; n < 14; n++) {
		double sum = 0;
		for (int i = 0; i < samples; i++)
			sum += (double)cp_retry_delay_ms(&p, n, &rng);
		mean[n] = sum / samples;
		double want = (double)expected_window(p.base_ms, p.cap_ms, n) / 2;
		assert_true(mean[n] > want * 0.95 && mean[n] < want * 1.05);
	}
	for (int n = 1; n < 8; n++)   /* 100 * 2^7 = 12800 < 20000 */
		assert_true(mean[n] > mean[n - 1] * 1.8);
	for (int n = 9; n < 14; n++)  /* saturated at the cap */
		assert_true(mean[n] > mean[8] * 0.95 && mean[n] < mean[8] * 1.05);
}

static void test_max_attempts(void **state)
{
	(void)state;
	struct cp_retry_policy p = { 10, 0, 1000, 5, 0 };  /* no time budget */
	struct cp_retry_rng rng;
	cp_retry_rng_seed(&rng, 3);
	struct cp_retry r;
	long d;
	cp_retry_begin(&r, &p, &rng, 1000);
	assert_int_equal(r.attempts, 1);
	int retries = 0;
	int64_t now = 1000;
	while (cp_retry_next(&r, now, &d)) {
		retries++;
		now += d + 1000000;  /* slow attempts: no budget, no matter */
		assert_true(retries < 100);
	}
	assert_int_equal(retries, 4);
	assert_int_equal(r.attempts, 5);
	assert_int_equal(cp_retry_next(&r, now, &d), 0);
	assert_int_equal(cp_retry_remaining_ms(&r, now), -1);
	/* One attempt (or a nonsense 0): no retry at all. */
	p.max_attempts = 1;
	cp_retry_begin(&r, &p, &rng, 0);
	assert_int_equal(cp_retry_next(&r, 0, &d), 0);
	p.max_attempts = 0;
	cp_retry_begin(&r, &p, &rng, 0);
	assert_int_equal(cp_retry_next(&r, 0, &d), 0);
}

/* Simulated clock: attempts of random length, retries as told.  No retry
 * is ever scheduled at or past the budget, and the delays handed out never
 * add up to more than the budget. */
static void test_budget(void **state)
{
	(void)state;
	static const struct cp_retry_policy policies[] = {
		{ 100, 500, 20000, 1000, 5000 },
		{ 100, 500, 20000, 8, 60000 },
		{ 1, 1, 10, 100000, 250 },
		{ 1000, 1000, 1000, 50, 999 },
		{ 50, 0, 2000, 10000, 30000 },
	};
	struct cp_retry_rng rng, dur;
	cp_retry_rng_seed(&dur, 99);
	for (size_t k = 0; k < sizeof policies / sizeof *policies; k++) {
		const struct cp_retry_policy *p = &policies[k];
		for (uint64_t seed = 0; seed < 300; seed++) {
			cp_retry_rng_seed(&rng, seed);
			struct cp_retry r;
			int64_t start = (int64_t)seed * 7919, now = start;
			cp_retry_begin(&r, p, &rng, now);
			long total = 0, d;
			for (;;) {
				now += (int64_t)cp_retry_rng_upto(&dur, 300); /* the attempt */
				int cls = seed % 3 == 0 ? CP_RETRY_THROTTLE : CP_RETRY_YES;
				if (!cp_retry_next_for(&r, now, cls, -1, &d))
					break;
				assert_true(d >= 0);
				assert_true(now + d < start + p->budget_ms);
				assert_true(d <= p->cap_ms);
				total += d;
				now += d;
				assert_true(cp_retry_remaining_ms(&r, now) > 0);
			}
			assert_true(total <= p->budget_ms);
			assert_true(total == r.delay_total_ms);
			assert_true(r.attempts <= p->max_attempts);
		}
	}
}

static void test_throttle_and_hint(void **state)
{
	(void)state;
	struct cp_retry_policy p = { 10, 500, 20000, 100, 60000 };
	struct cp_retry_rng rng;
	cp_retry_rng_seed(&rng, 5);
	struct cp_retry r;
	long d;
	long max_plain = 0, max_throttle = 0;
	for (int i = 0; i < 2000; i++) {
		cp_retry_begin(&r, &p, &rng, 0);
		assert_int_equal(cp_retry_next_for(&r, 0, CP_RETRY_YES, -1, &d), 1);
		max_plain = d > max_plain ? d : max_plain;
		cp_retry_begin(&r, &p, &rng, 0);
		assert_int_equal(cp_retry_next_for(&r, 0, CP_RETRY_THROTTLE, -1, &d), 1);
		max_throttle = d > max_throttle ? d : max_throttle;
	}
	assert_true(max_plain <= 10);
	assert_true(max_throttle <= 500 && max_throttle > 250);
	/* A hint is a floor... */
	cp_retry_begin(&r, &p, &rng, 0);
	assert_int_equal(cp_retry_next_for(&r, 0, CP_RETRY_THROTTLE, 1500, &d), 1);
	assert_int_equal(d, 1500);
	/* ...capped at cap... */
	cp_retry_begin(&r, &p, &rng, 0);
	assert_int_equal(cp_retry_next_for(&r, 0, CP_RETRY_THROTTLE, 3600000, &d), 1);
	assert_int_equal(d, 20000);
	/* ...and never a reason to cross the budget. */
	cp_retry_begin(&r, &p, &rng, 0);
	assert_int_equal(cp_retry_next_for(&r, 45000, CP_RETRY_THROTTLE, 15000, &d), 0);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(cp_retry_remaining_ms(&r, 45000), 15000);
	assert_int_equal(cp_retry_remaining_ms(&r, 70000), 0);
	/* throttle_base_ms 0 means the plain base. */
	p.throttle_base_ms = 0;
	for (int i = 0; i < 200; i++) {
		cp_retry_begin(&r, &p, &rng, 0);
		assert_int_equal(cp_retry_next_for(&r, 0, CP_RETRY_THROTTLE, -1, &d), 1);
		assert_true(d <= 10);
	}
	struct cp_retry_policy def;
	cp_retry_policy_default(&def);
	assert_int_equal(def.base_ms, 100);
	assert_int_equal(def.cap_ms, 20000);
	assert_int_equal(def.max_attempts, 8);
	assert_int_equal(def.budget_ms, 60000);
}

static void test_classify_http(void **state)
{
	(void)state;
	static const struct {
		long status;
		CURLcode code;
		enum cp_retry_class want;
	} t[] = {
		{ 200, CURLE_OK, CP_RETRY_NO },
		{ 204, CURLE_OK, CP_RETRY_NO },
		{ 301, CURLE_OK, CP_RETRY_NO },
		{ 400, CURLE_OK, CP_RETRY_NO },
		{ 401, CURLE_OK, CP_RETRY_NO },
		{ 403, CURLE_OK, CP_RETRY_NO },
		{ 404, CURLE_OK, CP_RETRY_NO },
		{ 409, CURLE_OK, CP_RETRY_NO },
		{ 413, CURLE_OK, CP_RETRY_NO },
		{ 408, CURLE_OK, CP_RETRY_YES },
		{ 429, CURLE_OK, CP_RETRY_THROTTLE },
		{ 500, CURLE_OK, CP_RETRY_YES },
		{ 502, CURLE_OK, CP_RETRY_YES },
		{ 503, CURLE_OK, CP_RETRY_YES },
		{ 504, CURLE_OK, CP_RETRY_YES },
		{ 507, CURLE_OK, CP_RETRY_YES },
		{ 599, CURLE_OK, CP_RETRY_YES },
		{ 501, CURLE_OK, CP_RETRY_NO },
		{ 505, CURLE_OK, CP_RETRY_NO },
		{ 0, CURLE_COULDNT_CONNECT, CP_RETRY_YES },
		{ 0, CURLE_COULDNT_RESOLVE_HOST, CP_RETRY_YES },
		{ 0, CURLE_OPERATION_TIMEDOUT, CP_RETRY_YES },
		{ 0, CURLE_RECV_ERROR, CP_RETRY_YES },
		{ 0, CURLE_SEND_ERROR, CP_RETRY_YES },
		{ 0, CURLE_GOT_NOTHING, CP_RETRY_YES },
		{ 200, CURLE_PARTIAL_FILE, CP_RETRY_YES },
		{ 0, CURLE_SSL_CONNECT_ERROR, CP_RETRY_YES },
		{ 0, CURLE_HTTP2_STREAM, CP_RETRY_YES },
		{ 0, CURLE_PEER_FAILED_VERIFICATION, CP_RETRY_NO },
		{ 0, CURLE_SSL_CACERT_BADFILE, CP_RETRY_NO },
		{ 0, CURLE_URL_MALFORMAT, CP_RETRY_NO },
		{ 0, CURLE_UNSUPPORTED_PROTOCOL, CP_RETRY_NO },
		{ 0, CURLE_WRITE_ERROR, CP_RETRY_NO },
		{ 0, CURLE_ABORTED_BY_CALLBACK, CP_RETRY_NO },
		{ 0, CURLE_OUT_OF_MEMORY, CP_RETRY_NO },
		{ 0, CURLE_WEIRD_SERVER_REPLY, CP_RETRY_NO },
		/* A transfer error wins over whatever status came before it. */
		{ 503, CURLE_WRITE_ERROR, CP_RETRY_NO },
		{ 404, CURLE_OPERATION_TIMEDOUT, CP_RETRY_YES },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		enum cp_retry_class got = cp_retry_classify_http(t[i].status, t[i].code);
		if (got != t[i].want)
			fail_msg("status %ld code %d: got %d, want %d", t[i].status,
			    (int)t[i].code, got, t[i].want);
	}
}

static void test_classify_aws(void **state)
{
	(void)state;
	static const struct {
		const char *code;
		enum cp_retry_class want;
	} t[] = {
		{ "ThrottlingException", CP_RETRY_THROTTLE },
		{ "Throttling", CP_RETRY_THROTTLE },
		{ "RequestThrottled", CP_RETRY_THROTTLE },
		{ "AWS.SimpleQueueService.RequestThrottled", CP_RETRY_THROTTLE },
		{ "RequestThrottled;Sender", CP_RETRY_THROTTLE },
		{ "com.amazon.coral.availability#ThrottlingException", CP_RETRY_THROTTLE },
		{ "com.amazonaws.sqs#ThrottlingException:http://internal", CP_RETRY_THROTTLE },
		{ "KMS.ThrottlingException", CP_RETRY_THROTTLE },
		{ "KmsThrottled", CP_RETRY_THROTTLE },
		{ "TooManyRequestsException", CP_RETRY_THROTTLE },
		{ "ProvisionedThroughputExceededException", CP_RETRY_THROTTLE },
		{ "SlowDown", CP_RETRY_THROTTLE },
		{ "RequestLimitExceeded", CP_RETRY_THROTTLE },
		{ "InternalError", CP_RETRY_YES },
		{ "com.amazonaws.sqs#InternalFailure", CP_RETRY_YES },
		{ "ServiceUnavailable", CP_RETRY_YES },
		{ "RequestTimeout", CP_RETRY_YES },
		{ "QueueDoesNotExist", CP_RETRY_NO },
		{ "AWS.SimpleQueueService.NonExistentQueue;Sender", CP_RETRY_NO },
		{ "com.amazonaws.sqs#QueueDoesNotExist", CP_RETRY_NO },
		{ "InvalidSignatureException", CP_RETRY_NO },
		{ "AccessDeniedException", CP_RETRY_NO },
		{ "ValidationException", CP_RETRY_NO },
		{ "ThrottlingExceptionX", CP_RETRY_NO },
		{ "Throttl", CP_RETRY_NO },
		{ "", CP_RETRY_NO },
		{ "#", CP_RETRY_NO },
		{ ".", CP_RETRY_NO },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		enum cp_retry_class got = cp_retry_classify_aws(t[i].code);
		if (got != t[i].want)
			fail_msg("\"%s\": got %d, want %d", t[i].code, got, t[i].want);
	}
	assert_int_equal(cp_retry_classify_aws(NULL), CP_RETRY_NO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_delay_bounds),
		cmocka_unit_test(test_mean_grows_then_saturates),
		cmocka_unit_test(test_max_attempts),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_throttle_and_hint),
		cmocka_unit_test(test_classify_http),
		cmocka_unit_test(test_classify_aws),
	};
	return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
