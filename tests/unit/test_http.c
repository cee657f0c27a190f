/* Unit tests: lib/http without a server: redaction, the submit contract,
 * and the failures a loopback socket can produce on its own (connection
 * refused by a closed port, a listener that never accepts, so every
 * request times out).  Exchanges with a real server are in
 * tests/integration/http.t. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "diag.h"
#include "http.h"

static const char *redact_url(const char *in)
{
	static char out[1024];
	return cp_http_redact_url(in, out, sizeof out);
}

static const char *redact_header(const char *in)
{
	static char out[1024];
	return cp_http_redact_header(in, out, sizeof out);
}

static void test_secret_names(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"Authorization", "authorization", "Proxy-Authorization", "Cookie",
		"Set-Cookie", "X-Amz-Security-Token", "x-amz-security-token",
		"X-Amz-Signature", "auth_signature", "client_secret", "SECRET",
		"x-api-key", "api_key", "apikey", "password", "db_passwd",
		"X-Session-Token", "signature",
	};
	static const char *const no[] = {
		"Content-Type", "Host", "X-Amz-Date", "X-Amz-Target", "X-Amz-Credential",
		"auth_key", "auth_timestamp", "body_md5", "User-Agent", "",
	};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
		if (!cp_http_secret_name(yes[i], strlen(yes[i])))
			fail_msg("%s should be secret", yes[i]);
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		if (cp_http_secret_name(no[i], strlen(no[i])))
			fail_msg("%s should not be secret", no[i]);
	/* Only len bytes count. */
	assert_false(cp_http_secret_name("tokenizer", 3));
}

static void test_redact_url(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "https://sqs.eu-west-1.amazonaws.com/123/q",
		  "https://sqs.eu-west-1.amazonaws.com/123/q" },
		{ "https://KEY:SECRET@api-eu.pusher.com/apps/1",
		  "https://***@api-eu.pusher.com/apps/1" },
		{ "http://user@host:8080", "http://***@host:8080" },
		{ "mysql://u:p%40ss@db:3306/chat?socket=/x", "mysql://***@db:3306/chat?socket=/x" },
		{ "https://h/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101"
		  "&X-Amz-Signature=abcdef&X-Amz-Security-Token=FQo&x=1",
		  "https://h/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260101"
		  "&X-Amz-Signature=***&X-Amz-Security-Token=***&x=1" },
		{ "/apps/3/events?auth_key=k&auth_timestamp=1&auth_version=1.0&body_md5=d"
		  "&auth_signature=0123abcd",
		  "/apps/3/events?auth_key=k&auth_timestamp=1&auth_version=1.0&body_md5=d"
		  "&auth_signature=***" },
		{ "https://h/?token=t#frag", "https://h/?token=***#frag" },
		{ "https://h/?a&password=&b=2", "https://h/?a&password=***&b=2" },
		{ "https://h/p#token=abc", "https://h/p#token=abc" },
		{ "https://h/users/a@b.c", "https://h/users/a@b.c" },
		{ "https://u:p@h?secret=x", "https://***@h?secret=***" },
		{ "", "" },
		{ "not a url", "not a url" },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const char *got = redact_url(t[i].in);
		if (strcmp(got, t[i].want) != 0)
			fail_msg("redact_url(\"%s\")\n got \"%s\"\nwant \"%s\"", t[i].in, got, t[i].want);
	}
}

static void test_redact_header(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20260101/eu-west-1/sqs/aws4_request, "
		  "SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
		  "Authorization: ***" },
		{ "authorization: Bearer sk-abc\r\n", "authorization: ***" },
		{ "X-Amz-Security-Token: FQoGZXIvYXdzE", "X-Amz-Security-Token: ***" },
		{ "Cookie: session=1", "Cookie: ***" },
		{ "Set-Cookie: id=a3fWa; HttpOnly", "Set-Cookie: ***" },
		{ "X-Api-Key: 12345", "X-Api-Key: ***" },
		{ "X-Amz-Date: 20260101T000000Z", "X-Amz-Date: 20260101T000000Z" },
		{ "Content-Type: application/x-amz-json-1.0", "Content-Type: application/x-amz-json-1.0" },
		{ "Location: https://u:p@h/x?X-Amz-Signature=s", "Location: https://***@h/x?X-Amz-Signature=***" },
		{ "POST /apps/1/events?auth_key=k&auth_signature=abc HTTP/1.1",
		  "POST /apps/1/events?auth_key=k&auth_signature=*** HTTP/1.1" },
		{ "GET https://u:p@h/?token=1 HTTP/1.1", "GET https://***@h/?token=*** HTTP/1.1" },
		{ "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK" },
		{ "Token:x", "Token: ***" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const char *got = redact_header(t[i].in);
		if (strcmp(got, t[i].want) != 0)
			fail_msg("redact_header(\"%s\")\n got \"%s\"\nwant \"%s\"", t[i].in, got, t[i].want);
	}
}

