/* http: HTTP requests on libcurl's multi interface, from one thread.
 *
 * A client holds one CURLM: its connection cache is shared by every
 * request, so connections (and TLS sessions, DNS answers) are reused, and
 * at most max_in_flight transfers run at once; easy handles are pooled.
 * Requests beyond that wait in a queue, in submission order.
 *
 *	struct cp_http *c = cp_http_new(&opts, err);
 *	cp_http_submit(c, &(struct cp_http_request){ .url = u, .done = cb }, err);
 *	while (cp_http_pending(c) > 0)
 *		if (cp_http_run(c, 1000, err) < 0) ...;
 *	cp_http_free(c);
 *
 * Every request accepted by cp_http_submit() gets exactly one call of its
 * done callback, from inside cp_http_run(): with a response (any status),
 * or with a failure.  Nothing is lost while the client lives; cp_http_free()
 * drops unfinished requests without calling them.
 *
 * Retries: an attempt that fails retryably (the request's classify hook,
 * by default cp_retry_classify_http(): 5xx, 408, 429, timeouts, refused,
 * reset or dropped connections, partial responses) is made again after a
 * full-jitter backoff (lib/retry, the client's policy), honouring a
 * Retry-After header (seconds or an HTTP date) as a minimum, up to the
 * policy's cap; the wait is a timer in the client, never a sleep.  Due
 * retries go before requests that never started.  When the attempts or the
 * time budget run out, done gets the last failure with retryable set.  A
 * 4xx (other than 408/429) is final at once.  The time budget counts from
 * the start of the first attempt, and each attempt's timeout is clamped to
 * what is left of it, so a request never outlives it by more than the
 * connection shutdown.  Note that libcurl by itself resends a request,
 * invisibly and within the same attempt, when a reused keep-alive
 * connection turns out to be closed before any response byte: the server
 * may see more requests than attempts (at-least-once, as with retries).
 *
 * Re-signing: a prepare hook runs before every attempt (the first included)
 * and may change the headers and the URL (SigV4 and Pusher signatures carry
 * a timestamp, so each attempt is signed afresh).  If it fails, the request
 * ends at once (code CURLE_ABORTED_BY_CALLBACK, its error text, not
 * retryable).
 *
 * Redirects are not followed: a 3xx is an answer like any other.
 *
 * TLS peers are verified unless opts.insecure is set (the program warns
 * about it, not this module).  libcurl's proxy environment variables
 * (http_proxy, https_proxy, no_proxy) apply, as in curl(1).
 *
 * Tracing: with cp_diag_enabled(CP_LOG_DEBUG), one cp_debug line per
 * attempt sent and one per answer (method, URL, status or error, duration,
 * attempt, retry delay); with CP_LOG_TRACE, the request and response header
 * lines and libcurl's connection notes too.  Secrets are redacted first by
 * cp_http_redact_header() and cp_http_redact_url(); bodies are never logged.
 *
 * Ownership: cp_http_submit() copies everything it is given (method, URL,
 * headers, body); the caller may free or reuse it at once.  The result
 * handed to done (status, headers, body, error) is valid only during the
 * call: copy what you keep.
 *
 * Errors: cp_http_new, cp_http_submit, the header setters and cp_http_run
 * return NULL or -1 and fill err (CP_ERR_LEN bytes, may be NULL); transfer
 * failures are not errors of these calls, they reach the done callback.
 *
 * Thread safety: one client, one thread.  Every call on a client, and all
 * its callbacks, happen on the thread that drives it; only
 * cp_http_wakeup() may be called from another thread.  Different clients
 * may live on different threads.  cp_http_new() initialises libcurl
 * (curl_global_init), which Debian's libcurl 7.88 does thread-safely.
 * Callbacks may call cp_http_submit() and the cp_http_req_* functions, but
 * not cp_http_run() or cp_http_free().
 */
