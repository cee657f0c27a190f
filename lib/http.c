/* http: see http.h. */
#include "http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef CP_VERSION
#define CP_VERSION "unknown"
#endif

#define DEF_CONNECT_TIMEOUT_MS 10000L
#define DEF_TIMEOUT_MS 30000L
#define DEF_MAX_IN_FLIGHT 16
#define DEF_MAX_BODY ((size_t)64 << 20)
#define MAX_RESPONSE_HEADERS 1000
#define TRACE_LINE 2048

struct hdr {
	char *name;
	char *value;
};

struct hdrs {
	struct hdr *v;
	size_t n, cap;
};

struct cp_http_req {
	struct cp_http *c;
	struct cp_http_req *prev, *next;
	unsigned long id;       /* for the trace: "#12" */
	char *method, *url;
	struct hdrs hdrs;
	char *body;
	size_t body_len;
	int send_body;
	long timeout_ms;
	cp_http_prepare_fn *prepare;
	cp_http_classify_fn *classify;
	cp_http_done_fn *done;
	void *user;
	struct cp_retry retry;  /* attempts: 0 before the first one */
	int64_t t_attempt;      /* when the current attempt started */
	int64_t due;            /* when a waiting retry may start */
	CURL *easy;
	struct curl_slist *slist;
	/* The current attempt's response. */
	char *rbody;
	size_t rlen, rcap;
	int too_large;
	struct hdrs rhdrs;
	char errbuf[CURL_ERROR_SIZE];
	char errtext[CP_ERR_LEN];
};

struct list {
	struct cp_http_req *head, *tail;
	int n;
};