/* A short buffer truncates the redacted text; it never lets a secret
 * through, not even a piece of one. */
static void test_redact_truncates(void **state)
{
	(void)state;
	const char *url = "https://KEY:SUPERSECRET@h/p?auth_signature=SUPERSECRET&a=1";
	const char *hdr = "Authorization: Bearer SUPERSECRET";
	char full[256], part[256];
	cp_http_redact_url(url, full, sizeof full);
	for (size_t n = 1; n <= strlen(full) + 1; n++) {
		cp_http_redact_url(url, part, n);
		assert_true(strlen(part) == n - 1);
		assert_memory_equal(part, full, n - 1);
		assert_null(strstr(part, "SUPER"));
		assert_null(strstr(part, "KEY"));
	}
	cp_http_redact_header(hdr, full, sizeof full);
	for (size_t n = 1; n <= strlen(full) + 1; n++) {
		cp_http_redact_header(hdr, part, n);
		assert_memory_equal(part, full, n - 1);
		assert_null(strstr(part, "SUPER"));
	}
}

/* Loopback sockets: a port nobody listens on, and a listener that never
 * accepts (the kernel completes the handshake, then nothing answers). */
static int listener(int *port, int listening)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	if (listening) {
		assert_int_equal(listen(fd, 64), 0);
		return fd;
	}
	close(fd);
	return -1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct outcome {
	int calls;
	long status;
	CURLcode code;
	int attempts, retryable;
	long elapsed_ms;
	char error[CP_ERR_LEN];
	int prepared[16];
	int nprepared;
	int submit_more;        /* on done: submit this many more */
	struct cp_http *c;
	const char *url;
	int run_from_callback;  /* what cp_http_run answered inside done */
};

static void on_done(const struct cp_http_result *res, void *user)
{
	struct outcome *o = user;
	o->calls++;
	o->status = res->status;
	o->code = res->code;
	o->attempts = res->attempts;
	o->retryable = res->retryable;
	o->elapsed_ms = res->elapsed_ms;
	snprintf(o->error, sizeof o->error, "%s", res->error);
	assert_non_null(res->body);
	char err[CP_ERR_LEN];
	o->run_from_callback = cp_http_run(o->c, 0, err);
	if (o->submit_more > 0) {
		o->submit_more--;
		struct cp_http_request q = { .url = o->url, .done = on_done, .user = o };
		assert_int_equal(cp_http_submit(o->c, &q, err), 0);
	}
}

static int prepare(struct cp_http_req *req, void *user, char *err)
{
	struct outcome *o = user;
	if (o->nprepared < 16)
		o->prepared[o->nprepared++] = cp_http_req_attempt(req);
	char v[16];
	snprintf(v, sizeof v, "%d", cp_http_req_attempt(req));
	/* Replaces, never accumulates. */
	if (cp_http_req_set_header(req, "X-Amz-Date", v, err) < 0)
		return -1;
	assert_string_equal(cp_http_req_header(req, "x-amz-date"), v);
	size_t n = 0;
	for (size_t i = 0; i < cp_http_req_nheaders(req); i++) {
		const char *name, *value;
		assert_int_equal(cp_http_req_header_at(req, i, &name, &value), 0);
		n += strcasecmp(name, "X-Amz-Date") == 0;
	}
	assert_int_equal(n, 1);
	assert_int_equal(cp_http_req_set_header(req, "X-Bad", "a\r\nInjected: 1", err), -1);
	assert_int_equal(cp_http_req_set_header(req, "Bad Name", "v", err), -1);
	size_t len;
	assert_string_equal(cp_http_req_body(req, &len), "payload");
	assert_int_equal(len, 7);
	assert_string_equal(cp_http_req_method(req), "POST");
	return 0;
}

static int prepare_fails(struct cp_http_req *req, void *user, char *err)
{
	(void)req;
	(void)user;
	return cp_err_set(err, "no credentials");
}

