/* sqs: see sqs.h. */
#include "sqs.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sigv4.h"

#define CONTENT_TYPE "application/x-amz-json-1.0"

struct route {
	char origin[CP_AWS_URL_LEN]; /* the queue URL's origin, "" for none */
	char endpoint[CP_AWS_URL_LEN];
	char region[CP_AWS_REGION_LEN];
};

struct cp_sqs {
	struct cp_aws *aws;
	struct cp_http *http;
	long timeout_ms;
	struct route *routes;
	size_t nroutes;
	struct call *calls;
	void (*dropped)(void *user);
};

struct call {
	struct cp_sqs *s;
	cp_sqs_done_fn *done;
	void *user;
	struct call *prev, *next; /* the calls in flight */
	char target[64];
	char region[CP_AWS_REGION_LEN];
};

static const struct route *route_for(struct cp_sqs *s, const char *queue_url, char *err);

struct cp_sqs *cp_sqs_new(const struct cp_sqs_opts *o, char *err)
{
	struct cp_sqs *s = calloc(1, sizeof *s);
	if (!s) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	s->aws = o->aws;
	s->timeout_ms = o->timeout_ms ? o->timeout_ms : 30000;
	struct cp_http_opts ho;
	cp_http_opts_default(&ho);
	ho.max_in_flight = o->max_in_flight > 0 ? o->max_in_flight : 16;
	ho.timeout_ms = s->timeout_ms;
	ho.retry = o->retry;
	ho.insecure = o->insecure;
	ho.ca_bundle = cp_aws_ca_bundle(o->aws, NULL);
	if (!(s->http = cp_http_new(&ho, err))) {
		free(s);
		return NULL;
	}
	return s;
}

void cp_sqs_free(struct cp_sqs *s)
{
	if (!s)
		return;
	cp_http_free(s->http);
	while (s->calls) {
		struct call *c = s->calls;
		s->calls = c->next;
		if (s->dropped)
			s->dropped(c->user);
		free(c);
	}
	free(s->routes);
	free(s);
}

void cp_sqs_set_dropped(struct cp_sqs *s, void (*dropped)(void *user))
{
	s->dropped = dropped;
}