struct cp_http {
	CURLM *multi;
	struct cp_http_opts o;
	char *ca_bundle, *user_agent;
	struct cp_retry_rng rng;
	struct list queued, waiting, active;
	CURL **idle;
	int nidle;
	int running;            /* inside cp_http_run: no re-entry */
	unsigned long next_id;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lists. */

static void list_push(struct list *l, struct cp_http_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

static void list_del(struct list *l, struct cp_http_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
	l->n--;
}

/* Keeps the waiting list sorted by due time (ties in arrival order). */
static void list_insert_due(struct list *l, struct cp_http_req *r)
{
	struct cp_http_req *at = l->tail;
	while (at && at->due > r->due)
		at = at->prev;
	if (!at) {
		r->prev = NULL;
		r->next = l->head;
		if (l->head)
			l->head->prev = r;
		else
			l->tail = r;
		l->head = r;
	} else {
		r->prev = at;
		r->next = at->next;
		if (at->next)
			at->next->prev = r;
		else
			l->tail = r;
		at->next = r;
	}
	l->n++;
}

/* Header lists. */

static void hdrs_clear(struct hdrs *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	h->n = 0;
}

static void hdrs_free(struct hdrs *h)
{
	hdrs_clear(h);
	free(h->v);
	h->v = NULL;
	h->cap = 0;
}

static int hdrs_add(struct hdrs *h, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		struct hdr *v = realloc(h->v, cap * sizeof *v);
		if (!v)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	char *n = strndup(name, nlen), *val = strndup(value, vlen);
	if (!n || !val) {
		free(n);
		free(val);
		return -1;
	}
	h->v[h->n].name = n;
	h->v[h->n].value = val;
	h->n++;
	return 0;
}

static const char *hdrs_get(const struct hdrs *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

static int is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

/* An RFC 9110 token character, as header names need. */
static int is_tchar(int ch)
{
	return ch > 0x20 && ch < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

static int check_name(const char *name, size_t len, char *err)
{
	if (len == 0)
		return cp_err_set(err, "empty header name");
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)name[i]))
			return cp_err_set(err, "invalid character in header name \"%.*s\"",
			    (int)(len > 64 ? 64 : len), name);
	return 0;
}

static int check_value(const char *name, const char *value, size_t len, char *err)
{
	for (size_t i = 0; i < len; i++)
		if (value[i] == '\r' || value[i] == '\n' || value[i] == 0)
			return cp_err_set(err, "header %s: CR, LF or NUL in the value", name);
	return 0;
}

/* Parses "Name: value" into h, trimming blanks around the value. */
static int hdrs_add_line(struct hdrs *h, const char *line, char *err)
{
	const char *colon = strchr(line, ':');
	if (!colon)
		return cp_err_set(err, "header without ':': \"%.64s\"", line);
	size_t nlen = (size_t)(colon - line);
	if (check_name(line, nlen, err) < 0)
		return -1;
	const char *v = colon + 1;
	while (is_blank(*v))
		v++;
	size_t vlen = strlen(v);
	while (vlen > 0 && is_blank(v[vlen - 1]))
		vlen--;
	char name[256];
	snprintf(name, sizeof name, "%.*s", (int)(nlen < 255 ? nlen : 255), line);
	if (check_value(name, v, vlen, err) < 0)
		return -1;
	if (hdrs_add(h, line, nlen, v, vlen) < 0)
		return cp_err_set(err, "out of memory");
	return 0;
}

/* Redaction. */

static int has_part(const char *s, size_t len, const char *part)
{
	size_t pl = strlen(part);
	for (size_t i = 0; i + pl <= len; i++)
		if (strncasecmp(s + i, part, pl) == 0)
			return 1;
	return 0;
}

int cp_http_secret_name(const char *name, size_t len)
{
	static const char *const parts[] = {
		"authorization", "cookie", "secret", "token", "password",
		"passwd", "signature", "api-key", "api_key", "apikey",
	};
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
		if (has_part(name, len, parts[i]))
			return 1;
	return 0;
}

/* A bounded appender: copies what fits, always NUL-terminated. */
struct sbuf {
	char *p;
	size_t n, o;
};

static void put(struct sbuf *b, const char *s, size_t len)
{
	if (b->o + 1 >= b->n)
		return;
	size_t room = b->n - 1 - b->o;
	if (len > room)
		len = room;
	memcpy(b->p + b->o, s, len);
	b->o += len;
	b->p[b->o] = 0;
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static size_t scheme_len(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.'))
		i++;
	if (i + 3 <= len && memcmp(s + i, "://", 3) == 0)
		return i + 3;
	return 0;
}

static void redact_url(struct sbuf *b, const char *s, size_t len)
{
	size_t i = scheme_len(s, len);
	put(b, s, i);
	if (i > 0) {
		size_t end = i;
		while (end < len && !strchr("/?#", s[end]))
			end++;
		const char *at = NULL;
		for (size_t k = i; k < end; k++)
			if (s[k] == '@')
				at = s + k;
		if (at) {
			puts_(b, "***");
			i = (size_t)(at - s);
		}
		put(b, s + i, end - i);
		i = end;
	}
	size_t q = i;
	while (q < len && s[q] != '?' && s[q] != '#')
		q++;
	put(b, s + i, q - i);
	i = q;
	if (i < len && s[i] == '?') {
		put(b, "?", 1);
		i++;
		while (i < len && s[i] != '#') {
			size_t e = i;
			while (e < len && s[e] != '&' && s[e] != '#')
				e++;
			const char *eq = memchr(s + i, '=', e - i);
			if (eq && cp_http_secret_name(s + i, (size_t)(eq - (s + i)))) {
				put(b, s + i, (size_t)(eq - (s + i)) + 1);
				puts_(b, "***");
			} else {
				put(b, s + i, e - i);
			}
			i = e;
			if (i < len && s[i] == '&') {
				put(b, "&", 1);
				i++;
			}
		}
	}
	put(b, s + i, len - i);
}

char *cp_http_redact_url(const char *url, char *out, size_t n)
{
	struct sbuf b = { out, n, 0 };
	if (n > 0)
		out[0] = 0;
	redact_url(&b, url, strlen(url));
	return out;
}

/* Free text (libcurl's notes, header values): every token that looks like
 * a URL is redacted as one. */
static void redact_text(struct sbuf *b, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t e = i;
		while (e < len && !isspace((unsigned char)s[e]) && s[e] != '\'' &&
		    s[e] != '"' && s[e] != '<' && s[e] != '>')
			e++;
		if (e > i) {
			int url = 0;
			for (size_t k = i; k + 3 <= e; k++)
				if (memcmp(s + k, "://", 3) == 0)
					url = 1;
			if (url) {
				/* Skip a prefix such as "(" before the scheme. */
				size_t st = i;
				while (st < e && !isalpha((unsigned char)s[st]))
					st++;
				put(b, s + i, st - i);
				redact_url(b, s + st, e - st);
			} else {
				put(b, s + i, e - i);
			}
		}
		if (e < len)
			put(b, s + e, 1);
		i = e + 1;
	}
}

char *cp_http_redact_header(const char *line, char *out, size_t n)
{
	struct sbuf b = { out, n, 0 };
	if (n > 0)
		out[0] = 0;
	size_t len = strlen(line);
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	const char *colon = memchr(line, ':', len);
	const char *sp = memchr(line, ' ', len);
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		redact_text(&b, line, len);             /* status line */
	} else if (sp && (!colon || sp < colon)) {
		/* A request line: METHOD SP target SP version. */
		put(&b, line, (size_t)(sp - line) + 1);
		const char *t = sp + 1, *te = memchr(t, ' ', len - (size_t)(t - line));
		if (!te)
			te = line + len;
		redact_url(&b, t, (size_t)(te - t));
		put(&b, te, len - (size_t)(te - line));
	} else if (colon) {
		size_t nlen = (size_t)(colon - line);
		put(&b, line, nlen + 1);
		if (cp_http_secret_name(line, nlen)) {
			puts_(&b, " ***");
		} else {
			redact_text(&b, colon + 1, len - nlen - 1);
		}
	} else {
		redact_text(&b, line, len);
	}
	return out;
}

