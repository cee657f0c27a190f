/* http-get: lib/http on its own, for the tests.
 *
 * Sends one request per URL (the arguments, each --repeat times, else one
 * per non-blank stdin line), at most -j N in flight on one thread, and
 * writes one JSON line per completion, in completion order:
 *   {"i":0,"url":"…","status":200,"code":0,"attempts":1,"retryable":false,
 *    "bytes":123,"ms":12,"error":""}
 * plus "body" (--body) and "header" (--show-header NAME).  Requests are
 * submitted from the done callback as others complete, as a tool that
 * streams its input would.  Exits 0 when every request got its
 * completion (whatever the status), 70 otherwise.  Not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "diag.h"
#include "http.h"
#include "opts.h"
#include "retry.h"

static int jobs = 1, repeat = 1, attempts, show_body, aws, sign;
static long base_ms, throttle_base_ms, cap_ms, budget_ms, timeout_ms,
    connect_timeout_ms, seed, max_body;
static const char *method, *data, *cacert, *show_header;
static int insecure;
static const char **headers;
static size_t nheaders;

enum { OPT_HEADER = 1 };

static struct poptOption options[] = {
	{ "jobs", 'j', POPT_ARG_INT, &jobs, 0, "requests in flight (1)", "N" },
	{ "method", 'X', POPT_ARG_STRING, &method, 0, "request method (GET)", "METHOD" },
	{ "header", 'H', POPT_ARG_STRING, NULL, OPT_HEADER, "add a request header", "'NAME: VALUE'" },
	{ "data", 'd', POPT_ARG_STRING, &data, 0, "request body", "TEXT" },
	{ "repeat", 0, POPT_ARG_INT, &repeat, 0, "send each URL N times (1)", "N" },
	{ "attempts", 0, POPT_ARG_INT, &attempts, 0, "max attempts per request", "N" },
	{ "base-ms", 0, POPT_ARG_LONG, &base_ms, 0, "backoff base", "MS" },
	{ "throttle-base-ms", 0, POPT_ARG_LONG, &throttle_base_ms, 0, "backoff base after throttling", "MS" },
	{ "cap-ms", 0, POPT_ARG_LONG, &cap_ms, 0, "backoff cap", "MS" },
	{ "budget-ms", 0, POPT_ARG_LONG, &budget_ms, 0, "time budget per request (-1: none)", "MS" },
	{ "timeout-ms", 0, POPT_ARG_LONG, &timeout_ms, 0, "timeout per attempt", "MS" },
	{ "connect-timeout-ms", 0, POPT_ARG_LONG, &connect_timeout_ms, 0, "connect timeout", "MS" },
	{ "max-body", 0, POPT_ARG_LONG, &max_body, 0, "largest response body kept", "BYTES" },
	{ "seed", 0, POPT_ARG_LONG, &seed, 0, "jitter seed (0: random)", "N" },
	{ "cacert", 0, POPT_ARG_STRING, &cacert, 0, "CA bundle", "FILE" },
	{ "insecure", 'k', POPT_ARG_NONE, &insecure, 0, "do not verify TLS peers", NULL },
	{ "body", 0, POPT_ARG_NONE, &show_body, 0, "include the response body", NULL },
	{ "show-header", 0, POPT_ARG_STRING, &show_header, 0, "include this response header", "NAME" },
	{ "aws", 0, POPT_ARG_NONE, &aws, 0, "classify AWS error codes (throttling in 400/403)", NULL },
	{ "sign", 0, POPT_ARG_NONE, &sign, 0, "set X-Attempt and X-Signature before each attempt", NULL },
	POPT_TABLEEND
};

static int on_option(int val, const char *arg, char *err)
{
	if (val == OPT_HEADER) {
		const char **h = realloc(headers, (nheaders + 2) * sizeof *h);
		if (!h)
			return cp_err_set(err, "out of memory");
		headers = h;
		if (!(headers[nheaders] = strdup(arg)))
			return cp_err_set(err, "out of memory");
		nheaders++;
		headers[nheaders] = NULL;
	}
	return 0;
}

static const struct cp_tool tool = {
	.name = "http-get",
	.args = "[URL]...",
	.summary = "Send HTTP requests through lib/http, one JSON line per completion (a test driver).",
	.options = options,
	.on_option = on_option,
};

struct job {
	long i;
	char *url;
};

static struct cp_http *client;
static const char **urls;
static int nurls, next_url, rep;
static long submitted, completed;
static int eof;

/* The next URL: from the arguments, else a line of stdin. */
static char *next_input(void)
{
	static char *line;
	static size_t cap;
	if (urls) {
		if (next_url >= nurls) {
			if (++rep >= repeat)
				return NULL;
			next_url = 0;
		}
		return strdup(urls[next_url++]);
	}
	for (;;) {
		if (eof)
			return NULL;
		ssize_t n = getline(&line, &cap, stdin);
		if (n < 0) {
			free(line);
			line = NULL;
			eof = 1;
			return NULL;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n > 0)
			return strdup(line);
	}
}

static void on_done(const struct cp_http_result *res, void *user);

static int prepare(struct cp_http_req *req, void *user, char *err)
{
	(void)user;
	char v[32];
	snprintf(v, sizeof v, "%d", cp_http_req_attempt(req));
	if (cp_http_req_set_header(req, "X-Attempt", v, err) < 0)
		return -1;
	snprintf(v, sizeof v, "sig-%d", cp_http_req_attempt(req));
	return cp_http_req_set_header(req, "X-Signature", v, err);
}

/* Throttling and transient errors the way the AWS SDKs see them: the code
 * from x-amzn-query-error, else the body's __type. */
