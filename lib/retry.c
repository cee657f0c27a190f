/* retry: see retry.h. */
#include "retry.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

void cp_retry_policy_default(struct cp_retry_policy *p)
{
	*p = (struct cp_retry_policy)CP_RETRY_POLICY_DEFAULT;
}

void cp_retry_rng_seed(struct cp_retry_rng *rng, uint64_t seed)
{
	rng->state = seed;
}

int cp_retry_rng_seed_random(struct cp_retry_rng *rng, char *err)
{
	unsigned char b[8];
	if (RAND_bytes(b, sizeof b) == 1) {
		uint64_t s = 0;
		for (size_t i = 0; i < sizeof b; i++)
			s = s << 8 | b[i];
		rng->state = s;
		return 0;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rng->state = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
	    (uint64_t)getpid() << 32;
	return cp_err_set(err, "RAND_bytes failed (error %lu); jitter seeded from the clock",
	    ERR_get_error());
}

uint64_t cp_retry_rng_next(struct cp_retry_rng *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

uint64_t cp_retry_rng_upto(struct cp_retry_rng *rng, uint64_t bound)
{
	if (bound == UINT64_MAX)
		return cp_retry_rng_next(rng);
	uint64_t n = bound + 1;
	/* Reject the top (2^64 mod n) values so every residue is equally
	 * likely. */
	uint64_t min = -n % n;
	for (;;) {
		uint64_t r = cp_retry_rng_next(rng);
		if (r >= min)
			return r % n;
	}
}

long cp_retry_window_ms(long base_ms, long cap_ms, int retry)
{
	if (base_ms < 0)
		base_ms = 0;
	if (cap_ms < 0)
		cap_ms = 0;
	long w = base_ms < cap_ms ? base_ms : cap_ms;
	/* Doubling stops at the cap (or at 0), so this runs at most about
	 * log2(cap) times, whatever retry is, and never overflows. */
	for (int i = 0; i < retry && w > 0 && w < cap_ms; i++)
		w = w > cap_ms / 2 ? cap_ms : w * 2;
	return w;
}

long cp_retry_delay_ms(const struct cp_retry_policy *p, int retry,
    struct cp_retry_rng *rng)
{
	long w = cp_retry_window_ms(p->base_ms, p->cap_ms, retry);
	return (long)cp_retry_rng_upto(rng, (uint64_t)w);
}

enum cp_retry_class cp_retry_classify_http(long status, CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:     /* refused, unreachable */
	case CURLE_OPERATION_TIMEDOUT:  /* connect or transfer timeout */
	case CURLE_SEND_ERROR:          /* reset while sending */
	case CURLE_RECV_ERROR:          /* reset while receiving */
	case CURLE_GOT_NOTHING:         /* closed before any response */
	case CURLE_PARTIAL_FILE:        /* closed in the middle of the body */
	case CURLE_SSL_CONNECT_ERROR:   /* handshake cut; not verification */
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:        /* stream reset, GOAWAY */
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return CP_RETRY_YES;
	default:
		return CP_RETRY_NO;
	}
	if (status == 429)
		return CP_RETRY_THROTTLE;
	if (status == 408)
		return CP_RETRY_YES;
	/* 501 Not Implemented and 505 HTTP Version Not Supported answer the
	 * same way every time. */
	if (status >= 500 && status <= 599 && status != 501 && status != 505)
		return CP_RETRY_YES;
	return CP_RETRY_NO;
}

/* The error codes the AWS SDKs retry (botocore retries/standard.py, the JS
 * v3 SDK's service-error-classification), plus SQS's KmsThrottled. */
static const char *const aws_throttle[] = {
	"Throttling", "ThrottlingException", "ThrottledException",
	"RequestThrottledException", "TooManyRequestsException",
	"ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException",
	"RequestThrottled", "SlowDown", "PriorRequestNotComplete",
	"EC2ThrottledException", "KmsThrottled",
};
static const char *const aws_transient[] = {
	"RequestTimeout", "RequestTimeoutException", "TimeoutError",
	"InternalError", "InternalFailure", "InternalServerError",
	"ServiceUnavailable", "ServiceUnavailableException",
	"IDPCommunicationError",
};

static int in_list(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
			return 1;
	return 0;
}

enum cp_retry_class cp_retry_classify_aws(const char *code)
{
	if (!code)
		return CP_RETRY_NO;
	/* "com.amazonaws.sqs#Name:extra", "AWS.SimpleQueueService.Name;Sender",
	 * "KMS.ThrottlingException": keep Name. */
	const char *s = code, *hash = strrchr(code, '#');
	if (hash)
		s = hash + 1;
	size_t n = strcspn(s, ":;");
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] == '.') {
			s += i;
			n -= i;
			break;
		}
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (in_list(s, n, aws_throttle, sizeof aws_throttle / sizeof *aws_throttle))
		return CP_RETRY_THROTTLE;
	if (in_list(s, n, aws_transient, sizeof aws_transient / sizeof *aws_transient))
		return CP_RETRY_YES;
	return CP_RETRY_NO;
}

void cp_retry_begin(struct cp_retry *r, const struct cp_retry_policy *policy,
    struct cp_retry_rng *rng, int64_t now_ms)
{
	r->policy = policy;
	r->rng = rng;
	r->attempts = 1;
	r->start_ms = now_ms;
	r->delay_total_ms = 0;
}

int cp_retry_next_for(struct cp_retry *r, int64_t now_ms, int cls,
    long hint_ms, long *delay_ms)
{
	const struct cp_retry_policy *p = r->policy;
	int max = p->max_attempts < 1 ? 1 : p->max_attempts;
	if (r->attempts >= max)
		return 0;
	long base = p->base_ms;
	if (cls == CP_RETRY_THROTTLE && p->throttle_base_ms > 0)
		base = p->throttle_base_ms;
	long w = cp_retry_window_ms(base, p->cap_ms, r->attempts - 1);
	long d = (long)cp_retry_rng_upto(r->rng, (uint64_t)w);
	if (hint_ms > 0) {
		long cap = p->cap_ms < 0 ? 0 : p->cap_ms;
		if (hint_ms > cap)
			hint_ms = cap;
		if (d < hint_ms)
			d = hint_ms;
	}
	if (p->budget_ms > 0 && now_ms + d >= r->start_ms + p->budget_ms)
		return 0;
	r->attempts++;
	r->delay_total_ms += d;
	*delay_ms = d;
	return 1;
}

int cp_retry_next(struct cp_retry *r, int64_t now_ms, long *delay_ms)
{
	return cp_retry_next_for(r, now_ms, CP_RETRY_YES, -1, delay_ms);
}

long cp_retry_remaining_ms(const struct cp_retry *r, int64_t now_ms)
{
	const struct cp_retry_policy *p = r->policy;
	if (p->budget_ms <= 0)
		return -1;
	int64_t left = r->start_ms + p->budget_ms - now_ms;
	return left > 0 ? (long)left : 0;
}