/* The client. */

void cp_http_opts_default(struct cp_http_opts *o)
{
	memset(o, 0, sizeof *o);
	o->connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	o->timeout_ms = DEF_TIMEOUT_MS;
	o->max_in_flight = DEF_MAX_IN_FLIGHT;
	o->max_body = DEF_MAX_BODY;
	cp_retry_policy_default(&o->retry);
}

struct cp_http *cp_http_new(const struct cp_http_opts *opts, char *err)
{
	struct cp_http_opts def;
	if (!opts) {
		cp_http_opts_default(&def);
		opts = &def;
	}
	CURLcode gc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (gc != CURLE_OK) {
		cp_err_set(err, "libcurl: %s", curl_easy_strerror(gc));
		return NULL;
	}
	struct cp_http *c = calloc(1, sizeof *c);
	if (!c) {
		curl_global_cleanup();
		cp_err_set(err, "out of memory");
		return NULL;
	}
	c->o = *opts;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = DEF_CONNECT_TIMEOUT_MS;
	if (c->o.timeout_ms == 0)
		c->o.timeout_ms = DEF_TIMEOUT_MS;
	if (c->o.timeout_ms < 0)
		c->o.timeout_ms = 0;
	if (c->o.max_in_flight <= 0)
		c->o.max_in_flight = DEF_MAX_IN_FLIGHT;
	if (c->o.max_host_connections <= 0)
		c->o.max_host_connections = c->o.max_in_flight;
	if (c->o.max_body == 0)
		c->o.max_body = DEF_MAX_BODY;
	struct cp_retry_policy *p = &c->o.retry;
	if (p->base_ms <= 0)
		p->base_ms = CP_RETRY_BASE_MS;
	if (p->throttle_base_ms <= 0)
		p->throttle_base_ms = CP_RETRY_THROTTLE_BASE_MS;
	if (p->cap_ms <= 0)
		p->cap_ms = CP_RETRY_CAP_MS;
	if (p->max_attempts <= 0)
		p->max_attempts = CP_RETRY_MAX_ATTEMPTS;
	if (p->budget_ms == 0)
		p->budget_ms = CP_RETRY_BUDGET_MS;
	c->o.ca_bundle = NULL;
	c->o.user_agent = NULL;
	char rerr[CP_ERR_LEN];
	if (opts->seed)
		cp_retry_rng_seed(&c->rng, opts->seed);
	else if (cp_retry_rng_seed_random(&c->rng, rerr) < 0)
		cp_debug("http: %s", rerr);  /* still seeded; not an error */
	c->user_agent = strdup(opts->user_agent ? opts->user_agent : "chatpipe/" CP_VERSION);
	c->ca_bundle = opts->ca_bundle ? strdup(opts->ca_bundle) : NULL;
	c->idle = calloc((size_t)c->o.max_in_flight, sizeof *c->idle);
	c->multi = curl_multi_init();
	if (!c->user_agent || (opts->ca_bundle && !c->ca_bundle) || !c->idle || !c->multi) {
		cp_err_set(err, "out of memory");
		cp_http_free(c);
		return NULL;
	}
	long maxc = c->o.max_in_flight;
	CURLMcode mc = curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxc);
	if (!mc)
		mc = curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    (long)c->o.max_host_connections);
	if (!mc)
		mc = curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, maxc);
	if (mc) {
		cp_err_set(err, "libcurl: %s", curl_multi_strerror(mc));
		cp_http_free(c);
		return NULL;
	}
	return c;
}

