/* retry: the retry schedule shared by every network tool (BRIEF §3).
 *
 * A policy says how long to wait between attempts and when to give up:
 * capped exponential backoff with "full jitter", at most max_attempts
 * attempts (the first one included), and never an attempt scheduled after
 * budget_ms from the start of the first one.
 *
 * Why full jitter: the delay before retry n (n = 0 for the first retry) is
 *   random(0, min(cap, base * 2^n))      (uniform, bounds included)
 * which is what the AWS SDKs' "standard" retry mode does (botocore and the
 * JS v3 SDK: rand(0,1) * min(cap, base * 2^attempt)), and what the AWS
 * Architecture blog ("Exponential Backoff And Jitter", M. Brooker, 2015)
 * found best: with many clients retrying against one overloaded service,
 * full jitter spreads the retries over the whole window, so it does the
 * least total work and finishes about as fast as any other scheme.  Equal
 * jitter (half fixed, half random) keeps a minimum wait but clusters the
 * clients in the upper half of the window; we keep the minimum where it
 * matters instead: a throttled request backs off from its own, larger base
 * (throttle_base_ms, 500 ms as in the JS v3 SDK) and never waits less than
 * a server's Retry-After hint.
 *
 * Classification: cp_retry_classify_http() sorts an HTTP exchange into
 * CP_RETRY_NO (success, or a permanent failure: a 4xx other than 408/429,
 * a malformed URL, a TLS verification failure, ...), CP_RETRY_YES (5xx other
 * than 501/505, 408, timeouts, connection refused/reset/dropped, DNS
 * failures, partial responses) and CP_RETRY_THROTTLE (429).
 * cp_retry_classify_aws() does the same for an AWS error code taken from a
 * response body or header (SQS throttles with 400/403 and a code).
 *
 * Random numbers come from a small splitmix64 generator owned by the
 * caller: deterministic for a given seed (tests check bounds with it), and
 * seeded from OpenSSL's RAND_bytes by cp_retry_rng_seed_random() in
 * programs.  It is not for cryptography.
 *
 * Ownership and errors: every struct here is a plain value owned by the
 * caller; nothing allocates.  Only cp_retry_rng_seed_random() can fail
 * (returns -1 and fills err).
 *
 * Thread safety: no global state; a generator or a retry state must not be
 * used from two threads at once (give each thread its own).
 */
#ifndef CP_RETRY_H
#define CP_RETRY_H

#include <stdint.h>

#include <curl/curl.h>

#include "diag.h"

struct cp_retry_policy {
	long base_ms;           /* first backoff window (100) */
	long throttle_base_ms;  /* the same after throttling (500); 0: base_ms */
	long cap_ms;            /* no window is wider (20000) */
	int max_attempts;       /* attempts in all, the first included (8); >= 1 */
	long budget_ms;         /* no attempt starts later than this after the
	                         * first one started (60000); <= 0: no limit */
};

#define CP_RETRY_BASE_MS 100
#define CP_RETRY_THROTTLE_BASE_MS 500
#define CP_RETRY_CAP_MS 20000
#define CP_RETRY_MAX_ATTEMPTS 8
#define CP_RETRY_BUDGET_MS 60000
#define CP_RETRY_POLICY_DEFAULT { CP_RETRY_BASE_MS, CP_RETRY_THROTTLE_BASE_MS, \
	CP_RETRY_CAP_MS, CP_RETRY_MAX_ATTEMPTS, CP_RETRY_BUDGET_MS }

/* Fills p with the defaults above. */
void cp_retry_policy_default(struct cp_retry_policy *p);

/* splitmix64 (S. Vigna): every seed, 0 included, is a good one. */
struct cp_retry_rng {
	uint64_t state;
};

void cp_retry_rng_seed(struct cp_retry_rng *rng, uint64_t seed);
/* Seeds from RAND_bytes: 0, or -1 with err (the generator is then seeded
 * from the clock and the pid, still usable for jitter). */