static void unlink_call(struct call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->s->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

int cp_sqs_check(struct cp_sqs *s, const char *queue_url, char *err)
{
	if (!route_for(s, queue_url, err))
		return -1;
	struct cp_aws_creds creds;
	int r = cp_aws_creds_get(s->aws, &creds, err);
	cp_aws_creds_clear(&creds);
	return r;
}

struct cp_http *cp_sqs_http(struct cp_sqs *s) { return s->http; }

/* The endpoint and region for a queue URL, resolved once per origin. */
static const struct route *route_for(struct cp_sqs *s, const char *queue_url, char *err)
{
	char origin[CP_AWS_URL_LEN] = "";
	if (queue_url && cp_aws_url_origin(queue_url, origin) < 0) {
		cp_err_set(err, "not an http(s) queue URL: %s", queue_url);
		return NULL;
	}
	for (size_t i = 0; i < s->nroutes; i++)
		if (strcmp(s->routes[i].origin, origin) == 0)
			return &s->routes[i];
	struct route r;
	memset(&r, 0, sizeof r);
	strcpy(r.origin, origin);
	const char *rsrc, *esrc;
	if (cp_aws_region(s->aws, queue_url, r.region, &rsrc, err) < 0)
		return NULL;
	if (cp_aws_endpoint(s->aws, "sqs", r.region, queue_url, r.endpoint, &esrc, err) < 0)
		return NULL;
	cp_debug("sqs: %s: endpoint %s (%s), region %s (%s)",
	    origin[0] ? origin : "(no queue URL)", r.endpoint, esrc, r.region, rsrc);
	struct route *n = realloc(s->routes, (s->nroutes + 1) * sizeof *n);
	if (!n) {
		cp_err_set(err, "out of memory");
		return NULL;
	}
	s->routes = n;
	s->routes[s->nroutes] = r;
	return &s->routes[s->nroutes++];
}

static int prepare(struct cp_http_req *req, void *user, char *err)
{
	struct call *c = user;
	struct cp_aws_creds creds;
	if (cp_aws_creds_get(c->s->aws, &creds, err) < 0)
		return -1;
	size_t blen;
	const void *body = cp_http_req_body(req, &blen);
	const struct cp_sigv4_header h[] = {
		{ "Content-Type", CONTENT_TYPE },
		{ "X-Amz-Target", c->target },
		{ "x-amzn-query-mode", "true" },
	};
	struct cp_sigv4_request sr = {
		.method = "POST",
		.url = cp_http_req_url(req),
		.headers = h,
		.nheaders = sizeof h / sizeof *h,
		.payload = body,
		.payload_len = blen,
		.region = c->region,
		.service = "sqs",
		.creds = &creds,
	};
	struct cp_sigv4_result res;
	int r = cp_sigv4_sign(&sr, &res, err);
	for (size_t i = 0; r == 0 && i < res.nheaders; i++)
		r = cp_http_req_set_header(req, res.headers[i].name, res.headers[i].value, err);
	cp_sigv4_result_free(&res);
	cp_aws_creds_clear(&creds);
	return r;
}

/* The error code and message of an answer: the query-error header's code
 * when present (botocore's rule), else the __type's name. */
struct error {
	char code[128], type[128], message[CP_ERR_LEN];
};

static void copy_name(char *out, size_t n, const char *s)
{
	const char *hash = strrchr(s, '#');
	if (hash)
		s = hash + 1;
	size_t len = strcspn(s, ":");
	if (len >= n)
		len = n - 1;
	memcpy(out, s, len);
	out[len] = 0;
}

static void parse_error(const struct cp_http_result *res, struct error *e)
{
	memset(e, 0, sizeof *e);
	if (res->status == 0) {
		strcpy(e->code, "NetworkError");
		snprintf(e->message, sizeof e->message, "%s", res->error);
		return;
	}
	jv v = res->body_len ? jv_parse_sized(res->body, (int)res->body_len) : jv_invalid();
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv t = jv_object_get(jv_copy(v), jv_string("__type"));
		if (jv_get_kind(t) == JV_KIND_STRING)
			copy_name(e->type, sizeof e->type, jv_string_value(t));
		jv_free(t);
		jv m = jv_object_get(jv_copy(v), jv_string("message"));
		if (jv_get_kind(m) != JV_KIND_STRING) {
			jv_free(m);
			m = jv_object_get(jv_copy(v), jv_string("Message"));
		}
		if (jv_get_kind(m) == JV_KIND_STRING)
			snprintf(e->message, sizeof e->message, "%s", jv_string_value(m));
		jv_free(m);
	}
	jv_free(v);
	strcpy(e->code, e->type);
	const char *q = cp_http_result_header(res, "x-amzn-query-error");
	if (q) {
		size_t n = strcspn(q, ";");
		if (n > 0 && q[n] == ';' && !strchr(q + n + 1, ';')) {
			if (n >= sizeof e->code)
				n = sizeof e->code - 1;
			memcpy(e->code, q, n);
			e->code[n] = 0;
		}
	}
	if (!e->code[0])
		snprintf(e->code, sizeof e->code, "HTTP%ld", res->status);
	if (!e->message[0])
		snprintf(e->message, sizeof e->message, "HTTP %ld", res->status);
}

static const char *const auth_codes[] = {
	"AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
	"SignatureDoesNotMatch", "MissingAuthenticationToken",
	"IncompleteSignature", "InvalidSecurity", "UnrecognizedClientException",
	"InvalidAccessKeyId", "NotAuthorized", "ExpiredToken", "KmsAccessDenied",
	"KMS.AccessDeniedException", "AuthFailure", "OptInRequired",
};