static void req_free(struct cp_http_req *r)
{
	if (!r)
		return;
	free(r->method);
	free(r->url);
	hdrs_free(&r->hdrs);
	hdrs_free(&r->rhdrs);
	free(r->body);
	free(r->rbody);
	curl_slist_free_all(r->slist);
	free(r);
}

static void free_list(struct cp_http *c, struct list *l)
{
	while (l->head) {
		struct cp_http_req *r = l->head;
		list_del(l, r);
		if (r->easy) {
			curl_multi_remove_handle(c->multi, r->easy);
			curl_easy_cleanup(r->easy);
		}
		req_free(r);
	}
}

void cp_http_free(struct cp_http *c)
{
	if (!c)
		return;
	free_list(c, &c->active);
	free_list(c, &c->waiting);
	free_list(c, &c->queued);
	for (int i = 0; i < c->nidle; i++)
		curl_easy_cleanup(c->idle[i]);
	free(c->idle);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->user_agent);
	free(c->ca_bundle);
	free(c);
	curl_global_cleanup();
}

int cp_http_pending(const struct cp_http *c)
{
	return c->queued.n + c->waiting.n + c->active.n;
}

int cp_http_in_flight(const struct cp_http *c)
{
	return c->active.n;
}

void cp_http_wakeup(struct cp_http *c)
{
	curl_multi_wakeup(c->multi);
}

static int method_has_body(const char *m)
{
	return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

int cp_http_submit(struct cp_http *c, const struct cp_http_request *q, char *err)
{
	if (!q->url || !*q->url)
		return cp_err_set(err, "http: request without a URL");
	if (!q->done)
		return cp_err_set(err, "http: request without a done callback");
	const char *m = q->method ? q->method : "GET";
	if (check_name(m, strlen(m), err) < 0)
		return cp_err_set(err, "http: invalid method \"%.32s\"", m);
	struct cp_http_req *r = calloc(1, sizeof *r);
	if (!r)
		return cp_err_set(err, "out of memory");
	r->c = c;
	r->id = ++c->next_id;
	r->method = strdup(m);
	r->url = strdup(q->url);
	if (!r->method || !r->url)
		goto oom;
	for (const char *const *h = q->headers; h && *h; h++) {
		if (hdrs_add_line(&r->hdrs, *h, err) < 0) {
			req_free(r);
			return -1;
		}
	}
	r->send_body = q->body_len > 0 || method_has_body(m);
	if (q->body_len > 0) {
		if (!(r->body = malloc(q->body_len + 1)))
			goto oom;
		memcpy(r->body, q->body, q->body_len);
		r->body[q->body_len] = 0;
		r->body_len = q->body_len;
	}
	r->timeout_ms = q->timeout_ms;
	r->prepare = q->prepare;
	r->classify = q->classify;
	r->done = q->done;
	r->user = q->user;
	list_push(&c->queued, r);
	return 0;
oom:
	req_free(r);
	return cp_err_set(err, "out of memory");
}

/* The request inside the hooks. */

const char *cp_http_req_method(const struct cp_http_req *r) { return r->method; }
const char *cp_http_req_url(const struct cp_http_req *r) { return r->url; }
int cp_http_req_attempt(const struct cp_http_req *r) { return r->retry.attempts; }
void *cp_http_req_user(const struct cp_http_req *r) { return r->user; }
size_t cp_http_req_nheaders(const struct cp_http_req *r) { return r->hdrs.n; }

const void *cp_http_req_body(const struct cp_http_req *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body ? r->body : "";
}

int cp_http_req_header_at(const struct cp_http_req *r, size_t i,
    const char **name, const char **value)
{
	if (i >= r->hdrs.n)
		return -1;
	*name = r->hdrs.v[i].name;
	*value = r->hdrs.v[i].value;
	return 0;
}

const char *cp_http_req_header(const struct cp_http_req *r, const char *name)
{
	return hdrs_get(&r->hdrs, name);
}

int cp_http_req_set_header(struct cp_http_req *r, const char *name,
    const char *value, char *err)
{
	if (check_name(name, strlen(name), err) < 0)
		return -1;
	if (value && check_value(name, value, strlen(value), err) < 0)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < r->hdrs.n; i++) {
		if (strcasecmp(r->hdrs.v[i].name, name) == 0) {
			free(r->hdrs.v[i].name);
			free(r->hdrs.v[i].value);
		} else {
			r->hdrs.v[o++] = r->hdrs.v[i];
		}
	}
	r->hdrs.n = o;
	if (value && hdrs_add(&r->hdrs, name, strlen(name), value, strlen(value)) < 0)
		return cp_err_set(err, "out of memory");
	return 0;
}