#ifndef CP_HTTP_H
#define CP_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "diag.h"
#include "retry.h"

struct cp_http;      /* a client */
struct cp_http_req;  /* one request, from submission to its done call */

struct cp_http_opts {
	long connect_timeout_ms;  /* per attempt (10000); 0: default */
	long timeout_ms;          /* whole attempt (30000); 0: default; < 0: none */
	int max_in_flight;        /* transfers at once (16); 0: default */
	int max_host_connections; /* per host (0: max_in_flight) */
	size_t max_body;          /* largest response body kept (64 MiB); a
	                           * larger one fails the request, not retried */
	const char *ca_bundle;    /* CA file (AWS_CA_BUNDLE); NULL: system's */
	int insecure;             /* 1: do not verify TLS peers (loud caller) */
	const char *user_agent;   /* NULL: "chatpipe/" CP_VERSION */
	struct cp_retry_policy retry; /* fields left 0 take the defaults of
	                           * CP_RETRY_POLICY_DEFAULT; budget_ms < 0:
	                           * no time budget */
	unsigned long long seed;  /* jitter seed; 0: from RAND_bytes */
};

/* What done (and classify) receive.  Pointers are valid during the call. */
struct cp_http_result {
	struct cp_http_req *req;  /* for cp_http_result_header(), cp_http_req_*() */
	long status;              /* HTTP status of the last attempt; 0 when
	                           * it got no complete response (code != OK) */
	CURLcode code;            /* libcurl's result; CURLE_OK: a whole
	                           * response came (any status) */
	const char *error;        /* "" with a 2xx; else what went wrong */
	int attempts;             /* attempts made, this one included */
	int retryable;            /* failed retryably and gave up (budget spent) */
	long elapsed_ms;          /* from the first attempt to now */
	long attempt_ms;          /* this (last) attempt alone */
	const char *body;         /* response body, NUL-terminated ("" if none) */
	size_t body_len;
};

/* Before each attempt; returns 0, or -1 with err to end the request. */
typedef int cp_http_prepare_fn(struct cp_http_req *req, void *user, char *err);
/* Sorts an attempt's outcome: CP_RETRY_NO, _YES or _THROTTLE.  For
 * services that signal throttling in the body (SQS: 400/403 with a code). */
typedef int cp_http_classify_fn(const struct cp_http_result *res, void *user);
/* Once per request, at the end. */
typedef void cp_http_done_fn(const struct cp_http_result *res, void *user);

struct cp_http_request {
	const char *method;           /* NULL: "GET"; "HEAD" sends no body */
	const char *url;              /* http:// or https:// */
	const char *const *headers;   /* "Name: value" lines, NULL-terminated;
	                               * may be NULL */
	const void *body;             /* sent when body_len > 0 or method is
	                               * POST/PUT/PATCH */
	size_t body_len;
	long timeout_ms;              /* this request's attempt timeout; 0:
	                               * the client's */
	cp_http_prepare_fn *prepare;  /* optional */
	cp_http_classify_fn *classify;/* optional; NULL: by status and code */
	cp_http_done_fn *done;        /* required */
	void *user;                   /* handed to the three hooks */
};

/* Fills o with the defaults (what an all-zero struct also means). */
void cp_http_opts_default(struct cp_http_opts *o);

struct cp_http *cp_http_new(const struct cp_http_opts *opts, char *err);
/* Frees the client; unfinished requests are dropped without a callback.
 * NULL is a no-op. */
void cp_http_free(struct cp_http *c);

/* Queues a request (copied).  0, or -1 with err (no URL, no done hook, a
 * header line without ':', out of memory): then done is never called. */
int cp_http_submit(struct cp_http *c, const struct cp_http_request *r, char *err);

/* Requests submitted and not yet completed (queued, waiting for a retry,
 * or in flight). */
int cp_http_pending(const struct cp_http *c);
/* Transfers in flight right now. */
int cp_http_in_flight(const struct cp_http *c);