static int is_auth(const struct error *e)
{
	for (size_t i = 0; i < sizeof auth_codes / sizeof *auth_codes; i++)
		if (cp_sqs_code_is(e->code, auth_codes[i]) || cp_sqs_code_is(e->type, auth_codes[i]))
			return 1;
	return 0;
}

static int classify(const struct cp_http_result *res, void *user)
{
	struct call *c = user;
	int cls = cp_retry_classify_http(res->status, res->code);
	if (cls != CP_RETRY_NO || res->status < 400)
		return cls;
	struct error e;
	parse_error(res, &e);
	if (cp_sqs_code_is(e.code, "ExpiredToken") || cp_sqs_code_is(e.type, "ExpiredToken")) {
		/* Temporary credentials ran out: fetch new ones, then retry. */
		cp_aws_creds_invalidate(c->s->aws);
		return res->attempts < 2 ? CP_RETRY_YES : CP_RETRY_NO;
	}
	cls = cp_retry_classify_aws(e.code);
	if (cls == CP_RETRY_NO && e.type[0])
		cls = cp_retry_classify_aws(e.type);
	return cls;
}

static void on_done(const struct cp_http_result *res, void *user)
{
	struct call *c = user;
	struct cp_sqs_reply r;
	memset(&r, 0, sizeof r);
	r.result = jv_null();
	r.status = res->status;
	r.attempts = res->attempts;
	r.user = c->user;
	r.code = r.type = r.message = "";
	struct error e;
	if (res->code == CURLE_OK && res->status >= 200 && res->status < 300) {
		jv v = res->body_len ? jv_parse_sized(res->body, (int)res->body_len) : jv_object();
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			r.ok = 1;
			r.result = v;
		} else {
			jv_free(v);
			memset(&e, 0, sizeof e);
			strcpy(e.code, "MalformedResponse");
			snprintf(e.message, sizeof e.message, "the answer to %s is not a JSON object", c->target);
			r.code = e.code;
			r.message = e.message;
			r.retryable = 1;
		}
	} else if (res->code == CURLE_ABORTED_BY_CALLBACK) {
		/* prepare failed: no credentials, or they could not sign. */
		memset(&e, 0, sizeof e);
		strcpy(e.code, "CredentialsError");
		snprintf(e.message, sizeof e.message, "%s", res->error);
		r.code = e.code;
		r.message = e.message;
		r.auth = 1;
	} else {
		parse_error(res, &e);
		r.code = e.code;
		r.type = e.type;
		r.message = e.message;
		r.retryable = res->retryable;
		r.auth = is_auth(&e);
	}
	unlink_call(c);
	c->done(&r, c->user);
	jv_free(r.result);
	free(c);
}

int cp_sqs_call(struct cp_sqs *s, const char *op, const char *queue_url,
    jv request, long timeout_ms, cp_sqs_done_fn *done, void *user, char *err)
{
	/* libjq prints the request into memory through stdio: the same bytes
	 * as jv_dump_string(), which appends one character at a time to a jv
	 * string and was about a third of what sqs-send spent. */
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	if (!f) {
		jv_free(request);
		return cp_err_set(err, "out of memory");
	}
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	jv_dumpf(request, f, 0);
	if (fclose(f) != 0) {
		free(body);
		return cp_err_set(err, "out of memory");
	}
	int r = cp_sqs_call_text(s, op, queue_url, body, len, timeout_ms, done, user, err);
	free(body);
	return r;
}