int cp_http_req_set_url(struct cp_http_req *r, const char *url, char *err)
{
	if (!url || !*url)
		return cp_err_set(err, "http: empty URL");
	char *u = strdup(url);
	if (!u)
		return cp_err_set(err, "out of memory");
	free(r->url);
	r->url = u;
	return 0;
}

const char *cp_http_result_header(const struct cp_http_result *res, const char *name)
{
	return hdrs_get(&res->req->rhdrs, name);
}

int cp_http_result_header_at(const struct cp_http_result *res, size_t i,
    const char **name, const char **value)
{
	const struct hdrs *h = &res->req->rhdrs;
	if (i >= h->n)
		return -1;
	*name = h->v[i].name;
	*value = h->v[i].value;
	return 0;
}

/* libcurl callbacks. */

static size_t on_body(char *data, size_t size, size_t nmemb, void *p)
{
	struct cp_http_req *r = p;
	size_t len = size * nmemb;
	if (len > r->c->o.max_body - r->rlen) {
		r->too_large = 1;
		return 0;  /* CURLE_WRITE_ERROR */
	}
	if (r->rlen + len + 1 > r->rcap) {
		size_t cap = r->rcap ? r->rcap : 4096;
		while (cap < r->rlen + len + 1)
			cap *= 2;
		char *b = realloc(r->rbody, cap);
		if (!b)
			return 0;
		r->rbody = b;
		r->rcap = cap;
	}
	memcpy(r->rbody + r->rlen, data, len);
	r->rlen += len;
	r->rbody[r->rlen] = 0;
	return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *p)
{
	struct cp_http_req *r = p;
	size_t len = size * nmemb, n = len;
	/* A new status line (after 1xx, or a retry inside libcurl) starts a
	 * new set of headers. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		hdrs_clear(&r->rhdrs);
		return len;
	}
	while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
		n--;
	if (n == 0)
		return len;
	if (is_blank(data[0]) && r->rhdrs.n > 0) {
		/* obs-fold: a continuation of the previous value. */
		struct hdr *h = &r->rhdrs.v[r->rhdrs.n - 1];
		size_t i = 0;
		while (i < n && is_blank(data[i]))
			i++;
		size_t ol = strlen(h->value);
		char *v = realloc(h->value, ol + 1 + (n - i) + 1);
		if (!v)
			return 0;
		v[ol] = ' ';
		memcpy(v + ol + 1, data + i, n - i);
		v[ol + 1 + n - i] = 0;
		h->value = v;
		return len;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon || r->rhdrs.n >= MAX_RESPONSE_HEADERS)
		return len;
	size_t nl = (size_t)(colon - data), vs = nl + 1, ve = n;
	while (nl > 0 && is_blank(data[nl - 1]))
		nl--;
	while (vs < ve && is_blank(data[vs]))
		vs++;
	while (ve > vs && is_blank(data[ve - 1]))
		ve--;
	if (hdrs_add(&r->rhdrs, data, nl, data + vs, ve - vs) < 0)
		return 0;
	return len;
}