/* Drives the transfers: starts queued attempts and due retries, waits up
 * to timeout_ms (>= 0) for network activity or the next retry timer,
 * advances the transfers and calls the hooks.  Returns the number of
 * requests completed (done called), or -1 with err when libcurl's multi
 * interface fails.  Returns 0 at once when nothing is pending. */
int cp_http_run(struct cp_http *c, int timeout_ms, char *err);

/* The same, also waiting for the caller's descriptors (stdin, a signal
 * self-pipe): their revents are set as by poll(2) (CURL_WAIT_POLLIN, ...),
 * and it waits even when nothing is pending. */
int cp_http_run_fds(struct cp_http *c, struct curl_waitfd *fds,
    unsigned int nfds, int timeout_ms, char *err);

/* Makes a cp_http_run() that is waiting, or the next one, return soon.
 * The only call that may come from another thread. */
void cp_http_wakeup(struct cp_http *c);

/* The request, inside the hooks. */
const char *cp_http_req_method(const struct cp_http_req *req);
const char *cp_http_req_url(const struct cp_http_req *req);
/* The body (NUL-terminated after len bytes, for convenience). */
const void *cp_http_req_body(const struct cp_http_req *req, size_t *len);
/* The attempt being prepared or just made, from 1. */
int cp_http_req_attempt(const struct cp_http_req *req);
void *cp_http_req_user(const struct cp_http_req *req);

/* The request headers, as submitted or changed by prepare: the count, the
 * i-th one (0 or -1 past the end), and the value of the first one named
 * name (case-insensitive), or NULL. */
size_t cp_http_req_nheaders(const struct cp_http_req *req);
int cp_http_req_header_at(const struct cp_http_req *req, size_t i,
    const char **name, const char **value);
const char *cp_http_req_header(const struct cp_http_req *req, const char *name);
/* Sets header name to value, replacing every header of that name (case-
 * insensitive); value NULL removes them.  An empty value is sent as an
 * empty header.  0, or -1 with err (bad name, CR/LF in the value, out of
 * memory). */
int cp_http_req_set_header(struct cp_http_req *req, const char *name,
    const char *value, char *err);
/* Replaces the URL for this and later attempts.  0, or -1 with err. */
int cp_http_req_set_url(struct cp_http_req *req, const char *url, char *err);

/* A response header of the last attempt, by name (case-insensitive, the
 * first if repeated), with surrounding blanks trimmed; NULL if absent. */
const char *cp_http_result_header(const struct cp_http_result *res,
    const char *name);
/* The i-th response header: 0, or -1 past the end. */
int cp_http_result_header_at(const struct cp_http_result *res, size_t i,
    const char **name, const char **value);

/* Redaction for traces and error texts.
 *
 * A name is secret when it contains (case-insensitively) "authorization",
 * "cookie", "secret", "token", "password", "passwd", "signature",
 * "api-key", "api_key" or "apikey": that covers Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie, X-Amz-Security-Token,
 * X-Amz-Signature and Pusher's auth_signature. */
int cp_http_secret_name(const char *name, size_t len);

/* Copies the header line "Name: value" (a trailing CR/LF is dropped) into
 * out (n > 0 bytes, always NUL-terminated, truncated if need be) with the
 * value replaced by "***" when the name is secret.  A request or status line
 * ("GET /path?q HTTP/1.1") has its target redacted as a URL.  Returns out. */
char *cp_http_redact_header(const char *line, char *out, size_t n);

/* Copies url into out (n > 0 bytes, NUL-terminated, truncated if need be)
 * with any userinfo replaced (user:pass@host becomes ***@host) and the
 * values of secret query parameters by "***" (?X-Amz-Signature=***).  A
 * bare path with a query ("/x?a=1") works too.  A secret is never partly
 * copied.  Returns out. */
char *cp_http_redact_url(const char *url, char *out, size_t n);

#endif