int cp_retry_rng_seed_random(struct cp_retry_rng *rng, char *err);
uint64_t cp_retry_rng_next(struct cp_retry_rng *rng);
/* Uniform in [0, bound], bound included, without modulo bias. */
uint64_t cp_retry_rng_upto(struct cp_retry_rng *rng, uint64_t bound);

/* The window before retry number retry (0 for the first retry, i.e. the
 * second attempt): min(cap, base * 2^retry), computed without overflow for
 * any retry >= 0 (a negative retry counts as 0; a negative base or cap as
 * 0). */
long cp_retry_window_ms(long base_ms, long cap_ms, int retry);

/* A full-jitter delay before retry number retry: uniform in
 * [0, cp_retry_window_ms(policy->base_ms, policy->cap_ms, retry)]. */
long cp_retry_delay_ms(const struct cp_retry_policy *policy, int retry,
    struct cp_retry_rng *rng);

enum cp_retry_class {
	CP_RETRY_NO = 0,    /* done: success or a permanent failure */
	CP_RETRY_YES,       /* a transient failure: retry after a backoff */
	CP_RETRY_THROTTLE,  /* the peer asks us to slow down: retry, from the
	                     * throttling base */
};

/* status: the HTTP status (0 when no response arrived); code: libcurl's
 * result for the transfer.  A failed transfer is classified by its code,
 * a completed one by its status. */
enum cp_retry_class cp_retry_classify_http(long status, CURLcode code);

/* An AWS error code ("ThrottlingException", "RequestThrottled",
 * "AWS.SimpleQueueService.RequestThrottled", "com.amazonaws.sqs#X", the
 * "Code;Sender" form of x-amzn-query-error, ...): CP_RETRY_THROTTLE for the
 * SDKs' throttling codes, CP_RETRY_YES for their transient ones
 * (InternalError, ServiceUnavailable, RequestTimeout, ...), else
 * CP_RETRY_NO.  NULL gives CP_RETRY_NO. */
enum cp_retry_class cp_retry_classify_aws(const char *code);

/* The retry state of one request (or any operation).  Use:
 *
 *	cp_retry_begin(&r, &policy, &rng, now);      before the first attempt
 *	... the attempt fails retryably ...
 *	if (cp_retry_next(&r, now, &delay))          wait delay ms, try again
 *	else                                         give up (retryable)
 *
 * policy and rng are kept by pointer and must outlive the state. */
struct cp_retry {
	const struct cp_retry_policy *policy;
	struct cp_retry_rng *rng;
	int attempts;       /* attempts started so far (1 after begin) */
	int64_t start_ms;   /* when the first attempt started */
	int64_t delay_total_ms; /* sum of the delays handed out */
};

void cp_retry_begin(struct cp_retry *r, const struct cp_retry_policy *policy,
    struct cp_retry_rng *rng, int64_t now_ms);

/* After a failed attempt: 1 and *delay_ms (>= 0) when another attempt may
 * start after that delay (attempts then counts it), 0 when the attempts or
 * the time budget are exhausted: a retry is never scheduled at or past
 * start + budget_ms. */
int cp_retry_next(struct cp_retry *r, int64_t now_ms, long *delay_ms);

/* The same for a failure of class cls (CP_RETRY_THROTTLE backs off from
 * throttle_base_ms), waiting at least hint_ms when the peer gave a hint
 * (Retry-After; hint_ms < 0: none).  A hint larger than cap_ms is taken as
 * cap_ms; a delay that would cross the budget gives 0. */
int cp_retry_next_for(struct cp_retry *r, int64_t now_ms, int cls,
    long hint_ms, long *delay_ms);

/* Milliseconds left in the budget at now_ms (>= 0), or -1 when the policy
 * has no time budget.  An attempt's own timeout may be clamped to it. */
long cp_retry_remaining_ms(const struct cp_retry *r, int64_t now_ms);

#endif