int cp_sqs_call_text(struct cp_sqs *s, const char *op, const char *queue_url,
    const char *body, size_t body_len, long timeout_ms, cp_sqs_done_fn *done,
    void *user, char *err)
{
	const struct route *rt = route_for(s, queue_url, err);
	if (!rt)
		return -1;
	struct call *c = calloc(1, sizeof *c);
	if (!c)
		return cp_err_set(err, "out of memory");
	c->s = s;
	c->done = done;
	c->user = user;
	snprintf(c->target, sizeof c->target, "AmazonSQS.%s", op);
	strcpy(c->region, rt->region);
	char url[CP_AWS_URL_LEN + 2];
	snprintf(url, sizeof url, "%s/", rt->endpoint);
	char target[96];
	snprintf(target, sizeof target, "X-Amz-Target: %s", c->target);
	const char *const headers[] = {
		"Content-Type: " CONTENT_TYPE, target, "x-amzn-query-mode: true", NULL,
	};
	struct cp_http_request hr = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = body_len,
		.timeout_ms = timeout_ms ? timeout_ms : s->timeout_ms,
		.prepare = prepare,
		.classify = classify,
		.done = on_done,
		.user = c,
	};
	int r = cp_http_submit(s->http, &hr, err);
	if (r < 0) {
		free(c);
		return r;
	}
	c->next = s->calls;
	if (s->calls)
		s->calls->prev = c;
	s->calls = c;
	return r;
}

int cp_sqs_code_is(const char *code, const char *short_name)
{
	if (!code || !*code)
		return 0;
	static const struct { const char *query, *name; } aliases[] = {
		{ "NonExistentQueue", "QueueDoesNotExist" },
		{ "QueueAlreadyExists", "QueueNameExists" },
		{ "Throttling", "ThrottlingException" },
	};
	/* Keep the name after any "AWS.SimpleQueueService." style prefix. */
	const char *s = code;
	size_t n = strcspn(s, ";:");
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == '.' || s[i - 1] == '#') {
			s += i;
			n -= i;
			break;
		}
	if (strlen(short_name) == n && strncmp(s, short_name, n) == 0)
		return 1;
	for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
		const char *a = aliases[i].query, *b = aliases[i].name;
		if ((strcmp(short_name, a) == 0 && strlen(b) == n && strncmp(s, b, n) == 0) ||
		    (strcmp(short_name, b) == 0 && strlen(a) == n && strncmp(s, a, n) == 0))
			return 1;
	}
	return 0;
}

/* MD5 fetched once: EVP_md5() makes OpenSSL 3 look it up on every
 * digest (a fifth of the cost of a message's MD5). */
static EVP_MD *md5_md;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
	md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}

void cp_sqs_md5_hex(const void *data, size_t len, char out[CP_SQS_MD5_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	pthread_once(&md5_once, md5_fetch);
	if (!EVP_Digest(data, len, md, &n, md5_md ? md5_md : EVP_md5(), NULL) || n != 16)
		memset(md, 0, 16); /* matches no MD5 an answer gives */
	for (unsigned i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = 0;
}

int cp_sqs_body_check(const char *body, size_t len, char *err)
{
	const unsigned char *s = (const unsigned char *)body;
	for (size_t i = 0; i < len;) {
		/* 8 bytes of ASCII from U+0020 on, at a time: a byte of 0x80 or
		 * more, or under 0x20, sends the word to the loop below. */
		uint64_t w;
		if (i + 8 <= len && (memcpy(&w, s + i, 8),
		    !((w | ((w - 0x2020202020202020u) & ~w)) & 0x8080808080808080u))) {
			i += 8;
			continue;
		}
		unsigned c = s[i], cp;
		size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		/* Before reading the continuation bytes, not after. */
		if (i + n > len)
			return cp_err_set(err, "truncated UTF-8 at offset %zu", i);
		if (n == 1)
			cp = c;
		else if (n == 2)
			cp = ((c & 0x1fu) << 6) | (s[i + 1] & 0x3fu);
		else if (n == 3)
			cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
		else
			cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) |
			    ((s[i + 2] & 0x3fu) << 6) | (s[i + 3] & 0x3fu);
		int ok = cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
		    (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
		if (!ok)
			return cp_err_set(err, "SQS refuses the character U+%04X at offset %zu", cp, i);
		i += n;
	}
	return 0;
}