static void trace_lines(struct cp_http_req *r, const char *tag, const char *data,
    size_t size, int header)
{
	char line[TRACE_LINE], out[TRACE_LINE];
	size_t i = 0;
	while (i < size) {
		size_t e = i;
		while (e < size && data[e] != '\n')
			e++;
		size_t n = e - i;
		while (n > 0 && (data[i + n - 1] == '\r'))
			n--;
		if (n > 0) {
			snprintf(line, sizeof line, "%.*s", (int)n, data + i);
			if (header) {
				cp_http_redact_header(line, out, sizeof out);
			} else {
				struct sbuf b = { out, sizeof out, 0 };
				out[0] = 0;
				redact_text(&b, line, strlen(line));
			}
			cp_trace("http: #%lu %s %s", r->id, tag, out);
		}
		i = e + 1;
	}
}

static int on_debug(CURL *e, curl_infotype type, char *data, size_t size, void *p)
{
	(void)e;
	struct cp_http_req *r = p;
	switch (type) {
	case CURLINFO_TEXT:
		trace_lines(r, "*", data, size, 0);
		break;
	case CURLINFO_HEADER_OUT:
		trace_lines(r, ">", data, size, 1);
		break;
	case CURLINFO_HEADER_IN:
		trace_lines(r, "<", data, size, 1);
		break;
	default:
		break;
	}
	return 0;
}

/* Attempts. */

static void trace_url(const struct cp_http_req *r, char *out, size_t n)
{
	cp_http_redact_url(r->url, out, n);
}

static void pool_put(struct cp_http *c, CURL *e)
{
	if (c->nidle < c->o.max_in_flight)
		c->idle[c->nidle++] = e;
	else
		curl_easy_cleanup(e);
}