static struct cp_http *client(long timeout_ms, int attempts, long budget_ms)
{
	struct cp_http_opts o;
	cp_http_opts_default(&o);
	o.timeout_ms = timeout_ms;
	o.retry.base_ms = 1;
	o.retry.throttle_base_ms = 1;
	o.retry.cap_ms = 20;
	o.retry.max_attempts = attempts;
	o.retry.budget_ms = budget_ms;
	o.seed = 1;
	char err[CP_ERR_LEN];
	struct cp_http *c = cp_http_new(&o, err);
	assert_non_null(c);
	return c;
}

static void drive(struct cp_http *c, int64_t limit_ms)
{
	char err[CP_ERR_LEN];
	int64_t end = mono_ms() + limit_ms;
	while (cp_http_pending(c) > 0) {
		assert_true(cp_http_run(c, 100, err) >= 0);
		assert_true(mono_ms() < end);
	}
}

static void test_submit_contract(void **state)
{
	(void)state;
	struct cp_http *c = client(1000, 3, 5000);
	char err[CP_ERR_LEN];
	struct outcome o = { .c = c };
	assert_int_equal(cp_http_pending(c), 0);
	int64_t t0 = mono_ms();
	assert_int_equal(cp_http_run(c, 2000, err), 0);   /* nothing: at once */
	assert_true(mono_ms() - t0 < 500);
	struct cp_http_request q = { .url = "http://127.0.0.1:9/", .user = &o };
	assert_int_equal(cp_http_submit(c, &q, err), -1);   /* no done */
	assert_non_null(strstr(err, "done"));
	q.done = on_done;
	q.url = NULL;
	assert_int_equal(cp_http_submit(c, &q, err), -1);
	q.url = "http://127.0.0.1:9/";
	q.headers = (const char *[]){ "X-Ok: 1", "no colon here", NULL };
	assert_int_equal(cp_http_submit(c, &q, err), -1);
	assert_non_null(strstr(err, "':'"));
	q.headers = (const char *[]){ "Bad Name: 1", NULL };
	assert_int_equal(cp_http_submit(c, &q, err), -1);
	q.headers = NULL;
	q.method = "GET /x";
	assert_int_equal(cp_http_submit(c, &q, err), -1);
	assert_int_equal(cp_http_pending(c), 0);
	assert_int_equal(o.calls, 0);
	cp_http_free(c);
	cp_http_free(NULL);
}