static int classify_aws(const struct cp_http_result *res, void *user)
{
	(void)user;
	int cls = cp_retry_classify_http(res->status, res->code);
	if (cls != CP_RETRY_NO || res->status < 400)
		return cls;
	const char *code = cp_http_result_header(res, "x-amzn-query-error");
	if (code)
		return cp_retry_classify_aws(code);
	jv v = jv_parse_sized(res->body, (int)res->body_len);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv t = jv_object_get(jv_copy(v), jv_string("__type"));
		if (jv_get_kind(t) == JV_KIND_STRING)
			cls = cp_retry_classify_aws(jv_string_value(t));
		jv_free(t);
	}
	jv_free(v);
	return cls;
}

static int submit_next(char *err)
{
	char *url = next_input();
	if (!url)
		return 0;
	struct job *j = malloc(sizeof *j);
	if (!j) {
		free(url);
		return cp_err_set(err, "out of memory");
	}
	j->i = submitted;
	j->url = url;
	struct cp_http_request q = {
		.method = method,
		.url = url,
		.headers = headers,
		.body = data,
		.body_len = data ? strlen(data) : 0,
		.prepare = sign ? prepare : NULL,
		.classify = aws ? classify_aws : NULL,
		.done = on_done,
		.user = j,
	};
	if (cp_http_submit(client, &q, err) < 0) {
		free(url);
		free(j);
		return -1;
	}
	submitted++;
	return 1;
}

static void on_done(const struct cp_http_result *res, void *user)
{
	struct job *j = user;
	jv o = jv_object();
	o = jv_object_set(o, jv_string("i"), jv_number((double)j->i));
	o = jv_object_set(o, jv_string("url"), jv_string(j->url));
	o = jv_object_set(o, jv_string("status"), jv_number((double)res->status));
	o = jv_object_set(o, jv_string("code"), jv_number((double)res->code));
	o = jv_object_set(o, jv_string("attempts"), jv_number(res->attempts));
	o = jv_object_set(o, jv_string("retryable"), jv_bool(res->retryable));
	o = jv_object_set(o, jv_string("bytes"), jv_number((double)res->body_len));
	o = jv_object_set(o, jv_string("ms"), jv_number((double)res->elapsed_ms));
	o = jv_object_set(o, jv_string("error"), jv_string(res->error));
	if (show_body)
		o = jv_object_set(o, jv_string("body"),
		    jv_string_sized(res->body, (int)res->body_len));
	if (show_header) {
		const char *v = cp_http_result_header(res, show_header);
		o = jv_object_set(o, jv_string("header"), v ? jv_string(v) : jv_null());
	}
	jv s = jv_dump_string(o, 0);
	printf("%s\n", jv_string_value(s));
	fflush(stdout);
	jv_free(s);
	free(j->url);
	free(j);
	completed++;
	/* Refill from inside the callback: the client must take it. */
	char err[CP_ERR_LEN];
	if (cp_http_pending(client) <= jobs && submit_next(err) < 0)
		cp_error("%s", err);
}

int main(int argc, const char **argv)
{
	char err[CP_ERR_LEN];
	poptContext pc;
	int status;
	if (cp_opts_parse(&tool, argc, argv, &pc, &status, err) == CP_OPTS_EXIT) {
		if (status)
			cp_die(status, "%s", err);
		return 0;
	}
	const char **rest = poptGetArgs(pc);
	if (rest && *rest) {
		urls = rest;
		while (rest[nurls])
			nurls++;
	}
	if (jobs < 1 || repeat < 1)
		cp_die(CP_EX_USAGE, "-j and --repeat take numbers >= 1");

	struct cp_http_opts o;
	cp_http_opts_default(&o);
	o.max_in_flight = jobs;
	if (attempts)
		o.retry.max_attempts = attempts;
	if (base_ms)
		o.retry.base_ms = base_ms;
	if (throttle_base_ms)
		o.retry.throttle_base_ms = throttle_base_ms;
	if (cap_ms)
		o.retry.cap_ms = cap_ms;
	if (budget_ms)
		o.retry.budget_ms = budget_ms;
	if (timeout_ms)
		o.timeout_ms = timeout_ms;
	if (connect_timeout_ms)
		o.connect_timeout_ms = connect_timeout_ms;
	if (max_body > 0)
		o.max_body = (size_t)max_body;
	o.seed = (unsigned long long)seed;
	o.ca_bundle = cacert;
	o.insecure = insecure;
	if (insecure)
		cp_warn("TLS certificate verification is OFF (--insecure)");
	if (!(client = cp_http_new(&o, err)))
		cp_die(CP_EX_SOFTWARE, "%s", err);

	int ex = 0;
	while (cp_http_pending(client) < jobs * 2) {
		int r = submit_next(err);
		if (r < 0)
			cp_die(CP_EX_USAGE, "%s", err);
		if (r == 0)
			break;
	}
	while (cp_http_pending(client) > 0) {
		if (cp_http_run(client, 1000, err) < 0) {
			cp_error("%s", err);
			ex = CP_EX_SOFTWARE;
			break;
		}
		while (cp_http_pending(client) < jobs && submit_next(err) > 0)
			;
	}
	cp_http_free(client);
	poptFreeContext(pc);
	for (size_t i = 0; i < nheaders; i++)
		free((char *)headers[i]);  /* on_option's copies */
	free(headers);
	cp_info("%ld requests, %ld completions", submitted, completed);
	if (completed != submitted && !ex)
		ex = CP_EX_SOFTWARE;
	if (fflush(stdout) != 0 || ferror(stdout))
		ex = CP_EX_IOERR;
	return ex;
}