static CURL *pool_get(struct cp_http *c)
{
	if (c->nidle > 0) {
		CURL *e = c->idle[--c->nidle];
		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

static void reset_response(struct cp_http_req *r)
{
	r->rlen = 0;
	if (r->rbody)
		r->rbody[0] = 0;
	r->too_large = 0;
	hdrs_clear(&r->rhdrs);
	r->errbuf[0] = 0;
	r->errtext[0] = 0;
}

static struct curl_slist *build_headers(struct cp_http_req *r, char *err)
{
	struct curl_slist *l = NULL, *t;
	char *line = NULL;
	for (size_t i = 0; i < r->hdrs.n; i++) {
		const struct hdr *h = &r->hdrs.v[i];
		/* "Name;" is libcurl's way to send an empty header ("Name:"
		 * would remove it). */
		if (asprintf(&line, *h->value ? "%s: %s" : "%s;", h->name, h->value) < 0)
			goto oom;
		if (!(t = curl_slist_append(l, line)))
			goto oom;
		l = t;
		free(line);
		line = NULL;
	}
	/* No "Expect: 100-continue" round trip, and no default
	 * application/x-www-form-urlencoded type on bodies. */
	if (!hdrs_get(&r->hdrs, "Expect")) {
		if (!(t = curl_slist_append(l, "Expect:")))
			goto oom;
		l = t;
	}
	if (r->send_body && !hdrs_get(&r->hdrs, "Content-Type")) {
		if (!(t = curl_slist_append(l, "Content-Type:")))
			goto oom;
		l = t;
	}
	return l;
oom:
	free(line);
	curl_slist_free_all(l);
	cp_err_set(err, "out of memory");
	return NULL;
}

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)

static CURLcode setup(struct cp_http *c, struct cp_http_req *r, CURL *e, int64_t now)
{
	CURLcode rc = CURLE_OK;
	long timeout = r->timeout_ms ? r->timeout_ms : c->o.timeout_ms;
	if (timeout < 0)
		timeout = 0;
	long left = cp_retry_remaining_ms(&r->retry, now);
	if (left >= 0 && (timeout == 0 || left < timeout))
		timeout = left > 0 ? left : 1;
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PRIVATE, (void *)r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)r);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, (void *)r);
	SET(CURLOPT_USERAGENT, c->user_agent);
	SET(CURLOPT_HTTPHEADER, r->slist);
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_SSL_VERIFYPEER, c->o.insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, c->o.insecure ? 0L : 2L);
	if (c->ca_bundle)
		SET(CURLOPT_CAINFO, c->ca_bundle);
	if (strcmp(r->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (r->send_body) {
		SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		if (strcmp(r->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		SET(CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (cp_diag_enabled(CP_LOG_TRACE)) {
		SET(CURLOPT_DEBUGFUNCTION, on_debug);
		SET(CURLOPT_DEBUGDATA, (void *)r);
		SET(CURLOPT_VERBOSE, 1L);
	}
	return rc;
}

#undef SET

static void finish(struct cp_http_req *r, struct cp_http_result *res)
{
	r->done(res, r->user);
	req_free(r);
}

/* Ends a request that could not even make its attempt. */
static void fail_now(struct cp_http_req *r, CURLcode code,
    const char *text, int64_t now)
{
	snprintf(r->errtext, sizeof r->errtext, "%s", text);
	struct cp_http_result res = {
		.req = r,
		.code = code,
		.error = r->errtext,
		.attempts = r->retry.attempts,
		.elapsed_ms = (long)(now - r->retry.start_ms),
		.body = "",
	};
	if (cp_diag_enabled(CP_LOG_DEBUG)) {
		char u[1024];
		trace_url(r, u, sizeof u);
		cp_debug("http: #%lu %s %s failed before sending: %s (attempt %d)", r->id,
		    r->method, u, text, r->retry.attempts);
	}
	finish(r, &res);
}

/* Starts the next attempt of r; returns 1 when r completed at once. */
static int start(struct cp_http *c, struct cp_http_req *r)
{
	int64_t now = now_ms();
	if (r->retry.attempts == 0)
		cp_retry_begin(&r->retry, &c->o.retry, &c->rng, now);
	r->t_attempt = now;
	reset_response(r);
	char err[CP_ERR_LEN] = "";
	if (r->prepare && r->prepare(r, r->user, err) < 0) {
		fail_now(r, CURLE_ABORTED_BY_CALLBACK, *err ? err : "prepare failed", now);
		return 1;
	}
	curl_slist_free_all(r->slist);
	if (!(r->slist = build_headers(r, err))) {
		fail_now(r, CURLE_OUT_OF_MEMORY, err, now);
		return 1;
	}
	CURL *e = pool_get(c);
	if (!e) {
		fail_now(r, CURLE_OUT_OF_MEMORY, "out of memory", now);
		return 1;
	}
	CURLcode rc = setup(c, r, e, now);
	if (rc != CURLE_OK) {
		pool_put(c, e);
		fail_now(r, rc, curl_easy_strerror(rc), now);
		return 1;
	}
	CURLMcode mc = curl_multi_add_handle(c->multi, e);
	if (mc != CURLM_OK) {
		pool_put(c, e);
		fail_now(r, CURLE_FAILED_INIT, curl_multi_strerror(mc), now);
		return 1;
	}
	r->easy = e;
	list_push(&c->active, r);
	if (cp_diag_enabled(CP_LOG_DEBUG)) {
		char u[1024];
		trace_url(r, u, sizeof u);
		cp_debug("http: #%lu > %s %s (attempt %d)", r->id, r->method, u,
		    r->retry.attempts);
	}
	return 0;
}

/* Starts due retries first, then queued requests, while slots are free. */
static int launch(struct cp_http *c)
{
	int done = 0;
	while (c->active.n < c->o.max_in_flight) {
		struct cp_http_req *r = c->waiting.head;
		if (r && r->due <= now_ms()) {
			list_del(&c->waiting, r);
		} else if ((r = c->queued.head)) {
			list_del(&c->queued, r);
		} else {
			break;
		}
		done += start(c, r);
	}
	return done;
}

static const char *status_text(struct cp_http_req *r, long status)
{
	if (r->too_large) {
		snprintf(r->errtext, sizeof r->errtext,
		    "response body larger than %zu bytes", r->c->o.max_body);
	} else if (r->errbuf[0]) {
		snprintf(r->errtext, sizeof r->errtext, "%s", r->errbuf);
	} else if (status < 200 || status > 299) {
		snprintf(r->errtext, sizeof r->errtext, "HTTP %ld", status);
	}
	return r->errtext;
}

/* An attempt ended: retry it or complete the request.  Returns 1 when
 * completed. */
static int attempt_done(struct cp_http *c, struct cp_http_req *r, CURLcode code,
    long status, curl_off_t retry_after)
{
	int64_t now = now_ms();
	if (code != CURLE_OK) {
		status = 0;
		if (!r->errbuf[0] && !r->too_large)
			snprintf(r->errbuf, sizeof r->errbuf, "%s", curl_easy_strerror(code));
	}
	struct cp_http_result res = {
		.req = r,
		.status = status,
		.code = code,
		.error = status_text(r, status),
		.attempts = r->retry.attempts,
		.elapsed_ms = (long)(now - r->retry.start_ms),
		.attempt_ms = (long)(now - r->t_attempt),
		.body = r->rbody ? r->rbody : "",
		.body_len = r->rlen,
	};
	int cls = CP_RETRY_NO;
	if (!r->too_large)
		cls = r->classify ? r->classify(&res, r->user) :
		    (int)cp_retry_classify_http(status, code);
	long delay = 0;
	long hint = retry_after > 0 ? (long)(retry_after > 86400 ? 86400 : retry_after) * 1000 : -1;
	int again = cls != CP_RETRY_NO &&
	    cp_retry_next_for(&r->retry, now, cls, hint, &delay);
	if (cp_diag_enabled(CP_LOG_DEBUG)) {
		char u[1024], what[64];
		trace_url(r, u, sizeof u);
		if (code == CURLE_OK)
			snprintf(what, sizeof what, "%ld", status);
		else
			snprintf(what, sizeof what, "error");
		char next[64] = "";
		if (again)
			snprintf(next, sizeof next, ", retry in %ld ms", delay);
		else if (cls != CP_RETRY_NO)
			snprintf(next, sizeof next, ", giving up (retryable)");
		cp_debug("http: #%lu < %s %s %s %ld ms (attempt %d)%s%s%s", r->id, what,
		    r->method, u, res.attempt_ms, res.attempts,
		    *res.error ? ": " : "", res.error, next);
	}
	if (again) {
		r->due = now + delay;
		list_insert_due(&c->waiting, r);
		return 0;
	}
	res.retryable = cls != CP_RETRY_NO;
	finish(r, &res);
	return 1;
}

static int collect(struct cp_http *c)
{
	int done = 0, left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode code = m->data.result;
		char *priv = NULL;
		long status = 0;
		curl_off_t ra = 0;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK)
			ra = 0;
		struct cp_http_req *r = (struct cp_http_req *)(void *)priv;
		curl_multi_remove_handle(c->multi, e);
		r->easy = NULL;
		pool_put(c, e);
		list_del(&c->active, r);
		done += attempt_done(c, r, code, status, ra);
	}
	return done;
}

int cp_http_run_fds(struct cp_http *c, struct curl_waitfd *fds,
    unsigned int nfds, int timeout_ms, char *err)
{
	if (c->running)
		return cp_err_set(err, "http: cp_http_run called from a callback");
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (cp_http_pending(c) == 0 && nfds == 0)
		return 0;
	c->running = 1;
	int done = launch(c), still;
	CURLMcode mc = curl_multi_perform(c->multi, &still);
	if (mc != CURLM_OK)
		goto fail;
	done += collect(c);
	done += launch(c);
	int wait = done > 0 ? 0 : timeout_ms;
	if (c->active.n < c->o.max_in_flight && c->waiting.head) {
		int64_t d = c->waiting.head->due - now_ms();
		if (d < 0)
			d = 0;
		if (d < wait)
			wait = (int)d;
	}
	if (cp_http_pending(c) == 0 && nfds == 0)
		wait = 0;
	mc = curl_multi_poll(c->multi, fds, nfds, wait, NULL);
	if (mc != CURLM_OK)
		goto fail;
	mc = curl_multi_perform(c->multi, &still);
	if (mc != CURLM_OK)
		goto fail;
	done += collect(c);
	done += launch(c);
	c->running = 0;
	return done;
fail:
	c->running = 0;
	return cp_err_set(err, "http: libcurl multi: %s", curl_multi_strerror(mc));
}

int cp_http_run(struct cp_http *c, int timeout_ms, char *err)
{
	return cp_http_run_fds(c, NULL, 0, timeout_ms, err);
}