static void test_refused_is_retried(void **state)
{
	(void)state;
	int port;
	listener(&port, 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct cp_http *c = client(2000, 4, 10000);
	struct outcome o = { .c = c };
	char err[CP_ERR_LEN];
	struct cp_http_request q = {
		.method = "POST", .url = url, .body = "payload", .body_len = 7,
		.headers = (const char *[]){ "X-Amz-Date: old", "x-amz-date: older", NULL },
		.prepare = prepare, .done = on_done, .user = &o,
	};
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	assert_int_equal(cp_http_pending(c), 1);
	drive(c, 10000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, CURLE_COULDNT_CONNECT);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.attempts, 4);
	assert_int_equal(o.retryable, 1);
	assert_true(*o.error);
	assert_int_equal(o.run_from_callback, -1);  /* not re-entrant */
	assert_int_equal(o.nprepared, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(o.prepared[i], i + 1);
	cp_http_free(c);
}

static void test_not_retried(void **state)
{
	(void)state;
	struct cp_http *c = client(2000, 5, 10000);
	char err[CP_ERR_LEN];
	static const struct {
		const char *url;
		CURLcode code;
	} t[] = {
		{ "http://[::1", CURLE_URL_MALFORMAT },
		{ "ftp://127.0.0.1/x", CURLE_UNSUPPORTED_PROTOCOL },
		{ "file:///etc/passwd", CURLE_UNSUPPORTED_PROTOCOL },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		struct outcome o = { .c = c };
		struct cp_http_request q = { .url = t[i].url, .done = on_done, .user = &o };
		assert_int_equal(cp_http_submit(c, &q, err), 0);
		drive(c, 5000);
		assert_int_equal(o.calls, 1);
		if (o.code != t[i].code)
			fail_msg("%s: code %d, want %d", t[i].url, o.code, t[i].code);
		assert_int_equal(o.attempts, 1);
		assert_int_equal(o.retryable, 0);
	}
	/* A failing prepare ends the request at once, with its text. */
	int port;
	listener(&port, 0);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct outcome o = { .c = c };
	struct cp_http_request q = { .url = url, .prepare = prepare_fails, .done = on_done, .user = &o };
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	drive(c, 5000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, CURLE_ABORTED_BY_CALLBACK);
	assert_string_equal(o.error, "no credentials");
	assert_int_equal(o.retryable, 0);
	assert_int_equal(o.attempts, 1);
	cp_http_free(c);
}

/* Timeouts are retried; the time budget bounds the whole request, the
 * last attempt's timeout included. */
static void test_timeouts_and_budget(void **state)
{
	(void)state;
	int port;
	int fd = listener(&port, 1);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);

	struct cp_http *c = client(150, 3, 30000);
	struct outcome o = { .c = c };
	char err[CP_ERR_LEN];
	struct cp_http_request q = { .url = url, .done = on_done, .user = &o };
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	drive(c, 10000);
	assert_int_equal(o.code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(o.attempts, 3);
	assert_int_equal(o.retryable, 1);
	assert_true(o.elapsed_ms >= 3 * 150);
	cp_http_free(c);

	c = client(10000, 100, 400);
	o = (struct outcome){ .c = c };
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	int64_t t0 = mono_ms();
	drive(c, 10000);
	int64_t took = mono_ms() - t0;
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(o.retryable, 1);
	assert_true(took >= 350 && took < 2000);
	cp_http_free(c);
	close(fd);
}

/* Every request gets one completion, also those submitted from inside a
 * done callback; freeing a client with requests still in flight leaks
 * nothing (ASan checks). */
static void test_callbacks_submit_and_free(void **state)
{
	(void)state;
	int port;
	listener(&port, 0);
	char url[64], err[CP_ERR_LEN];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct cp_http *c = client(1000, 2, 5000);
	struct outcome o = { .c = c, .url = url, .submit_more = 9 };
	struct cp_http_request q = { .url = url, .done = on_done, .user = &o };
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	drive(c, 10000);
	assert_int_equal(o.calls, 10);
	assert_int_equal(o.submit_more, 0);
	cp_http_free(c);

	int fd = listener(&port, 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	c = client(10000, 3, 30000);
	o = (struct outcome){ .c = c };
	q.url = url;
	for (int i = 0; i < 5; i++)
		assert_int_equal(cp_http_submit(c, &q, err), 0);
	for (int i = 0; i < 3; i++)
		assert_true(cp_http_run(c, 50, err) >= 0);
	assert_int_equal(cp_http_pending(c), 5);
	assert_true(cp_http_in_flight(c) > 0);
	cp_http_free(c);
	assert_int_equal(o.calls, 0);
	close(fd);
}

static void *wake_later(void *p)
{
	struct timespec ts = { 0, 100 * 1000000L };
	nanosleep(&ts, NULL);
	cp_http_wakeup(p);
	return NULL;
}

/* cp_http_wakeup from another thread ends a long wait; the caller's own
 * descriptors are polled too. */
static void test_wakeup_and_fds(void **state)
{
	(void)state;
	int port;
	int fd = listener(&port, 1);
	char url[64], err[CP_ERR_LEN];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
	struct cp_http *c = client(20000, 1, 30000);
	struct outcome o = { .c = c };
	struct cp_http_request q = { .url = url, .done = on_done, .user = &o };
	assert_int_equal(cp_http_submit(c, &q, err), 0);
	assert_true(cp_http_run(c, 0, err) >= 0);   /* connected, waiting */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, wake_later, c), 0);
	int64_t t0 = mono_ms();
	assert_int_equal(cp_http_run(c, 5000, err), 0);
	assert_true(mono_ms() - t0 < 3000);
	pthread_join(t, NULL);

	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	struct curl_waitfd w = { .fd = p[0], .events = CURL_WAIT_POLLIN };
	t0 = mono_ms();
	assert_true(cp_http_run_fds(c, &w, 1, 5000, err) >= 0);
	assert_true(mono_ms() - t0 < 3000);
	assert_true(w.revents & CURL_WAIT_POLLIN);
	cp_http_free(c);

	/* Nothing pending, but a descriptor to wait for: it waits for it. */
	c = client(1000, 1, 1000);
	w.revents = 0;
	assert_true(cp_http_run_fds(c, &w, 1, 5000, err) >= 0);
	assert_true(w.revents & CURL_WAIT_POLLIN);
	cp_http_free(c);
	close(p[0]);
	close(p[1]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_names),
		cmocka_unit_test(test_redact_url),
		cmocka_unit_test(test_redact_header),
		cmocka_unit_test(test_redact_truncates),
		cmocka_unit_test(test_submit_contract),
		cmocka_unit_test(test_refused_is_retried),
		cmocka_unit_test(test_not_retried),
		cmocka_unit_test(test_timeouts_and_budget),
		cmocka_unit_test(test_callbacks_submit_and_free),
		cmocka_unit_test(test_wakeup_and_fds),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
